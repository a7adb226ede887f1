"""The fidelity audit: its distances against direct formulas, and its verdicts on real slices."""

from __future__ import annotations

import functools
import itertools
import json
import os
from pathlib import Path

import nibabel
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.pixels import apply_modality_lut
from scipy import ndimage, stats

from audits.engine import ENGINE_VERSION, features, fidelity
from audits.engine.fidelity import summary as fidelity_summary
from audits.engine.preprocess import Preprocessing, pixel_digest, preprocess
from audits.engine.readers import images_from_arrays, read_set
from audits.engine.types import FLAGGED_LIMIT, AuditResult, FileRecord, Image, ImageSet, Status
from tests.audits.images import write_dicom, write_nifti, write_png

EXAMPLE4D = os.path.join(os.path.dirname(nibabel.__file__), "tests", "data", "example4d.nii.gz")

# ----------------------------------------------------------------------------- building sets


def image_set(role: str, arrays: list[np.ndarray]) -> ImageSet:
    """An ImageSet straight from native arrays, one file per array (no readers involved)."""
    images, files = [], []
    for i, native in enumerate(arrays):
        pixels, blank = preprocess(native, Preprocessing())
        digest = pixel_digest(native)
        name = f"{role}/{i:03d}.nii"
        files.append(FileRecord(name=name, sha256=digest, format="nifti", width=64, height=64, slices=1))
        images.append(Image(file=name, index=0, pixels=pixels, pixel_sha256=digest, blank=blank))
    return ImageSet(role=role, files=files, images=images)


@pytest.fixture(scope="module")
def epi() -> list[tuple[int, np.ndarray]]:
    """The 48 axial slices (24 per volume) of nibabel's real EPI example, with their slice index."""
    volume = np.asanyarray(nibabel.load(EXAMPLE4D).dataobj).astype(np.float64)
    return [(z, volume[:, :, z, t]) for t in range(2) for z in range(volume.shape[2])]


@pytest.fixture(scope="module")
def reference(epi: list[tuple[int, np.ndarray]]) -> ImageSet:
    return image_set("reference", [a for z, a in epi if z % 2 == 1])


@pytest.fixture(scope="module")
def same(epi: list[tuple[int, np.ndarray]]) -> ImageSet:
    """Interleaved slices: same scanner, subject and distribution as the reference, no shared slice."""
    return image_set("synthetic", [a for z, a in epi if z % 2 == 0])


@pytest.fixture(scope="module")
def noisy(epi: list[tuple[int, np.ndarray]]) -> ImageSet:
    rng = np.random.default_rng(11)
    return image_set("synthetic", [a + rng.normal(0, 0.3 * a.max(), a.shape) for z, a in epi if z % 2 == 0])


@pytest.fixture(scope="module")
def blurred(epi: list[tuple[int, np.ndarray]]) -> ImageSet:
    return image_set("synthetic", [ndimage.gaussian_filter(a, 2.0) for z, a in epi if z % 2 == 0])


@pytest.fixture(scope="module")
def same_result(same: ImageSet, reference: ImageSet) -> AuditResult:
    return fidelity.run(same, reference)


@pytest.fixture(scope="module")
def noisy_result(noisy: ImageSet, reference: ImageSet) -> AuditResult:
    return fidelity.run(noisy, reference)


def ct_small() -> np.ndarray:
    path = get_testdata_file("CT_small.dcm", download=False)
    assert path is not None
    return pydicom.dcmread(path).pixel_array


# ----------------------------------------------------------------------------- Frechet distance


def frechet_direct(x: np.ndarray, y: np.ndarray) -> float:
    """|mu_x - mu_y|^2 + Tr S_x + Tr S_y - 2 sum sqrt(eig(S_x^1/2 S_y S_x^1/2)), all symmetric."""
    cov_x, cov_y = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    w, v = np.linalg.eigh(cov_x)
    root_x = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    middle = np.linalg.eigvalsh(root_x @ cov_y @ root_x)
    diff = x.mean(axis=0) - y.mean(axis=0)
    return float(diff @ diff + np.trace(cov_x) + np.trace(cov_y) - 2 * np.sqrt(np.clip(middle, 0, None)).sum())


@pytest.mark.parametrize(("n", "d"), [(300, 4), (60, 10), (12, 30), (3, 35)])
def test_frechet_matches_the_direct_formula(n: int, d: int) -> None:
    rng = np.random.default_rng(n * d)
    x = rng.normal(size=(n, d))
    y = rng.normal(0.4, 1.5, size=(n + 5, d)) @ rng.normal(size=(d, d)) / np.sqrt(d)
    assert fidelity.frechet_distance(x, y) == pytest.approx(frechet_direct(x, y), rel=1e-6)


def test_frechet_one_dimensional_closed_form() -> None:
    x = np.array([[0.0], [2.0], [4.0]])  # mean 2, variance 4
    y = np.array([[10.0], [11.0]])  # mean 10.5, variance 0.5
    expected = (2 - 10.5) ** 2 + (2 - np.sqrt(0.5)) ** 2
    assert fidelity.frechet_distance(x, y) == pytest.approx(expected)


def test_frechet_invariances() -> None:
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(40, 6)), rng.normal(0.5, 2, size=(50, 6))
    fd = fidelity.frechet_distance(x, y)
    assert fidelity.frechet_distance(x, x) == pytest.approx(0, abs=1e-6)
    assert fidelity.frechet_distance(x[:3], x[:3]) == pytest.approx(0, abs=1e-6)  # singular covariance
    assert fidelity.frechet_distance(y, x) == pytest.approx(fd, rel=1e-8)
    shift = rng.normal(size=6)
    assert fidelity.frechet_distance(x + shift, y + shift) == pytest.approx(fd, rel=1e-8)
    rotation, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    assert fidelity.frechet_distance(x @ rotation, y @ rotation) == pytest.approx(fd, rel=1e-8)
    assert fidelity.frechet_distance(x, x + 1.0) == pytest.approx(6.0)  # mean term only
    # 2x: means m and 2m, covariances S and 4S, so FD = |m|^2 + Tr S + Tr 4S - 2 Tr 2S = |m|^2 + Tr S.
    mean = x.mean(axis=0)
    expected = mean @ mean + np.trace(np.cov(x, rowvar=False))
    assert fidelity.frechet_distance(x, 2 * x) == pytest.approx(expected)


