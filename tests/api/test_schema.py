"""The OpenAPI schema: generated from the code without a warning, valid, committed as
docs/api/openapi.yaml (so that every change of the API shows up in review), served at
/api/v1/schema/ and documented on /api/v1/docs/ under our Content-Security-Policy."""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.urls import reverse
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.management.commands.spectacular import SchemaGenerationError, SchemaValidationError
from rest_framework.test import APIClient

from api.services.tokens import token_revoke
from tests.api.client import client_with, make_token

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "api" / "openapi.yaml"
METHODS = ("get", "put", "patch", "post", "delete")


def _generate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> bytes:
    """What `make schema` writes, generated the same way (validated; a warning fails)."""
    GENERATOR_STATS.reset()  # warnings of earlier schema generations in this process are not ours
    target = tmp_path / "openapi.yaml"
    try:
        call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    except (SchemaGenerationError, SchemaValidationError) as exc:
        pytest.fail(f"the schema does not generate cleanly ({exc}):\n{capsys.readouterr().err}", pytrace=False)
    return target.read_bytes()


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    result: dict[str, Any] = SchemaGenerator().get_schema(request=None, public=True)
    return result


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_the_schema_generates_without_warnings_validates_and_is_the_committed_one(tmp_path, capsys):
    generated = _generate(tmp_path, capsys)
    committed = COMMITTED.read_bytes() if COMMITTED.exists() else b""
    if generated != committed:
        diff = difflib.unified_diff(
            committed.decode().splitlines(), generated.decode().splitlines(), "committed", "generated", lineterm=""
        )
        shown = "\n".join(list(diff)[:60])
        pytest.fail(
            f"docs/api/openapi.yaml is not the schema the code generates: run `make schema` and commit it.\n{shown}",
            pytrace=False,
        )


def test_every_operation_has_an_id_a_description_and_its_error_answers(schema):
    problems = []
    ids = [operation.get("operationId") for _, _, operation in _operations(schema)]
    for method, path, operation in _operations(schema):
        where = f"{method} {path}"
        if not operation.get("operationId"):
            problems.append(f"{where}: no operationId")
        if not (operation.get("summary") or operation.get("description", "").strip()):
            problems.append(f"{where}: neither a summary nor a description (a docstring or @extend_schema)")
        responses = operation.get("responses", {})
        if not any(code.startswith("2") for code in responses):
            problems.append(f"{where}: no success answer")
        expected = {"401", "429"} | ({"403"} if method != "GET" else set()) | ({"404"} if "{" in path else set())
        expected |= {"400"} if "requestBody" in operation else set()
        missing = expected - set(responses)
        if missing:
            problems.append(f"{where}: the error answers {sorted(missing)} are not documented")
        if "{" in path and not operation.get("parameters"):
            problems.append(f"{where}: its path parameters are not described")
    problems += [f"operationId {i!r} is used twice" for i in {i for i in ids if ids.count(i) > 1}]
    assert not problems, "\n".join(problems)


def test_path_parameters_are_typed_and_named_alike(schema):
    """The project is `{id}` everywhere, and no parameter is left as a string by default."""
    problems = []
    for method, path, operation in _operations(schema):
        names = re.findall(r"{([^}]+)}", path)
        declared = {p["name"]: p for p in operation.get("parameters", []) if p.get("in") == "path"}
        for name in names:
            parameter = declared.get(name)
            if parameter is None:
                problems.append(f"{method} {path}: {{{name}}} is not declared")
            elif "type" not in parameter.get("schema", {}):
                problems.append(f"{method} {path}: {{{name}}} has no type")
        if path.startswith("/api/v1/projects/{") and not path.startswith("/api/v1/projects/{id}/"):
            problems.append(f"{method} {path}: the project's parameter is not named {{id}}")
    assert not problems, "\n".join(problems)


def test_the_bearer_scheme_is_declared_and_required_unless_the_operation_is_public(schema):
    assert schema["components"]["securitySchemes"]["bearer"]["type"] == "http"
    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for method, path, operation in _operations(schema):
        assert {"bearer": []} in operation.get("security", []), f"{method} {path} does not accept a token"


# ---------------------------------------------------------------------------------------
# Served


def test_anyone_reads_the_schema_as_yaml_or_json(db):
    client = APIClient()
    url = reverse("api:schema")

    as_yaml = client.get(url)
    assert as_yaml.status_code == 200
    assert as_yaml["Content-Type"].startswith("application/vnd.oai.openapi")
    served = yaml.safe_load(as_yaml.content)
    assert served["openapi"].startswith("3.")
    assert served["info"]["title"] == "MISyn Review API"

    as_json = client.get(url, {"format": "json"})
    assert as_json.status_code == 200 and json.loads(as_json.content) == served
    by_accept = client.get(url, HTTP_ACCEPT="application/json")
    assert by_accept["Content-Type"].startswith("application/json") and json.loads(by_accept.content) == served


def test_the_served_schema_is_the_committed_one(db):
    served = yaml.safe_load(APIClient().get(reverse("api:schema")).content)
    assert served == yaml.safe_load(COMMITTED.read_bytes()), "run `make schema` and commit docs/api/openapi.yaml"


def test_a_revoked_token_is_refused_even_for_the_schema(researcher):
    token, raw = make_token(researcher)
    token_revoke(actor=researcher, token=token)
    response = client_with(raw).get(reverse("api:schema"), {"format": "json"})
    assert response.status_code == 401
    assert json.loads(response.content) == {"detail": "This token was revoked."}
    assert "paths" not in response.content.decode()


def test_the_docs_page_starts_swagger_ui_from_static_files_only(client, db):
    response = client.get(reverse("api:docs"))
    html = response.content.decode()

    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, flags=re.S)
    assert scripts and all('src="' in attributes and not body.strip() for attributes, body in scripts)
    assert "<style" not in html and " style=" not in html
    sources = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert "/static/js/api-docs.js" in sources
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in sources
    assert all(finders.find(source.removeprefix("/static/")) for source in sources), sources
    assert not re.search(r'(?:src|href)="https?://', html), "the page loads something from another site"
    assert f'data-schema-url="{reverse("api:schema")}?format=json"' in html
