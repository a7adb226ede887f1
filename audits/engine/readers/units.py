"""A DICOM image's values in its own units: the modality LUT (rescale) per frame, and the unit it gives.

The fidelity audit compares quantitative images (CT in Hounsfield units, PET in SUV or
Bq/ml) by their absolute values, so the reader keeps each frame after the DICOM modality
LUT (PS3.3 C.11.1): `RescaleSlope * stored + RescaleIntercept`, or a Modality LUT
Sequence, at the top level or, for enhanced multi-frame objects, in the per-frame or shared
Pixel Value Transformation functional group. Without any of them the modality LUT is the
identity (the stored values are the units).

The unit is declared only where DICOM defines it: "HU" for CT (whose Rescale Type is HU,
or absent as in the classic CT Image IOD); for PET the Units attribute (0054,1001): GML is
SUV body weight ("SUV"), BQML is "Bq/ml". Every other image has unit "" (MR signal,
radiographs, ultrasound: relative intensities). Colour and palette images have no rescale.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

PET_UNITS = {"GML": "SUV", "BQML": "Bq/ml"}

Rescale = Callable[[np.ndarray, int], np.ndarray]


def _number(item: Any, keyword: str) -> float | None:
    value = item.get(keyword, None)
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan


def _linear(item: Any) -> tuple[float, float] | None:
    """(slope, intercept) of an item with RescaleSlope and RescaleIntercept, None without them.

    Raises ValueError when they are present but not finite numbers (or the slope is 0).
    """
    slope, intercept = _number(item, "RescaleSlope"), _number(item, "RescaleIntercept")
    if slope is None and intercept is None:
        return None
    slope = 1.0 if slope is None else slope
    intercept = 0.0 if intercept is None else intercept
    if math.isnan(slope) or math.isnan(intercept) or slope == 0:
        raise ValueError(
            f"RescaleSlope {item.get('RescaleSlope', None)!r} / RescaleIntercept "
            f"{item.get('RescaleIntercept', None)!r} are not usable numbers"
        )
    return slope, intercept


def _transformation(group: Any) -> Any:
    sequence = group.get("PixelValueTransformationSequence", None) or []
    return sequence[0] if len(sequence) else None


def _frame_transformations(ds: Any, frames: int) -> list[Any] | None:
    """The Pixel Value Transformation item of each frame of an enhanced object, or None."""
    shared = ds.get("SharedFunctionalGroupsSequence", None) or []
    shared_item = _transformation(shared[0]) if len(shared) else None
    per_frame = ds.get("PerFrameFunctionalGroupsSequence", None) or []
    items = [_transformation(per_frame[i]) if i < len(per_frame) else None for i in range(frames)]
    items = [item if item is not None else shared_item for item in items]
    return items if any(item is not None for item in items) else None


def _rescale_of(ds: Any, frames: int) -> tuple[Rescale | None, str]:
    """The stored -> units mapping and the Rescale Type it declares ("" when none)."""
    if ds.get("ModalityLUTSequence", None):
        from pydicom.pixels import apply_modality_lut

        return (lambda frame, _index: np.asarray(apply_modality_lut(frame, ds), dtype=np.float64)), str(
            ds.get("RescaleType", "") or ""
        ).strip().upper()
    top = _linear(ds)
    if top is not None:
        slope, intercept = top
        return (lambda frame, _index: frame.astype(np.float64) * slope + intercept), str(
            ds.get("RescaleType", "") or ""
        ).strip().upper()
    items = _frame_transformations(ds, frames)
    if items is None:
        return None, ""
    linear = [(_linear(item) if item is not None else None) or (1.0, 0.0) for item in items]
    kind = next((str(item.get("RescaleType", "") or "").strip().upper() for item in items if item is not None), "")
    return (lambda frame, index: frame.astype(np.float64) * linear[index][0] + linear[index][1]), kind


def dicom_units(ds: Any, frames: int, colour: bool) -> tuple[Rescale | None, str]:
    """(stored -> native mapping or None for the identity, unit) of a decoded DICOM image.

    A rescale that is present but malformed is warned about (the warning reaches the file's
    read warnings) and the image gets no unit: its absolute values are unknown.
    """
    if colour:
        return None, ""
    try:
        rescale, rescale_type = _rescale_of(ds, frames)
    except ValueError as exc:
        warnings.warn(f"DICOM modality rescale ignored: {exc}; intensities are treated as relative", stacklevel=2)
        return None, ""
    modality = str(ds.get("Modality", "") or "").strip().upper()
    if modality == "CT" and rescale_type in ("", "HU"):
        return rescale, "HU"
    if modality == "PT":
        return rescale, PET_UNITS.get(str(ds.get("Units", "") or "").strip().upper(), "")
    return rescale, ""
