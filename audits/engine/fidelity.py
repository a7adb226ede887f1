"""Fidelity audit: how far the synthetic set's distribution is from the reference set's.

AUDITS.md sections 1c, A6 and A7. Two families of measures, each reported beside the same
figure for two disjoint random subsets of the reference set (the real-versus-real baseline):

* intensity (A6): the 1-Wasserstein distance W1 between the pooled pixel distributions
  (256-bin histograms on [0, 1]), the Kolmogorov-Smirnov D on a pixel subsample, and KS D
  on per-image mean, standard deviation and foreground fraction;
* features (A7): on the handcrafted "rad-lite-35 v1" features (`features.py`; not FID, not
  FRD), jointly z-scored over S u R with constant features dropped: the Frechet distance
  with a bootstrap interval, KID, and precision / recall / density / coverage.

Status (defaults, all configurable through params): warn if w1_ratio > 3, or fd_ratio > 5
while fd > 5, or coverage < 0.8, or precision < 0.7; fail if w1_ratio > 10, or
fd_ratio > 20, or coverage < 0.5. A ratio is a value divided by its baseline.

Every random choice (baseline split, subsamples, bootstrap, KID subsets) draws from its own
stream derived from params["seed"], so a rerun on the same sets gives the same numbers,
and changing one step's size does not move another step's numbers.

The baseline compares two disjoint random subsets of the reference set with
min(N, floor(M/2)) images each (the two halves when N >= M/2), so that it carries at least
the small-sample bias of the synthetic-versus-reference figure (N against M images): a
ratio near 1 means "as far from the reference as real images are from each other", and the
sampling noise of small sets leans the ratios towards leniency. Precision, recall, density
and coverage compare equal-sized samples (min(N, M, cap) per side), because recall and
coverage depend on the ratio of the two sample sizes.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from scipy import linalg, stats

from audits.engine import ENGINE_VERSION
from audits.engine import features as rad
from audits.engine.types import FLAGGED_LIMIT, AuditResult, Image, ImageSet, Status, not_computable

AUDIT = "fidelity"

INTENSITY_BINS = 256
CHART_BINS = 64

# Threshold parameters may be None to switch a rule off.
THRESHOLD_DEFAULTS: dict[str, float | None] = {
    "w1_ratio_warn": 3.0,
    "w1_ratio_fail": 10.0,
    "fd_ratio_warn": 5.0,
    "fd_ratio_fail": 20.0,
    "fd_warn_min": 5.0,  # fd_ratio warns only while fd itself is above this
    "coverage_warn": 0.8,
    "coverage_fail": 0.5,
    "precision_warn": 0.7,
    "precision_fail": None,
}
INT_DEFAULTS: dict[str, int] = {
    "seed": 0,
    "n_bootstrap": 50,
    "k": 5,
    "prdc_max_per_side": 5000,
    "kid_subset_size": 1000,
    "kid_n_subsets": 100,
    "ks_max_pixels": 200_000,
    "projection_max_points": 2000,
}
FLOAT_DEFAULTS: dict[str, float] = {
    "foreground_threshold": 0.1,  # a pixel above this (on the [0, 1] scale) is foreground
    "fd_eps": 1e-6,  # added to the covariance diagonals when sqrtm needs it
}
DEFAULTS: dict[str, Any] = {**INT_DEFAULTS, **FLOAT_DEFAULTS, **THRESHOLD_DEFAULTS}

# One random stream per step: see the module docstring.
_STREAMS = {"split": 1, "ks": 2, "bootstrap": 3, "kid": 4, "kid_baseline": 5, "prdc": 6, "projection": 7}

NEEDED = "at least 2 non-blank synthetic and 4 non-blank reference images (2 per reference half for the baselines)"
NOT_FID = (
    "Feature metrics use rad-lite-35 v1, handcrafted radiomics-style statistics, not an Inception (FID) or "
    "RadImageNet (FRD) embedding; FD and KID values are comparable only between runs with the same feature set."
)


# --------------------------------------------------------------------------- parameters


def resolve_params(params: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults overlaid with `params`; an unknown name or a malformed value is an error."""
    params = dict(params or {})
    unknown = sorted(set(params) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown fidelity parameter(s) {unknown}; known: {sorted(DEFAULTS)}")
    resolved = dict(DEFAULTS)
    for name, value in params.items():
        if name in INT_DEFAULTS:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"fidelity parameter {name} must be a non-negative integer, got {value!r}")
        elif value is None and name in THRESHOLD_DEFAULTS:
            pass
        elif isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
            raise ValueError(f"fidelity parameter {name} must be a finite number, got {value!r}")
        resolved[name] = value
    for name in ("k", "kid_subset_size"):
        if resolved[name] < 1:
            raise ValueError(f"fidelity parameter {name} must be at least 1")
    if resolved["prdc_max_per_side"] < 2 or resolved["kid_subset_size"] < 2:
        raise ValueError("prdc_max_per_side and kid_subset_size must be at least 2")
    return resolved


