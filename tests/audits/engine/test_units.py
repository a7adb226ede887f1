"""The readers keep each image in its file's own units (HU for CT) beside the relative pixels."""

from __future__ import annotations

from pathlib import Path

import nibabel
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut
from skimage.transform import resize

from audits.engine.preprocess import Preprocessing, native_values
from audits.engine.readers import read_file
from audits.engine.readers.units import dicom_units
from tests.audits.images import dicom_source, example4d, write_dicom


def test_a_ct_file_keeps_its_hounsfield_units(tmp_path: Path) -> None:
    ds = pydicom.dcmread(dicom_source("CT_small.dcm"))
    hu = apply_modality_lut(ds.pixel_array, ds)
    record, images = read_file(dicom_source("CT_small.dcm"), "ct.dcm", Preprocessing())
    assert record.accepted
    (image,) = images
    assert image.unit == "HU"
    assert image.native is not None and image.native.dtype == np.float32 and image.native.shape == (64, 64)
    expected = resize(hu, (64, 64), order=1, anti_aliasing=True, preserve_range=True)
    np.testing.assert_allclose(image.native, expected, atol=1e-2)
    # The relative pixels are unchanged: clipped and scaled per image, in [0, 1].
    assert image.pixels.min() >= 0.0 and image.pixels.max() <= 1.0
    # A different intercept moves every value and leaves the stored pixels (and their digest) alone.
    moved_path = write_dicom(tmp_path / "moved.dcm", "CT_small.dcm", RescaleIntercept=-924)
    _, (moved,) = read_file(moved_path, "moved.dcm", Preprocessing())
    assert moved.pixel_sha256 == image.pixel_sha256
    np.testing.assert_allclose(moved.pixels, image.pixels)
    assert moved.native is not None
    np.testing.assert_allclose(moved.native - image.native, 100.0, atol=1e-2)


def test_mr_and_nifti_have_no_unit_but_keep_their_values(tmp_path: Path) -> None:
    _, (mr,) = read_file(dicom_source("MR_small.dcm"), "mr.dcm", Preprocessing())
    assert mr.unit == ""
    assert mr.native is not None and mr.native.max() > 1000  # raw MR signal, not [0, 1]
    # NIfTI scl_slope and scl_inter are applied (nibabel's scaled data), so the values are the file's units.
    data = example4d()[:, :, 12, 0].astype(np.int16)
    image = nibabel.Nifti1Image(data, np.eye(4))
    image.header.set_slope_inter(2.0, -100.0)
    path = tmp_path / "scaled.nii"
    nibabel.save(image, path)
    record, (slice_,) = read_file(path, "scaled.nii", Preprocessing())
    assert record.accepted and slice_.unit == ""
    oriented = np.flipud(data.T).astype(np.float64)
    expected = native_values(2.0 * oriented - 100.0, Preprocessing())
    np.testing.assert_allclose(slice_.native, expected, rtol=1e-5, atol=1e-2)


def test_native_values_are_linear_and_survive_bad_voxels() -> None:
    hu = pydicom.dcmread(dicom_source("CT_small.dcm")).pixel_array.astype(np.float64) - 1024
    params = Preprocessing()
    base = native_values(hu, params)
    np.testing.assert_allclose(native_values(1.25 * hu + 150, params), 1.25 * base + 150, rtol=1e-5, atol=1e-2)
    broken = hu.copy()
    broken[0, 0], broken[5, 5], broken[9, 9] = np.nan, np.inf, -np.inf
    values = native_values(broken, params)
    assert np.isfinite(values).all()
    assert values.min() >= hu.min() - 1e-3 and values.max() <= hu.max() + 1e-3
    assert not native_values(np.full((8, 8), np.nan), params).any()


def _enhanced_ct(slopes: list[tuple[float, float]], shared: tuple[float, float] | None = None) -> Dataset:
    ds = Dataset()
    ds.Modality = "CT"

    def group(slope: float, intercept: float) -> Dataset:
        transformation = Dataset()
        transformation.RescaleSlope = slope
        transformation.RescaleIntercept = intercept
        transformation.RescaleType = "HU"
        item = Dataset()
        item.PixelValueTransformationSequence = [transformation]
        return item

    ds.PerFrameFunctionalGroupsSequence = [group(*pair) for pair in slopes]
    if shared is not None:
        ds.SharedFunctionalGroupsSequence = [group(*shared)]
    return ds


def test_enhanced_multiframe_rescale_is_taken_per_frame() -> None:
    rescale, unit = dicom_units(_enhanced_ct([(1.0, -1024.0), (2.0, -2048.0)]), 2, colour=False)
    assert unit == "HU" and rescale is not None
    frame = np.full((2, 2), 1024, dtype=np.int16)
    assert rescale(frame, 0).tolist() == [[0.0, 0.0], [0.0, 0.0]]
    assert rescale(frame, 1).tolist() == [[0.0, 0.0], [0.0, 0.0]]
    # Only a shared group: every frame uses it.
    only_shared = _enhanced_ct([], shared=(1.0, -1000.0))
    rescale, unit = dicom_units(only_shared, 3, colour=False)
    assert unit == "HU" and rescale is not None
    assert float(rescale(np.zeros((1, 1)), 2)[0, 0]) == -1000.0


@pytest.mark.parametrize(("units", "expected"), [("GML", "SUV"), ("BQML", "Bq/ml"), ("CNTS", ""), (None, "")])
def test_pet_units_are_quantitative_only_when_declared(units: str | None, expected: str) -> None:
    ds = Dataset()
    ds.Modality = "PT"
    ds.RescaleSlope, ds.RescaleIntercept = 0.5, 0.0
    if units is not None:
        ds.Units = units
    rescale, unit = dicom_units(ds, 1, colour=False)
    assert unit == expected
    assert rescale is not None and float(rescale(np.array([[10]]), 0)[0, 0]) == 5.0


def test_a_malformed_rescale_is_warned_and_leaves_the_image_relative() -> None:
    ds = Dataset()
    ds.Modality = "CT"
    ds.RescaleSlope, ds.RescaleIntercept = 0, -1024
    with pytest.warns(UserWarning, match="modality rescale ignored"):
        rescale, unit = dicom_units(ds, 1, colour=False)
    assert (rescale, unit) == (None, "")
    assert dicom_units(ds, 1, colour=True) == (None, "")
