"""extract_many computes a chunk at once; its values are today's per-image scikit-image ones (issue 13).

The oracle below is the per-image implementation of rad-lite-35 v1 as it stood before the
vectorisation (graycomatrix / graycoprops, local_binary_pattern, sobel, np.histogram and
np.percentile per image), kept here verbatim so that the comparison cannot drift with the code.
"""

from __future__ import annotations

import os

import nibabel
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from skimage import data as skdata
from skimage.feature import graycomatrix, graycoprops, local_binary_pattern
from skimage.filters import sobel

from audits.engine import features
from audits.engine.preprocess import Preprocessing, preprocess

EXAMPLE4D = os.path.join(os.path.dirname(nibabel.__file__), "tests", "data", "example4d.nii.gz")


# ----------------------------------------------------------------------------- the oracle (per image)


def oracle(pixels: np.ndarray) -> np.ndarray:
    x = np.asarray(pixels, dtype=np.float64)
    values = x.ravel()
    mean = float(values.mean())
    centred = values - mean
    variance = float(np.mean(centred**2))
    std = float(np.sqrt(variance))
    if std > 1e-12 * max(1.0, abs(mean)):
        skewness = float(np.mean(centred**3)) / std**3
        kurtosis = float(np.mean(centred**4)) / variance**2 - 3.0
    else:
        skewness = kurtosis = 0.0
    counts = np.histogram(np.clip(values, 0.0, 1.0), bins=64, range=(0.0, 1.0))[0]
    p = counts[counts > 0] / values.size
    entropy = float(-(p * np.log2(p)).sum())
    first = np.array([mean, std, skewness, kurtosis, entropy, *np.percentile(values, (10, 25, 50, 75, 90))])
    first = np.append(first, float(np.mean(values**2)))

    levels = np.minimum(np.floor(np.clip(x, 0.0, 1.0) * 32), 31).astype(np.uint8)
    angles = [0.0, np.pi / 4, np.pi / 2, 3 * np.pi / 4]
    matrix = graycomatrix(levels, distances=[1, 2], angles=angles, levels=32, symmetric=True, normed=True)
    props = ("contrast", "dissimilarity", "homogeneity", "energy", "correlation", "ASM")
    glcm = np.stack([graycoprops(matrix, prop).mean(axis=1) for prop in props], axis=1).ravel()
    glcm = np.nan_to_num(glcm, nan=0.0, posinf=0.0, neginf=0.0)

    as_bytes = np.round(np.clip(x, 0.0, 1.0) * 255).astype(np.uint8)
    codes = local_binary_pattern(as_bytes, 8, 1, method="uniform").astype(np.intp)
    lbp = np.bincount(codes.ravel(), minlength=10)[:10] / codes.size

    magnitude = sobel(x)
    return np.concatenate([first, glcm, lbp, [float(magnitude.mean()), float(magnitude.std())]])


def assert_same(images: list[np.ndarray]) -> np.ndarray:
    matrix = features.extract_many(images)
    expected = np.stack([oracle(image) for image in images])
    np.testing.assert_allclose(matrix, expected, rtol=1e-9, atol=1e-12)
    # The LBP shares are counts over the same pixels: equal codes give exactly equal shares.
    lbp = slice(23, 33)
    np.testing.assert_array_equal(matrix[:, lbp], expected[:, lbp])
    return matrix


# ----------------------------------------------------------------------------- real images


def real_slices() -> list[np.ndarray]:
    """Preprocessed (64 x 64, [0, 1]) slices of real scans: pydicom's CT and MR files, nibabel's EPI."""
    slices = []
    for name in (
        "CT_small.dcm",
        "MR_small.dcm",
        "693_J2KI.dcm",
        "J2K_pixelrep_mismatch.dcm",
        "liver_1frame.dcm",
        "rtdose.dcm",
    ):
        path = get_testdata_file(name, download=False)
        assert path is not None
        array = pydicom.dcmread(path).pixel_array
        for frame in array if array.ndim == 3 else [array]:
            slices.append(frame)
    volume = np.asanyarray(nibabel.load(EXAMPLE4D).dataobj)
    slices += [volume[:, :, z, t] for t in range(2) for z in range(volume.shape[2])]
    out = []
    for native in slices:
        pixels, blank = preprocess(native, Preprocessing())
        if not blank:
            out.append(pixels)
    return out


