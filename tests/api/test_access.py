"""The API's access table, walked (SECURITY.md, "Access"; issue 12, item 6).

The rows are the areas' (tests/api/rows_*.py, merged below); tests/api/matrix.py says what a
row holds. The table must be exactly the operations of the generated OpenAPI schema, so a new
endpoint without a row fails `test_every_operation_is_in_the_table`. Each row is then walked as
every role of the page table (tests/reviews/test_access.py): anonymous with no token, every
other role with a read-and-write token of their own, on the owner's draft and submitted
project for project-scoped rows. Each request runs in a savepoint that is rolled back, so every
role sees the same world; a refused request must change nothing, an outsider's answer must
hold no secret of the world, and a 404 must read exactly like the 404 of an id that does not
exist. Then every write with the owner's and the admin's read-only token is refused with the
scope's sentence, and every operation with an expired or a revoked token answers 401.

The world is built once for the module, in a transaction rolled back at its end, and each test
runs in a savepoint of it. The rows' `params`, `body`, `raw` and `headers` are called outside
the requests' savepoints, so what they build on first use (kept in `w.extras`) lasts for the
test; `w.extras` is emptied before each test, whose savepoint took those objects away.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps
from django.db import transaction
from django.http import HttpResponseBase
from django.urls import URLPattern, URLResolver, reverse
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from api.enums import TokenScope
from api.models import ApiToken
from api.permissions import TokenScopeAllows
from api.services.tokens import token_revoke
from reviews.models import Project
from tests.api.client import client_with, make_token
from tests.api.matrix import Op, V, World
from tests.reviews.test_access import OUTSIDERS, ROLES, VARIANTS, build_world_once
from tests.reviews.test_access import _body as response_body
from tests.reviews.test_access import _state as page_state

ROW_MODULES = ("tests.api.rows_me", "tests.api.rows_projects", "tests.api.rows_uploads", "tests.api.rows_records")
ROWS: dict[tuple[str, str], Op] = {}
for _module in ROW_MODULES:
    _rows = importlib.import_module(_module).ROWS
    assert not set(_rows) & set(ROWS), f"{_module} repeats rows: {sorted(set(_rows) & set(ROWS))}"
    ROWS.update(_rows)

# The URLs of api.urls that are not operations of the schema: the schema itself and its page.
PAGES = ("api:schema", "api:docs")
API_PREFIX = "/api/v1/"
METHODS = ("get", "put", "patch", "post", "delete")
# Columns a request may change whatever its answer: the token's last use is recorded even
# when the request is refused after authentication.
VOLATILE = {"last_used_at", "last_used_ip"}


def _row_id(key: tuple[str, str]) -> str:
    return f"{key[0]} {key[1]}"


# ---------------------------------------------------------------------------------------
# The world, once per module


@dataclass
class Tokens:
    """Raw tokens per role (anonymous has none)."""

    write: dict[str, str]
    read: dict[str, str]
    expired: dict[str, str]
    revoked: dict[str, str]


@dataclass
class ApiWorld:
    w: World
    tokens: Tokens
    parameter_types: dict[tuple[str, str], dict[str, dict[str, Any]]]  # (METHOD, path) -> name -> schema


def _tokens(w: World) -> Tokens:
    users = {role: user for role, user in w.users.items() if user is not None}
    tokens = Tokens(write={}, read={}, expired={}, revoked={})
    for role, user in users.items():
        tokens.write[role] = make_token(user, scope=TokenScope.WRITE)[1]
        tokens.read[role] = make_token(user, scope=TokenScope.READ)[1]
        expired, tokens.expired[role] = make_token(user, scope=TokenScope.WRITE)
        past = timezone.now() - timedelta(days=1)
        ApiToken.objects.filter(pk=expired.pk).update(created_at=past - timedelta(days=30), expires_at=past)
        revoked, tokens.revoked[role] = make_token(user, scope=TokenScope.WRITE)
        token_revoke(actor=user, token=revoked)
    return tokens


def _parameter_types(schema: dict[str, Any]) -> dict[tuple[str, str], dict[str, dict[str, Any]]]:
    return {
        (method.upper(), path): {p["name"]: p.get("schema", {}) for p in op.get("parameters", []) if p["in"] == "path"}
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if method in METHODS
    }


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    result: dict[str, Any] = SchemaGenerator().get_schema(request=None, public=True)
    return result


@pytest.fixture(scope="module")
def api_world(django_db_setup, django_db_blocker, schema) -> Iterator[ApiWorld]:
    with django_db_blocker.unblock(), transaction.atomic():
        w = build_world_once()
        yield ApiWorld(w=w, tokens=_tokens(w), parameter_types=_parameter_types(schema))
        transaction.set_rollback(True)


@pytest.fixture
def aw(api_world: ApiWorld, db: None) -> ApiWorld:
    api_world.w.extras.clear()  # what the rows built in an earlier test went with its savepoint
    return api_world


# ---------------------------------------------------------------------------------------
# One request


@dataclass
class Outcome:
    status: int
    body: bytes
    changed: bool
    response: HttpResponseBase


def _state() -> dict[str, Any]:
    """The page table's state, and every row of the api and webhooks apps."""
    state = page_state()
    for label in ("api", "webhooks"):
        for model in apps.get_app_config(label).get_models():
            columns = [f.attname for f in model._meta.concrete_fields if f.attname not in VOLATILE]
            state[model._meta.label] = list(model.objects.order_by("pk").values_list(*columns))
    return state


