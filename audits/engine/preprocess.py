"""Turn decoded pixel arrays into comparable 2-D images (AUDITS.md section 1, notation)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from skimage.transform import resize


@dataclass(frozen=True)
class Preprocessing:
    size: int = 64  # images are resized to size x size
    p_low: float = 0.5  # percentile clipped to 0
    p_high: float = 99.5  # percentile clipped to 1
    blank_std: float = 1e-3  # relative spread below which an image counts as blank

    def as_dict(self) -> dict[str, float]:
        return {"size": self.size, "p_low": self.p_low, "p_high": self.p_high, "blank_std": self.blank_std}


def pixel_digest(native: np.ndarray) -> str:
    """SHA-256 of decoded pixels with dtype and byte order normalised, plus the shape.

    Two files with the same pixels (re-saved, other header, other container) get the same digest.
    """
    array = np.ascontiguousarray(native)
    array = array.astype("<i8") if array.dtype.kind in "iu" else array.astype("<f8")
    digest = hashlib.sha256(str(array.shape).encode())
    digest.update(np.ascontiguousarray(array).data)  # the same bytes as tobytes(), without the copy
    return digest.hexdigest()


def to_grey(native: np.ndarray) -> np.ndarray:
    """A 2-D float64 array: colour (H, W, 3|4) is averaged over its channels."""
    array = np.asarray(native, dtype=np.float64)
    if array.ndim == 3 and array.shape[-1] in (3, 4):
        array = array[..., :3].mean(axis=-1)
    if array.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {array.shape}")
    return array


def preprocess(native: np.ndarray, params: Preprocessing) -> tuple[np.ndarray, bool]:
    """(float32 image in [0, 1] of params.size squared, whether it is blank).

    Intensities are clipped to the [p_low, p_high] percentiles of the image and scaled to
    [0, 1]; a blank (constant) image comes back as zeros with blank=True, because Pearson
    correlation is undefined on it and L2 would make every blank image a copy of every other.
    """
    grey = to_grey(native)
    all_finite = bool(np.isfinite(grey).all())
    finite = grey.ravel() if all_finite else grey[np.isfinite(grey)]  # no copy in the usual case
    if finite.size == 0:
        return np.zeros((params.size, params.size), np.float32), True
    low, high = np.percentile(finite, [params.p_low, params.p_high])
    largest, smallest = float(finite.max()), float(finite.min())
    spread = largest - smallest  # np.ptp
    scale = max(abs(largest), abs(smallest), 1e-12)
    if high - low <= 0 or spread / scale < params.blank_std:
        return np.zeros((params.size, params.size), np.float32), True
    clipped = (np.clip(grey if all_finite else np.nan_to_num(grey, nan=low), low, high) - low) / (high - low)
    resized = resize(clipped, (params.size, params.size), order=1, anti_aliasing=True, preserve_range=True)
    return resized.astype(np.float32), False


def native_values(native: np.ndarray, params: Preprocessing) -> np.ndarray:
    """The image resized like `preprocess` does, but in its own units: no percentile clip, no scaling.

    This is what a quantitative comparison (CT in HU) needs: a global offset or gain that
    the per-image scaling of `preprocess` cancels stays visible here. The resize is linear
    (the same anti-aliasing filter and bilinear interpolation), so an offset or a gain applied
    before it comes out unchanged after it. Non-finite values take the nearest finite extreme
    (NaN the minimum), so one bad voxel cannot spread over the image; an image with no finite
    value comes back as zeros (it is blank for `preprocess` too).
    """
    grey = to_grey(native)
    finite = np.isfinite(grey)
    if not finite.any():
        return np.zeros((params.size, params.size), np.float32)
    if not finite.all():
        low, high = float(grey[finite].min()), float(grey[finite].max())
        grey = np.clip(np.nan_to_num(grey, nan=low, posinf=high, neginf=low), low, high)
    resized = resize(grey, (params.size, params.size), order=1, anti_aliasing=True, preserve_range=True)
    return resized.astype(np.float32)
