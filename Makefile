# The two commands of the README: `make run` and `make test`. Everything else supports them.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: run test setup lint typecheck check-deploy schema clean

$(VENV)/.installed-run: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed-run
	$(PIP) install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

## Set up (venv, install, migrate, catalogue, demo data) and run the dashboard with a Celery worker.
run: $(VENV)/.installed-run
	$(PY) manage.py migrate --noinput
	$(PY) manage.py setup_demo
	bin/dev

## Set up and run the whole test suite (PostgreSQL and Redis when DATABASE_URL / REDIS_URL are set).
# Two processes by default (pytest-xdist, one module per process at a time; PYTEST_WORKERS=0 runs in one).
PYTEST_WORKERS ?= 2
test: $(VENV)/.installed-dev
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadscope $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed-dev
	$(VENV)/bin/mypy

## Regenerate the committed OpenAPI schema of the REST API (tests/api/test_schema.py fails when it is stale).
schema: $(VENV)/.installed-run
	$(PY) manage.py spectacular --validate --fail-on-warn --file docs/api/openapi.yaml

check-deploy: $(VENV)/.installed-run
	DJANGO_SETTINGS_MODULE=config.settings.production \
	SECRET_KEY=check-deploy-only-$$(head -c 48 /dev/urandom | base64 | tr -dc A-Za-z0-9) \
	ALLOWED_HOSTS=review.example.org DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
	$(PY) manage.py check --deploy --fail-level WARNING

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache test-artifacts
