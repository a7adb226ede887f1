"""The rad-lite-35 v1 feature set: shape, finiteness, and agreement with its definitions."""

from __future__ import annotations

import os

import nibabel
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from scipy import stats
from skimage.feature import graycomatrix, graycoprops, local_binary_pattern
from skimage.filters import sobel

from audits.engine import features
from audits.engine.preprocess import Preprocessing, preprocess

EXAMPLE4D = os.path.join(os.path.dirname(nibabel.__file__), "tests", "data", "example4d.nii.gz")


def index(name: str) -> int:
    return features.FEATURE_NAMES.index(name)


@pytest.fixture(scope="module")
def epi_slice() -> np.ndarray:
    volume = np.asanyarray(nibabel.load(EXAMPLE4D).dataobj)
    pixels, blank = preprocess(volume[:, :, 12, 0], Preprocessing())
    assert not blank
    return pixels


@pytest.fixture(scope="module")
def ct_slice() -> np.ndarray:
    path = get_testdata_file("CT_small.dcm", download=False)
    assert path is not None
    pixels, blank = preprocess(pydicom.dcmread(path).pixel_array, Preprocessing())
    assert not blank
    return pixels


def test_names_are_the_documented_35() -> None:
    assert features.FEATURE_SET == "rad-lite-35 v1"
    assert len(features.FEATURE_NAMES) == features.N_FEATURES == 35
    assert len(set(features.FEATURE_NAMES)) == 35
    assert features.FEATURE_NAMES[:11] == features.FIRST_ORDER_NAMES
    assert features.FEATURE_NAMES[11:23] == [
        f"glcm_{p}_d{d}"
        for d in (1, 2)
        for p in ("contrast", "dissimilarity", "homogeneity", "energy", "correlation", "ASM")
    ]
    assert features.FEATURE_NAMES[23:33] == [f"lbp_{i}" for i in range(10)]
    assert features.FEATURE_NAMES[33:] == ["gradient_mean", "gradient_std"]


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((64, 64)),
        np.ones((64, 64)),
        np.full((64, 64), 0.37, dtype=np.float32),
        np.random.default_rng(0).random((64, 64)),
        np.random.default_rng(1).normal(0.5, 2.0, (64, 64)),  # outside [0, 1]: clipped where it matters
        np.zeros((1, 1)),
        np.eye(2),
        np.random.default_rng(2).random((5, 7)),
    ],
    ids=["zeros", "ones", "constant", "uniform-noise", "wide-noise", "1x1", "2x2", "5x7"],
)
def test_shape_and_finite_on_synthetic_arrays(image: np.ndarray) -> None:
    vector = features.extract(image)
    assert vector.shape == (35,)
    assert vector.dtype == np.float64
    assert np.isfinite(vector).all()


def test_finite_on_real_slices(epi_slice: np.ndarray, ct_slice: np.ndarray) -> None:
    matrix = features.extract_many([epi_slice, ct_slice])
    assert matrix.shape == (2, 35)
    assert np.isfinite(matrix).all()
    # Brain EPI and abdominal CT are different images: most features differ.
    assert np.sum(~np.isclose(matrix[0], matrix[1])) > 25


def test_constant_image_has_the_documented_values() -> None:
    vector = features.extract(np.full((32, 32), 0.25))
    assert vector[index("mean")] == pytest.approx(0.25)
    for name in ("std", "skewness", "kurtosis", "entropy", "gradient_mean", "gradient_std"):
        assert vector[index(name)] == pytest.approx(0.0, abs=1e-12), name
    for name in ("p10", "p25", "median", "p75", "p90"):
        assert vector[index(name)] == pytest.approx(0.25)
    assert vector[index("energy")] == pytest.approx(0.0625)
    for d in (1, 2):
        assert vector[index(f"glcm_contrast_d{d}")] == 0.0
        assert vector[index(f"glcm_dissimilarity_d{d}")] == 0.0
        for prop in ("homogeneity", "energy", "correlation", "ASM"):
            assert vector[index(f"glcm_{prop}_d{d}")] == pytest.approx(1.0)
    # Inside, every neighbour equals the centre, so all 8 bits are set (uniform code 8); on the
    # border scikit-image reads zeros outside the image.
    assert vector[index("lbp_8")] == pytest.approx(30 * 30 / (32 * 32))
    assert vector[23:33].sum() == 1.0


