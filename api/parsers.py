"""Request body parsers that refuse what they cannot read with a 400, never a 500."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, which lets a RecursionError through: a body nested a few thousand levels
    deep ("[[[[...]]]]", a few kilobytes) answered 500. It is a parse error like any other."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None


# What a view reads unless it says otherwise (REST_FRAMEWORK's DEFAULT_PARSER_CLASSES, with the JSON above).
DEFAULT_PARSERS = [JSONParser, parsers.MultiPartParser, parsers.FormParser]
