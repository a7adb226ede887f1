"""The memorization audit itself: `run` classifies each synthetic image and builds the result.

Exact duplicates, candidates (searched here or given from chunk tasks), re-rank, baseline
threshold, status, flagged pairs and charts (steps 1 to 5 of the package docstring).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from audits.engine import ENGINE_VERSION
from audits.engine.memorization.baseline import BaselinePlan, _sample, baseline_plan, check_computable, nn_inputs
from audits.engine.memorization.calibration import NullModel, excess_p_value, null_model, to_u
from audits.engine.memorization.geometry import (
    D8,
    D8_INVERSE,
    D8_NAMES,
    TRANSFORM_BLOCK,
    BestMatch,
    transform_candidates,
    zoom_views,
)
from audits.engine.memorization.params import _blas_limit, resolve_params
from audits.engine.memorization.phases import SetScores, block_candidates, combine_scores, score_block
from audits.engine.memorization.search import _check_candidates
from audits.engine.types import FLAGGED_LIMIT, AuditResult, ImageSet, Status, not_computable

AUDIT = "memorization"


PER_IMAGE_LIMIT = 20000  # charts["per_image"] and the score lists only up to this many images


CLOSEST_PAIRS = 12  # charts["closest_pairs"]


KIND_ORDER = {"exact": 0, "probable_copy": 1, "none": 3}


def _round(value: float | None, digits: int = 6) -> float | None:
    if value is None or not np.isfinite(value):
        return None
    return round(float(value), digits)


def _rounded_list(values: np.ndarray, digits: int = 4) -> list[float]:
    return [round(float(v), digits) for v in values]


def _inputs_block(synthetic: ImageSet, reference: ImageSet, holdout: ImageSet | None) -> dict[str, Any]:
    block: dict[str, Any] = {
        "n_synthetic": len(synthetic.images),
        "n_synthetic_files": sum(1 for f in synthetic.files if f.accepted),
        "n_synthetic_used": len(synthetic.usable),
        "n_reference": len(reference.images),
        "n_reference_files": sum(1 for f in reference.files if f.accepted),
        "n_reference_used": len(reference.usable),
        "n_holdout": 0 if holdout is None else len(holdout.images),
        "n_holdout_used": 0 if holdout is None else len(holdout.usable),
        "synthetic_digest": synthetic.digest(),
        "reference_digest": reference.digest(),
        "holdout_digest": None if holdout is None else holdout.digest(),
    }
    sizes = {np.asarray(image.pixels).shape for image in synthetic.usable}
    if len(sizes) == 1:
        block["image_size"] = int(next(iter(sizes))[0])
    return block


@dataclass
class _Clock:
    """The audit's timings: `lap(name, since)` records the seconds since `since` under `name`."""

    timings: dict[str, float]

    def lap(self, name: str, since: float) -> float:
        now = time.perf_counter()
        self.timings[name] = round(now - since, 4)
        return now


def _start(
    synthetic: ImageSet, reference: ImageSet, holdout: ImageSet | None, params: dict[str, Any] | None
) -> AuditResult | tuple[dict[str, Any], dict[str, Any], dict[str, float], float, Callable[[str, float], float]]:
    """What `run` and `run_scored` begin with: (params, inputs block, timings, start, lap), or
    the not-computable result when the sets cannot be compared."""
    started = time.perf_counter()
    p = resolve_params(params)
    clock = _Clock({})
    inputs = _inputs_block(synthetic, reference, holdout)
    problem = check_computable(synthetic, reference, holdout, p["max_shift"])
    if problem is not None:
        clock.timings["total"] = round(time.perf_counter() - started, 4)
        return not_computable(
            AUDIT,
            problem[0],
            problem[1],
            metrics={"n_dropped_blank": len(synthetic.images) - len(synthetic.usable)},
            inputs=inputs,
            params=p,
            code_version=ENGINE_VERSION,
            timings=clock.timings,
        )
    return p, inputs, clock.timings, started, clock.lap


def run(
    synthetic: ImageSet,
    reference: ImageSet,
    holdout: ImageSet | None = None,
    params: dict[str, Any] | None = None,
    *,
    candidates: dict[str, Any] | None = None,
) -> AuditResult:
    """Run the memorization audit (see the module docstring for formulas and thresholds).

    `candidates`, when given, holds candidate reference rows for all query rows of
    `nn_inputs(...)`, merged from chunk tasks: {"synthetic": (n, c) int array, "baseline":
    (q, c) int array}, each as `candidate_rows` returns them (an `(indices, sq_distances)`
    pair from `nearest_candidates` is accepted too); the search is then skipped and only the
    re-rank and the rest run. Raises ValueError for unknown or invalid parameters and for
    candidate arrays of the wrong shape.
    """
    start = _start(synthetic, reference, holdout, params)
    if isinstance(start, AuditResult):
        return start
    p, inputs, timings, started, lap = start
    with _blas_limit(p["blas_threads"]):
        return _run(synthetic, reference, holdout, p, candidates, inputs, timings, started, lap)


