"""The fidelity audit from per-chunk summaries gives the result the pixels give (issue 13: a bounded merge)."""

from __future__ import annotations

import io
import itertools
import json
import os
from typing import Any

import nibabel
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.pixels import apply_modality_lut

from audits.engine import features, fidelity
from audits.engine.preprocess import Preprocessing
from audits.engine.readers import images_from_arrays
from audits.engine.types import AuditResult, Image, ImageSet

EXAMPLE4D = os.path.join(os.path.dirname(nibabel.__file__), "tests", "data", "example4d.nii.gz")


def epi_set(role: str, parity: int) -> ImageSet:
    """Alternate axial slices of nibabel's real EPI series (both time points), through the readers."""
    volume = np.asanyarray(nibabel.load(EXAMPLE4D).dataobj).astype(np.float64)
    arrays = [volume[:, :, z, t] for t in range(2) for z in range(volume.shape[2]) if z % 2 == parity]
    return images_from_arrays(role, arrays, None, Preprocessing(), unit="")


def ct_set(role: str, parity: int, unit: str = "HU", offset: float = 0.0) -> ImageSet:
    """Crops of pydicom's three real CT slices in HU, alternate cells of a 5 x 5 grid by parity."""
    crops = []
    for name in ("CT_small.dcm", "693_J2KI.dcm", "J2K_pixelrep_mismatch.dcm"):
        path = get_testdata_file(name, download=False)
        assert path is not None
        ds = pydicom.dcmread(path)
        hu = apply_modality_lut(ds.pixel_array, ds).astype(np.float64)
        hu = hu if hu.shape[0] <= 128 else hu[::2, ::2]
        side = int(0.6 * hu.shape[0])
        stride = (hu.shape[0] - side) // 4
        for i, j in itertools.product(range(5), range(5)):
            if (i + j) % 2 == parity:
                crops.append(hu[i * stride : i * stride + side, j * stride : j * stride + side] + offset)
    return images_from_arrays(role, crops, None, Preprocessing(), unit=unit)


def summarised(image_set: ImageSet, params: dict[str, Any] | None, chunk: int) -> dict[str, np.ndarray]:
    """What the merge holds: each chunk's summary stored and loaded as a chunk artifact (.npz, no pickle)."""
    parts = []
    for start in range(0, len(image_set.images), chunk):
        buffer = io.BytesIO()
        np.savez(buffer, **fidelity.chunk_summary(image_set.images[start : start + chunk], params))
        buffer.seek(0)
        with np.load(buffer, allow_pickle=False) as data:
            parts.append({key: data[key] for key in data.files})
    return fidelity.concat_summaries(parts)


def without_pixels(image_set: ImageSet) -> ImageSet:
    return ImageSet(role=image_set.role, files=image_set.files, images=[])


def comparable(result: AuditResult) -> str:
    data = result.as_dict()
    data.pop("timings")
    return json.dumps(data, sort_keys=True)


def both_ways(syn: ImageSet, ref: ImageSet, params: dict[str, Any] | None = None, chunk: int = 7) -> AuditResult:
    """Run on the pixels and on chunked summaries; assert the two results are equal; return it."""
    from_pixels = fidelity.run(syn, ref, params)
    matrices = (
        features.extract_many([image.pixels for image in syn.usable]),
        features.extract_many([image.pixels for image in ref.usable]),
    )
    summaries = (summarised(syn, params, chunk), summarised(ref, params, chunk + 3))
    from_summaries = fidelity.run(without_pixels(syn), without_pixels(ref), params, matrices, summaries=summaries)
    assert comparable(from_summaries) == comparable(from_pixels)
    return from_pixels


def test_relative_intensities_from_summaries_equal_the_pixels() -> None:
    syn, ref = epi_set("synthetic", 0), epi_set("reference", 1)
    result = both_ways(syn, ref)
    assert result.metrics["intensity_scale"] == "relative"
    # Real slices of one series: every figure computed, nothing left out.
    for name in ("w1_hist", "w1_null_p_value", "ks_D", "ks_D_baseline", "foreground_frac_ks_D_baseline", "fd"):
        assert result.metrics[name] is not None, name


def test_hu_intensities_from_summaries_equal_the_pixels() -> None:
    clean = both_ways(ct_set("synthetic", 1), ct_set("reference", 0), chunk=5)
    assert (clean.metrics["units"], clean.metrics["window_low"]) == ("HU", -1024.0)
    assert clean.metrics["w1_excess"] is not None
    # A calibration error is judged alike both ways (the HU rule reads the windowed histograms).
    shifted = both_ways(ct_set("synthetic", 1, offset=200.0), ct_set("reference", 0), chunk=4)
    assert shifted.status == "fail"
    assert shifted.metrics["w1_excess"] > 50


def test_a_window_set_by_the_researcher_is_known_to_the_chunks() -> None:
    params = {"intensity_scale": "quantitative", "window_low": -200.0, "window_width": 600.0}
    result = both_ways(ct_set("synthetic", 1, unit=""), ct_set("reference", 0, unit=""), params)
    assert (result.metrics["units"], result.metrics["window_low"], result.metrics["window_high"]) == (
        "native units",
        -200.0,
        400.0,
    )


def test_a_window_drawn_from_the_data_needs_the_pixels() -> None:
    syn, ref = ct_set("synthetic", 1, unit=""), ct_set("reference", 0, unit="")
    params = {"intensity_scale": "quantitative"}
    matrices = (
        features.extract_many([i.pixels for i in syn.usable]),
        features.extract_many([i.pixels for i in ref.usable]),
    )
    summaries = (summarised(syn, params, 6), summarised(ref, params, 6))
    with pytest.raises(fidelity.SummaryWindowError, match="run the fidelity audit on the images"):
        fidelity.run(without_pixels(syn), without_pixels(ref), params, matrices, summaries=summaries)
    # From the pixels the window is the data's percentiles, in the declared unit.
    result = fidelity.run(syn, ref, params)
    assert result.metrics["units"] == "native units"
    assert result.metrics["window_low"] < 0 < result.metrics["window_high"]


def test_blank_images_are_counted_and_left_out() -> None:
    syn, ref = epi_set("synthetic", 0), epi_set("reference", 1)
    flat = Image(
        file="synthetic/flat.nii", index=0, pixels=np.zeros((64, 64), np.float32), pixel_sha256="0" * 64, blank=True
    )
    syn = ImageSet(role="synthetic", files=syn.files, images=[*syn.images[:5], flat, *syn.images[5:]])
    result = both_ways(syn, ref, chunk=4)
    assert (result.inputs["n_dropped_blank_synthetic"], result.inputs["n_synthetic_usable"]) == (1, len(syn.images) - 1)


def test_summaries_are_small_and_refuse_what_they_lack() -> None:
    syn = epi_set("synthetic", 0)
    summary = fidelity.chunk_summary(syn.images)
    per_image = sum(array.nbytes for array in summary.values()) / len(syn.images)
    assert per_image < 4 * 1024  # the pixels alone are 16 KiB per 64 x 64 image
    assert set(summary) == set(fidelity.SUMMARY_KEYS)
    broken = {key: value for key, value in summary.items() if key != "relative_sample"}
    with pytest.raises(ValueError, match="relative_sample"):
        fidelity.concat_summaries([summary, broken])
    with pytest.raises(ValueError, match="needs the feature matrices"):
        fidelity.run(syn, syn, summaries=(summary, summary))