@dataclass(frozen=True)
class Call:
    """What to send, computed outside the request's savepoint."""

    method: str
    url: str
    body: dict[str, Any] | None
    raw: bytes | None
    headers: dict[str, str]


def _prepare(op: Op, method: str, url: str, w: World, project: Project) -> Call:
    return Call(
        method=method,
        url=url,
        body=op.body(w, project) if op.body is not None else None,
        raw=op.raw(w, project) if op.raw is not None else None,
        headers=op.headers(w, project) if op.headers is not None else {},
    )


def _send(raw_token: str | None, op: Op, call: Call, *, refused: bool = True) -> Outcome:
    """One request in a savepoint that is rolled back: the next caller sees the same world.
    For a request that should be `refused`, whether it changed the database."""
    client = client_with(raw_token)
    with transaction.atomic():
        before = _state() if refused else None
        if call.raw is not None:
            response = client.generic(call.method, call.url, call.raw, op.content_type, headers=call.headers)
        elif call.method == "GET":
            response = client.get(call.url, call.body, headers=call.headers)
        else:
            send = getattr(client, call.method.lower())
            response = send(call.url, call.body, format=op.format, headers=call.headers)
        body = response_body(response)
        changed = refused and _state() != before
        transaction.set_rollback(True)
    return Outcome(response.status_code, body, changed, response)


def _url(key: tuple[str, str], params: dict[str, Any]) -> str:
    return key[1].format(**params)


def _absent(value_schema: dict[str, Any], name: str) -> Any:
    """A value of the parameter's type that names nothing."""
    if value_schema.get("type") == "integer":
        return 2_000_000_000
    if value_schema.get("format") == "uuid":
        return "00000000-0000-4000-8000-000000000000"
    return f"no-such-{name}"


def _nonexistent_url(aw: ApiWorld, key: tuple[str, str], params: dict[str, Any]) -> str | None:
    """The same URL with its innermost object replaced by one that does not exist."""
    names = re.findall(r"{([^}]+)}", key[1])
    if not names:
        return None
    last = names[-1]
    return _url(key, {**params, last: _absent(aw.parameter_types.get(key, {}).get(last, {}), last)})


