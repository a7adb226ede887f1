"""The thumbnail search of the memorization audit rules pairs out by a bound (issue 13): the
candidates must be exactly those of the exhaustive search, on real slices, planted copies under
every symmetry and crop, duplicate references (ties), leave-one-out groups and flat images."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.transform import resize

from audits.engine.memorization import geometry
from audits.engine.memorization.geometry import (
    D8_NAMES,
    apply_d8,
    area_matrix,
    cosine_basis,
    resample,
    transform_candidates,
    view_thumbnails,
    zoom_views,
    zscore_rows,
)
from tests.audits.engine import memo_data as md

VIEWS = zoom_views(64, 0.7, 3, 4)


def _pixels(natives: list[np.ndarray]) -> np.ndarray:
    return np.stack([md.make_image(native, "x").pixels for native in natives]).astype(np.float32)


@pytest.fixture(scope="module")
def real() -> dict[str, np.ndarray]:
    """Real EPI slices of both time points, CT and MR, and copies of training slices planted among the queries."""
    natives = [md.epi_slice(z, t) for t in (0, 1) for z in range(2, 22)]
    natives += [md.dicom_pixels("CT_small.dcm"), md.dicom_pixels("MR_small.dcm")]
    training = natives[::2]
    training.append(training[3].copy())  # a duplicate reference: ties in every product
    queries = list(natives[1::2])
    source = training[5]
    for name in D8_NAMES:
        queries.append(apply_d8(source, name))
    h, w = source.shape
    for share, top, left in ((0.7, 0, 0), (0.8, 10, 5), (0.9, 3, 7)):
        ch, cw = round(h * share), round(w * share)
        crop = source[top : top + ch, left : left + cw].astype(np.float64)
        queries.append(resize(crop, (h, w), order=1, anti_aliasing=True, preserve_range=True))
    queries.append(np.full_like(source, 7))  # flat: its thumbnail is all zeros
    return {"reference": _pixels(training), "queries": _pixels(queries)}


def _search(queries: np.ndarray, references: np.ndarray, k: int, **groups: np.ndarray) -> geometry.TransformCandidates:
    return transform_candidates(queries, references, VIEWS, k, 24, block=16, **groups)


def _same(a: geometry.TransformCandidates, b: geometry.TransformCandidates) -> None:
    """The same candidates, symmetries and views; the correlations to float32 rounding (BLAS rounds
    a row's products a little differently with other rows beside it)."""
    np.testing.assert_array_equal(a.indices, b.indices)
    usable = a.indices >= 0
    for name in ("symmetry", "view"):
        np.testing.assert_array_equal(getattr(a, name)[usable], getattr(b, name)[usable], err_msg=name)
    np.testing.assert_allclose(a.corr[usable], b.corr[usable], rtol=0, atol=1e-6)


def _exhaustive(monkeypatch: pytest.MonkeyPatch) -> None:
    """No pair is ruled out: every product is computed, as before the bound."""
    monkeypatch.setattr(geometry, "BOUND_SLACK", np.inf)


@pytest.mark.parametrize("k", [1, 3, 10])
def test_bound_keeps_the_exhaustive_candidates_on_real_slices(
    real: dict, monkeypatch: pytest.MonkeyPatch, k: int
) -> None:
    pruned = _search(real["queries"], real["reference"], k)
    _exhaustive(monkeypatch)
    full = _search(real["queries"], real["reference"], k)
    _same(pruned, full)
    # the planted copies are found under the symmetry that undoes them, with their source first
    copies = slice(len(real["queries"]) - 12, len(real["queries"]) - 4)
    assert (pruned.indices[copies, 0] == 5).all()
    assert pruned.corr[copies, 0].min() > 0.99


def test_bound_keeps_the_exhaustive_candidates_leaving_one_out(real: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    reference = real["reference"]
    groups = np.arange(len(reference))
    groups[-1] = 3  # the duplicate belongs to its original's group: neither finds the other
    found = {"query_groups": groups, "reference_groups": groups}
    pruned = _search(reference, reference, 4, **found)
    _exhaustive(monkeypatch)
    full = _search(reference, reference, 4, **found)
    _same(pruned, full)
    assert not (pruned.indices == np.arange(len(reference))[:, None]).any()
    assert not np.isin(pruned.indices[[3, len(reference) - 1]], [3, len(reference) - 1]).any()


def test_bound_keeps_the_exhaustive_candidates_over_many_tiles(real: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiles of 5 references: rows are multiplied exactly for some tiles and not others."""
    monkeypatch.setattr(geometry, "EXACT_TILE", 5)
    pruned = _search(real["queries"], real["reference"], 4)
    _exhaustive(monkeypatch)
    _same(pruned, _search(real["queries"], real["reference"], 4))


def test_more_candidates_asked_than_references(real: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    few = real["reference"][:4]
    pruned = _search(real["queries"][:6], few, 10)
    _exhaustive(monkeypatch)
    _same(pruned, _search(real["queries"][:6], few, 10))
    assert (pruned.indices[:, :4] >= 0).all() and (pruned.indices[:, 4:] == -1).all()


def test_the_bound_is_never_below_the_product() -> None:
    rng = np.random.default_rng(3)
    basis = cosine_basis(24, 8)
    smooth = zscore_rows(rng.normal(size=(300, 24, 24)).cumsum(axis=1).cumsum(axis=2))
    rough = zscore_rows(rng.normal(size=(300, 576)))
    for x, y in ((smooth, smooth[::-1]), (smooth, rough), (rough, rough[::-1])):
        bound = np.einsum("ij,ij->i", geometry._bound_rows(x, basis), geometry._bound_rows(y, basis))
        assert (bound >= np.einsum("ij,ij->i", x, y) - 1e-5).all()
    # and it is tight where the images are smooth: the search gains only there
    low = np.einsum("ij,ij->i", geometry._bound_rows(smooth, basis), geometry._bound_rows(smooth[::-1], basis))
    assert np.median(low - np.einsum("ij,ij->i", smooth, smooth[::-1])) < 0.2


def test_cosine_basis_is_orthonormal() -> None:
    basis = cosine_basis(24, 8)
    assert basis.shape == (576, 64)
    np.testing.assert_allclose(basis.T @ basis, np.eye(64), atol=1e-5)


def test_view_thumbnails_are_each_views_resampled_crop(real: dict) -> None:
    images = real["reference"][:7]
    size = images.shape[-1]
    thumbs = view_thumbnails(images, VIEWS, 24)
    for index in (0, 1, 17, len(VIEWS) - 1):
        view = VIEWS[index]
        rows = area_matrix(24, view.top, view.scale * size, size)
        cols = area_matrix(24, view.left, view.scale * size, size)
        np.testing.assert_allclose(thumbs[index], zscore_rows(resample(images, rows, cols)), atol=2e-5)


def test_a_bound_that_rules_out_too_much_is_caught(real: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparisons above can fail: a bound lowered by 0.05 loses candidates on these slices."""
    full = _search(real["queries"], real["reference"], 10)
    monkeypatch.setattr(geometry, "BOUND_SLACK", -0.05 / 24**2)  # per value of a 24 x 24 thumbnail
    with pytest.raises(AssertionError):
        _same(_search(real["queries"], real["reference"], 10), full)


def test_a_rows_products_do_not_depend_on_how_many_rows_are_open_together():
    """One or two open rows are multiplied as many rows are (the worker's one BLAS thread), so the
    candidates do not depend on the block of queries a row is searched in."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(3)
    rows = rng.standard_normal((64, 576)).astype(np.float32)
    references = rng.standard_normal((512, 576)).astype(np.float32)
    with threadpool_limits(1):
        together = rows @ references.T
        for start, count in ((0, 1), (9, 1), (20, 2), (30, 3), (40, 12)):
            alone = geometry._rows_product(rows[start : start + count], references)
            assert np.array_equal(alone, together[start : start + count])