def test_frechet_regularises_untrustworthy_roots() -> None:
    # A product with a negative eigenvalue has no real square root: the guard refuses it.
    assert fidelity._sqrtm_product(np.diag([-1.0, 1.0]), np.eye(2)) is None
    assert fidelity._sqrtm_product(np.diag([4.0, 1.0]), np.eye(2)) is not None
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(2, 35)), rng.normal(size=(2, 35))  # rank-1 covariances in 35-d
    value = fidelity.frechet_distance(x, y)
    assert np.isfinite(value)
    assert value == pytest.approx(frechet_direct(x, y), rel=1e-5)
    with pytest.raises(ValueError):
        fidelity.frechet_distance(x[:1], y)


# ----------------------------------------------------------------------------- KID


def mmd2_loops(x: np.ndarray, y: np.ndarray) -> float:
    d = x.shape[1]

    def k(a: np.ndarray, b: np.ndarray) -> float:
        return float((a @ b / d + 1) ** 3)

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_mmd2_matches_a_double_loop() -> None:
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(6, 3)), rng.normal(0.5, 1, size=(5, 3))
    assert fidelity.mmd2_unbiased(x, y) == pytest.approx(mmd2_loops(x, y), rel=1e-10)
    assert fidelity.polynomial_kernel(x, y)[2, 3] == pytest.approx((x[2] @ y[3] / 3 + 1) ** 3)


def test_kid_over_subsets_is_the_mean_and_sd_of_the_loops() -> None:
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(9, 2)), rng.normal(size=(7, 2))
    mean, sd, m = fidelity.kid(x, y, subset_size=4, n_subsets=5, rng=np.random.default_rng(42))
    replay = np.random.default_rng(42)
    values = []
    for _ in range(5):
        ix, iy = replay.choice(9, 4, replace=False), replay.choice(7, 4, replace=False)
        values.append(mmd2_loops(x[ix], y[iy]))
    assert m == 4
    assert mean == pytest.approx(np.mean(values), rel=1e-10)
    assert sd == pytest.approx(np.std(values), rel=1e-8)
    # Subsets as large as both sets are the sets themselves: one value, no spread.
    whole = fidelity.kid(x[:7], y, subset_size=1000, n_subsets=100, rng=np.random.default_rng(0))
    assert whole == (pytest.approx(mmd2_loops(x[:7], y)), 0.0, 7)


def test_kid_is_near_zero_for_one_distribution_and_large_for_a_shift() -> None:
    rng = np.random.default_rng(9)
    x, y = rng.normal(size=(400, 5)), rng.normal(size=(400, 5))
    same, _, _ = fidelity.kid(x, y, 100, 20, np.random.default_rng(0))
    shifted, _, _ = fidelity.kid(x, y + 1.0, 100, 20, np.random.default_rng(0))
    assert abs(same) < 0.05
    assert shifted > 20 * abs(same)


# ----------------------------------------------------------------------------- PRDC


def prdc_brute(real: np.ndarray, fake: np.ndarray, k: int) -> dict[str, float]:
    """Naeem et al.'s definitions, written as literally as possible."""

    def dist(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.sqrt(((a - b) ** 2).sum()))

    def radius(points: np.ndarray, i: int) -> float:
        return sorted(dist(points[i], points[j]) for j in range(len(points)) if j != i)[k - 1]

    r_real = [radius(real, i) for i in range(len(real))]
    r_fake = [radius(fake, j) for j in range(len(fake))]
    inside = [[dist(f, r) <= r_real[i] for i, r in enumerate(real)] for f in fake]
    return {
        "precision": float(np.mean([any(row) for row in inside])),
        "recall": float(np.mean([any(dist(r, f) <= r_fake[j] for j, f in enumerate(fake)) for r in real])),
        "density": float(sum(sum(row) for row in inside) / (k * len(fake))),
        "coverage": float(np.mean([any(inside[j][i] for j in range(len(fake))) for i in range(len(real))])),
    }


def test_prdc_hand_checked_one_dimensional_example() -> None:
    # k = 1. Real balls: 0 +- 1, 1 +- 1, 2 +- 1, 10 +- 8. Fake balls: 0.5 +- 4.5, 5 +- 4.5, 20 +- 15.
    real = np.array([[0.0], [1.0], [2.0], [10.0]])
    fake = np.array([[0.5], [5.0], [20.0]])
    # precision: 0.5 and 5 lie in a real ball, 20 does not -> 2/3. recall: every real lies in a
    # fake ball -> 1. density: 0.5 in 2 balls, 5 in 1, 20 in 0 -> 3 / (1 * 3) = 1. coverage:
    # the balls of 0, 1 and 10 hold a fake, the ball of 2 does not -> 3/4.
    expected = {"precision": 2 / 3, "recall": 1.0, "density": 1.0, "coverage": 0.75}
    assert fidelity.prdc(real, fake, k=1) == pytest.approx(expected)
    assert prdc_brute(real, fake, 1) == pytest.approx(expected)
    scan = fidelity.prdc_scan(real, fake, 1)
    assert scan["fake_inside"].tolist() == [True, True, False]
    assert scan["fake_ratio"][2] == pytest.approx(10 / 8)  # closest ball: around 10, radius 8
    assert scan["fake_nearest_real"][2] == 3


@pytest.mark.parametrize(("k", "shift"), [(1, 0.0), (2, 0.5), (3, 1.5), (5, 0.0)])
def test_prdc_matches_brute_force_in_two_dimensions(k: int, shift: float) -> None:
    rng = np.random.default_rng(int(10 * k + 10 * shift))
    real, fake = rng.normal(size=(13, 2)), rng.normal(shift, 1.3, size=(11, 2))
    assert fidelity.prdc(real, fake, k) == pytest.approx(prdc_brute(real, fake, k))


