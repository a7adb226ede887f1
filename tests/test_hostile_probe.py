"""A systematic probe: every page and every API operation, fed malformed input (SECURITY.md, "Bad input").

The pages are the access table's (tests/reviews/test_access.py) and the API's operations the API's
table (tests/api/test_access.py), so a URL added to either is probed too. For each one, as the roles
that get past its permission check (and anonymously), the probe sends:

- on a GET: each query parameter its page's forms read, and the usual ones (page, sort, q, ...),
  all at once, set to one hostile value after another: wrong types, 2**63, negative numbers,
  NUL bytes, an invalid UTF-8 byte and an encoded lone surrogate, an overlong string, impossible
  dates, unknown choices; and once each parameter repeated;
- on a POST (pages) or a write (API): the valid data of the table's row with one field at a time
  replaced by a hostile value; for the API also bodies that are not JSON, JSON that is not an
  object, and a form-encoded body where JSON is expected;
- headers: malformed tokens, Content-Range and Range past any integer, garbage dates and languages;
- uploads (pages and API): file names with NUL, bytes that are not UTF-8, 1,000 characters or
  "../"; side files in UTF-16 or Latin-1, with NUL bytes, 5,000 columns, JSON nested 5,000 deep;
- the text and numbers of each page's own address (an item code with a NUL, 30 digits).

Every answer must be a normal one (below 500) without any traceback text; a request refused with a
4xx must change nothing. Each request runs in a savepoint that is rolled back.
"""

from __future__ import annotations

import json
import re
import traceback
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse

from tests.api import test_access as api_access
from tests.api.client import client_with
from tests.api.test_access import ROWS as API_ROWS
from tests.api.test_access import _expected as api_expected
from tests.api.test_access import _prepare as api_prepare
from tests.api.test_access import _url as api_url
from tests.conftest import clear_run_cache
from tests.reviews import test_access as page_access
from tests.reviews.test_access import (
    LOGIN,
    TABLE,
    V,
    _body,
)

# The two tables' worlds, built once per module (their fixtures, used here under their names).
module_world, world = page_access.module_world, page_access.world
schema, api_world, aw = api_access.schema, api_access.api_world, api_access.aw

# Each value is what goes on the wire, already percent-encoded (so that bytes that are not UTF-8
# and encoded lone surrogates can be sent at all).
RAW_VALUES: dict[str, str] = {
    "negative": "-1",
    "huge": str(2**63),
    "float": "1.5e308",
    "infinite": "1e999",
    "nan": "NaN",
    "word": "abc",
    "nul": "a%00b",
    "surrogate": "%ED%A0%80",  # a lone surrogate, UTF-8 encoded (Django reads it as U+FFFD, as other bad bytes)
    "overlong": "x" * 5000,
    "bad-date": "2026-02-30",
    "last-date": "9999-12-31",  # valid, but a day or a time zone more overflows
    "first-date": "0001-01-01",
}
# A form's fields one at a time: fewer values (a form decodes bytes that are not UTF-8 as U+FFFD, and
# Django's number and date fields refuse NaN and impossible dates alike).
POST_VALUES = ("huge", "negative", "infinite", "word", "nul", "overlong", "last-date", "first-date")
# One field at a time with the others valid: the values that pass a field's own cleaning and
# reach the services (numbers past any database integer, the last day, NUL, the longest text).
ONE_FIELD_VALUES = ("huge", "last-date", "nul", "overlong")
# A page's parameters, all at once (the API's get every value).
GET_VALUES = ("negative", "huge", "infinite", "word", "nul", "surrogate", "overlong", "bad-date", "last-date")
# The parameters lists and filters commonly read, probed on every GET besides the form fields found.
COMMON_PARAMS = ("page", "per_page", "page_size", "sort", "order", "q", "status", "next", "limit", "offset", "cursor")

TRACEBACK_MARKERS = ("Traceback (most recent call last)", 'File "/', "django.db.utils.", "psycopg")


def _param_names(body: bytes) -> list[str]:
    """The names of the fields of the page's forms."""
    text = body.decode("utf-8", errors="replace")
    names = re.findall(r'<(?:input|select|textarea)\b[^>]*\bname="([^"]+)"', text)
    return sorted({n for n in names if n != "csrfmiddlewaretoken"})


