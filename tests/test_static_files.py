"""Production's static build: hashed names, gzip and brotli copies, served with a long immutable cache.

collectstatic runs as production runs it (`manage.py collectstatic` under the production settings),
on the plotly folder only: the other folders are ignored, as compressing them all takes minutes.
The files are then served by WhiteNoise as production configures it (DEBUG off, no finders).
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import brotli
import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.templatetags.static import static
from django.test import Client, override_settings

from tests.test_settings import GOOD_PRODUCTION, ROOT, manage

PLOTLY = ROOT / "static" / "vendor" / "plotly" / "plotly.min.js"
ONE_YEAR = 365 * 24 * 3600


def _everything_but_plotly() -> list[str]:
    """collectstatic --ignore patterns (names at any depth) that leave only static/vendor/plotly/."""
    tops = set()
    for finder in finders.get_finders():
        for path, storage in finder.list([]):
            prefix = getattr(storage, "prefix", None)
            tops.add(Path(prefix or "", path).parts[0])
    vendor = {entry.name for entry in (ROOT / "static" / "vendor").iterdir()}
    return sorted((tops - {"vendor"}) | (vendor - {"plotly"}) | {"build"})


@pytest.fixture(scope="module")
def production_static(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("static-root")
    ignore = [arg for pattern in _everything_but_plotly() for arg in ("--ignore", pattern)]
    result = manage("collectstatic", "--noinput", *ignore, **GOOD_PRODUCTION, STATIC_ROOT=str(root))
    assert result.returncode == 0, result.stderr
    storage = manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.STORAGES['staticfiles']['BACKEND'])",
        **GOOD_PRODUCTION,
    )
    assert storage.returncode == 0, storage.stderr
    return root, storage.stdout.strip().splitlines()[-1]


def test_the_static_build_writes_hashed_gzip_and_brotli_copies(production_static) -> None:
    root, _ = production_static
    original = PLOTLY.read_bytes()
    hashed = [
        path
        for path in (root / "vendor" / "plotly").iterdir()
        if re.fullmatch(r"plotly\.min\.[0-9a-f]{12}\.js", path.name)
    ]
    assert len(hashed) == 1
    packed_gz = Path(f"{hashed[0]}.gz").read_bytes()
    packed_br = Path(f"{hashed[0]}.br").read_bytes()
    assert gzip.decompress(packed_gz) == original and brotli.decompress(packed_br) == original
    assert len(packed_br) < len(packed_gz) < len(original) / 2
    assert not (root / "admin").exists() and not (root / "vendor" / "plotly" / "build").exists()


def test_the_hashed_plotly_is_served_compressed_with_a_long_immutable_cache(production_static) -> None:
    root, backend = production_static
    storages = {**settings.STORAGES, "staticfiles": {"BACKEND": backend}}
    original = PLOTLY.read_bytes()
    with override_settings(
        DEBUG=False, STATIC_ROOT=root, STORAGES=storages, WHITENOISE_USE_FINDERS=False, WHITENOISE_AUTOREFRESH=False
    ):
        client = Client()  # a new handler: WhiteNoise reads the settings above when it starts
        url = static("vendor/plotly/plotly.min.js")
        assert re.search(r"/vendor/plotly/plotly\.min\.[0-9a-f]{12}\.js$", url), url

        response = client.get(url, headers={"accept-encoding": "gzip, deflate, br, zstd"})
        assert response.status_code == 200 and response["Content-Encoding"] == "br"
        assert brotli.decompress(b"".join(response.streaming_content)) == original
        cache = response["Cache-Control"]
        assert "immutable" in cache and int(re.search(r"max-age=(\d+)", cache)[1]) >= ONE_YEAR, cache
        assert "Accept-Encoding" in response["Vary"]

        response = client.get(url, headers={"accept-encoding": "gzip"})
        assert response["Content-Encoding"] == "gzip"
        assert gzip.decompress(b"".join(response.streaming_content)) == original

        response = client.get(url)
        assert not response.has_header("Content-Encoding")
        assert b"".join(response.streaming_content) == original

        # The unhashed name may change content: it is cached briefly, not for a year.
        response = client.get(f"{settings.STATIC_URL}vendor/plotly/plotly.min.js")
        assert response.status_code == 200 and "immutable" not in response["Cache-Control"]
