"""The production settings with the page benchmark's baseline views (bench/urls.py).

Used only by `python -m bench.pages`, which starts gunicorn with it; nothing in the app
imports it. Everything else is config.settings.production, read from the same environment.
"""

from pathlib import Path

from config.settings.production import *  # noqa: F403 (a settings module extends another's namespace)
from config.settings.production import TEMPLATES

ROOT_URLCONF = "bench.urls"
TEMPLATES[0]["DIRS"] = [*TEMPLATES[0]["DIRS"], Path(__file__).resolve().parent / "templates"]