def thresholds_of(params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        "w1_ratio": {"warn": params["w1_ratio_warn"], "fail": params["w1_ratio_fail"], "direction": "above"},
        "fd_ratio": {
            "warn": params["fd_ratio_warn"],
            "fail": params["fd_ratio_fail"],
            "direction": "above",
            "warn_also_needs": {"fd": params["fd_warn_min"]},
        },
        "coverage": {"warn": params["coverage_warn"], "fail": params["coverage_fail"], "direction": "below"},
        "precision": {"warn": params["precision_warn"], "fail": params["precision_fail"], "direction": "below"},
    }


def _rng(seed: int, step: str) -> np.random.Generator:
    return np.random.default_rng([seed, _STREAMS[step]])


# --------------------------------------------------------------------------- intensity


def bin_centres(bins: int = INTENSITY_BINS) -> np.ndarray:
    return (np.arange(bins) + 0.5) / bins


def pixel_histograms(images: list[np.ndarray], bins: int = INTENSITY_BINS) -> np.ndarray:
    """Counts (n, bins) of each image's pixels on [0, 1]; values outside are clipped."""
    counts = np.zeros((len(images), bins), dtype=np.int64)
    for row, pixels in enumerate(images):
        index = np.minimum((np.clip(pixels.ravel(), 0.0, 1.0) * bins).astype(np.intp), bins - 1)
        counts[row] = np.bincount(index, minlength=bins)
    return counts


def histogram_w1(counts_a: np.ndarray, counts_b: np.ndarray) -> float:
    """W1 between two distributions on [0, 1] given as histograms over equal bins (mass at the bin centres).

    It differs from W1 on the raw values by at most half a bin width (1/512 for 256 bins).
    """
    centres = bin_centres(len(counts_a))
    return float(stats.wasserstein_distance(centres, centres, counts_a, counts_b))