def _encode(params: list[tuple[str, str]]) -> str:
    return "&".join(f"{quote(name)}={value}" for name, value in params)


def _where(error: BaseException) -> str:
    frames = [
        f
        for f in traceback.extract_tb(error.__traceback__)
        if "/work/main/" in f.filename and ".venv" not in f.filename
    ]
    last = frames[-1] if frames else traceback.extract_tb(error.__traceback__)[-1]
    return f"{type(error).__name__}: {str(error)[:160]} at {last.filename}:{last.lineno}"


_FINGERPRINT_APPS = ("reviews", "audits", "api", "webhooks", "letters", "oversight", "public")


def _fingerprint() -> tuple[Any, ...]:
    """Rows per table of the project's apps, and the newest change of those that record one: one
    query (the access tables compare every row, at some 30 queries a request: too slow here)."""
    from django.apps import apps
    from django.db import connection

    parts = []
    for label in _FINGERPRINT_APPS:
        for model in apps.get_app_config(label).get_models():
            if model._meta.managed and not model._meta.proxy:
                table = connection.ops.quote_name(model._meta.db_table)
                parts.append(f"(SELECT count(*) FROM {table})")  # noqa: S608 (names from the models)
                columns = {f.column for f in model._meta.concrete_fields}
                changed = [c for c in ("updated_at", "modified_at") if c in columns]
                parts += [f"(SELECT max({c}) FROM {table})" for c in changed]  # noqa: S608 (names from the models)
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(parts))
        return tuple(cursor.fetchone())


def _problems(response: Any, body: bytes, changed: bool) -> list[str]:
    found = []
    if response.status_code >= 500:
        found.append(f"answered {response.status_code}")
    text = body.decode("utf-8", errors="replace")
    found += [f"shows {marker!r}" for marker in TRACEBACK_MARKERS if marker in text]
    if 400 <= response.status_code < 500 and changed:
        found.append(f"refused with {response.status_code} but changed the database")
    return found


# ---------------------------------------------------------------------------------------
# Pages


def _sent(send: Callable[..., Any], *args: Any, **kwargs: Any) -> list[str]:
    """The problems of one request, `send(*args, **kwargs)`, rolled back whatever it did."""
    with transaction.atomic():
        try:
            response = send(*args, **kwargs)
            found = _problems(response, _body(response), False)
        except Exception as error:  # noqa: BLE001 (the error is the finding)
            found = [_where(error)]
        transaction.set_rollback(True)
    return found


def _page_client(user: Any) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _page_request(client: Client, method: str, url: str, query: str = "", form: str | None = None) -> list[str]:
    with transaction.atomic():
        before = _fingerprint() if method == "POST" else None
        try:
            if method == "GET":
                response = client.get(f"{url}?{query}" if query else url)
            else:
                response = client.post(url, form or "", content_type="application/x-www-form-urlencoded")
            body = _body(response)
        except Exception as error:  # noqa: BLE001 (the error is the finding)
            transaction.set_rollback(True)
            return [_where(error)]
        changed = method == "POST" and _fingerprint() != before
        transaction.set_rollback(True)
    return _problems(response, body, changed)


def _cell(expected: Any, variant: str) -> Any:
    return getattr(expected, variant) if isinstance(expected, V) else expected


def _let_in(expectations: dict[str, Any], variant: str) -> list[str]:
    """One role the permission check lets through (its requests reach the forms and filters), or
    anonymous when no one is let in (the refusal itself must not trip over the input)."""
    allowed = [r for r, e in expectations.items() if _cell(e, variant) not in (LOGIN, 401, 403, 404, 405)]
    allowed = [r for r in allowed if not hasattr(_cell(expectations[r], variant), "name")]  # no redirects
    picked = [r for r in ("owner", "assigned", "admin", "reviewer", "other", "invited", "anonymous") if r in allowed]
    return picked[:1] or ["anonymous"]


