"""What every reader shares: the limits checked before decoding, the refusal, storable text, frames as Images."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..preprocess import Preprocessing, native_values, pixel_digest, preprocess
from ..types import Image

# Limits checked against header values before decoding (SECURITY.md, "Uploads").
MAX_FILE_BYTES = 2 * 1024**3
MAX_SIDE = 8192  # DICOM rows / columns, PNG width / height
MAX_FRAMES = 2000  # DICOM frames
MAX_TOTAL_PIXELS = 200_000_000  # DICOM rows * columns * frames
MAX_PNG_PIXELS = 64 * 1024 * 1024  # PNG width * height (Pillow's own default bomb limit is 89 M)
MAX_NIFTI_DIM = 4096  # each NIfTI dimension
MAX_NIFTI_VOXELS = 300_000_000
MAX_SIDECAR_BYTES = 1024 * 1024
MAX_TEXT_CHARS = 2000  # header strings and PNG text values are cut to this length
MAX_WARNINGS = 5

NOT_AN_IMAGE = "not a DICOM, NIfTI or PNG file"
# A .nii.gz may decompress to this much more than its header and data: some writers pad.
NIFTI_TRAILING_SLACK = 64 * 1024


@dataclass(frozen=True)
class ReadLimits:
    """Budgets the caller sets (the web app from its settings): checked on the header, before decoding.

    declared_bytes: the largest pixel data one file may declare (NIfTI dimensions x bytes per
    voxel, DICOM rows x columns x frames x samples x bytes); a .nii.gz is refused before any
    voxel is decompressed, and its decompression stops as soon as it runs past the declared size.
    """

    declared_bytes: int = 512 * 1024**2


def size_text(count: int) -> str:
    """Bytes for a refusal message: 512 MiB, 1.5 GiB, 300 KiB."""
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if count >= scale:
            return f"{count / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{count} bytes"


def check_declared(kind: str, shape_text: str, count: int, limits: ReadLimits) -> None:
    """Refuse a file whose header declares more pixel data than the budget, naming both."""
    if count > limits.declared_bytes:
        raise Rejected(
            f"{kind} header declares {shape_text} = {size_text(count)} of pixel data, more than the limit of "
            f"{size_text(limits.declared_bytes)} per file; "
            + ("nothing was decompressed" if kind == "NIfTI" else "no pixel was decoded")
        )


class Rejected(Exception):
    """Raised inside the readers with the reason a file is refused; never escapes `read_file`."""


def _clip_text(value: str) -> str:
    """A header string fit for JSON storage: no NUL characters (PostgreSQL refuses them), bounded length."""
    value = value.replace("\x00", "")
    return value if len(value) <= MAX_TEXT_CHARS else value[:MAX_TEXT_CHARS] + "…"


def _strict_json(text: str) -> Any:
    """json.loads that refuses NaN and Infinity (not JSON, and not storable as JSON)."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not valid JSON")

    return json.loads(text, parse_constant=refuse)


_NO_PIXELS = np.zeros((0, 0), np.float32)


def _frame_images(
    name: str,
    frames: Iterable[np.ndarray],
    params: Preprocessing | None,
    invert: bool = False,
    rescale: Callable[[np.ndarray, int], np.ndarray] | None = None,
    unit: str = "",
) -> list[Image]:
    """One Image per frame: the relative `pixels`, the digest of the stored values, and the values in
    the file's own units (`rescale(frame, index)` maps stored values to them, e.g. the DICOM modality
    LUT; without it the stored values are those units). MONOCHROME1 inverts the display, not the units.

    With `params` None (validation only: read_file's caller wants the record, not the images)
    every frame is still decoded, but no image is preprocessed: each gets empty pixels."""
    if params is None:
        return [
            Image(file=name, index=index, pixels=_NO_PIXELS, pixel_sha256="", blank=True)
            for index, _stored in enumerate(frames)
        ]
    images = []
    for index, stored in enumerate(frames):
        pixels, blank = preprocess(stored, params)
        if invert and not blank:
            pixels = (1.0 - pixels).astype(np.float32)
        native = native_values(rescale(stored, index) if rescale is not None else stored, params)
        images.append(
            Image(
                file=name,
                index=index,
                pixels=pixels,
                pixel_sha256=pixel_digest(stored),
                blank=blank,
                native=native,
                unit=unit,
            )
        )
    return images


# Exceptions that are never a file's fault and must pass through the readers' "bad input
# never raises" handlers untouched: the caller's own interruptions. The Celery tasks add
# their soft time limit here, so a slow file ends the step instead of being called corrupt.
PASS_THROUGH: list[type[BaseException]] = []


def interruptions(*also: type[BaseException]) -> tuple[type[BaseException], ...]:
    """The exception types to let through (plus `also`), for an `except` clause."""
    return (*also, *PASS_THROUGH)