def run_scored(
    synthetic: ImageSet,
    reference: ImageSet,
    holdout: ImageSet | None,
    params: dict[str, Any] | None,
    scores: dict[str, SetScores],
) -> AuditResult:
    """The audit from scores computed elsewhere (phases (a) and (b) in chunk tasks): phase (c) only.

    `scores` holds "synthetic" and "baseline" `SetScores` for the rows of `synthetic.usable` and
    of `baseline_plan(...)`'s rows; the sets' pixels are not read beyond their shapes.
    Equal to `run(...)` over the same sets (tests/audits/engine/test_memorization_phases.py).
    """
    start = _start(synthetic, reference, holdout, params)
    if isinstance(start, AuditResult):
        return start
    p, inputs, timings, started, lap = start
    h_used = [] if holdout is None else holdout.usable
    plan = baseline_plan([i.pixel_sha256 for i in reference.usable], [i.pixel_sha256 for i in h_used], p)
    for which, rows in (("synthetic", len(synthetic.usable)), ("baseline", len(plan.rows))):
        if which not in scores or len(scores[which].d) != rows:
            raise ValueError(f"scores[{which!r}] must hold {rows} rows")
    size = int(np.asarray(synthetic.usable[0].pixels).shape[0])
    return decide(synthetic, reference, holdout, p, inputs, plan, size, scores, timings, started, lap)


def _run(
    synthetic: ImageSet,
    reference: ImageSet,
    holdout: ImageSet | None,
    p: dict[str, Any],
    candidates: dict[str, Any] | None,
    inputs: dict[str, Any],
    timings: dict[str, float],
    started: float,
    lap: Callable[[str, float], float],
) -> AuditResult:
    """Phases (a), (b) and (c) of `phases` in this process, over the sets as one block each."""
    t = time.perf_counter()
    # given candidates make the Fourier-magnitude features unnecessary here
    nn = nn_inputs(synthetic, reference, holdout, p if candidates is None else {**p, "spectrum_k": 0})
    size = nn.size
    n, m, q = len(nn.synthetic), len(nn.reference), len(nn.baseline)
    views = zoom_views(size, p["min_scale"], p["crop_scales"], p["crop_positions"]) if p["search_transforms"] else None
    shape = (-1, size, size)
    r_img = nn.reference.reshape(shape)
    t = lap("prepare", t)
    scores: dict[str, SetScores] = {}
    for which, rows in (("synthetic", n), ("baseline", q)):
        pixels, spectrum, groups = nn.queries(which)
        images = pixels.reshape(shape)
        ref_groups = None if groups is None else nn.reference_groups
        if candidates is not None:
            as_is = _check_candidates(which, candidates.get(which), rows, m)
            transform = None
            if views is not None:
                transform = transform_candidates(
                    images,
                    r_img,
                    views,
                    p["transform_pool"],
                    p["thumb"],
                    query_groups=groups,
                    reference_groups=ref_groups,
                    block=min(p["block"], TRANSFORM_BLOCK),
                )
        else:
            found = block_candidates(
                images,
                r_img,
                0,
                p,
                views,
                query_groups=groups,
                reference_groups=ref_groups,
                query_spectrum=spectrum,
                reference_spectrum=nn.reference_spectrum,
            )
            as_is, transform = found.as_is(), found.transform
        t = lap("nn_given" if candidates is not None else f"nn_{which}", t)
        block = score_block(images, as_is, transform, np.arange(m), r_img, p, views, whole_set=True)
        scores[which] = combine_scores([block], views is not None)
        t = lap(f"rerank_{which}", t)  # the re-rank, and the transform search and alignment when on
    plan = BaselinePlan(nn.baseline_kind, nn.baseline_rows, nn.baseline_pool, nn.n_holdout_duplicates)
    return decide(synthetic, reference, holdout, p, inputs, plan, size, scores, timings, started, lap)