def _hidden(w: World, role: str) -> list[str]:
    """What this role may never read (the page table's rule)."""
    if role in OUTSIDERS:
        return w.secrets
    if role == "invited":  # the invitation shows the title, and nothing else of the project
        return w.secrets_by_variant["draft"] + w.secrets_by_variant["submitted"][1:]
    if role == "assigned":
        return w.secrets_by_variant["draft"]
    return []


def _leaks(w: World, role: str, body: bytes) -> list[str]:
    text = body.decode("utf-8", errors="replace")
    # JSON escapes non-ASCII characters and slashes; compare with the decoded text as well.
    with contextlib.suppress(ValueError):
        text += json.dumps(json.loads(text), ensure_ascii=False)
    return [f"leaks {secret!r}" for secret in _hidden(w, role) if secret in text]


def _expected(cell: Any, variant: str) -> int:
    return int(getattr(cell, variant) if isinstance(cell, V) else cell)


def _shown(outcome: Outcome) -> str:
    return outcome.body[:300].decode("utf-8", errors="replace")


# ---------------------------------------------------------------------------------------
# The table is the schema


def test_every_operation_is_in_the_table(schema):
    operations = set(_parameter_types(schema))
    missing, extra = sorted(operations - set(ROWS)), sorted(set(ROWS) - operations)
    assert not missing and not extra, (
        "the API's table (tests/api/rows_*.py) is not the schema's operations:\n"
        + "".join(f"  missing a row: {_row_id(key)}\n" for key in missing)
        + "".join(f"  a row for no operation: {_row_id(key)}\n" for key in extra)
    )


