"""PNG files: the IHDR size checked before decoding, the text chunks and the XMP DigitalSourceType."""

from __future__ import annotations

import io
import re
import struct
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..preprocess import Preprocessing
from ..types import FileRecord, Image
from .common import MAX_PNG_PIXELS, MAX_SIDE, Rejected, _clip_text, _frame_images, interruptions

_DST_ATTRIBUTE = re.compile(r"""\b[\w.-]*:?DigitalSourceType\s*=\s*(["'])(.*?)\1""", re.S)
_DST_ELEMENT = re.compile(r"<([\w.-]*:?DigitalSourceType)\b([^>]*?)(/>|>(.*?)</\1\s*>)", re.S)
_RESOURCE = re.compile(r"""rdf:resource\s*=\s*(["'])(.*?)\1""", re.S)


def digital_source_type_from_xmp(xmp: str) -> str:
    """The IPTC DigitalSourceType value in an XMP packet (attribute, element text or rdf:resource), or ""."""
    match = _DST_ATTRIBUTE.search(xmp)
    if match and match.group(2).strip():
        return match.group(2).strip()
    for element in _DST_ELEMENT.finditer(xmp):
        resource = _RESOURCE.search(element.group(2))
        if resource and resource.group(2).strip():
            return resource.group(2).strip()
        text = re.sub(r"<[^>]*>", "", element.group(4) or "").strip()
        if text:
            return text
    return ""


def _png_chunks(data: bytes) -> tuple[tuple[int, int, int, int], list[str]]:
    """IHDR (width, height, bit depth, colour type) and the chunk types, from the raw bytes."""
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise Rejected("PNG does not decode: IHDR chunk missing")
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    types: list[str] = []
    offset = 8
    while offset + 8 <= len(data) and len(types) < 100_000:
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8].decode("latin-1")
        types.append(kind)
        offset += 12 + length
        if kind == "IEND":
            break
    return (width, height, depth, colour), types


def _read_png(
    path: Path, record: FileRecord, params: Preprocessing | None, limits: object = None, content: bytes | None = None
) -> list[Image]:
    from PIL import Image as PILImage

    data = path.read_bytes() if content is None else content
    (width, height, _depth, _colour), chunk_types = _png_chunks(data)
    record.format = "png"
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE) or width * height > MAX_PNG_PIXELS:
        raise Rejected(
            f"PNG size {width}x{height} exceeds the decompression-bomb limit "
            f"({MAX_SIDE} per side, {MAX_PNG_PIXELS} pixels)"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            with PILImage.open(io.BytesIO(data), formats=["PNG"]) as opened:
                if opened.size != (width, height):
                    raise Rejected(f"PNG does not decode: size {opened.size} differs from IHDR {width}x{height}")
                opened.load()
                chunks: dict[str, Any] = dict(getattr(opened, "text", None) or {})
                text = {str(k): _clip_text(str(v)) for k, v in chunks.items()}
                xmp_full = str(chunks.get("XML:com.adobe.xmp", ""))
                mode = opened.mode
                n_frames = int(getattr(opened, "n_frames", 1) or 1)
                image: PILImage.Image = opened
                if mode == "P":
                    image = opened.convert("RGBA" if "transparency" in opened.info else "RGB")
                elif mode in ("1", "LA", "PA"):
                    image = opened.convert("L")
                native = np.array(image)
    except Rejected:
        raise
    except interruptions(MemoryError):
        raise  # not the file's fault: read_file reports memory, the caller its interruptions
    except Exception as exc:
        raise Rejected(f"PNG does not decode: {exc}") from exc
    if native.ndim == 3 and native.shape[-1] not in (3, 4):
        native = native[..., 0]
    if native.dtype == bool:
        native = native.astype(np.uint8)

    source_type = digital_source_type_from_xmp(xmp_full) if xmp_full else ""
    if not source_type:
        for key, value in text.items():
            if key.strip().lower() in ("digitalsourcetype", "iptc4xmpext:digitalsourcetype"):
                source_type = value.strip()
                break
    record.header = {
        "text": text,
        "digital_source_type": source_type,
        "c2pa_manifest": "caBX" in chunk_types,
        "mode": mode,
        "frames": n_frames,  # an animated PNG is audited by its first frame
    }
    record.width, record.height, record.slices = width, height, 1
    return _frame_images(record.name, [native], params)