def _form_values(data: dict[str, Any]) -> list[tuple[str, str]]:
    pairs = []
    for name, value in data.items():
        if hasattr(value, "read"):
            continue  # files travel in the API probe's multipart bodies
        for one in value if isinstance(value, list | tuple) else [value]:
            pairs.append((name, quote(str(one))))
    return pairs


PAGE_NAMES = sorted(name for name in TABLE if name != "admin:index")


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_no_page_answers_500_to_hostile_input(world, name):
    row = TABLE[name]
    problems = []
    for variant in ("draft", "submitted") if row.project_scoped else ("draft",):
        url = reverse(name, kwargs=row.kwargs(world, world.projects[variant]))
        for role in _let_in(row.get, variant):
            client = _page_client(world.users[role])
            with transaction.atomic():
                page = client.get(url)
                names = _param_names(_body(page)) if page.status_code == 200 else []
                transaction.set_rollback(True)
            params = sorted(set(names) | set(COMMON_PARAMS))
            for label in GET_VALUES:
                found = _page_request(client, "GET", url, _encode([(n, RAW_VALUES[label]) for n in params]))
                problems += [f"GET {url}?<every parameter>={label} as {role} ({variant}): {p}" for p in found]
            found = _page_request(client, "GET", url, _encode([(n, v) for n in params for v in ("1", "abc", "-1")]))
            problems += [f"GET {url} with each parameter repeated as {role} ({variant}): {p}" for p in found]
        if row.post is None:
            continue
        data = _form_values(row.data(world))
        for role in _let_in(row.post, variant):
            client = _page_client(world.users[role])
            fields = sorted({n for n, _ in data}) or ["value"]
            for label in POST_VALUES:  # every field at once (a field's own cleaning)
                found = _page_request(client, "POST", url, form=_encode([(f, RAW_VALUES[label]) for f in fields]))
                problems += [f"POST {url} <every field>={label} as {role} ({variant}): {p}" for p in found]
            for field in fields:  # one field, the rest valid (what the services are handed)
                kept = [(n, v) for n, v in data if n != field]
                for label in ONE_FIELD_VALUES:
                    found = _page_request(client, "POST", url, form=_encode([*kept, (field, RAW_VALUES[label])]))
                    problems += [f"POST {url} {field}={label} as {role} ({variant}): {p}" for p in found]
                found = _page_request(client, "POST", url, form=_encode([*kept, (field, "1"), (field, "abc")]))
                problems += [f"POST {url} {field} repeated as {role} ({variant}): {p}" for p in found]
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------------------
# The REST API


JSON_VALUES: dict[str, Any] = {
    "huge": 2**63,
    "negative": -1,
    "float": 1.5,
    "string": "abc",
    "nul": "a\x00b",
    "surrogate": "\ud800",
    "overlong": "x" * 100_000,
    "bad-date": "2026-02-30",
    "garbage-date": "9999-99-99",
    "last-date": "9999-12-31",
    "last-time": "9999-12-31T23:59:59Z",
    "first-time": "0001-01-01T00:00:00+14:00",
    "null": None,
    "list": [1, "a", None],
    "object": {"a": {"b": []}},
    "bool": True,
    "nan": float("nan"),  # Python's json reads NaN and Infinity; PostgreSQL's jsonb refuses them
    "infinity": float("inf"),
    "deep-value": [[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]],
}
BAD_BODIES: dict[str, tuple[bytes, str]] = {
    "not-json": (b"{not json", "application/json"),
    "truncated": (b'{"title": "x', "application/json"),
    "json-list": (b"[1, 2, 3]", "application/json"),
    "json-string": (b'"just a string"', "application/json"),
    "json-null": (b"null", "application/json"),
    "deep": (b"[" * 5000 + b"]" * 5000, "application/json"),
    "bad-utf8": (b'{"title": "\xff\xfe"}', "application/json"),
    "nul-key": (b'{"\\u0000": 1}', "application/json"),
    "surrogate-key": (b'{"\\ud800": "\\udfff"}', "application/json"),
    "form": (b"title=x&status=met", "application/x-www-form-urlencoded"),
    "xml": (b"<a>1</a>", "application/xml"),
    "no-type": (b"{}", ""),
    "bad-multipart": (b"--x\r\nContent-Disposition: form-data\r\n\r\n", "multipart/form-data; boundary=x"),
    "multipart-no-boundary": (b"abc", "multipart/form-data"),
}