def test_real_scans_give_the_per_image_values() -> None:
    images = real_slices()
    assert len(images) > 50
    matrix = assert_same(images)
    # Real texture: the comparison exercises every feature, not zeros.
    assert (matrix.std(axis=0) > 0).sum() == features.N_FEATURES


def test_natural_images_at_their_own_sizes() -> None:
    """scikit-image's bundled photographs, not resized: odd, non-square and larger shapes."""
    images = [
        skdata.camera()[::3, ::3] / 255.0,  # 171 x 171
        skdata.moon()[100:301, 50:417] / 255.0,  # 201 x 367
        skdata.coins()[::2, ::2] / 255.0,  # 152 x 192
        skdata.brick()[:77, :131] / 255.0,
        skdata.grass()[:64, :64] / 255.0,
    ]
    assert_same(images)


def test_a_chunk_larger_than_a_block_of_mixed_sizes_keeps_its_order() -> None:
    rng = np.random.default_rng(3)
    real = real_slices()
    images: list[np.ndarray] = []
    for i in range(features._BLOCK + 37):
        images.append(real[i % len(real)] if i % 3 else rng.random((17 + i % 5, 23)))
    matrix = assert_same(images)
    # An image alone gives its row in the chunk: nothing is mixed between images.
    np.testing.assert_allclose(features.extract_many([images[1]])[0], matrix[1], rtol=1e-12, atol=0)


# ----------------------------------------------------------------------------- edge cases


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((64, 64)),
        np.full((64, 64), 0.37),
        np.ones((64, 64)),
        np.zeros((1, 1)),
        np.full((1, 1), 0.5),
        np.array([[0.0, 1.0], [1.0, 0.0]]),
        np.array([[0.2, 0.2], [0.2, 0.9]]),
        np.linspace(0, 1, 3 * 7).reshape(3, 7),
        np.linspace(0, 1, 9 * 2).reshape(9, 2),
        np.linspace(-0.5, 1.5, 33 * 31).reshape(33, 31),  # values outside [0, 1]
        np.random.default_rng(0).normal(0.5, 2.0, (5, 64)),
        np.eye(13) * 0.999,
        np.tile([0.0, 1 / 255, 2 / 255], (10, 4)),  # steps of one grey level: LBP ties
    ],
    ids=[
        "zeros",
        "constant",
        "ones",
        "1x1",
        "1x1-half",
        "2x2-checker",
        "2x2-one-bright",
        "3x7",
        "9x2",
        "outside-0-1",
        "noise-5x64",
        "eye-13",
        "grey-steps",
    ],
)
def test_edge_cases_give_the_per_image_values(image: np.ndarray) -> None:
    # Alone, and stacked with others of the same shape (the vectorised path mixes nothing between images).
    assert_same([image])
    rng = np.random.default_rng(image.size)
    assert_same([image, rng.random(image.shape), image * 0.5])


def test_float32_input_is_read_as_float64_like_extract() -> None:
    image = real_slices()[0].astype(np.float32)
    assert_same([image, image])


def test_errors_name_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="non-empty 2-D image, got shape"):
        features.extract_many([np.zeros((4, 4)), np.zeros((4, 4, 2))])
    with pytest.raises(ValueError, match="non-finite"):
        features.extract_many([np.zeros((4, 4)), np.full((4, 4), np.nan)])
    assert features.extract_many([]).shape == (0, features.N_FEATURES)
