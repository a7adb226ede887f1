"""The OpenAPI schema's project-wide parts: the Bearer scheme of our tokens, and the error
answers every view can give without saying so itself (a refused input, a refused token, a
read-only token, an object the caller may not see, a throttle), added by one postprocessing
hook so that each view documents only the answers that are its own."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from rest_framework.permissions import AllowAny, IsAuthenticated

from api.permissions import SignedIn

SCHEME = "bearer"
ERROR_COMPONENT = "ApiError"
SIGN_IN_PERMISSIONS = (SignedIn, IsAuthenticated)
UNSAFE = {"post", "put", "patch", "delete"}


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.BearerTokenAuthentication"
    name = SCHEME

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal API token (“msr_…”), created on the account page at /account/tokens/.",
        }

    def get_security_requirement(self, auto_schema: AutoSchema) -> list[dict[str, list[Any]]]:
        permissions = auto_schema.view.get_permissions()
        if any(isinstance(p, SIGN_IN_PERMISSIONS) for p in permissions):
            return [{SCHEME: []}]
        if any(isinstance(p, AllowAny) for p in permissions):
            return [{SCHEME: []}]  # drf-spectacular adds the anonymous alternative itself
        # Anyone may call it: a token is optional (but a bad one is still refused).
        return [{SCHEME: []}, {}]


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}}},
    }


ERROR_SCHEMA = {
    "type": "object",
    "description": "Every refusal: `detail` says what is wrong; a refused input also lists each refused field "
    "with its messages in `errors` (`non_field_errors` for the input as a whole).",
    "properties": {
        "detail": {"type": "string", "readOnly": True},
        "errors": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
            "readOnly": True,
        },
    },
    "required": ["detail"],
}


def _common_errors(method: str, path: str, operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    public = {} in operation.get("security", [])
    errors = {
        "401": _error(
            "The token is unknown, expired or revoked (a token sent to a public operation is checked too)."
            if public
            else "No token, or the token is unknown, expired or revoked."
        ),
        "429": _error("Too many requests; the Retry-After header says how many seconds to wait."),
    }
    if "requestBody" in operation:
        errors["400"] = _error("The input is refused: `detail` names the first refused field, `errors` every one.")
    if method in UNSAFE:
        errors["403"] = _error(
            "The token may only read, or the token's user may see the object but not change it (the detail says why)."
        )
    if "{" in path:
        errors["404"] = _error("No such object, or one the token's user may not see (the answer is the same).")
    return errors


def add_common_errors(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Add the token to every operation's security, and the errors of authentication, scope,
    visibility and throttling to every operation that does not document them itself."""
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            # Every operation checks a token it is sent, the public ones too (a view that says
            # `auth=[{}]` means "no token needed", which the anonymous alternative says).
            security = operation.setdefault("security", [])
            if {SCHEME: []} not in security:
                security.insert(0, {SCHEME: []})
            responses = operation.setdefault("responses", {})
            for status, response in _common_errors(method, path, operation).items():
                responses.setdefault(status, response)
            operation["responses"] = dict(sorted(responses.items()))
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas[ERROR_COMPONENT] = ERROR_SCHEMA
    result["components"]["schemas"] = dict(sorted(result["components"]["schemas"].items()))
    return result