def _api_request(token: str | None, method: str, url: str, **kwargs: Any) -> list[str]:
    clear_run_cache()  # throttles would otherwise answer 429 before the input is read
    client = client_with(token)
    with transaction.atomic():
        before = _fingerprint() if method != "GET" else None
        try:
            response = client.generic(method, url, **kwargs)
            body = _body(response)
        except Exception as error:  # noqa: BLE001 (the error is the finding)
            transaction.set_rollback(True)
            return [_where(error)]
        changed = method != "GET" and _fingerprint() != before
        transaction.set_rollback(True)
    return _problems(response, body, changed)


def _query_names(schema_doc: dict[str, Any], method: str, path: str) -> list[str]:
    op = schema_doc["paths"].get(path, {}).get(method.lower(), {})
    return [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]


def _api_roles(op: Any, variant: str) -> list[str]:
    allowed = [r for r in ("anonymous", "owner", "assigned", "admin") if api_expected(op.expect[r], variant) < 400]
    return allowed[:1] or ["owner"]


@pytest.mark.parametrize("key", sorted(API_ROWS), ids=lambda k: f"{k[0]} {k[1]}")
def test_no_api_operation_answers_500_to_hostile_input(aw, schema, key):
    op, w = API_ROWS[key], aw.w
    method, _ = key
    problems = []
    for variant in ("draft", "submitted") if op.project_scoped else ("draft",):
        project = w.projects[variant]
        url = api_url(key, op.params(w, project))
        call = api_prepare(op, method, url, w, project)
        params = sorted(set(_query_names(schema, *key)) | set(COMMON_PARAMS))
        for role in _api_roles(op, variant):
            token = aw.tokens.write.get(role)
            for label, value in RAW_VALUES.items():
                query = _encode([(n, value) for n in params])
                found = _api_request(token, method, f"{url}?{query}", **_api_payload(op, call))
                problems += [f"{method} {url}?<every parameter>={label} as {role} ({variant}): {p}" for p in found]
            if method == "GET":
                continue
            if op.raw is None and op.format == "json" and call.body:
                for field in sorted(call.body):
                    for label, value in JSON_VALUES.items():
                        data = json.dumps({**call.body, field: value}).encode()
                        found = _api_request(token, method, url, data=data, content_type="application/json")
                        problems += [f"{method} {url} {field}={label} as {role} ({variant}): {p}" for p in found]
            for label, (data, content_type) in BAD_BODIES.items():
                found = _api_request(token, method, url, data=data, content_type=content_type, headers=call.headers)
                problems += [f"{method} {url} body {label} as {role} ({variant}): {p}" for p in found]
    assert not problems, "\n".join(problems)


def _api_payload(op: Any, call: Any) -> dict[str, Any]:
    """The row's own valid body, as it sends it (query parameters are what is probed)."""
    if call.raw is not None:
        return {"data": call.raw, "content_type": op.content_type, "headers": call.headers}
    if call.method == "GET" or call.body is None:
        return {"headers": call.headers}
    if op.format == "json":
        return {"data": json.dumps(call.body).encode(), "content_type": "application/json", "headers": call.headers}
    return {"headers": call.headers}


# ---------------------------------------------------------------------------------------
# Headers


# Sent together (one request each set): what they reach is read in different places.
HOSTILE_HEADERS: dict[str, dict[str, str]] = {
    "authorization-nul": {"Authorization": "Bearer abc\x00def"},
    "authorization-long": {"Authorization": "Bearer " + "a" * 20_000},
    "authorization-basic": {"Authorization": "Basic Zm9vOmJhcg=="},
    "authorization-empty-bearer": {"Authorization": "Bearer "},
    "authorization-latin1": {"Authorization": "Bearer \xe9\xff"},
    "authorization-two-words": {"Authorization": "Bearer a b"},
    "the-rest": {
        "Content-Range": f"bytes 0-{2**70}/{2**71}",
        "Range": "bytes=99999999999999999999-",
        "Accept-Language": "xx-\x00;q=abc, " + "de" * 2000,
        "X-Forwarded-For": "not-an-address, \x00, 999.1.1.1",
        "If-None-Match": '"' + "x" * 10_000,
        "If-Modified-Since": "Mon, 99 Foo 9999 99:99:99 GMT",
        "Accept": "application/xml;q=abc, */*;q=-1",
    },
    "ranges": {"Content-Range": "bytes -5-3/10", "Range": "bytes=a-b,c", "If-Modified-Since": "0"},
}