def decide(
    synthetic: ImageSet,
    reference: ImageSet,
    holdout: ImageSet | None,
    p: dict[str, Any],
    inputs: dict[str, Any],
    plan: BaselinePlan,
    size: int,
    scores: dict[str, SetScores],
    timings: dict[str, float],
    started: float,
    lap: Callable[[str, float], float],
) -> AuditResult:
    """Phase (c): the result from the per-image scores of the synthetic and baseline rows.

    Needs the sets' image labels, digests and counts, not their pixels (steps 1 and 4 to 6).
    """
    t = time.perf_counter()
    s_used, r_used = synthetic.usable, reference.usable
    h_used = [] if holdout is None else holdout.usable
    n, m, q = len(s_used), len(r_used), len(scores["baseline"].d)
    nn = plan  # the baseline's kind, pool and duplicates, as the search had them
    # 1. exact pixel duplicates
    first_reference: dict[str, int] = {}
    for row, image in enumerate(r_used):
        first_reference.setdefault(image.pixel_sha256, row)
    exact_ref = np.asarray([first_reference.get(image.pixel_sha256, -1) for image in s_used], dtype=np.int64)
    is_exact = exact_ref >= 0
    t = lap("exact_duplicates", t)
    s_match, b_match = _set_match(scores["synthetic"]), _set_match(scores["baseline"])
    s_rows, b_rows = scores["synthetic"], scores["baseline"]

    # 4. the null: baseline scores under the same search
    finite = np.isfinite(b_match.ncc)
    baseline_ncc = b_match.ncc[finite]
    baseline_d = b_rows.d[np.isfinite(b_rows.d)]
    median_nn = float(np.median(baseline_d)) if baseline_d.size else 0.0
    scale = median_nn if median_nn > 1e-9 else 1e-9
    null = null_model(baseline_ncc)
    threshold = null.threshold(p["flag_rate"], p["ncc_floor"])

    # 5. classify and test
    ratio = s_rows.d / scale
    ncc = s_match.ncc.copy()
    ncc[is_exact] = 1.0
    ratio[is_exact] = 0.0
    probable = is_exact | (ncc >= threshold)
    p_image = null.p_values(ncc)
    p_image[is_exact] = 0.0
    copied_ref = np.where(is_exact, exact_ref, s_match.reference)
    copies_per_ref = Counter(int(ref) for ref in copied_ref[probable])
    max_copies = max(copies_per_ref.values(), default=0)
    n_probable = int(probable.sum())
    n_exact = int(is_exact.sum())
    frac = n_probable / n
    rate_high = null.crossing_rate_high(threshold, p["seed"]) if null.k else 1.0
    over = int((probable & ~is_exact).sum())
    p_excess = excess_p_value(over, n, rate_high)
    # only images over the copy threshold (what the reviewer calls a copy) can make the extreme test
    over_rows = probable & ~is_exact
    p_extreme = float(min(1.0, p_image[over_rows].min() * n)) if over_rows.any() else 1.0
    expected = n * _mean_crossing(null, threshold)
    near_exact = bool((probable & (ncc >= p["near_exact_ncc"])).any())

    reasons_fail: list[str] = []
    reasons_warn: list[str] = []
    if n_exact:
        reasons_fail.append(f"{n_exact} exact pixel duplicate(s)")
    for alpha, reasons in ((p["fail_alpha"], reasons_fail), (p["warn_alpha"], reasons_warn)):
        if p_excess < alpha:
            reasons.append(
                f"{over} images over the copy threshold where real images never trained on would give about"
                f" {expected:.1f} (p = {p_excess:.2g})"
            )
        if p_extreme < alpha:
            reasons.append(f"an image more similar to a training image than real images ever are (p = {p_extreme:.2g})")
        if reasons:
            break
    if max_copies >= p["max_copies_per_reference"]:
        reasons_warn.append(f"one real image has {max_copies} probable copies")
    status = Status.FAIL if reasons_fail else Status.WARN if reasons_warn else Status.PASS
    caveats: list[str] = []
    capped = False
    if nn.kind == "train_loo":
        caveats.append(
            "No held-out real set was given: the null is leave-one-out, reference images compared with the other"
            " reference images. That is weaker: it is valid only when the training images are independent of each other (a"
            " patient with several slices makes the threshold too high and hides copies), and it cannot tell how"
            " close genuinely new images come. The status is capped at warn unless a copy is near-exact"
            f" (NCC >= {p['near_exact_ncc']}). Upload a held-out real set for a calibrated result."
        )
        if status == Status.FAIL and not (n_exact or near_exact):
            status = Status.WARN
            capped = True
    if null.k < 20:
        caveats.append(
            f"The baseline has only {null.k} image(s): the copy threshold allows for that (it lies further out),"
            " so only clear copies are found. More held-out images make the audit more sensitive."
        )
    if median_nn <= 1e-9:
        caveats.append(
            "The baseline median nearest-neighbour distance is 0 (most baseline images have a pixel-identical"
            " neighbour after preprocessing), so distance ratios are not informative."
        )
    if holdout is not None and nn.kind == "holdout" and nn.n_holdout_duplicates:
        caveats.append(
            f"{nn.n_holdout_duplicates} held-out image(s) are exact pixel duplicates of reference images and were"
            " left out of the baseline: the held-out set overlaps the training set."
        )
    if holdout is not None and nn.kind == "train_loo":
        caveats.append(
            "The held-out set had no usable image that is not also in the reference set, so the leave-one-out"
            " baseline was used instead."
        )
    if q < nn.pool:
        caveats.append(f"The baseline uses a seeded random sample of {q} of {nn.pool} images.")
    n_dropped = len(synthetic.images) - n
    if n_dropped:
        caveats.append(f"{n_dropped} blank (constant) synthetic image(s) were dropped and not compared.")
    if p["search_transforms"]:
        caveats.append(
            "Copies are searched as they are (shifts up to"
            f" {p['max_shift']} px, noise, blur, windowing, re-encoding), mirrored, rotated by multiples of 90°"
            f" and cropped to {100 * p['min_scale']:.0f} % of the side or more; other rotations and warps can"
            " fall below the threshold."
        )
    else:
        caveats.append(
            "The search for mirrored, rotated and cropped copies is switched off: only copies as they are (with"
            f" shifts up to {p['max_shift']} px) are found."
        )
    t = lap("classify", t)

    # 6. flagged items and charts
    order = np.lexsort((np.arange(n), -ncc))
    flagged_rows = order[probable[order]]

    def pair(i: int) -> dict[str, Any]:
        ref = int(copied_ref[i])
        s_image, r_image = s_used[i], r_used[ref]
        # the match applied `align` to the synthetic image; the copy was made by its inverse
        align = "identity" if is_exact[i] else s_match.symmetry_name(i)
        symmetry = D8_INVERSE[align]
        crop = 1.0 if is_exact[i] else float(s_match.scale[i])
        kind = "exact" if is_exact[i] else "probable_copy" if probable[i] else "none"
        return {
            "synthetic": s_image.label,
            "reference": r_image.label,
            "synthetic_file": s_image.file,
            "synthetic_index": s_image.index,
            "reference_file": r_image.file,
            "reference_index": r_image.index,
            "ncc": round(float(ncc[i]), 6),
            "ratio": round(float(ratio[i]), 6),
            "p_value": float(f"{p_image[i]:.3g}"),
            "shift": [int(s_match.shift[i, 0]), int(s_match.shift[i, 1])],
            "transform": symmetry,
            "align": align,
            "crop": {
                "scale": round(crop, 4),
                "top": round(float(s_match.top[i]) / size, 4) if not is_exact[i] else 0.0,
                "left": round(float(s_match.left[i]) / size, 4) if not is_exact[i] else 0.0,
            },
            "transform_text": describe_transform(symmetry, crop),
            "kind": kind,
        }

    flagged = [pair(int(i)) for i in flagged_rows[:FLAGGED_LIMIT]]
    closest = [pair(int(i)) for i in order[:CLOSEST_PAIRS]]
    train_copied = len(copies_per_ref)
    transforms_found = Counter(
        item
        for item in (
            describe_transform(s_match.symmetry_name(int(i)), float(s_match.scale[int(i)]))
            for i in np.flatnonzero(probable & ~is_exact)
        )
    )

    s_order = np.arange(n) if n <= PER_IMAGE_LIMIT else _sample(n, PER_IMAGE_LIMIT, p["seed"])
    b_order = (
        np.arange(baseline_ncc.size)
        if baseline_ncc.size <= PER_IMAGE_LIMIT
        else _sample(baseline_ncc.size, PER_IMAGE_LIMIT, p["seed"])
    )
    flagged_points = [
        {"label": s_used[int(i)].label, "ncc": round(float(ncc[int(i)]), 6), "p_value": float(f"{p_image[int(i)]:.3g}")}
        for i in flagged_rows[:FLAGGED_LIMIT]
    ]
    charts: dict[str, Any] = {
        "synthetic_scores": _rounded_list(ncc[s_order], 5),
        "baseline_scores": _rounded_list(baseline_ncc[b_order], 5),
        "synthetic_ratios": _rounded_list(ratio[s_order]),
        "baseline_ratios": _rounded_list(baseline_d[:PER_IMAGE_LIMIT] / scale),
        "threshold": round(float(threshold), 6),
        "null_curve": _null_curve(null, baseline_ncc, threshold),
        "flagged_points": flagged_points,
        "sampled": bool(n > PER_IMAGE_LIMIT or baseline_ncc.size > PER_IMAGE_LIMIT),
        "closest_pairs": closest,
    }
    if n <= PER_IMAGE_LIMIT:
        charts["per_image"] = [
            {
                "label": image.label,
                "file": image.file,
                "index": image.index,
                "ncc": round(float(ncc[i]), 6),
                "ratio": round(float(ratio[i]), 6),
                "p_value": float(f"{p_image[i]:.3g}"),
                "copy": bool(probable[i]),
            }
            for i, image in enumerate(s_used)
        ]
    else:
        caveats.append(
            f"{n} synthetic images: the per-image list is left out of the result (limit {PER_IMAGE_LIMIT}) and the"
            " score charts show a seeded random sample."
        )

    metrics: dict[str, Any] = {
        "baseline": nn.kind,
        "baseline_n": null.k,
        "ncc_threshold": _round(threshold),
        "baseline_ncc_median": _round(float(np.median(baseline_ncc))) if baseline_ncc.size else None,
        "baseline_ncc_max": _round(float(baseline_ncc.max())) if baseline_ncc.size else None,
        "synthetic_ncc_median": _round(float(np.median(ncc))),
        "synthetic_ncc_max": _round(float(ncc.max())),
        "n_exact_duplicates": n_exact,
        "n_probable_copies": n_probable,
        "frac_probable_copies": _round(frac),
        "expected_over_threshold": _round(expected, 3),
        "crossing_rate_high": _round(rate_high),
        "excess_p_value": float(f"{p_excess:.3g}"),
        "extreme_p_value": float(f"{p_extreme:.3g}"),
        "n_transformed_copies": int(sum(count for text, count in transforms_found.items() if text != "as is")),
        "transforms_found": dict(transforms_found.most_common()),
        "train_images_copied": train_copied,
        "max_copies_of_one_reference": max_copies,
        "baseline_median_nn_l2": _round(median_nn),
        "ratio_median": _round(float(np.median(ratio))),
        "n_synthetic_used": n,
        "n_reference_used": m,
        "n_dropped_blank": n_dropped,
        "n_dropped_blank_reference": len(reference.images) - m,
        "n_dropped_blank_holdout": 0 if holdout is None else len(holdout.images) - len(h_used),
        "n_flagged_total": len(flagged_rows),
        "status_capped_by_baseline": capped,
    }
    thresholds = {
        "ncc_threshold": {"warn": round(float(threshold), 6), "fail": None, "direction": "above"},
        "excess_p_value": {"warn": p["warn_alpha"], "fail": p["fail_alpha"], "direction": "below"},
        "extreme_p_value": {"warn": p["warn_alpha"], "fail": p["fail_alpha"], "direction": "below"},
        "n_exact_duplicates": {"warn": None, "fail": 0, "direction": "above"},
        "max_copies_of_one_reference": {"warn": p["max_copies_per_reference"] - 1, "fail": None, "direction": "above"},
    }
    baseline_text = "held-out real set" if nn.kind == "holdout" else "leave-one-out within the reference set"
    if status == Status.PASS and n_probable == 0:
        summary = (
            f"No probable copies: none of {n} synthetic images reaches the copy threshold NCC {threshold:.3f}"
            f" (baseline: {baseline_text}), no exact pixel duplicates."
        )
    elif status == Status.PASS:
        summary = (
            f"No evidence of copying: {n_probable} of {n} synthetic images are over the copy threshold NCC"
            f" {threshold:.3f}, about as many as real images never trained on give ({expected:.1f} expected;"
            f" p = {p_excess:.2g}); they are listed for review (baseline: {baseline_text})."
        )
    else:
        parts = [
            f"{n_probable} of {n} synthetic images ({100 * frac:.2f} %) are probable copies of"
            f" {train_copied} real image(s), against about {expected:.1f} expected from real images never trained on"
        ]
        if n_exact:
            parts.append(f"{n_exact} exact pixel duplicate(s)")
        if transforms_found:
            parts.append("found " + ", ".join(f"{text} ({count})" for text, count in transforms_found.most_common(4)))
        summary = "; ".join(parts) + f" (baseline: {baseline_text})."
        if capped:
            summary += " Capped at warn: " + ", ".join(reasons_fail) + " without a held-out baseline."
    lap("report", t)
    timings["total"] = round(time.perf_counter() - started, 4)
    return AuditResult(
        audit=AUDIT,
        status=status,
        summary=summary,
        metrics=metrics,
        thresholds=thresholds,
        flagged=flagged,
        charts=charts,
        caveats=caveats,
        inputs=inputs,
        params=p,
        code_version=ENGINE_VERSION,
        timings=timings,
    )