def sample_pixels(images: list[np.ndarray], n: int, rng: np.random.Generator) -> np.ndarray:
    """n pixels drawn without replacement from the pooled images (all of them if there are fewer)."""
    sizes = np.array([pixels.size for pixels in images], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    total = int(offsets[-1])
    if total <= n:
        return np.concatenate([pixels.ravel() for pixels in images]).astype(np.float64)
    flat = np.sort(rng.choice(total, size=n, replace=False))
    bounds = np.searchsorted(flat, offsets)
    out = np.empty(n, dtype=np.float64)
    for i, pixels in enumerate(images):
        out[bounds[i] : bounds[i + 1]] = pixels.ravel()[flat[bounds[i] : bounds[i + 1]] - offsets[i]]
    return out


def ks_d(a: np.ndarray, b: np.ndarray) -> float:
    return float(stats.ks_2samp(a, b).statistic)


def per_image_stats(images: list[np.ndarray], foreground_threshold: float) -> np.ndarray:
    """(n, 3): mean, standard deviation and foreground fraction of each image."""
    return np.array(
        [[float(p.mean()), float(p.std()), float(np.mean(p > foreground_threshold))] for p in images],
        dtype=np.float64,
    ).reshape(len(images), 3)


# --------------------------------------------------------------------------- feature-space distances


def frechet_distance(x: np.ndarray, y: np.ndarray, eps: float = 1e-6) -> float:
    """Frechet distance between Gaussians fitted to the rows of x and y.

    FD = |mu_x - mu_y|^2 + Tr(S_x + S_y - 2 (S_x S_y)^(1/2)), covariances with ddof=1.
    `scipy.linalg.sqrtm` of S_x S_y can come back complex with tiny imaginary parts (the
    product is similar to a positive semi-definite matrix, so the exact root is real) or
    inaccurate or non-finite when a covariance is singular (fewer rows than features). If the
    root is not trustworthy (`_sqrtm_product`), both
    covariances get eps * I added, consistently in the traces too, so FD(X, X) stays 0;
    then the real part is taken. Round-off can leave a tiny negative total; it is clipped to 0.
    """
    if len(x) < 2 or len(y) < 2:
        raise ValueError("the Frechet distance needs at least 2 rows per side")
    mu_x, mu_y = x.mean(axis=0), y.mean(axis=0)
    cov_x = np.atleast_2d(np.cov(x, rowvar=False))
    cov_y = np.atleast_2d(np.cov(y, rowvar=False))
    diff = mu_x - mu_y
    root = _sqrtm_product(cov_x, cov_y)
    if root is None:
        offset = eps * np.eye(cov_x.shape[0])
        cov_x, cov_y = cov_x + offset, cov_y + offset
        root = _sqrtm_product(cov_x, cov_y, strict=False)
    assert root is not None  # noqa: S101 - strict=False always returns a matrix
    value = float(diff @ diff + np.trace(cov_x) + np.trace(cov_y) - 2.0 * np.trace(root))
    return max(value, 0.0)


def _sqrtm_product(a: np.ndarray, b: np.ndarray, strict: bool = True) -> np.ndarray | None:
    """Real part of sqrtm(a @ b); with strict, None when the root is not trustworthy.

    Untrustworthy: non-finite, an imaginary part above 1e-3 of the largest real entry, or a
    relative residual |X X - A|_F / |A|_F above 1e-6 (sqrtm of a singular product).
    """
    product = a @ b
    with warnings.catch_warnings():
        # Singular products are expected with fewer images than features; the checks below decide.
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        root = np.asarray(linalg.sqrtm(product))
    if strict:
        if not np.isfinite(root).all():
            return None
        scale = max(1.0, float(np.abs(root.real).max()))
        if np.iscomplexobj(root) and np.abs(root.imag).max() > 1e-3 * scale:
            return None
        norm = float(np.linalg.norm(product))
        if norm > 0 and float(np.linalg.norm(root @ root - product)) > 1e-6 * norm:
            return None
    return np.nan_to_num(root.real)


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """KID's kernel k(x, y) = (x.y / d + 1)^3."""
    kernel = x @ y.T
    kernel /= x.shape[1]
    kernel += 1.0
    return kernel * kernel * kernel  # three multiplications are several times faster than ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with the cubic polynomial kernel (diagonals of k(x, x) and k(y, y) left out)."""
    m, n = len(x), len(y)
    k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    term_x = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    term_y = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(term_x + term_y - 2.0 * k_xy.mean())


def kid(
    x: np.ndarray, y: np.ndarray, subset_size: int, n_subsets: int, rng: np.random.Generator
) -> tuple[float, float, int]:
    """KID (Binkowski et al. 2018): mean and population sd of MMD^2 over random subsets, and the subset size.

    Each subset takes m = min(subset_size, len(x), len(y)) rows of each side without
    replacement. When m is the size of both sides every subset is the whole of both sets,
    so MMD^2 is computed once and the sd is 0.
    """
    m = min(subset_size, len(x), len(y))
    if m < 2 or n_subsets < 1:
        raise ValueError("KID needs subsets of at least 2 rows per side and at least one subset")
    if m == len(x) == len(y):
        return mmd2_unbiased(x, y), 0.0, m
    values = [
        mmd2_unbiased(x[rng.choice(len(x), m, replace=False)], y[rng.choice(len(y), m, replace=False)])
        for _ in range(n_subsets)
    ]
    return float(np.mean(values)), float(np.std(values)), m


def pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances (len(a), len(b)) through |a|^2 + |b|^2 - 2 a.b, clipped at 0."""
    squared = (a * a).sum(axis=1)[:, None] + (b * b).sum(axis=1)[None, :] - 2.0 * (a @ b.T)
    return np.sqrt(np.maximum(squared, 0.0))


_BLOCK = 1024  # rows per block: a block of distances stays below 1024 x 5000 x 8 B = 40 MB


def knn_radii(x: np.ndarray, k: int) -> np.ndarray:
    """Distance of each row of x to its k-th nearest other row (the row itself is at distance 0)."""
    radii = np.empty(len(x))
    for start in range(0, len(x), _BLOCK):
        block = pairwise_distances(x[start : start + _BLOCK], x)
        radii[start : start + _BLOCK] = np.partition(block, k, axis=1)[:, k]
    return radii


def prdc_scan(real: np.ndarray, fake: np.ndarray, k: int) -> dict[str, Any]:
    """Precision, recall, density and coverage (Naeem et al., ICML 2020) by brute force.

    B(x, r) is the closed ball around x with radius r = distance to x's k-th nearest
    neighbour within its own set. With M real and N fake rows:
    precision = share of fakes inside some real ball; recall = share of reals inside some
    fake ball; density = (1 / kN) * sum over fakes of the number of real balls holding them;
    coverage = share of reals whose ball holds at least one fake. Also returns, per fake,
    the smallest d(fake, real) / radius(real) (above 1: outside every real ball) and the
    real row that attains it.
    """
    real_radii, fake_radii = knn_radii(real, k), knn_radii(fake, k)
    balls_holding = np.zeros(len(fake), dtype=np.int64)
    real_in_fake_ball = np.zeros(len(real), dtype=bool)
    real_covered = np.zeros(len(real), dtype=bool)
    best_ratio = np.full(len(fake), np.inf)
    best_real = np.zeros(len(fake), dtype=np.intp)
    for start in range(0, len(real), _BLOCK):
        stop = min(start + _BLOCK, len(real))
        dist = pairwise_distances(real[start:stop], fake)  # (block, N)
        radius = real_radii[start:stop, None]
        inside = dist <= radius
        balls_holding += inside.sum(axis=0)
        real_in_fake_ball[start:stop] = (dist <= fake_radii[None, :]).any(axis=1)
        real_covered[start:stop] = inside.any(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = dist / radius
        ratio[np.isnan(ratio)] = 0.0  # 0 / 0: a fake exactly on a zero-radius real point
        block_best = ratio.argmin(axis=0)
        block_ratio = ratio[block_best, np.arange(len(fake))]
        better = block_ratio < best_ratio
        best_ratio[better] = block_ratio[better]
        best_real[better] = block_best[better] + start
    return {
        "precision": float(np.mean(balls_holding > 0)),
        "recall": float(np.mean(real_in_fake_ball)),
        "density": float(balls_holding.sum() / (k * len(fake))),
        "coverage": float(np.mean(real_covered)),
        "fake_inside": balls_holding > 0,
        "fake_ratio": best_ratio,
        "fake_nearest_real": best_real,
    }


def prdc(real: np.ndarray, fake: np.ndarray, k: int = 5) -> dict[str, float]:
    """The four PRDC numbers; see `prdc_scan`."""
    scan = prdc_scan(real, fake, k)
    return {name: scan[name] for name in ("precision", "recall", "density", "coverage")}


# --------------------------------------------------------------------------- the audit


class _Clock:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - started, 4)


def run(
    synthetic: ImageSet,
    reference: ImageSet,
    params: dict[str, Any] | None = None,
    features: tuple[np.ndarray, np.ndarray] | None = None,
) -> AuditResult:
    """Audit the distribution shift from `reference` to `synthetic` (module docstring).

    `features`, when given, are the rad-lite feature matrices of `synthetic.usable` and
    `reference.usable` in that order (computed by chunk tasks); otherwise they are extracted here.
    """
    started = time.perf_counter()
    p = resolve_params(params)
    syn, ref = synthetic.usable, reference.usable
    n_blank = (len(synthetic.images) - len(syn), len(reference.images) - len(ref))
    inputs = {
        "n_synthetic": len(synthetic.images),
        "n_reference": len(reference.images),
        "n_synthetic_usable": len(syn),
        "n_reference_usable": len(ref),
        "n_dropped_blank": sum(n_blank),
        "n_dropped_blank_synthetic": n_blank[0],
        "n_dropped_blank_reference": n_blank[1],
        "synthetic_digest": synthetic.digest(),
        "reference_digest": reference.digest(),
        "image_shapes": [list(shape) for shape in sorted({image.pixels.shape for image in syn + ref})],
    }
    envelope: dict[str, Any] = {
        "inputs": inputs,
        "params": p,
        "thresholds": thresholds_of(p),
        "code_version": ENGINE_VERSION,
    }
    if len(syn) < 2 or len(ref) < 2:
        reason = (
            f"{len(syn)} non-blank synthetic and {len(ref)} non-blank reference images "
            f"({n_blank[0]} and {n_blank[1]} blank ones dropped)"
        )
        result = not_computable(AUDIT, reason, NEEDED, **envelope)
        result.timings = {"total": round(time.perf_counter() - started, 4)}
        return result
    feature_matrices = _checked_features(features, len(syn), len(ref))
    audit = _Audit(syn, ref, p)
    audit.metrics["n_dropped_blank"] = sum(n_blank)
    audit.intensity()
    audit.feature_metrics(feature_matrices)
    status, summary = _judge(audit.metrics, p, audit.caveats)
    audit.timings["total"] = round(time.perf_counter() - started, 4)
    return AuditResult(
        audit=AUDIT,
        status=status,
        summary=summary,
        metrics=audit.metrics,
        flagged=audit.flagged,
        charts=audit.charts,
        caveats=audit.caveats,
        timings=audit.timings,
        **envelope,
    )


def _checked_features(
    features: tuple[np.ndarray, np.ndarray] | None, n_syn: int, n_ref: int
) -> tuple[np.ndarray, np.ndarray] | None:
    if features is None:
        return None
    syn, ref = (np.asarray(matrix, dtype=np.float64) for matrix in features)
    for side, matrix, n in (("synthetic", syn, n_syn), ("reference", ref, n_ref)):
        if matrix.shape != (n, rad.N_FEATURES):
            raise ValueError(f"{side} features have shape {matrix.shape}, expected {(n, rad.N_FEATURES)}")
        if not np.isfinite(matrix).all():
            raise ValueError(f"{side} features contain non-finite values")
    return syn, ref


class _Audit:
    """The state of one run: inputs, the reference split, and what each step adds."""

    def __init__(self, syn: list[Image], ref: list[Image], params: dict[str, Any]) -> None:
        self.syn, self.ref, self.p = syn, ref, params
        self.seed = int(params["seed"])
        self.metrics: dict[str, Any] = {
            "n_synthetic_used": len(syn),
            "n_reference_used": len(ref),
        }
        self.caveats: list[str] = []
        self.charts: dict[str, Any] = {}
        self.flagged: list[dict[str, Any]] = []
        self.clock = _Clock()
        self.timings = self.clock.timings
        self.table: list[dict[str, Any]] = []
        self.split = _baseline_split(len(syn), len(ref), self.seed)
        if self.split is None:
            self.caveats.append(
                f"Only {len(ref)} non-blank reference images: the real-versus-real baselines need at least 4 "
                "(2 per half), so no baseline or ratio was computed and the ratio rules were not applied."
            )
        else:
            size = len(self.split[0])
            self.metrics["baseline_subset_size"] = size
            if size < 50:
                self.caveats.append(
                    f"The baselines compare two reference subsets of only {size} images each; they are noisy."
                )
        shapes = {image.pixels.shape for image in syn} | {image.pixels.shape for image in ref}
        if len(shapes) > 1:
            self.caveats.append(f"Images of different sizes {sorted(shapes)}: texture features depend on scale.")

    # ----------------------------------------------------------------------- intensity (A6)

    def intensity(self) -> None:
        with self.clock.step("intensity"):
            syn_pixels = [image.pixels for image in self.syn]
            ref_pixels = [image.pixels for image in self.ref]
            h_syn, h_ref = pixel_histograms(syn_pixels), pixel_histograms(ref_pixels)
            m = self.metrics
            m["units"] = "normalised"
            m["w1_hist"] = histogram_w1(h_syn.sum(axis=0), h_ref.sum(axis=0))
            rng = _rng(self.seed, "ks")
            n_ks = int(self.p["ks_max_pixels"])
            m["ks_D"] = ks_d(sample_pixels(syn_pixels, n_ks, rng), sample_pixels(ref_pixels, n_ks, rng))
            stats_syn = per_image_stats(syn_pixels, self.p["foreground_threshold"])
            stats_ref = per_image_stats(ref_pixels, self.p["foreground_threshold"])
            names = ("per_image_mean_ks_D", "per_image_std_ks_D", "foreground_frac_ks_D")
            for column, name in enumerate(names):
                m[name] = ks_d(stats_syn[:, column], stats_ref[:, column])
            m["w1_baseline_split"] = m["ks_D_baseline"] = None
            for name in names:
                m[f"{name}_baseline"] = None
            if self.split is not None:
                a, b = self.split
                m["w1_baseline_split"] = histogram_w1(h_ref[a].sum(axis=0), h_ref[b].sum(axis=0))
                half_a, half_b = [ref_pixels[i] for i in a], [ref_pixels[i] for i in b]
                m["ks_D_baseline"] = ks_d(sample_pixels(half_a, n_ks, rng), sample_pixels(half_b, n_ks, rng))
                for column, name in enumerate(names):
                    m[f"{name}_baseline"] = ks_d(stats_ref[a, column], stats_ref[b, column])
            m["w1_ratio"] = self._ratio("w1_hist", "w1_baseline_split")
            self.charts["intensity_bins"] = _rounded(bin_centres(CHART_BINS))
            for side, counts in (("synthetic", h_syn), ("reference", h_ref)):
                coarse = counts.sum(axis=0).reshape(CHART_BINS, -1).sum(axis=1)
                self.charts[f"intensity_{side}"] = _rounded(coarse / max(coarse.sum(), 1))
            self._row("w1_hist", baseline="w1_baseline_split")
            self._row("ks_D", baseline="ks_D_baseline")
            for name in names:
                self._row(name, baseline=f"{name}_baseline")

    def _ratio(self, value_name: str, baseline_name: str) -> float | None:
        value, baseline = self.metrics.get(value_name), self.metrics.get(baseline_name)
        if value is None or baseline is None:
            return None
        if baseline <= 0:
            self.caveats.append(
                f"{baseline_name} is 0 (the reference halves coincide), so {value_name}'s ratio is undefined."
            )
            return None
        return float(value / baseline)

    def _row(self, metric: str, baseline: str | None = None, low: str | None = None, high: str | None = None) -> None:
        def get(name: str | None) -> float | None:
            value = self.metrics.get(name) if name else None
            return None if value is None else round(float(value), 4)

        self.table.append(
            {"metric": metric, "value": get(metric), "low": get(low), "high": get(high), "baseline": get(baseline)}
        )
        self.charts["metrics_table"] = self.table

    # ----------------------------------------------------------------------- features (A7)

    def feature_metrics(self, given: tuple[np.ndarray, np.ndarray] | None) -> None:
        m = self.metrics
        m["feature_set"] = rad.FEATURE_SET
        self.caveats.append(NOT_FID)
        with self.clock.step("features"):
            if given is None:
                f_syn = rad.extract_many([image.pixels for image in self.syn])
                f_ref = rad.extract_many([image.pixels for image in self.ref])
            else:
                f_syn, f_ref = given
            z_syn, z_ref, kept = _joint_zscore(f_syn, f_ref)
        m["n_features_used"] = int(kept.sum())
        m["features_dropped_constant"] = [name for name, keep in zip(rad.FEATURE_NAMES, kept, strict=True) if not keep]
        for name in _FEATURE_METRICS:
            m[name] = None
        if not kept.any():
            self.caveats.append("Every rad-lite feature is constant over both sets: no feature metric was computed.")
            self.charts["projection"] = {"synthetic": [], "reference": [], "method": _PROJECTION_METHOD}
            return
        self._frechet(z_syn, z_ref)
        self._kid(z_syn, z_ref)
        self._prdc(z_syn, z_ref)
        with self.clock.step("projection"):
            self.charts["projection"] = _projection(z_syn, z_ref, int(self.p["projection_max_points"]), self.seed)

    def _frechet(self, z_syn: np.ndarray, z_ref: np.ndarray) -> None:
        m, eps = self.metrics, float(self.p["fd_eps"])
        with self.clock.step("frechet"):
            m["fd"] = frechet_distance(z_syn, z_ref, eps)
            n_boot = int(self.p["n_bootstrap"])
            if n_boot > 0:
                rng = _rng(self.seed, "bootstrap")
                boots = [
                    frechet_distance(
                        z_syn[rng.integers(0, len(z_syn), len(z_syn))],
                        z_ref[rng.integers(0, len(z_ref), len(z_ref))],
                        eps,
                    )
                    for _ in range(n_boot)
                ]
                m["fd_ci_low"], m["fd_ci_high"] = (float(v) for v in np.percentile(boots, [2.5, 97.5]))
                if not m["fd_ci_low"] <= m["fd"] <= m["fd_ci_high"]:
                    self.caveats.append(
                        "FD lies outside its bootstrap interval: resampling with replacement repeats images, "
                        "which adds small-sample bias to FD; read the interval as spread, not as a corrected range."
                    )
            if self.split is not None:
                a, b = self.split
                m["fd_baseline_split"] = frechet_distance(z_ref[a], z_ref[b], eps)
            m["fd_ratio"] = self._ratio("fd", "fd_baseline_split")
        self._row("fd", baseline="fd_baseline_split", low="fd_ci_low", high="fd_ci_high")

    def _kid(self, z_syn: np.ndarray, z_ref: np.ndarray) -> None:
        m = self.metrics
        size, count = int(self.p["kid_subset_size"]), int(self.p["kid_n_subsets"])
        if count < 1:
            self.caveats.append("kid_n_subsets is 0: KID was not computed.")
            return
        with self.clock.step("kid"):
            m["kid_mean"], m["kid_std"], m["kid_subset_size_used"] = kid(
                z_syn, z_ref, size, count, _rng(self.seed, "kid")
            )
            if m["kid_subset_size_used"] == len(z_syn) == len(z_ref):
                self.caveats.append(
                    "KID used both whole sets as its only subset (they are no larger than the subset size), "
                    "so kid_std is 0 and says nothing about spread."
                )
            if self.split is not None:
                a, b = self.split
                m["kid_baseline_mean"], m["kid_baseline_std"], _ = kid(
                    z_ref[a], z_ref[b], size, count, _rng(self.seed, "kid_baseline")
                )
        self._row("kid_mean", baseline="kid_baseline_mean")

    def _prdc(self, z_syn: np.ndarray, z_ref: np.ndarray) -> None:
        m, cap, k = self.metrics, int(self.p["prdc_max_per_side"]), int(self.p["k"])
        with self.clock.step("prdc"):
            rng = _rng(self.seed, "prdc")
            # Equal sizes: recall and coverage depend on the ratio of the two sample sizes.
            size = min(len(z_syn), len(z_ref), cap)
            syn_rows, ref_rows = _cap(len(z_syn), size, rng), _cap(len(z_ref), size, rng)
            m["prdc_n_per_side"] = size
            if size < max(len(z_syn), len(z_ref)):
                self.caveats.append(
                    f"Precision, recall, density and coverage (and the flagged images) use equal-sized seeded "
                    f"samples of {size} synthetic and {size} reference images (of {len(z_syn)} and {len(z_ref)}; "
                    f"cap {cap} per side), because recall and coverage depend on the ratio of the set sizes."
                )
            k_used = self._k_for(k, len(syn_rows), len(ref_rows), "")
            scan = prdc_scan(z_ref[ref_rows], z_syn[syn_rows], k_used)
            m["prdc_k"] = k_used
            for name in ("precision", "recall", "density", "coverage"):
                m[name] = scan[name]
            self.flagged, m["n_synthetic_outside_reference"] = self._outliers(scan, syn_rows, ref_rows, k_used)
            if self.split is not None:
                a, b = self.split
                size = min(len(a), cap)
                a, b = a[_cap(len(a), size, rng)], b[_cap(len(b), size, rng)]
                k_base = self._k_for(k, len(b), len(a), " baseline")
                base = prdc(z_ref[a], z_ref[b], k_base)
                m["prdc_k_baseline"] = k_base
                for name, value in base.items():
                    m[f"{name}_baseline"] = value
        for name in ("precision", "recall", "density", "coverage"):
            self._row(name, baseline=f"{name}_baseline")

    def _k_for(self, k: int, n_fake: int, n_real: int, what: str) -> int:
        k_used = min(k, n_fake - 1, n_real - 1)
        if k_used < k:
            self.caveats.append(
                f"PRDC{what} used k = {k_used} instead of {k}: it needs more than k images per side "
                f"({n_fake} and {n_real} available)."
            )
        return k_used

    def _outliers(
        self, scan: dict[str, Any], syn_rows: np.ndarray, ref_rows: np.ndarray, k: int
    ) -> tuple[list[dict[str, Any]], int]:
        """Synthetic images outside every reference k-NN ball, least realistic first."""
        ratio = scan["fake_ratio"]
        outside = np.flatnonzero(~scan["fake_inside"])
        order = outside[np.argsort(-ratio[outside], kind="stable")][:FLAGGED_LIMIT]
        flagged = [
            {
                "synthetic_id": self.syn[syn_rows[i]].label,
                "reference_id": self.ref[ref_rows[scan["fake_nearest_real"][i]]].label,
                "score": round(float(ratio[i]), 4) if np.isfinite(ratio[i]) else None,
                "reason": f"outside every reference image's {k}-NN ball in rad-lite feature space "
                "(distance / ball radius of the closest ball)",
            }
            for i in order
        ]
        return flagged, len(outside)


_PROJECTION_METHOD = "PCA of z-scored rad-lite-35 features"
_FEATURE_METRICS = (
    "fd",
    "fd_ci_low",
    "fd_ci_high",
    "fd_baseline_split",
    "fd_ratio",
    "kid_mean",
    "kid_std",
    "kid_baseline_mean",
    "kid_baseline_std",
    "precision",
    "recall",
    "density",
    "coverage",
    "precision_baseline",
    "recall_baseline",
    "density_baseline",
    "coverage_baseline",
)


def _joint_zscore(f_syn: np.ndarray, f_ref: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both matrices z-scored with the mean and sd of their union; constant columns dropped."""
    joint = np.vstack([f_syn, f_ref])
    mean, sd = joint.mean(axis=0), joint.std(axis=0)
    kept = sd > 1e-10 * (1.0 + np.abs(mean))
    scale = np.where(kept, sd, 1.0)
    z = ((joint - mean) / scale)[:, kept]
    return z[: len(f_syn)], z[len(f_syn) :], kept


def _baseline_split(n_syn: int, n_ref: int, seed: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Two disjoint random subsets of the reference rows, min(n_syn, n_ref // 2) each; None below 2.

    Matching the synthetic set's size (up to half the reference) gives the baseline the same
    small-sample bias as the synthetic-versus-reference figure instead of less, so a small
    synthetic set is not judged against a baseline made smooth by a large reference.
    """
    half = n_ref // 2
    size = min(n_syn, half)
    if size < 2:
        return None
    order = _rng(seed, "split").permutation(n_ref)
    return np.sort(order[:size]), np.sort(order[half : half + size])


def _cap(n: int, cap: int, rng: np.random.Generator) -> np.ndarray:
    """Row indices: all n, or a sorted seeded sample of `cap` of them."""
    return np.arange(n) if n <= cap else np.sort(rng.choice(n, cap, replace=False))


def _projection(z_syn: np.ndarray, z_ref: np.ndarray, cap: int, seed: int) -> dict[str, Any]:
    """2-D PCA of the joint z-scored features (SVD), at most `cap` points per side in the chart."""
    joint = np.vstack([z_syn, z_ref])
    centred = joint - joint.mean(axis=0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt[:2]
    # Fix each axis's sign so that its largest loading is positive: SVD signs are arbitrary.
    axes = axes * np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)])[:, None]
    coords = centred @ axes.T
    if coords.shape[1] < 2:
        coords = np.hstack([coords, np.zeros((len(coords), 2 - coords.shape[1]))])
    variance = singular**2
    explained = variance[:2] / variance.sum() if variance.sum() > 0 else np.zeros(min(2, len(variance)))
    rng = _rng(seed, "projection")
    syn_coords, ref_coords = coords[: len(z_syn)], coords[len(z_syn) :]
    return {
        "synthetic": _rounded(syn_coords[_cap(len(syn_coords), cap, rng)]),
        "reference": _rounded(ref_coords[_cap(len(ref_coords), cap, rng)]),
        "method": _PROJECTION_METHOD,
        "explained_variance_ratio": _rounded(explained),
    }


def _rounded(values: np.ndarray) -> list:
    return np.round(np.asarray(values, dtype=np.float64), 4).tolist()


# --------------------------------------------------------------------------- status


def _judge(metrics: dict[str, Any], p: dict[str, Any], caveats: list[str]) -> tuple[Status, str]:
    """Apply the warn and fail rules; a rule whose metric is missing is skipped (and said so)."""
    fails: list[str] = []
    warns: list[str] = []

    def check(name: str, direction: str, warn: float | None, fail: float | None, label: str) -> None:
        value = metrics.get(name)
        if value is None:
            return

        def beyond(limit: float | None) -> bool:
            return limit is not None and (value > limit if direction == "above" else value < limit)

        sign = ">" if direction == "above" else "<"
        if beyond(fail):
            fails.append(f"{label} {value:.3g} {sign} {fail:g}")
        elif beyond(warn) and (name != "fd_ratio" or _above(metrics.get("fd"), p["fd_warn_min"])):
            extra = f" with FD {metrics['fd']:.3g}" if name == "fd_ratio" else ""
            warns.append(f"{label} {value:.3g} {sign} {warn:g}{extra}")

    check("w1_ratio", "above", p["w1_ratio_warn"], p["w1_ratio_fail"], "intensity W1 ratio")
    check("fd_ratio", "above", p["fd_ratio_warn"], p["fd_ratio_fail"], "FD ratio")
    check("coverage", "below", p["coverage_warn"], p["coverage_fail"], "coverage")
    check("precision", "below", p["precision_warn"], p["precision_fail"], "precision")
    missing = [name for name in ("w1_ratio", "fd_ratio", "coverage", "precision") if metrics.get(name) is None]
    if missing:
        caveats.append(f"Rules on {', '.join(missing)} were not applied: the metric could not be computed.")
    key = ", ".join(
        f"{label} {metrics[name]:.3g}"
        for name, label in (
            ("w1_ratio", "W1 ratio"),
            ("fd_ratio", "FD ratio"),
            ("coverage", "coverage"),
            ("precision", "precision"),
        )
        if metrics.get(name) is not None
    )
    if fails:
        return Status.FAIL, f"Synthetic images differ from the reference: {'; '.join(fails + warns)}."
    if warns:
        return Status.WARN, f"Synthetic images drift from the reference: {'; '.join(warns)}."
    return Status.PASS, f"Synthetic images are within the thresholds against the reference{f' ({key})' if key else ''}."


def _above(value: float | None, limit: float | None) -> bool:
    return limit is None or (value is not None and value > limit)