@pytest.mark.parametrize("label", sorted(HOSTILE_HEADERS))
def test_no_api_operation_answers_500_to_hostile_headers(aw, label):
    w = aw.w
    problems = []
    for key, op in sorted(API_ROWS.items()):
        project = w.projects["draft"]
        url = api_url(key, op.params(w, project))
        call = api_prepare(op, key[0], url, w, project)
        payload = _api_payload(op, call)
        headers = {**payload.pop("headers", {}), **HOSTILE_HEADERS[label]}
        token = None if "Authorization" in headers else aw.tokens.write["owner"]
        found = _api_request(token, key[0], url, headers=headers, **payload)
        problems += [f"{key[0]} {url} with {label}: {p}" for p in found]
        sent_range = call.headers.get("Content-Range", "")
        if label == "ranges" and sent_range:
            # The row's own chunk, its place in a file past any integer the database holds.
            start, end = (int(n) for n in re.findall(r"\d+", sent_range)[:2])
            for claimed in (f"bytes {start}-{end}/{2**70}", f"bytes {start + 2**70}-{end + 2**70}/{2**71}"):
                found = _api_request(token, key[0], url, headers={"Content-Range": claimed}, **payload)
                problems += [f"{key[0]} {url} with Content-Range {claimed}: {p}" for p in found]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("label", ["the-rest", "ranges"])
def test_no_page_answers_500_to_hostile_headers(world, label):
    problems = []
    for name in PAGE_NAMES:
        row = TABLE[name]
        url = reverse(name, kwargs=row.kwargs(world, world.projects["draft"]))
        role = _let_in(row.get, "draft")[0]
        client = _page_client(world.users[role])
        found = _sent(client.get, url, headers=HOSTILE_HEADERS[label])
        problems += [f"GET {url} as {role} with {label}: {p}" for p in found]
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------------------
# Uploads: multipart bodies built by hand, so that file names can hold any byte


SAMPLE_CSV = "file,sex,age\nscan.dcm,F,45\n"
HOSTILE_FILES: dict[str, tuple[bytes, bytes]] = {  # label -> (file name, content)
    "name-nul": (b"scan\x00.csv", SAMPLE_CSV.encode()),
    "name-bad-utf8": (b"\xff\xfe.csv", SAMPLE_CSV.encode()),
    "name-overlong": (b"x" * 1000 + b".csv", SAMPLE_CSV.encode()),
    "name-traversal": (b"../../../../etc/passwd.csv", SAMPLE_CSV.encode()),
    "name-empty": (b"", SAMPLE_CSV.encode()),
    "utf16": (b"meta.csv", SAMPLE_CSV.encode("utf-16")),
    "latin1": (b"meta.csv", "file,s\xe9x\nscan.dcm,F\n".encode("latin-1")),
    "nul-bytes": (b"meta.csv", b"file,sex\x00\nscan.dcm,F\x00\n"),
    "unbalanced-quote": (b"meta.csv", b'file,sex\n"scan.dcm,F\n'),
    "wide": (b"meta.csv", (",".join(f"c{i}" for i in range(5000)) + "\n").encode()),
    "empty": (b"meta.csv", b""),
    "deep-json": (b"manifest.json", b"[" * 5000 + b"]" * 5000),
    "surrogate-json": (b"manifest.json", b'[{"file": "\\ud800", "generator": "\\udfff"}]'),
    "binary": (b"meta.csv", bytes(range(256)) * 4),
}
BOUNDARY = "hostileboundary7MA4YWxkTrZu0gW"


