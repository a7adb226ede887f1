"""Images for the memorization tests, built from arrays (no readers involved).

Real slices come from files that ship inside installed wheels, so nothing is downloaded:
nibabel's example4d.nii.gz (a 128 x 96 x 24 EPI volume with 2 time points, 2.2 mm slices)
and pydicom's CT_small.dcm (128 x 128) and MR_small.dcm (64 x 64). `nibabel.testing` is not
imported (it imports pytest machinery), and pydicom's test files are fetched one by one with
download=False (get_testdata_files with a pattern tries the network).
"""

from __future__ import annotations

import functools
import hashlib
import io
import os

import numpy as np
from PIL import Image as PILImage
from scipy import ndimage

from audits.engine.preprocess import Preprocessing, pixel_digest, preprocess
from audits.engine.types import FileRecord, Image, ImageSet

PREPROCESSING = Preprocessing()


@functools.cache
def epi_volume() -> np.ndarray:
    """nibabel's example4d EPI volume, int16 (128, 96, 24, 2): x, y, slice, time point."""
    import nibabel

    path = os.path.join(os.path.dirname(nibabel.__file__), "tests", "data", "example4d.nii.gz")
    return np.asarray(nibabel.load(path).dataobj)


def epi_slice(z: int, t: int = 0) -> np.ndarray:
    return np.ascontiguousarray(epi_volume()[:, :, z, t])


@functools.cache
def dicom_pixels(name: str) -> np.ndarray:
    """Native pixels of one of pydicom's bundled test files, e.g. 'CT_small.dcm'."""
    import pydicom
    from pydicom.data import get_testdata_file

    path = get_testdata_file(name, download=False)
    assert path is not None, f"{name} is not bundled with pydicom"
    return np.asarray(pydicom.dcmread(path).pixel_array)


def make_image(native: np.ndarray, file: str, index: int = 0, params: Preprocessing = PREPROCESSING) -> Image:
    pixels, blank = preprocess(native, params)
    return Image(file=file, index=index, pixels=pixels, pixel_sha256=pixel_digest(native), blank=blank)


def make_set(role: str, images: list[Image]) -> ImageSet:
    files: dict[str, FileRecord] = {}
    for image in images:
        record = files.setdefault(image.file, FileRecord(name=image.file, sha256="", format="png", slices=0))
        record.slices += 1
        record.sha256 = hashlib.sha256((record.sha256 + image.pixel_sha256).encode()).hexdigest()
    return ImageSet(role=role, files=list(files.values()), images=list(images))


# --- perturbations of a real slice, on its intensities scaled to [0, 1] at native resolution


def unit(native: np.ndarray) -> np.ndarray:
    """Native pixels clipped to their 0.5-99.5 percentiles and scaled to [0, 1] (float64)."""
    x = np.asarray(native, dtype=np.float64)
    low, high = np.percentile(x, [0.5, 99.5])
    return np.clip((x - low) / (high - low), 0.0, 1.0)


def with_noise(native: np.ndarray, sigma: float = 0.02, seed: int = 0) -> np.ndarray:
    """Gaussian noise of sigma (fraction of the intensity range) added at native resolution."""
    x = unit(native)
    return x + np.random.default_rng(seed).normal(0.0, sigma, x.shape)


def shifted(native: np.ndarray, pixels: int = 2, size: int = PREPROCESSING.size) -> np.ndarray:
    """Moved by `pixels` pixels of the size x size preprocessed grid, down and right; edges replicated."""
    dy = round(pixels * native.shape[0] / size)
    dx = round(pixels * native.shape[1] / size)
    return ndimage.shift(unit(native), (dy, dx), order=0, mode="nearest")


def with_gamma(native: np.ndarray, gamma: float = 0.8) -> np.ndarray:
    return unit(native) ** gamma


def jpeg(native: np.ndarray, quality: int = 50) -> np.ndarray:
    """Re-encoded as an 8-bit JPEG with Pillow and decoded again (uint8)."""
    buffer = io.BytesIO()
    PILImage.fromarray(np.round(unit(native) * 255).astype(np.uint8)).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return np.asarray(PILImage.open(buffer))


COPIES = {
    "exact": lambda native: native.copy(),
    "noise2pct": with_noise,
    "shift2px": shifted,
    "gamma0.8": with_gamma,
    "jpeg50": jpeg,
}


def smooth_fields(count: int, seed: int, size: int = 96, sigma: float = 3.0) -> list[np.ndarray]:
    """Independent smooth random images (Gaussian-filtered white noise): novel to each other."""
    rng = np.random.default_rng(seed)
    return [ndimage.gaussian_filter(rng.normal(size=(size, size)), sigma) for _ in range(count)]
