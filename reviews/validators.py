"""Evidence files are recognised by their content, never by their name alone.

Accepted: PDF, PNG, JPEG, CSV, JSON and plain text. The file name's extension must
agree with what the content is, so that a download opens in the right program.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import PurePath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.template.defaultfilters import filesizeformat
from PIL import Image
from pypdf import PdfReader

LONG_TEXT = 20_000  # characters per text field (forms and review drafts): a long answer fits, a pasted book does not
ACCEPTED_LABEL = "PDF, PNG, JPEG, CSV, JSON or TXT"

# extension -> (content type, what a user calls it)
_KINDS = {
    ".pdf": ("application/pdf", "PDF"),
    ".png": ("image/png", "PNG image"),
    ".jpg": ("image/jpeg", "JPEG image"),
    ".jpeg": ("image/jpeg", "JPEG image"),
    ".csv": ("text/csv", "CSV table"),
    ".json": ("application/json", "JSON document"),
    ".txt": ("text/plain", "text file"),
}
_MAX_IMAGE_PIXELS = 80_000_000


@dataclass(frozen=True)
class ValidatedEvidence:
    upload: UploadedFile
    name: str
    content_type: str
    size: int
    sha256: str


def _head(upload: UploadedFile, size: int = 2048) -> bytes:
    upload.seek(0)
    head = upload.read(size)
    upload.seek(0)
    return bytes(head)


def _sha256(upload: UploadedFile) -> str:
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


def _check_pdf(upload: UploadedFile) -> str | None:
    if not _head(upload, 1024).lstrip(b"\r\n\t ").startswith(b"%PDF-"):
        return "is not a PDF (it does not start with a PDF header)"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            logging.getLogger("pypdf").disabled = True
            reader = PdfReader(upload, strict=False)
            pages = len(reader.pages)
    except Exception:  # noqa: BLE001 (pypdf raises many kinds for a broken file)
        return "is not a readable PDF (its structure is damaged)"
    finally:
        logging.getLogger("pypdf").disabled = False
        upload.seek(0)
    return None if pages > 0 else "is a PDF with no pages"


def _check_image(upload: UploadedFile, expected_format: str) -> str | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(upload) as image:
                if image.format != expected_format:
                    return f"is not a {expected_format} image (its content is {image.format or 'unknown'})"
                if image.width * image.height > _MAX_IMAGE_PIXELS:
                    return f"is too large an image ({image.width}x{image.height} pixels)"
                image.verify()
            upload.seek(0)
            with Image.open(upload) as image:
                image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return "is too large an image to open safely"
    except Exception:  # noqa: BLE001 (Pillow raises many kinds for a broken image)
        return f"is not a readable {expected_format} image"
    finally:
        upload.seek(0)
    return None


def _text(upload: UploadedFile) -> str | None:
    upload.seek(0)
    raw = upload.read()
    upload.seek(0)
    if b"\x00" in raw:
        return None
    try:
        return bytes(raw).decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def _check_text(upload: UploadedFile, extension: str) -> str | None:
    text = _text(upload)
    if text is None:
        return "is not a UTF-8 text file (it contains binary data)"
    if extension == ".json":
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            return f"is not valid JSON ({exc.msg} at line {exc.lineno})"
        except ValueError:
            return "is not valid JSON"
        except RecursionError:
            return "is not valid JSON here (it is nested too deeply)"
    if extension == ".csv":
        try:
            rows = list(csv.reader(io.StringIO(text)))
        except csv.Error as exc:
            return f"is not a valid CSV table ({exc})"
        if not any(rows):
            return "is an empty CSV table"
    return None


def validate_evidence_file(upload: UploadedFile) -> ValidatedEvidence:
    """Check one uploaded file; raise ValidationError naming the file and what is wrong."""
    name = PurePath(upload.name or "unnamed").name[:255]
    extension = PurePath(name).suffix.lower()
    limit = settings.EVIDENCE_MAX_BYTES
    if extension not in _KINDS:
        raise ValidationError(f"“{name}” is not an accepted type: upload a {ACCEPTED_LABEL} file.")
    if not upload.size:
        raise ValidationError(f"“{name}” is empty.")
    if upload.size > limit:
        raise ValidationError(f"“{name}” is {filesizeformat(upload.size)}; the limit is {filesizeformat(limit)}.")
    content_type, _label = _KINDS[extension]
    if extension == ".pdf":
        problem = _check_pdf(upload)
    elif extension == ".png":
        problem = _check_image(upload, "PNG")
    elif extension in (".jpg", ".jpeg"):
        problem = _check_image(upload, "JPEG")
    else:
        problem = _check_text(upload, extension)
    if problem:
        raise ValidationError(f"“{name}” {problem}.")
    return ValidatedEvidence(
        upload=upload, name=name, content_type=content_type, size=upload.size, sha256=_sha256(upload)
    )
