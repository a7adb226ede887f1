"""Errors as JSON that names what is wrong, never a 500: the services' refusals are mapped to
the status a client can act on (409 for a state that forbids the change, 400 for bad input)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from audits.services.config import ThresholdsFrozen, UnknownParameter
from audits.services.uploads import UploadRejected
from config.storage import STORAGE_RETRY_AFTER_SECONDS, STORAGE_UNAVAILABLE_MESSAGE, storage_unavailable
from reviews.services.projects import ItemNotInVersion, ProjectNotEditable, SubmissionIncomplete
from reviews.services.review import TransitionConflict


def _body(detail: Any, **extra: Any) -> dict[str, Any]:
    return {"detail": detail, **extra}


def _first_message(errors: Any) -> str:
    """The first message of DRF's nested errors (a dict of lists, a list of dicts, or a string)."""
    if isinstance(errors, dict):
        for field, value in errors.items():
            message = _first_message(value)
            if message:
                return message if field in {"non_field_errors", "detail"} else f"{field}: {message}"
        return ""
    if isinstance(errors, list):
        return next((message for message in map(_first_message, errors) if message), "")
    return str(errors)


def _printable(value: Any) -> Any:
    """The messages with any lone surrogate a client sent written as an escape ("\\ud800"): a
    message quoting the refused value ("'\\ud800' is not a valid choice") cannot be encoded as
    UTF-8, and rendering it answered 500 instead of the 400 that names the field."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
        return value
    if isinstance(value, dict):
        return {_printable(key): _printable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_printable(item) for item in value]
    return value


def _invalid_input(exc: exceptions.ValidationError, context: dict[str, Any]) -> Response | None:
    """One shape for every refused input, whoever refused it: `detail`, a sentence naming the
    first refused field, and `errors`, every field with its messages (as the services' refusals)."""
    response = drf_exception_handler(exc, context)
    if response is not None:
        errors = response.data if isinstance(response.data, dict) else {"non_field_errors": response.data}
        errors = _printable(errors)
        response.data = _body(_first_message(errors) or "The input is refused.", errors=errors)
    return response


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, UploadRejected):
        field = exc.field or "non_field_errors"
        return Response(_body(exc.message, errors={field: [exc.message]}), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, SubmissionIncomplete):
        return Response(_body(str(exc)), status=status.HTTP_409_CONFLICT)
    if isinstance(exc, ProjectNotEditable):
        # The pages' message goes on to say the typed text is kept in the form: a client has none.
        state = exc.project.get_status_display().lower()
        return Response(
            _body(f"This project is {state} and can no longer be changed."), status=status.HTTP_409_CONFLICT
        )
    if isinstance(exc, ItemNotInVersion | ThresholdsFrozen | TransitionConflict):
        return Response(_body(str(exc)), status=status.HTTP_409_CONFLICT)
    if isinstance(exc, UnknownParameter):
        return Response(_body(str(exc)), status=status.HTTP_400_BAD_REQUEST)
    if storage_unavailable(exc):
        # The object store is down or overloaded (a download, an upload's part): send the request again later.
        return Response(
            _body(STORAGE_UNAVAILABLE_MESSAGE),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(STORAGE_RETRY_AFTER_SECONDS), "Cache-Control": "no-store"},
        )
    if isinstance(exc, DjangoValidationError):
        errors = _printable(exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages})
        first = next(iter(errors.values()))[0]
        return Response(_body(first, errors=errors), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, exceptions.ValidationError):
        return _invalid_input(exc, context)
    if isinstance(exc, exceptions.ParseError):
        # A body that is not JSON (or not the declared form) is a refused input like any other.
        return _invalid_input(exceptions.ValidationError({"non_field_errors": [str(exc.detail)]}), context)
    if isinstance(exc, PermissionDenied) and exc.args:
        # The pages' reasons are clauses shown after "403:" ("this project is submitted: …");
        # the API answers with a sentence, as the request cap's refusals of uploads do.
        reason = str(exc.args[0])
        exc = PermissionDenied(reason[:1].upper() + reason[1:].rstrip(".") + ".")
    return drf_exception_handler(exc, context)
