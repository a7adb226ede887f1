"""The API's own rows: personal tokens and resumable uploads. Everything else is the apps' models."""

from api.models.tokens import ApiToken
from api.models.uploads import ChunkedUpload

__all__ = ["ApiToken", "ChunkedUpload"]
