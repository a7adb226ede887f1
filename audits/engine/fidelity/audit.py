"""The fidelity audit: `run`, and the state of one run that each step (intensity, features) adds to."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from audits.engine import ENGINE_VERSION
from audits.engine import features as rad
from audits.engine.fidelity.distances import frechet_distance, kid
from audits.engine.fidelity.intensity import (
    INTENSITY_BINS,
    QUANTITATIVE_BINS,
    bin_centres,
    histogram_w1,
    ks_d,
    permutation_w1,
    split_w1,
)
from audits.engine.fidelity.neighbours import prdc, prdc_scan
from audits.engine.fidelity.params import resolve_params
from audits.engine.fidelity.projection import _PROJECTION_METHOD, _joint_zscore, _projection, _rounded
from audits.engine.fidelity.sampling import _baseline_split, _cap, _rng
from audits.engine.fidelity.scale import choose_scale_from, sidecar_units
from audits.engine.fidelity.status import _judge, thresholds_of
from audits.engine.fidelity.summary import (
    SUMMARY_KEYS,
    HistogramRows,
    SummaryWindowError,
    capped_sample,
    chunk_summary,
    histogram_rows,
    on_window,
    window_matches,
    with_window,
)
from audits.engine.types import FLAGGED_LIMIT, AuditResult, Image, ImageSet, not_computable

AUDIT = "fidelity"
CHART_BINS = 64

NEEDED = "at least 2 non-blank synthetic and 4 non-blank reference images (2 per reference half for the baselines)"
NOT_FID = (
    "Feature metrics use rad-lite-35 v1, handcrafted radiomics-style statistics, not an Inception (FID) or "
    "RadImageNet (FRD) embedding; FD and KID values are comparable only between runs with the same feature set."
)


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
    summaries: tuple[dict[str, np.ndarray], dict[str, np.ndarray]] | None = None,
) -> AuditResult:
    """Audit the distribution shift from `reference` to `synthetic` (package docstring).

    `features`, when given, are the rad-lite feature matrices of `synthetic.usable` and
    `reference.usable` in that order (computed by chunk tasks); otherwise they are extracted here.

    `summaries`, when given, are the two sets' per-image summaries (`summary.chunk_summary` of
    each chunk, joined by `summary.concat_summaries`), used instead of the images' pixels: the
    sets' `images` may then be empty (their `files` still give the digests and the sidecar
    units), and `features` must be given. The result is the one the pixels give. A quantitative
    window that only the data decide (a unit other than HU with no window set) raises
    `SummaryWindowError`: then pass the images.
    """
    started = time.perf_counter()
    p = resolve_params(params)
    file_units = sidecar_units(synthetic.files + reference.files)
    if summaries is None:
        syn_images, ref_images = synthetic.usable, reference.usable
        pair = (chunk_summary(synthetic.images, p, file_units), chunk_summary(reference.images, p, file_units))
        images: tuple[list[Image], list[Image]] | None = (syn_images, ref_images)
    else:
        if features is None:
            raise ValueError("fidelity.run with summaries needs the feature matrices too (features=)")
        pair = _checked_summaries(summaries)
        images = None
    n_usable = (len(pair[0]["labels"]), len(pair[1]["labels"]))
    n_blank = (int(pair[0]["n_blank"][0]), int(pair[1]["n_blank"][0]))
    shapes = {tuple(int(v) for v in shape) for side in pair for shape in side["shapes"]}
    inputs = {
        "n_synthetic": n_usable[0] + n_blank[0],
        "n_reference": n_usable[1] + n_blank[1],
        "n_synthetic_usable": n_usable[0],
        "n_reference_usable": n_usable[1],
        "n_dropped_blank": sum(n_blank),
        "n_dropped_blank_synthetic": n_blank[0],
        "n_dropped_blank_reference": n_blank[1],
        "synthetic_digest": synthetic.digest(),
        "reference_digest": reference.digest(),
        "image_shapes": [list(shape) for shape in sorted(shapes)],
    }
    envelope: dict[str, Any] = {
        "inputs": inputs,
        "params": p,
        "thresholds": thresholds_of(p),
        "code_version": ENGINE_VERSION,
    }
    if n_usable[0] < 2 or n_usable[1] < 2:
        reason = (
            f"{n_usable[0]} non-blank synthetic and {n_usable[1]} non-blank reference images "
            f"({n_blank[0]} and {n_blank[1]} blank ones dropped)"
        )
        result = not_computable(AUDIT, reason, NEEDED, **envelope)
        result.timings = {"total": round(time.perf_counter() - started, 4)}
        return result
    feature_matrices = _checked_features(features, *n_usable)
    audit = _Audit(pair, p, file_units, images)
    audit.metrics["n_dropped_blank"] = sum(n_blank)
    audit.intensity()
    audit.feature_metrics(feature_matrices)
    status, summary = _judge(audit.metrics, p, audit.caveats)
    envelope["thresholds"] = thresholds_of(p, audit.metrics.get("units"))
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


def _checked_summaries(
    summaries: tuple[dict[str, np.ndarray], dict[str, np.ndarray]],
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    if len(summaries) != 2:
        raise ValueError(f"summaries must be a (synthetic, reference) pair, got {len(summaries)} items")
    for side, part in zip(("synthetic", "reference"), summaries, strict=True):
        missing = sorted(set(SUMMARY_KEYS) - set(part))
        if missing:
            raise ValueError(f"the {side} fidelity summary lacks {missing}")
    return summaries[0], summaries[1]


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

    def __init__(
        self,
        summaries: tuple[dict[str, np.ndarray], dict[str, np.ndarray]],
        params: dict[str, Any],
        file_units: dict[str, str] | None = None,
        images: tuple[list[Image], list[Image]] | None = None,
    ) -> None:
        self.summaries, self.images, self.p = summaries, images, params
        self.labels = (summaries[0]["labels"], summaries[1]["labels"])
        n_syn, n_ref = len(self.labels[0]), len(self.labels[1])
        self.file_units = file_units or {}
        self.seed = int(params["seed"])
        self.metrics: dict[str, Any] = {
            "n_synthetic_used": n_syn,
            "n_reference_used": n_ref,
        }
        self.caveats: list[str] = []
        self.charts: dict[str, Any] = {}
        self.flagged: list[dict[str, Any]] = []
        self.clock = _Clock()
        self.timings = self.clock.timings
        self.table: list[dict[str, Any]] = []
        self.split = _baseline_split(n_syn, n_ref, self.seed)
        if self.split is None:
            self.caveats.append(
                f"Only {n_ref} non-blank reference images: the real-versus-real baselines need at least 4 "
                "(2 per half), so no baseline or ratio was computed and the ratio rules were not applied."
            )
        else:
            size = len(self.split[0])
            self.metrics["baseline_subset_size"] = size
            if size < 50:
                self.caveats.append(
                    f"The baselines compare two reference subsets of only {size} images each; they are noisy."
                )
        shapes = sorted({tuple(int(v) for v in shape) for side in summaries for shape in side["shapes"]})
        if len(shapes) > 1:
            self.caveats.append(f"Images of different sizes {shapes}: texture features depend on scale.")

    def _windowed(self, low: float, width: float) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """The summaries with their windowed part for the chosen window: computed from the images when
        they are at hand, else it must be in the summaries already."""
        pair = []
        for index, side in enumerate(self.summaries):
            if not window_matches(side, low, width):
                if self.images is None:
                    raise SummaryWindowError(
                        f"the quantitative window {low:g} to {low + width:g} was chosen from the data, and the "
                        "chunk summaries hold no histogram through it: run the fidelity audit on the images"
                    )
                side = with_window(side, self.images[index], (low, width), self.p)
            pair.append(side)
        return pair[0], pair[1]

    # ----------------------------------------------------------------------- intensity (A6)

    def intensity(self) -> None:
        with self.clock.step("intensity"):
            syn, ref = self.summaries
            scale, caveats = choose_scale_from(syn, ref, self.p, _rng(self.seed, "window"), self.file_units)
            self.caveats.extend(caveats)
            if scale.quantitative:
                bins, hist, stats, sample = QUANTITATIVE_BINS, "window_hist", "window_stats", "native_sample"
                syn, ref = self._windowed(scale.low, scale.width)
            else:
                bins, hist, stats, sample = INTENSITY_BINS, "relative_hist", "relative_stats", "relative_sample"

            def pixels_of(side: dict[str, np.ndarray], rows: np.ndarray | None = None) -> np.ndarray:
                # At most n_ks of the pooled per-image samples (seeded draw), through the window if any:
                # the window acts value by value, so drawing first gives the same values.
                values = capped_sample(side, sample, n_ks, rng, rows)
                if not scale.quantitative:
                    return values
                return on_window(values.astype(np.float32), scale.low, scale.width).astype(np.float64)

            rng = _rng(self.seed, "ks")
            n_ks = int(self.p["ks_max_pixels"])

            # Per-image rows: the permutation null sums them over relabelled groups.
            rows = histogram_rows(syn, hist, bins), histogram_rows(ref, hist, bins)
            h_syn, h_ref = (part.sum().round().astype(np.int64) for part in rows)
            m = self.metrics
            m["intensity_scale"] = "quantitative" if scale.quantitative else "relative"
            m["units"] = scale.unit
            m["window_low"] = scale.low if scale.quantitative else None
            m["window_high"] = scale.low + scale.width if scale.quantitative else None
            # W1 in the unit: on the window's [0, 1] times its width (1 for the relative scale).
            m["w1_hist"] = histogram_w1(h_syn, h_ref) * scale.width
            m["ks_D"] = ks_d(pixels_of(syn), pixels_of(ref))
            stats_syn, stats_ref = syn[stats], ref[stats]
            names = ("per_image_mean_ks_D", "per_image_std_ks_D", "foreground_frac_ks_D")
            for column, name in enumerate(names):
                m[name] = ks_d(stats_syn[:, column], stats_ref[:, column])
            m["w1_baseline_split"] = m["ks_D_baseline"] = None
            for name in names:
                m[f"{name}_baseline"] = None
            if self.split is not None:
                a, b = self.split
                half_a, half_b = (rows[1].sum(half).round() for half in (a, b))
                m["w1_baseline_split"] = histogram_w1(half_a, half_b) * scale.width
                m["ks_D_baseline"] = ks_d(pixels_of(ref, a), pixels_of(ref, b))
                for column, name in enumerate(names):
                    m[f"{name}_baseline"] = ks_d(stats_ref[a, column], stats_ref[b, column])
            m["w1_ratio"] = self._ratio("w1_hist", "w1_baseline_split")
            self._w1_null(rows, scale.width, scale.quantitative)
            self.charts["intensity_bins"] = _rounded(np.asarray(scale.to_unit(bin_centres(CHART_BINS))))
            self.charts["intensity_unit"] = scale.unit
            for side_name, counts in (("synthetic", h_syn), ("reference", h_ref)):
                coarse = counts.reshape(CHART_BINS, -1).sum(axis=1)
                self.charts[f"intensity_{side_name}"] = _rounded(coarse / max(coarse.sum(), 1))
            self._row("w1_hist", baseline="w1_baseline_split")
            self._row("ks_D", baseline="ks_D_baseline")
            for name in names:
                self._row(name, baseline=f"{name}_baseline")

    def _w1_null(self, rows: tuple[HistogramRows, HistogramRows], width: float, quantitative: bool) -> None:
        """What chance gives for W1: a permutation p-value (gates the ratio rule) and, on a quantitative
        scale, the HU rule's figure w1_excess = w1_hist - the 95th percentile of W1 between real samples.

        p-value: the images of both sets relabelled at random (sizes kept), n_permutations
        times; exact under exchangeability, and images (not pixels) are the units, so the
        spread a mixture of anatomy gives between images is in the null.

        Excess: the 95th percentile of W1 between two disjoint random halves of the reference
        (n_permutations draws of the baseline split, h images each), scaled to the sizes
        compared, sqrt((1/N + 1/M) / (2/h)), as sampling noise of W1 shrinks with the square
        root of the sample size. Drawn from the reference alone, it does not grow with the
        shift under test, as a permutation null of the shifted synthetic set would. Without
        permutations or a baseline split: W1 beyond the baseline split (or W1 itself).
        """
        m = self.metrics
        m["w1_excess"] = m["w1_null_q95"] = m["w1_null_p_value"] = None
        count = int(self.p["n_permutations"])
        if count < 1:
            self.caveats.append(
                "n_permutations is 0: no permutation null, so the W1 ratio rule is not gated by chance "
                "and the HU rule compares W1 with the baseline split."
            )
        else:
            with self.clock.step("permutations"):
                null = permutation_w1(rows[0], rows[1], count, _rng(self.seed, "permutation")) * width
            m["w1_null_p_value"] = float((1 + np.sum(null >= m["w1_hist"] - 1e-9 * width)) / (1 + count))
        if not quantitative:
            return
        if count < 1 or self.split is None:
            m["w1_excess"] = m["w1_hist"] - (m["w1_baseline_split"] or 0.0)
            return
        half = len(self.split[0])
        with self.clock.step("permutations"):
            splits = split_w1(rows[1], half, count, _rng(self.seed, "reference_splits")) * width
        n_syn, n_ref = rows[0].shape[0], rows[1].shape[0]
        scale = float(np.sqrt((1 / n_syn + 1 / n_ref) / (2 / half)))
        m["w1_null_q95"] = float(np.percentile(splits, 95)) * scale
        m["w1_excess"] = m["w1_hist"] - m["w1_null_q95"]

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
                if self.images is None:
                    raise ValueError("the feature matrices are needed when the audit runs on summaries")
                f_syn = rad.extract_many([image.pixels for image in self.images[0]])
                f_ref = rad.extract_many([image.pixels for image in self.images[1]])
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
                "synthetic_id": str(self.labels[0][syn_rows[i]]),
                "reference_id": str(self.labels[1][ref_rows[scan["fake_nearest_real"][i]]]),
                "score": round(float(ratio[i]), 4) if np.isfinite(ratio[i]) else None,
                "reason": f"outside every reference image's {k}-NN ball in rad-lite feature space "
                "(distance / ball radius of the closest ball)",
            }
            for i in order
        ]
        return flagged, len(outside)


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