def _multipart(fields: list[tuple[str, str]], files: list[tuple[str, bytes, bytes]]) -> bytes:
    parts = []
    for name, value in fields:
        parts.append(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, filename, content in files:
        head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"; filename="'.encode()
        parts.append(head + filename + b'"\r\nContent-Type: application/octet-stream\r\n\r\n' + content + b"\r\n")
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def _dicom() -> tuple[bytes, bytes]:
    from pathlib import Path

    from pydicom.data import get_testdata_file

    return b"scan.dcm", Path(get_testdata_file("CT_small.dcm", download=False)).read_bytes()


# (how to reach it, its text fields, the file field probed, the other files sent with it)
UPLOAD_TARGETS = {
    "page imageset-upload metadata": ("imageset-upload", [("role", "synthetic")], "metadata", ["files"]),
    "page imageset-upload value_map": ("imageset-upload", [("role", "synthetic")], "value_map", ["files"]),
    "page imageset-upload manifest": ("imageset-upload", [("role", "synthetic")], "manifest", ["files"]),
    "page imageset-upload files": ("imageset-upload", [("role", "holdout")], "files", []),
    "page answer-edit evidence": (
        "answer-edit",
        [("status", "met"), ("evidence_text", "See file.")],
        "evidence_files",
        [],
    ),
    "api image-sets metadata": ("/api/v1/projects/{id}/image-sets/", [("role", "synthetic")], "metadata", ["files"]),
    "api image-sets manifest": ("/api/v1/projects/{id}/image-sets/", [("role", "synthetic")], "manifest", ["files"]),
    "api image-sets files": ("/api/v1/projects/{id}/image-sets/", [("role", "holdout")], "files", []),
    "api evidence": ("/api/v1/projects/{id}/answers/{code}/evidence/", [], "file", []),
}


@pytest.mark.parametrize("target", sorted(UPLOAD_TARGETS))
def test_no_upload_answers_500_to_hostile_files(aw, target):
    w = aw.w
    project = w.projects["draft"]
    where, fields, probed, others = UPLOAD_TARGETS[target]
    content_type = f"multipart/form-data; boundary={BOUNDARY}"
    problems = []
    for label, (filename, content) in HOSTILE_FILES.items():
        files = [(name, *_dicom()) for name in others] + [(probed, filename, content)]
        body = _multipart(fields, files)
        if where.startswith("/api/"):
            url = where.format(id=project.pk, code=w.item_code)
            found = _api_request(aw.tokens.write["owner"], "POST", url, data=body, content_type=content_type)
        else:
            kwargs = {"pk": project.pk, "code": w.item_code} if where == "answer-edit" else {"pk": project.pk}
            url = reverse(where, kwargs=kwargs)
            client = _page_client(w.owner)
            found = _sent(client.generic, "POST", url, body, content_type=content_type)
        problems += [f"{target} {label}: {p}" for p in found]
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------------------
# Values in the path itself


PATH_VALUES = {
    "huge": "9" * 30,
    "nul": "a%00b",
    "surrogate": "%ED%A0%80",
    "overlong": "x" * 3000,
    "dots": "..%2F..%2Fetc",
    "script": "%3Cscript%3E",
}


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_no_page_answers_500_to_hostile_path_values(world, name):
    row = TABLE[name]
    kwargs = row.kwargs(world, world.projects["draft"])
    problems = []
    for key in kwargs:
        if not isinstance(kwargs[key], int | str) or re.fullmatch(r"[0-9a-f-]{36}", str(kwargs[key])):
            continue  # a UUID converter matches no other text: a plain 404
        marker = "9191919191" if isinstance(kwargs[key], int) else "probe"
        template = reverse(name, kwargs={**kwargs, key: marker})
        role = _let_in(row.get, "draft")[0]
        client = _page_client(world.users[role])
        for label, value in PATH_VALUES.items():
            if isinstance(kwargs[key], int) and not value.isdigit():
                continue  # the int converter does not match: a plain 404
            url = template.replace(marker, value, 1)
            found = _page_request(client, "GET", url)
            if row.post is not None and label == "nul":
                found += _page_request(client, "POST", url, form=_encode(_form_values(row.data(world))))
            problems += [f"{url[:120]} ({key}={label}) as {role}: {p}" for p in found]
    assert not problems, "\n".join(problems)
