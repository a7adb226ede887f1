"""What a file is, by its bytes and never its name; and its SHA-256."""

from __future__ import annotations

import gzip
import hashlib
import io
import struct
import zlib
from pathlib import Path

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
GZIP_MAGIC = b"\x1f\x8b"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def sniff_format(path: Path, content: bytes | None = None) -> str:
    """What the bytes say the file is: "dicom", "nifti", "png", "empty" or "unknown".

    `content`, when given, is the whole file already read (read_file reads a file once)."""
    if content is None:
        with open(path, "rb") as handle:
            head = handle.read(560)
    else:
        head = content[:560]
    if not head:
        return "empty"
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    if head.startswith(PNG_SIGNATURE):
        return "png"
    if head.startswith(GZIP_MAGIC):
        try:
            with gzip.open(path if content is None else io.BytesIO(content), "rb") as stream:
                inner = stream.read(560)
        except (OSError, EOFError, zlib.error):
            return "unknown"
        return "nifti" if _nifti_version(inner) else "unknown"
    return "nifti" if _nifti_version(head) else "unknown"


def _nifti_version(head: bytes) -> tuple[int, str] | None:
    """(1 or 2, byte order) when `head` starts with a NIfTI header, else None."""
    if len(head) < 348:
        return None
    for order in "<>":
        (size,) = struct.unpack(order + "i", head[:4])
        if size == 348 and head[344:348] in (b"n+1\0", b"ni1\0"):
            return 1, order
        if size == 540 and len(head) >= 540 and head[4:8] in (b"n+2\0", b"ni2\0"):
            return 2, order
    return None