def test_prdc_blocks_give_the_same_answer_as_one_block(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(12)
    real, fake = rng.normal(size=(50, 3)), rng.normal(0.3, 1, size=(40, 3))
    whole = fidelity.prdc_scan(real, fake, 3)
    monkeypatch.setattr(fidelity.neighbours, "_BLOCK", 7)
    blocked = fidelity.prdc_scan(real, fake, 3)
    for name in ("precision", "recall", "density", "coverage"):
        assert blocked[name] == pytest.approx(whole[name])
    np.testing.assert_allclose(blocked["fake_ratio"], whole["fake_ratio"])
    np.testing.assert_array_equal(blocked["fake_nearest_real"], whole["fake_nearest_real"])


# ----------------------------------------------------------------------------- intensity


def test_histogram_w1_agrees_with_scipy_on_raw_pixels(epi: list[tuple[int, np.ndarray]]) -> None:
    a, _ = preprocess(epi[5][1], Preprocessing())
    b, _ = preprocess(ndimage.gaussian_filter(epi[30][1], 1.5), Preprocessing())
    counts = fidelity.pixel_histograms([a, b])
    assert counts.sum(axis=1).tolist() == [a.size, b.size]
    raw = stats.wasserstein_distance(a.ravel(), b.ravel())
    assert raw > 0.005
    # Mass moved to bin centres shifts each distribution by at most half a bin.
    assert fidelity.histogram_w1(counts[0], counts[1]) == pytest.approx(raw, abs=1 / 256)


def test_run_w1_is_the_pooled_pixel_w1(same: ImageSet, reference: ImageSet, same_result: AuditResult) -> None:
    pooled_s = np.concatenate([i.pixels.ravel() for i in same.usable])
    pooled_r = np.concatenate([i.pixels.ravel() for i in reference.usable])
    assert same_result.metrics["w1_hist"] == pytest.approx(stats.wasserstein_distance(pooled_s, pooled_r), abs=1 / 256)

    # KS D compares the pooled per-image samples (SAMPLE_PER_IMAGE pixels of each image at positions its
    # digest fixes, so a chunk task can draw them): under the 200k cap, all of them.
    def pool(images: list) -> np.ndarray:
        seed = fidelity.DEFAULTS["seed"]
        return np.concatenate(
            [i.pixels.ravel()[fidelity_summary.sample_positions(i.pixels.size, i.pixel_sha256, seed)] for i in images]
        )

    sample_s, sample_r = pool(same.usable), pool(reference.usable)
    assert sample_s.size == fidelity.SAMPLE_PER_IMAGE * len(same.usable) < 200_000
    assert same_result.metrics["ks_D"] == pytest.approx(stats.ks_2samp(sample_s, sample_r).statistic, rel=1e-12)
    # ... an estimate of the KS D of all pixels, within its sampling noise (1.36 sqrt(2 / n) at 95 %).
    full = stats.ks_2samp(pooled_s, pooled_r).statistic
    assert abs(same_result.metrics["ks_D"] - full) < 1.36 * np.sqrt(2 / sample_s.size)


def test_sample_pixels_draws_from_the_pool_deterministically() -> None:
    images = [np.full((4, 4), i, dtype=np.float32) for i in range(5)]
    everything = fidelity.sample_pixels(images, 1000, np.random.default_rng(0))
    assert sorted(everything.tolist()) == sorted(np.repeat(np.arange(5.0), 16).tolist())
    first = fidelity.sample_pixels(images, 30, np.random.default_rng(1))
    again = fidelity.sample_pixels(images, 30, np.random.default_rng(1))
    np.testing.assert_array_equal(first, again)
    assert len(first) == 30
    assert np.bincount(first.astype(int), minlength=5).max() <= 16  # without replacement


# ----------------------------------------------------------------------------- the audit on real slices


def test_same_distribution_passes(same_result: AuditResult) -> None:
    m = same_result.metrics
    assert same_result.status == Status.PASS, same_result.summary
    assert m["feature_set"] == "rad-lite-35 v1"
    assert m["n_synthetic_used"] == m["n_reference_used"] == 24
    assert m["n_dropped_blank"] == 0
    assert m["w1_ratio"] < 3
    assert m["fd_ratio"] < 5
    assert m["coverage"] >= 0.8
    assert m["precision"] >= 0.7
    assert m["fd_ci_low"] <= m["fd_ci_high"]
    assert 0 < m["n_features_used"] <= 35
    assert "within the thresholds" in same_result.summary


@pytest.mark.parametrize("degraded", ["noisy", "blurred"])
def test_heavy_noise_or_blur_fails(degraded: str, request: pytest.FixtureRequest, reference: ImageSet) -> None:
    result = fidelity.run(request.getfixturevalue(degraded), reference)
    m = result.metrics
    assert result.status == Status.FAIL
    assert m["fd_ratio"] > 20
    assert m["coverage"] < 0.5
    assert m["precision"] < 0.7
    assert m["kid_mean"] > 10 * abs(m["kid_baseline_mean"])
    assert "FD ratio" in result.summary
    assert "coverage" in result.summary


def test_degraded_images_are_flagged_as_outside_the_reference(noisy_result: AuditResult) -> None:
    flagged = noisy_result.flagged
    assert 0 < len(flagged) <= FLAGGED_LIMIT
    assert len(flagged) == noisy_result.metrics["n_synthetic_outside_reference"] == 24
    assert all(row["synthetic_id"].startswith("synthetic/") for row in flagged)
    assert all(row["reference_id"].startswith("reference/") for row in flagged)
    scores = [row["score"] for row in flagged]
    assert scores == sorted(scores, reverse=True)
    assert min(scores) > 1


def test_a_ct_slice_against_brain_epi_fails(reference: ImageSet) -> None:
    ct = ct_small().astype(np.float64)
    crops = [ct[i : i + 100, j : j + 100] for i, j in itertools.product((0, 14, 28), (0, 14, 28))]
    result = fidelity.run(image_set("synthetic", crops), reference)
    assert result.status == Status.FAIL
    assert result.metrics["coverage"] < 0.5


def test_thresholds_are_reported_and_configurable(
    noisy: ImageSet, reference: ImageSet, same_result: AuditResult
) -> None:
    assert same_result.thresholds == {
        "w1_ratio": {"warn": 3.0, "fail": 10.0, "direction": "above", "only_when": {"w1_null_p_value_below": 0.01}},
        "fd_ratio": {"warn": 5.0, "fail": 20.0, "direction": "above", "warn_also_needs": {"fd": 5.0}},
        "coverage": {"warn": 0.8, "fail": 0.5, "direction": "below"},
        "precision": {"warn": 0.7, "fail": None, "direction": "below"},
    }
    # Heavy noise fails on several rules; with the fail levels switched off only warnings remain.
    no_fail = {name: None for name in fidelity.THRESHOLD_DEFAULTS if name.endswith("_fail")}
    lenient = fidelity.run(noisy, reference, no_fail)
    assert lenient.status == Status.WARN
    assert lenient.thresholds["coverage"] == {"warn": 0.8, "fail": None, "direction": "below"}
    assert "coverage" in lenient.summary
    # The FD-ratio warning needs both a high ratio and an FD above fd_warn_min.
    only_fd = {name: None for name in fidelity.THRESHOLD_DEFAULTS if name not in ("fd_ratio_warn", "fd_warn_min")}
    assert fidelity.run(noisy, reference, {**only_fd, "fd_warn_min": 1e6}).status == Status.PASS
    assert fidelity.run(noisy, reference, {**only_fd, "fd_warn_min": 0.0}).status == Status.WARN


def test_every_setting_is_declared_with_words_and_bounds() -> None:
    for name, setting in fidelity.THRESHOLDS.items():
        assert name in fidelity.DEFAULTS, name
        assert setting.label and setting.help, name
        assert setting.check(name, fidelity.DEFAULTS[name]) == fidelity.DEFAULTS[name]
    # Compute settings never reach the form.
    for name in ("seed", "n_bootstrap", "ks_max_pixels", "prdc_max_per_side", "kid_n_subsets", "fd_eps"):
        assert name not in fidelity.THRESHOLDS
    assert {value for value, _ in fidelity.THRESHOLDS["intensity_scale"].choices} == {
        "auto",
        "hu",
        "quantitative",
        "relative",
    }
    for name in ("w1_hist", "w1_ratio", "w1_excess", "fd", "coverage", "precision", "units"):
        assert fidelity.METRIC_LABELS[name]
    # A ratio threshold under 1 would fail real data that is as close as real halves are to each other.
    with pytest.raises(ValueError, match="Intensity W1 ratio, warn above"):
        fidelity.resolve_params({"w1_ratio_warn": 0.5})


def test_rules_can_be_switched_off(noisy: ImageSet, reference: ImageSet) -> None:
    off = {name: None for name in fidelity.THRESHOLD_DEFAULTS}
    assert fidelity.run(noisy, reference, off).status == Status.PASS


@pytest.mark.parametrize(
    "params",
    [
        {"colour": 1},
        {"seed": "0"},
        {"k": 0},
        {"n_bootstrap": -1},
        {"coverage_warn": float("nan")},
        {"k": True},
        {"coverage_warn": 1.5},
        {"intensity_scale": "absolute"},
        {"window_width": 0.0},
        {"hu_w1_fail": "50"},
    ],
)
def test_malformed_params_are_refused(params: dict, same: ImageSet, reference: ImageSet) -> None:
    with pytest.raises(ValueError):
        fidelity.run(same, reference, params)


def test_result_envelope_and_charts(same: ImageSet, reference: ImageSet, same_result: AuditResult) -> None:
    r = same_result
    assert r.audit == "fidelity"
    assert r.code_version == ENGINE_VERSION
    assert r.params == fidelity.DEFAULTS
    assert r.inputs["synthetic_digest"] == same.digest()
    assert r.inputs["reference_digest"] == reference.digest()
    assert r.inputs["n_synthetic"] == r.inputs["n_reference"] == 24
    assert {"intensity", "features", "frechet", "kid", "prdc", "projection", "total"} <= set(r.timings)
    json.dumps(r.as_dict(), allow_nan=False)  # JSON-safe, no NaN or infinity
    expected_metrics = [
        *("w1_hist", "w1_baseline_split", "w1_ratio", "ks_D", "ks_D_baseline", "per_image_mean_ks_D"),
        *("per_image_std_ks_D", "foreground_frac_ks_D", "feature_set", "n_features_used", "fd", "fd_ci_low"),
        *("fd_ci_high", "fd_baseline_split", "fd_ratio", "kid_mean", "kid_std", "kid_baseline_mean"),
        *("precision", "recall", "density", "coverage", "precision_baseline", "recall_baseline"),
        *("density_baseline", "coverage_baseline", "n_synthetic_used", "n_reference_used", "n_dropped_blank"),
    ]
    assert set(expected_metrics) <= set(r.metrics)
    assert all(r.metrics[name] is not None for name in expected_metrics)
    assert any("not an Inception (FID)" in caveat for caveat in r.caveats)

    charts = r.charts
    assert len(charts["intensity_bins"]) == 64
    assert charts["intensity_bins"][0] == pytest.approx(1 / 128, abs=1e-4)
    for side in ("synthetic", "reference"):
        assert len(charts[f"intensity_{side}"]) == 64
        assert sum(charts[f"intensity_{side}"]) == pytest.approx(1, abs=1e-3)
        assert len(charts["projection"][side]) == 24
        assert all(len(point) == 2 for point in charts["projection"][side])
    assert charts["projection"]["method"] == "PCA of z-scored rad-lite-35 features"
    rows = {row["metric"]: row for row in charts["metrics_table"]}
    assert set(rows) >= {"w1_hist", "ks_D", "fd", "kid_mean", "precision", "recall", "density", "coverage"}
    assert rows["fd"]["low"] == round(r.metrics["fd_ci_low"], 4)
    assert rows["fd"]["baseline"] == round(r.metrics["fd_baseline_split"], 4)
    assert rows["coverage"]["low"] is None
    numbers = [v for row in charts["metrics_table"] for v in row.values() if isinstance(v, float)]
    numbers += charts["intensity_reference"] + [c for point in charts["projection"]["reference"] for c in point]
    assert all(round(v, 4) == v for v in numbers)


def test_projection_is_pca_of_the_joint_z_scores(same: ImageSet, reference: ImageSet, same_result: AuditResult) -> None:
    f_syn = features.extract_many([i.pixels for i in same.usable])
    f_ref = features.extract_many([i.pixels for i in reference.usable])
    joint = np.vstack([f_syn, f_ref])
    sd = joint.std(axis=0)
    z = (joint[:, sd > 1e-9] - joint[:, sd > 1e-9].mean(axis=0)) / sd[sd > 1e-9]
    first_axis_variance = np.linalg.svd(z - z.mean(axis=0), compute_uv=False)[0] ** 2 / len(z)
    projected = np.array(same_result.charts["projection"]["synthetic"] + same_result.charts["projection"]["reference"])
    assert projected[:, 0].var() == pytest.approx(first_axis_variance, rel=1e-3)
    assert abs(np.corrcoef(projected.T)[0, 1]) < 1e-3  # principal axes are uncorrelated


def test_reruns_are_identical_and_the_seed_matters(
    same: ImageSet, reference: ImageSet, same_result: AuditResult
) -> None:
    again = fidelity.run(same, reference).as_dict()
    first = same_result.as_dict()
    first.pop("timings")
    again.pop("timings")
    assert again == first
    other = fidelity.run(same, reference, {"seed": 1})
    assert other.metrics["fd_baseline_split"] != same_result.metrics["fd_baseline_split"]
    assert other.metrics["fd"] == same_result.metrics["fd"]  # no randomness in the point estimate


def test_precomputed_features_give_the_same_result(
    same: ImageSet, reference: ImageSet, same_result: AuditResult
) -> None:
    given = (
        features.extract_many([i.pixels for i in same.usable]),
        features.extract_many([i.pixels for i in reference.usable]),
    )
    result = fidelity.run(same, reference, features=given)
    assert result.metrics == same_result.metrics
    with pytest.raises(ValueError, match="synthetic features have shape"):
        fidelity.run(same, reference, features=(given[0][:-1], given[1]))
    with pytest.raises(ValueError, match="reference features have shape"):
        fidelity.run(same, reference, features=(given[0], given[1][:, :34]))


# ----------------------------------------------------------------------------- small and blank sets


def test_a_single_real_ct_slice_is_not_computable(reference: ImageSet) -> None:
    result = fidelity.run(image_set("synthetic", [ct_small()]), reference)
    assert result.status == Status.NOT_COMPUTABLE
    assert "1 non-blank synthetic" in result.reason
    assert "at least 2 non-blank synthetic and 4 non-blank reference images" in result.needed
    assert result.inputs["n_synthetic"] == 1
    assert result.code_version == ENGINE_VERSION
    json.dumps(result.as_dict(), allow_nan=False)


def test_blank_images_are_dropped_and_counted(same: ImageSet, epi: list[tuple[int, np.ndarray]]) -> None:
    blanks = [np.zeros((64, 64)), np.full((64, 64), 7.0), np.full((64, 64), -3.0)]
    only_blank = fidelity.run(same, image_set("reference", blanks))
    assert only_blank.status == Status.NOT_COMPUTABLE
    assert "3 blank" in only_blank.reason
    assert only_blank.inputs["n_dropped_blank_reference"] == 3

    mixed = image_set("reference", [a for z, a in epi if z % 2 == 1] + blanks)
    result = fidelity.run(same, mixed)
    assert result.status == Status.PASS
    assert result.metrics["n_dropped_blank"] == 3
    assert result.metrics["n_reference_used"] == 24


def test_too_few_reference_images_for_a_baseline(same: ImageSet, epi: list[tuple[int, np.ndarray]]) -> None:
    small = image_set("reference", [epi[1][1], epi[9][1], epi[27][1]])
    result = fidelity.run(same, small)
    m = result.metrics
    assert result.status != Status.NOT_COMPUTABLE
    for name in ("w1_baseline_split", "w1_ratio", "fd_baseline_split", "fd_ratio", "coverage_baseline"):
        assert m[name] is None, name
    for name in ("w1_hist", "ks_D", "fd", "kid_mean", "precision", "coverage"):
        assert m[name] is not None, name
    assert m["prdc_k"] == 2
    text = " ".join(result.caveats)
    assert "need at least 4" in text
    assert "k = 2 instead of 5" in text
    assert "w1_ratio, fd_ratio were not applied" in text
    json.dumps(result.as_dict(), allow_nan=False)


def test_the_smallest_computable_sets(epi: list[tuple[int, np.ndarray]]) -> None:
    two = image_set("synthetic", [epi[0][1], epi[2][1]])
    four = image_set("reference", [epi[1][1], epi[3][1], epi[5][1], epi[7][1]])
    result = fidelity.run(two, four)
    m = result.metrics
    assert result.status in (Status.PASS, Status.WARN, Status.FAIL)
    assert m["prdc_k"] == 1
    assert m["prdc_k_baseline"] == 1
    assert m["fd_ratio"] is not None
    assert all(np.isfinite(v) for v in m.values() if isinstance(v, float))
    json.dumps(result.as_dict(), allow_nan=False)


def test_caps_sample_the_larger_sets(same: ImageSet, reference: ImageSet) -> None:
    result = fidelity.run(same, reference, {"prdc_max_per_side": 10, "projection_max_points": 5})
    assert len(result.charts["projection"]["synthetic"]) == 5
    assert len(result.charts["projection"]["reference"]) == 5
    assert result.metrics["prdc_n_per_side"] == 10
    assert any("samples of 10 synthetic and 10 reference images (of 24 and 24" in caveat for caveat in result.caveats)


def test_baseline_subsets_are_disjoint_and_sized_like_the_synthetic_set() -> None:
    split = fidelity._baseline_split(n_syn=5, n_ref=40, seed=0)
    assert split is not None
    a, b = split
    assert len(a) == len(b) == 5
    assert not set(a) & set(b)
    halves = fidelity._baseline_split(n_syn=100, n_ref=41, seed=0)
    assert halves is not None
    assert len(halves[0]) == len(halves[1]) == 20
    assert fidelity._baseline_split(n_syn=100, n_ref=3, seed=0) is None
    assert fidelity._baseline_split(n_syn=1, n_ref=100, seed=0) is None


def test_a_small_synthetic_set_is_compared_at_its_own_size(
    epi: list[tuple[int, np.ndarray]], reference: ImageSet
) -> None:
    # 8 real slices against 24: coverage computed 8 against 24 would be low by construction.
    small = image_set("synthetic", [a for z, a in epi if z % 6 == 0])
    result = fidelity.run(small, reference)
    m = result.metrics
    assert m["baseline_subset_size"] == 8
    assert m["prdc_n_per_side"] == 8
    assert result.status == Status.PASS, result.summary
    assert any("equal-sized seeded samples of 8 synthetic and 8 reference" in c for c in result.caveats)


# ----------------------------------------------------------------------------- quantitative intensities

CT_SOURCES = ("CT_small.dcm", "693_J2KI.dcm", "J2K_pixelrep_mismatch.dcm")


@functools.cache
def ct_slices_hu() -> tuple[np.ndarray, ...]:
    """Three real CT slices of three patients in HU: pydicom's chest (128 px) and two heads (512 px,
    taken every second pixel to 256)."""
    slices = []
    for name in CT_SOURCES:
        path = get_testdata_file(name, download=False)
        assert path is not None
        ds = pydicom.dcmread(path)
        hu = apply_modality_lut(ds.pixel_array, ds).astype(np.float64)
        slices.append(hu if hu.shape[0] <= 128 else hu[::2, ::2])
    return tuple(slices)


def ct_crops(parity: int) -> list[np.ndarray]:
    """Crops of 60 % of the side on a 6 x 6 grid of each slice, alternate grid cells by parity: the two
    parities are a clean real split (same patients and anatomy, no identical crop)."""
    crops = []
    for hu in ct_slices_hu():
        side = int(0.6 * hu.shape[0])
        stride = (hu.shape[0] - side) // 5
        for i, j in itertools.product(range(6), range(6)):
            if (i + j) % 2 == parity:
                crops.append(hu[i * stride : i * stride + side, j * stride : j * stride + side])
    return crops


def hu_set(role: str, arrays: list[np.ndarray], unit: str = "HU") -> ImageSet:
    """Through the readers' pixel path, as a DICOM CT would arrive (unit "HU") or a file without a unit."""
    return images_from_arrays(role, arrays, None, Preprocessing(), unit=unit)


def linear(arrays: list[np.ndarray], gain: float, offset: float) -> list[np.ndarray]:
    return [gain * a + offset for a in arrays]


@pytest.fixture(scope="module")
def ct_reference() -> ImageSet:
    return hu_set("reference", ct_crops(0))


@pytest.fixture(scope="module")
def ct_clean_result(ct_reference: ImageSet) -> AuditResult:
    return fidelity.run(hu_set("synthetic", ct_crops(1)), ct_reference)


def test_a_clean_real_ct_split_passes_in_hu(ct_clean_result: AuditResult) -> None:
    m = ct_clean_result.metrics
    assert ct_clean_result.status == Status.PASS, ct_clean_result.summary
    assert (m["intensity_scale"], m["units"]) == ("quantitative", "HU")
    assert (m["window_low"], m["window_high"]) == (-1024.0, 3072.0)
    assert m["w1_excess"] < 20
    assert "absolute values in HU" in ct_clean_result.summary
    # The HU rule is reported where it applies, and only there.
    assert ct_clean_result.thresholds["w1_excess"] == {"warn": 20.0, "fail": 50.0, "direction": "above", "unit": "HU"}
    chart = ct_clean_result.charts
    assert chart["intensity_unit"] == "HU"
    assert chart["intensity_bins"][0] == pytest.approx(-1024 + 4096 / 128, abs=1e-3)


@pytest.mark.parametrize(("gain", "offset"), [(1.25, 150.0), (0.75, 100.0), (1.0, 200.0)])
def test_a_linear_change_on_ct_fails(
    gain: float, offset: float, ct_reference: ImageSet, ct_clean_result: AuditResult
) -> None:
    result = fidelity.run(hu_set("synthetic", linear(ct_crops(1), gain, offset)), ct_reference)
    m = result.metrics
    assert result.status == Status.FAIL, result.summary
    assert m["units"] == "HU"
    assert m["w1_excess"] > 50
    assert m["w1_null_p_value"] < 0.01
    assert "HU" in result.summary
    # The shift shows in the per-image means too, which the relative scale normalises away.
    assert m["per_image_mean_ks_D"] > ct_clean_result.metrics["per_image_mean_ks_D"]


def test_an_hu_offset_of_100_on_ct_is_caught(ct_reference: ImageSet) -> None:
    result = fidelity.run(hu_set("synthetic", linear(ct_crops(1), 1.0, 100.0)), ct_reference)
    assert result.status in (Status.WARN, Status.FAIL), result.summary
    assert result.metrics["w1_excess"] > 20
    assert "beyond the real-vs-real one" in result.summary


def test_the_hu_rule_sits_above_what_real_samples_show(ct_reference: ImageSet, ct_clean_result: AuditResult) -> None:
    m = ct_clean_result.metrics
    # Two real halves of these three patients differ by tens of HU through anatomy alone; the rule
    # starts above the 95th percentile of that, so a clean sample is far from it.
    assert m["w1_null_q95"] > m["w1_hist"]
    assert m["w1_excess"] < 0
    assert m["w1_null_p_value"] > 0.5


def test_relative_intensities_keep_todays_behaviour(
    ct_reference: ImageSet, same: ImageSet, reference: ImageSet, same_result: AuditResult
) -> None:
    shifted = linear(ct_crops(1), 1.25, 150.0)
    # The same CT values without a unit (or with the scale set to relative) are compared per image:
    # a global linear change is invisible there, as before.
    unitless = fidelity.run(hu_set("synthetic", shifted, unit=""), hu_set("reference", ct_crops(0), unit=""))
    forced = fidelity.run(hu_set("synthetic", shifted), ct_reference, {"intensity_scale": "relative"})
    for result in (unitless, forced):
        assert result.status == Status.PASS, result.summary
        assert (result.metrics["intensity_scale"], result.metrics["units"]) == ("relative", "relative")
        assert result.metrics["w1_excess"] is None
        assert "w1_excess" not in result.thresholds
        assert "relative scale" in result.summary
    assert unitless.metrics["w1_hist"] == pytest.approx(forced.metrics["w1_hist"])
    # Real MR (EPI) slices carry no unit: auto stays relative, and a linear change still passes.
    mr_shifted = image_set("synthetic", [1.25 * a + 150 for z, a in _epi_slices() if z % 2 == 0])
    result = fidelity.run(mr_shifted, reference)
    assert result.status == Status.PASS
    assert result.metrics["units"] == "relative"
    assert result.metrics["w1_hist"] == pytest.approx(same_result.metrics["w1_hist"], abs=1e-6)


def _epi_slices() -> list[tuple[int, np.ndarray]]:
    volume = np.asanyarray(nibabel.load(EXAMPLE4D).dataobj).astype(np.float64)
    return [(z, volume[:, :, z, t]) for t in range(2) for z in range(volume.shape[2])]


def test_sets_with_different_units_are_compared_relatively_and_say_why(ct_reference: ImageSet) -> None:
    result = fidelity.run(hu_set("synthetic", ct_crops(1), unit=""), ct_reference)
    assert result.metrics["units"] == "relative"
    assert any("reference images HU" in caveat and "quantitative (or HU)" in caveat for caveat in result.caveats)


def test_images_without_kept_values_fall_back_to_relative(ct_reference: ImageSet) -> None:
    old = ImageSet(
        "synthetic", [], [Image(i.file, i.index, i.pixels, i.pixel_sha256, i.blank) for i in ct_reference.images]
    )
    result = fidelity.run(old, ct_reference, {"intensity_scale": "hu"})
    assert result.metrics["units"] == "relative"
    assert any("absolute values of 54 images were not kept" in caveat for caveat in result.caveats)


def test_a_declared_window_is_used(ct_reference: ImageSet) -> None:
    params = {"window_low": -200.0, "window_width": 400.0}
    result = fidelity.run(hu_set("synthetic", ct_crops(1)), ct_reference, params)
    assert (result.metrics["window_low"], result.metrics["window_high"]) == (-200.0, 200.0)
    assert result.status == Status.PASS


# ----------------------------------------------------------------------------- quantitative from files


def write_ct_dicoms(folder: Path, arrays: list[np.ndarray], **attributes: object) -> list[tuple[str, Path]]:
    """Real CT crops as CT DICOM files (CT_small's header; stored = HU + 1024 with intercept -1024)."""
    files = []
    for i, hu in enumerate(arrays):
        stored = np.round(hu + 1024).astype(np.int16)
        path = write_dicom(
            folder / f"{i:03d}.dcm", "CT_small.dcm", pixels=stored, Rows=hu.shape[0], Columns=hu.shape[1], **attributes
        )
        files.append((path.name, path))
    return files


def test_dicom_ct_is_compared_in_hu_after_its_rescale(tmp_path: Path) -> None:
    preprocessing = Preprocessing()
    reference = read_set(write_ct_dicoms(tmp_path / "ref", ct_crops(0)), "reference", preprocessing)
    clean = read_set(write_ct_dicoms(tmp_path / "clean", ct_crops(1)), "synthetic", preprocessing)
    assert {image.unit for image in reference.images} == {"HU"}
    clean_result = fidelity.run(clean, reference)
    assert clean_result.status == Status.PASS, clean_result.summary
    assert clean_result.metrics["units"] == "HU"
    # The same stored pixels with RescaleSlope 1.25 and RescaleIntercept -1130: every value reads
    # 1.25 HU + 150, a calibration error that only the header carries.
    offset = read_set(
        write_ct_dicoms(tmp_path / "offset", ct_crops(1), RescaleSlope=1.25, RescaleIntercept=-1130),
        "synthetic",
        preprocessing,
    )
    assert [i.pixel_sha256 for i in offset.images] == [i.pixel_sha256 for i in clean.images]
    offset_result = fidelity.run(offset, reference)
    assert offset_result.status == Status.FAIL, offset_result.summary
    assert offset_result.metrics["w1_excess"] > 50
    # Labelled MR instead, the same files are relative intensities: the offset is not visible.
    mr = read_set(
        write_ct_dicoms(tmp_path / "mr", ct_crops(1), RescaleIntercept=-924, Modality="MR"), "synthetic", preprocessing
    )
    mr_reference = read_set(
        write_ct_dicoms(tmp_path / "mr_ref", ct_crops(0), Modality="MR"), "reference", preprocessing
    )
    mr_result = fidelity.run(mr, mr_reference)
    assert mr_result.status == Status.PASS
    assert mr_result.metrics["units"] == "relative"


def test_the_researchers_setting_makes_nifti_and_png_quantitative(tmp_path: Path) -> None:
    preprocessing = Preprocessing()

    def nifti_set(role: str, arrays: list[np.ndarray], sidecar: dict | None = None) -> ImageSet:
        files = [
            write_nifti(tmp_path / role / f"{i:03d}.nii", data=np.round(a).astype(np.int16), flag=None)
            for i, a in enumerate(arrays)
        ]
        for path in list(files) if sidecar is not None else []:
            files.append(path.with_suffix(".json"))
            files[-1].write_text(json.dumps(sidecar))
        return read_set([(p.name, p) for p in files], role, preprocessing)

    def png_set(role: str, arrays: list[np.ndarray]) -> ImageSet:
        files = [
            write_png(tmp_path / role / f"{i:03d}.png", a.astype(np.uint16), label=None) for i, a in enumerate(arrays)
        ]
        return read_set([(p.name, p) for p in files], role, preprocessing)

    def stored(arrays: list[np.ndarray]) -> list[np.ndarray]:
        return [np.clip(np.round(a + 1024), 0, None) for a in arrays]  # 16-bit grey, HU + 1024

    shifted = linear(ct_crops(1), 1.25, 150.0)
    nifti_ref, nifti_syn = nifti_set("nifti_ref", ct_crops(0)), nifti_set("nifti_syn", shifted)
    assert fidelity.run(nifti_syn, nifti_ref).status == Status.PASS  # no unit in a NIfTI: relative
    declared = fidelity.run(nifti_syn, nifti_ref, {"intensity_scale": "hu"})
    assert declared.status == Status.FAIL, declared.summary
    assert declared.metrics["units"] == "HU"
    clean = fidelity.run(nifti_set("nifti_clean", ct_crops(1)), nifti_ref, {"intensity_scale": "hu"})
    assert clean.status == Status.PASS, clean.summary
    # A BIDS sidecar saying Modality CT declares HU by itself.
    bids = {"Modality": "CT", "SyntheticData": "YES"}
    by_sidecar = fidelity.run(nifti_set("bids_syn", shifted, bids), nifti_set("bids_ref", ct_crops(0), bids))
    assert by_sidecar.status == Status.FAIL, by_sidecar.summary
    assert by_sidecar.metrics["units"] == "HU"

    png_ref = png_set("png_ref", stored(ct_crops(0)))
    png_syn = png_set("png_syn", [np.round(1.25 * a + 150) for a in stored(ct_crops(1))])
    assert fidelity.run(png_syn, png_ref).status == Status.PASS
    # Another fixed unit: the window comes from both sets' values, and only the ratio rule applies.
    other = fidelity.run(png_syn, png_ref, {"intensity_scale": "quantitative"})
    assert other.metrics["units"] == "native units"
    assert other.metrics["w1_excess"] > 100
    assert other.metrics["w1_ratio"] > 3
    assert other.status in (Status.WARN, Status.FAIL)
    png_clean = fidelity.run(png_set("png_clean", stored(ct_crops(1))), png_ref, {"intensity_scale": "quantitative"})
    assert png_clean.status == Status.PASS, png_clean.summary


def test_the_charts_say_which_intensity_scale_was_used(ct_clean_result: AuditResult, same_result: AuditResult) -> None:
    from audits.charts import figures

    def intensity_chart(result: AuditResult) -> dict:
        found = [c for c in figures("fidelity", result.as_dict()) if c.key == "fidelity-intensity"]
        assert len(found) == 1
        return {"caption": found[0].caption, "x": found[0].figure["layout"]["xaxis"]["title"]["text"]}

    hu = intensity_chart(ct_clean_result)
    assert hu["caption"].startswith("Intensity scale: quantitative, in HU.")
    assert hu["x"] == "pixel value (HU)"
    relative = intensity_chart(same_result)
    assert relative["caption"].startswith("Intensity scale: relative.")
    assert "relative" in relative["x"]
    forest = next(c for c in figures("fidelity", ct_clean_result.as_dict()) if c.key == "fidelity-metrics")
    assert "intensity W1 (HU)" in {trace["y"][0] for trace in forest.figure["data"]}


def test_a_w1_ratio_within_chance_is_reported_not_judged(ct_reference: ImageSet) -> None:
    # Lowered by 100 HU, much of these slices is air clipped at the window's -1024 floor: the shift
    # that remains is one that random relabelling of the images gives 1 time in 70 or so.
    lowered = hu_set("synthetic", linear(ct_crops(1), 1.0, -100.0))
    gated = fidelity.run(lowered, ct_reference)
    assert gated.metrics["w1_ratio"] > 3
    assert gated.metrics["w1_null_p_value"] >= 0.01
    assert "is within chance (permutation p = " in gated.summary
    ungated = fidelity.run(lowered, ct_reference, {"w1_significance": None})
    assert ungated.status in (Status.WARN, Status.FAIL)
    assert "intensity W1 ratio" in ungated.summary


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"w1_ratio_warn": 12.0}, "w1_ratio_warn"),
        ({"hu_w1_fail": 10.0}, "hu_w1_warn"),
        ({"fd_ratio_warn": 30.0, "fd_ratio_fail": 20.0}, "fd_ratio_warn"),
        ({"coverage_warn": 0.4}, "coverage_warn"),
        ({"precision_fail": 0.9}, "precision_warn"),
    ],
)
def test_a_warn_bound_beyond_its_fail_bound_is_refused_naming_both(params, named):
    """It would never warn (every value past the fail bound fails first): refused, as the form refuses it."""
    from audits.engine.fidelity.params import resolve_params

    with pytest.raises(ValueError, match=named):
        resolve_params(params)


def test_warn_and_fail_bounds_that_agree_or_are_empty_are_taken():
    from audits.engine.fidelity.params import resolve_params

    assert resolve_params({"w1_ratio_warn": 10.0, "w1_ratio_fail": 10.0})["w1_ratio_warn"] == 10.0
    assert resolve_params({"precision_fail": 0.5})["precision_fail"] == 0.5
    assert resolve_params({"coverage_fail": None, "coverage_warn": 0.1})["coverage_warn"] == 0.1