def test_first_order_matches_scipy_and_numpy(epi_slice: np.ndarray) -> None:
    vector = features.extract(epi_slice)
    x = epi_slice.astype(np.float64).ravel()
    assert vector[index("mean")] == pytest.approx(x.mean())
    assert vector[index("std")] == pytest.approx(x.std())
    assert vector[index("skewness")] == pytest.approx(stats.skew(x))
    assert vector[index("kurtosis")] == pytest.approx(stats.kurtosis(x, fisher=True))
    counts = np.histogram(x, bins=64, range=(0, 1))[0]
    assert vector[index("entropy")] == pytest.approx(stats.entropy(counts, base=2))
    for name, q in zip(("p10", "p25", "median", "p75", "p90"), (10, 25, 50, 75, 90), strict=True):
        assert vector[index(name)] == pytest.approx(np.percentile(x, q))
    assert vector[index("energy")] == pytest.approx(np.mean(x**2))


@pytest.mark.parametrize("which", ["epi", "ct", "noise"])
def test_glcm_equals_graycoprops_on_the_same_quantised_image(
    which: str, epi_slice: np.ndarray, ct_slice: np.ndarray
) -> None:
    image = {"epi": epi_slice, "ct": ct_slice, "noise": np.random.default_rng(3).random((64, 64))}[which]
    quantised = np.digitize(image, np.arange(1, 32) / 32).astype(np.uint8)  # level = floor(32 x), 1.0 -> 31
    assert quantised.max() <= 31
    matrix = graycomatrix(
        quantised, [1, 2], [0, np.pi / 4, np.pi / 2, 3 * np.pi / 4], levels=32, symmetric=True, normed=True
    )
    vector = features.extract(image)
    for d_index, d in enumerate((1, 2)):
        for prop in ("contrast", "dissimilarity", "homogeneity", "energy", "correlation", "ASM"):
            expected = graycoprops(matrix, prop)[d_index].mean()
            assert vector[index(f"glcm_{prop}_d{d}")] == pytest.approx(expected, rel=1e-12), (prop, d)


def test_lbp_and_gradient_match_scikit_image(ct_slice: np.ndarray) -> None:
    vector = features.extract(ct_slice)
    codes = local_binary_pattern(np.round(ct_slice * 255).astype(np.uint8), 8, 1, "uniform")
    expected = np.array([np.mean(codes == c) for c in range(10)])
    np.testing.assert_allclose(vector[23:33], expected)
    assert vector[23:33].sum() == pytest.approx(1.0)
    magnitude = sobel(ct_slice.astype(np.float64))
    assert vector[index("gradient_mean")] == pytest.approx(magnitude.mean())
    assert vector[index("gradient_std")] == pytest.approx(magnitude.std())


def test_texture_features_tell_noise_from_smooth_images() -> None:
    rng = np.random.default_rng(4)
    noise = rng.random((64, 64))
    smooth = np.add.outer(np.linspace(0, 1, 64), np.linspace(0, 1, 64)) / 2
    f_noise, f_smooth = features.extract(noise), features.extract(smooth)
    assert f_noise[index("glcm_contrast_d1")] > 50 * f_smooth[index("glcm_contrast_d1")]
    assert f_noise[index("gradient_mean")] > 5 * f_smooth[index("gradient_mean")]


def test_extract_many_keeps_order_and_handles_empty(epi_slice: np.ndarray, ct_slice: np.ndarray) -> None:
    matrix = features.extract_many([ct_slice, epi_slice, ct_slice])
    # extract_many is vectorised over the chunk: the same values up to the order of some sums.
    np.testing.assert_allclose(matrix[0], features.extract(ct_slice), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(matrix[1], features.extract(epi_slice), rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(matrix[0], matrix[2])
    assert features.extract_many([]).shape == (0, 35)


@pytest.mark.parametrize("bad", [np.zeros((4, 4, 3)), np.zeros(16), np.zeros((0, 4)), np.full((4, 4), np.nan)])
def test_rejects_what_is_not_a_finite_2d_image(bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        features.extract(bad)