def _api_patterns(patterns: list[Any], prefix: str = "") -> list[tuple[str, str]]:
    """(name, path template) of every URL of api.urls, templates written like the schema's."""
    found = []
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            found += _api_patterns(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            template = API_PREFIX + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
            found.append((f"api:{entry.name}" if entry.name else f"<unnamed {route}>", template))
    return found


def test_every_api_url_is_an_operation_of_the_schema_or_a_public_page(schema):
    api_urls = importlib.import_module("api.urls")
    outside = sorted(name for name, template in _api_patterns(api_urls.urlpatterns) if template not in schema["paths"])
    # The last pattern answers every other URL under /api/v1/ with a JSON 404 (tests/api/test_errors.py).
    assert outside == sorted([*PAGES, "api:unknown"]), f"URLs of api.urls that the schema does not describe: {outside}"


@pytest.mark.parametrize("name", PAGES)
def test_the_schema_and_its_page_are_public(aw, name):
    url = reverse(name)
    for role in ROLES:
        token = aw.tokens.write.get(role)
        response = client_with(token).get(url)
        assert response.status_code == 200, f"{url} as {role}: {response.status_code}"
        assert not _leaks(aw.w, "anonymous", response_body(response))


# ---------------------------------------------------------------------------------------
# Every row as every role


def _walk(aw: ApiWorld, key: tuple[str, str]) -> list[str]:
    op, w = ROWS[key], aw.w
    problems = []
    for variant in VARIANTS if op.project_scoped else ("draft",):
        project = w.projects[variant]
        params = op.params(w, project)
        url = _url(key, params)
        absent_url = _nonexistent_url(aw, key, params)
        for role in ROLES:
            expected = _expected(op.expect[role], variant)
            token = aw.tokens.write.get(role)
            outcome = _send(token, op, _prepare(op, key[0], url, w, project), refused=expected >= 400)
            found = []
            if outcome.status != expected:
                found.append(f"expected {expected}, got {outcome.status}: {_shown(outcome)}")
            found += _leaks(w, role, outcome.body)
            if outcome.status == 401 and not outcome.response.get("WWW-Authenticate", "").startswith("Bearer"):
                found.append("a 401 without the Bearer challenge")
            if expected >= 400 and outcome.changed:
                found.append("a refused request changed the database")
            if outcome.status == 404 and absent_url is not None:
                absent = _send(token, op, _prepare(op, key[0], absent_url, w, project))
                if (absent.status, absent.body) != (404, outcome.body):
                    found.append(f"its 404 differs from a missing object's: {_shown(outcome)!r} / {_shown(absent)!r}")
            problems += [f"{key[0]} {url} as {role} ({variant}): {p}" for p in found]
    return problems


@pytest.mark.parametrize("key", sorted(ROWS), ids=_row_id)
def test_each_role_gets_the_expected_answer(aw, key):
    problems = _walk(aw, key)
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------------------
# Tokens of the wrong scope, expired and revoked


@pytest.mark.parametrize("key", sorted(k for k in ROWS if k[0] != "GET"), ids=_row_id)
def test_a_read_only_token_changes_nothing(aw, key):
    op, w = ROWS[key], aw.w
    problems = []
    for variant in VARIANTS if op.project_scoped else ("draft",):
        project = w.projects[variant]
        url = _url(key, op.params(w, project))
        for role in ("owner", "admin"):
            outcome = _send(aw.tokens.read[role], op, _prepare(op, key[0], url, w, project))
            with_write_token = _expected(op.expect[role], variant)
            if with_write_token < 400:
                # The scope is what stops it, and the answer says so.
                detail = json.loads(outcome.body).get("detail") if outcome.status == 403 else None
                if detail != TokenScopeAllows.message:
                    problems.append(
                        f"{url} as {role} ({variant}): expected 403 with the scope's sentence: {_shown(outcome)}"
                    )
            elif outcome.status not in (403, with_write_token):
                # Refused anyway (e.g. the project is read-only): any refusal will do, checked first or not.
                problems.append(f"{url} as {role} ({variant}): expected 403 or {with_write_token}: {_shown(outcome)}")
            if outcome.changed:
                problems.append(f"{url} as {role} ({variant}): a read-only token changed the database")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("key", sorted(ROWS), ids=_row_id)
def test_expired_and_revoked_tokens_are_refused(aw, key):
    """Public operations too: a bad token is refused, not ignored (the caller learns it is bad)."""
    op, w = ROWS[key], aw.w
    problems = []
    for variant in VARIANTS if op.project_scoped else ("draft",):
        project = w.projects[variant]
        url = _url(key, op.params(w, project))
        for kind, tokens in (("expired", aw.tokens.expired), ("revoked", aw.tokens.revoked)):
            outcome = _send(tokens["owner"], op, _prepare(op, key[0], url, w, project))
            where = f"{url} with the owner's {kind} token ({variant})"
            if outcome.status != 401 or not outcome.response.get("WWW-Authenticate", "").startswith("Bearer"):
                problems.append(f"{where}: expected 401 with a Bearer challenge, got {outcome.status}")
            problems += [f"{where}: {leak}" for leak in _leaks(w, "anonymous", outcome.body)]
            if outcome.changed:
                problems.append(f"{where}: changed the database")
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------------------
# Absurd ids


ABSURD = 99_999_999_999_999_999_999_999_999  # past any database integer


@pytest.mark.parametrize("key", sorted(k for k in ROWS if re.search(r"{(id|\w+_id|number)}", k[1])), ids=_row_id)
def test_absurd_ids_are_refused_not_a_500(aw, key):
    """Each integer id of the path, in turn, past any integer the database holds: as the owner,
    with a token that may write, the answer is a refusal, never a server error or a success."""
    op, w = ROWS[key], aw.w
    project = w.projects["draft"]
    params = op.params(w, project)
    integers = [name for name, schema in aw.parameter_types[key].items() if schema.get("type") == "integer"]
    problems = []
    for name in integers:
        url = _url(key, {**params, name: ABSURD})
        outcome = _send(aw.tokens.write["owner"], op, _prepare(op, key[0], url, w, project))
        if not 400 <= outcome.status < 500:
            problems.append(f"{key[0]} {url}: {outcome.status} {_shown(outcome)}")
        if outcome.changed:
            problems.append(f"{key[0]} {url}: changed the database")
    assert integers and not problems, "\n".join(problems) or f"{_row_id(key)} has no integer id"