@dataclass
class _Match:
    """Each query row's best reference: score, row, symmetry, crop box, and shift (as-is match)."""

    ncc: np.ndarray
    reference: np.ndarray
    symmetry: np.ndarray
    scale: np.ndarray
    top: np.ndarray
    left: np.ndarray
    shift: np.ndarray

    def symmetry_name(self, row: int) -> str:
        return D8_NAMES[int(self.symmetry[row])]


def _set_match(scores: SetScores) -> _Match:
    """The match a query set's rows report: the transform search's, or the as-is one when it is off."""
    if scores.transforms:
        return _transform_match(scores.match)
    q = len(scores.d)
    return _Match(
        ncc=scores.as_is.ncc.astype(np.float64),
        reference=scores.as_is.reference.astype(np.int64),
        symmetry=np.zeros(q, dtype=np.int64),
        scale=np.ones(q),
        top=np.zeros(q),
        left=np.zeros(q),
        shift=np.asarray(scores.shift, dtype=np.int64).reshape(q, 2),
    )


def _transform_match(found: BestMatch) -> _Match:
    """The transform search's match (its candidates include the as-is search's best), as a _Match.

    A match as is at full scale is reported as a shift: the query moved by (dy, dx).
    """
    as_is = (found.symmetry == 0) & (found.scale > 0.999)
    shift = np.where(as_is[:, None], -np.rint(np.stack([found.top, found.left], axis=1)), 0).astype(np.int64)
    return _Match(
        ncc=found.ncc.astype(np.float64),
        reference=found.reference.astype(np.int64),
        symmetry=found.symmetry.astype(np.int64),
        scale=found.scale.astype(np.float64),
        top=found.top.astype(np.float64),
        left=found.left.astype(np.float64),
        shift=shift,
    )


def describe_transform(symmetry: str, scale: float) -> str:
    """Words for a reviewer: 'mirrored left-right, cropped to 80 % of the side'."""
    words = D8[symmetry][0] if symmetry in D8 else symmetry
    if scale < 0.99:
        crop = f"cropped to {100 * scale:.0f} % of the side and resized"
        return crop if symmetry == "identity" else f"{words}, {crop}"
    return words


def _mean_crossing(null: NullModel, threshold: float) -> float:
    """The expected share of never-trained-on images over the threshold (point estimate)."""
    if null.k == 0:
        return 0.0
    return float(null.p_values(np.asarray([threshold]))[0])


def _null_curve(null: NullModel, baseline_ncc: np.ndarray, threshold: float) -> dict[str, Any]:
    """The fitted null density of the score (NCC scale) for the chart, over the plotted range."""
    if not null.usable or baseline_ncc.size == 0:
        return {}
    low = float(min(baseline_ncc.min(), threshold))
    high = float(min(1.0, max(threshold, baseline_ncc.max()) + 0.5 * (1 - threshold)))
    grid = np.linspace(low, high, 120)
    u = to_u(grid)
    scale = null.sd * float(np.sqrt(1 + 1 / null.k))
    density_u = stats.t.pdf((u - null.mean) / scale, null.df) / scale
    density = density_u / np.maximum(1 - grid, 1e-7)  # du/dncc = 1 / (1 - ncc)
    cdf = stats.t.cdf((u - null.mean) / scale, null.df)
    return {
        "x": _rounded_list(grid, 5),
        "density": [float(f"{v:.4g}") for v in density],
        "cdf": [round(float(v), 6) for v in cdf],
    }


def copy_flags(result: AuditResult) -> dict[str, bool] | None:
    """Synthetic image label -> probable copy (exact duplicates included), for per-subgroup copy rates.

    None when the result has no per-image list (not computable, or more than PER_IMAGE_LIMIT images).
    """
    rows = result.charts.get("per_image")
    if not rows:
        return None
    return {row["label"]: bool(row["copy"]) for row in rows}
