"""The memorization audit itself: `run` classifies each synthetic image and builds the result.

Exact duplicates, candidates (searched here or given from chunk tasks), re-rank, baseline
threshold, status, flagged pairs and charts (steps 1 to 5 of the package docstring).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from audits.engine import ENGINE_VERSION
from audits.engine.memorization.baseline import _sample, check_computable, nn_inputs
from audits.engine.memorization.ncc import _summarise, rerank
from audits.engine.memorization.params import _blas_limit, resolve_params
from audits.engine.memorization.search import _check_candidates, candidate_rows
from audits.engine.types import FLAGGED_LIMIT, AuditResult, ImageSet, Status, not_computable

AUDIT = "memorization"


PER_IMAGE_LIMIT = 20000  # charts["per_image"] and the score lists only up to this many images


CLOSEST_PAIRS = 12  # charts["closest_pairs"]


KIND_ORDER = {"exact": 0, "probable_copy": 1, "near_copy": 2, "none": 3}


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
    started = time.perf_counter()
    p = resolve_params(params)
    timings: dict[str, float] = {}
    inputs = _inputs_block(synthetic, reference, holdout)

    def lap(name: str, since: float) -> float:
        now = time.perf_counter()
        timings[name] = round(now - since, 4)
        return now

    problem = check_computable(synthetic, reference, holdout, p["max_shift"])
    if problem is not None:
        timings["total"] = round(time.perf_counter() - started, 4)
        return not_computable(
            AUDIT,
            problem[0],
            problem[1],
            metrics={"n_dropped_blank": len(synthetic.images) - len(synthetic.usable)},
            inputs=inputs,
            params=p,
            code_version=ENGINE_VERSION,
            timings=timings,
        )
    with _blas_limit(p["blas_threads"]):
        return _run(synthetic, reference, holdout, p, candidates, inputs, timings, started, lap)


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
    t = time.perf_counter()
    s_used, r_used = synthetic.usable, reference.usable
    h_used = [] if holdout is None else holdout.usable
    # given candidates make the Fourier-magnitude features unnecessary here
    nn = nn_inputs(synthetic, reference, holdout, p if candidates is None else {**p, "spectrum_k": 0})
    size = nn.size
    n, m, q = len(nn.synthetic), len(nn.reference), len(nn.baseline)
    t = lap("prepare", t)

    # 1. exact pixel duplicates
    first_reference: dict[str, int] = {}
    for row, image in enumerate(r_used):
        first_reference.setdefault(image.pixel_sha256, row)
    exact_ref = np.asarray([first_reference.get(image.pixel_sha256, -1) for image in s_used], dtype=np.int64)
    is_exact = exact_ref >= 0
    t = lap("exact_duplicates", t)

    # 2. candidates
    if candidates is not None:
        s_idx = _check_candidates("synthetic", candidates.get("synthetic"), n, m)
        b_idx = _check_candidates("baseline", candidates.get("baseline"), q, m)
        t = lap("nn_given", t)
    else:
        s_idx = candidate_rows(nn, "synthetic", 0, n, p)
        t = lap("nn_synthetic", t)
        b_idx = candidate_rows(nn, "baseline", 0, q, p)
        t = lap("nn_baseline", t)

    # 3. re-rank
    shape = (-1, size, size)
    r_img = nn.reference.reshape(shape)
    s_rows = _summarise(s_idx, *rerank(nn.synthetic.reshape(shape), r_img, s_idx, p["max_shift"]))
    t = lap("rerank_synthetic", t)
    b_rows = _summarise(b_idx, *rerank(nn.baseline.reshape(shape), r_img, b_idx, p["max_shift"]))
    t = lap("rerank_baseline", t)

    # 4. baseline
    finite = np.isfinite(b_rows.d)
    baseline_d = b_rows.d[finite]
    baseline_ncc = b_rows.ncc[finite]
    caveats: list[str] = []
    median_nn = float(np.median(baseline_d)) if baseline_d.size else 0.0
    if median_nn <= 1e-9:
        caveats.append(
            "The baseline median nearest-neighbour distance is 0 (most baseline images have a pixel-identical"
            " neighbour after preprocessing), so distance ratios are not informative; only NCC* decides."
        )
    scale = median_nn if median_nn > 1e-9 else 1e-9
    baseline_q99 = float(np.quantile(baseline_ncc, 0.99)) if baseline_ncc.size else float("nan")
    threshold = max(p["ncc_floor"], baseline_q99) if np.isfinite(baseline_q99) else p["ncc_floor"]

    # 5. classify
    ratio = s_rows.d / scale
    ncc = s_rows.ncc.copy()
    ncc[is_exact] = 1.0
    ratio[is_exact] = 0.0
    probable = is_exact | (ncc >= threshold)
    near = (ratio <= p["near_copy_ratio"]) & ~probable
    copied_ref = np.where(is_exact, exact_ref, s_rows.best)
    copies_per_ref = Counter(int(ref) for ref in copied_ref[probable])
    max_copies = max(copies_per_ref.values(), default=0)
    n_probable = int(probable.sum())
    n_exact = int(is_exact.sum())
    n_near = int(near.sum())
    frac = n_probable / n
    near_exact = bool((probable & (ratio <= p["near_exact_ratio"])).any())

    reasons_fail: list[str] = []
    if n_exact:
        reasons_fail.append(f"{n_exact} exact pixel duplicate(s)")
    if frac > p["fail_fraction"]:
        reasons_fail.append(f"{100 * frac:.2f} % probable copies (limit {100 * p['fail_fraction']:.2f} %)")
    if max_copies >= p["max_copies_per_reference"]:
        reasons_fail.append(f"one real image copied {max_copies} times")
    if reasons_fail:
        status = Status.FAIL
    elif n_probable or n_near:
        status = Status.WARN
    else:
        status = Status.PASS
    capped = False
    if nn.baseline_kind == "train_loo":
        caveats.append(
            "No held-out real set was given: the baseline is leave-one-out within the reference set, whose images"
            " are closer to each other than new images are, so distance ratios are biased low and the NCC*"
            " threshold may be too; the status is capped at warn unless there are near-exact copies"
            f" (ratio <= {p['near_exact_ratio']}). Upload a held-out real set for a calibrated result."
        )
        if status == Status.FAIL and not near_exact:
            status = Status.WARN
            capped = True
    if threshold > p["ncc_floor"]:
        caveats.append(
            f"The NCC* threshold was raised from {p['ncc_floor']} to {threshold:.4f}, the 99th percentile of the"
            " baseline: real images in this data are that similar to each other."
        )
    if baseline_d.size < 20:
        caveats.append(
            f"The baseline has only {baseline_d.size} image(s); its median and 99th percentile are unstable."
        )
    if holdout is not None and nn.baseline_kind == "holdout" and nn.n_holdout_duplicates:
        caveats.append(
            f"{nn.n_holdout_duplicates} held-out image(s) are exact pixel duplicates of reference images and were"
            " left out of the baseline: the held-out set overlaps the training set."
        )
    if holdout is not None and nn.baseline_kind == "train_loo":
        caveats.append(
            "The held-out set had no usable image that is not also in the reference set, so the leave-one-out"
            " baseline was used instead."
        )
    if q < nn.baseline_pool:
        caveats.append(f"The baseline uses a seeded random sample of {q} of {nn.baseline_pool} images.")
    n_dropped = len(synthetic.images) - n
    if n_dropped:
        caveats.append(f"{n_dropped} blank (constant) synthetic image(s) were dropped and not compared.")
    caveats.append(
        "Pixel-space comparison tolerates shifts up to"
        f" {p['max_shift']} px, noise, gamma and re-encoding; flipped, rotated, cropped or strongly blurred copies"
        " can fall below the threshold: review the closest pairs and the near copies."
    )
    t = lap("classify", t)

    # 6. flagged items, charts: exact duplicates show their pixel-identical reference, probable
    # copies their NCC* candidate, near copies their L2-nearest candidate (NCC* of that pair)
    kind = np.where(is_exact, "exact", np.where(probable, "probable_copy", np.where(near, "near_copy", "none")))
    pair_ref = np.where(is_exact, exact_ref, np.where(near, s_rows.nearest, s_rows.best))
    pair_ncc = np.where(is_exact, 1.0, np.where(near, s_rows.nearest_ncc, s_rows.ncc))
    pair_shift = np.where(is_exact[:, None], 0, np.where(near[:, None], s_rows.nearest_shift, s_rows.shift))

    def pair(i: int) -> dict[str, Any]:
        s_image, r_image = s_used[i], r_used[int(pair_ref[i])]
        return {
            "synthetic": s_image.label,
            "reference": r_image.label,
            "synthetic_file": s_image.file,
            "synthetic_index": s_image.index,
            "reference_file": r_image.file,
            "reference_index": r_image.index,
            "ncc": round(float(pair_ncc[i]), 6),
            "ratio": round(float(ratio[i]), 6),
            "shift": [int(pair_shift[i, 0]), int(pair_shift[i, 1])],
            "kind": str(kind[i]),
        }

    # NCC* of the shown pair descending, then exact before probable before near, then ratio, then set order
    rank = np.vectorize(KIND_ORDER.__getitem__, otypes=[np.int64])(kind) if n else np.zeros(0, np.int64)
    order = np.lexsort((ratio, rank, -pair_ncc))
    flagged_rows = order[(probable | near)[order]]
    flagged = [pair(int(i)) for i in flagged_rows[:FLAGGED_LIMIT]]
    closest = [pair(int(i)) for i in order[:CLOSEST_PAIRS]]
    train_copied = len(copies_per_ref)

    s_order = np.arange(n) if n <= PER_IMAGE_LIMIT else _sample(n, PER_IMAGE_LIMIT, p["seed"])
    b_order = (
        np.arange(baseline_d.size)
        if baseline_d.size <= PER_IMAGE_LIMIT
        else _sample(baseline_d.size, PER_IMAGE_LIMIT, p["seed"])
    )
    charts: dict[str, Any] = {
        "synthetic_scores": _rounded_list(ncc[s_order]),
        "baseline_scores": _rounded_list(baseline_ncc[b_order]),
        "synthetic_ratios": _rounded_list(ratio[s_order]),
        "baseline_ratios": _rounded_list(baseline_d[b_order] / scale),
        "threshold": round(float(threshold), 6),
        "near_copy_ratio": p["near_copy_ratio"],
        "sampled": bool(n > PER_IMAGE_LIMIT or baseline_d.size > PER_IMAGE_LIMIT),
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
        "baseline": nn.baseline_kind,
        "baseline_n": int(baseline_d.size),
        "baseline_median_nn_l2": _round(median_nn),
        "ratio_p01": _round(float(np.percentile(ratio, 1))),
        "ratio_p05": _round(float(np.percentile(ratio, 5))),
        "ratio_median": _round(float(np.median(ratio))),
        "ncc_shift_max_p99": _round(float(np.quantile(ncc, 0.99))),
        "ncc_shift_max_max": _round(float(ncc.max())),
        "baseline_ncc_shift_p99": _round(baseline_q99),
        "holdout_ncc_shift_p99": _round(baseline_q99) if nn.baseline_kind == "holdout" else None,
        "ncc_threshold": _round(threshold),
        "n_exact_duplicates": n_exact,
        "n_probable_copies": n_probable,
        "frac_probable_copies": _round(frac),
        "n_near_copies_review": n_near,
        "train_images_copied": train_copied,
        "max_copies_of_one_reference": max_copies,
        "n_synthetic_used": n,
        "n_reference_used": m,
        "n_dropped_blank": n_dropped,
        "n_dropped_blank_reference": len(reference.images) - m,
        "n_dropped_blank_holdout": 0 if holdout is None else len(holdout.images) - len(h_used),
        "n_flagged_total": len(flagged_rows),
        "status_capped_by_baseline": capped,
    }
    thresholds = {
        "ncc_star": {"warn": round(float(threshold), 6), "fail": None, "direction": "above"},
        "ratio": {"warn": p["near_copy_ratio"], "fail": None, "direction": "below"},
        "frac_probable_copies": {"warn": 0.0, "fail": p["fail_fraction"], "direction": "above"},
        "n_exact_duplicates": {"warn": None, "fail": 0, "direction": "above"},
        "max_copies_of_one_reference": {"warn": None, "fail": p["max_copies_per_reference"] - 1, "direction": "above"},
    }
    baseline_text = "held-out real set" if nn.baseline_kind == "holdout" else "leave-one-out within the reference set"
    if n_probable == 0 and n_near == 0:
        summary = (
            f"No probable copies: none of {n} synthetic images reaches NCC* {threshold:.3f} against the real images,"
            f" no exact pixel duplicates (baseline: {baseline_text})."
        )
    else:
        parts = [
            f"{n_probable} of {n} synthetic images ({100 * frac:.2f} %) are probable copies of"
            f" {train_copied} real image(s)"
        ]
        if n_exact:
            parts.append(f"{n_exact} exact pixel duplicate(s)")
        if max_copies >= 2:
            parts.append(f"one real image copied {max_copies} times")
        if n_near:
            parts.append(f"{n_near} near copies to review")
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


def copy_flags(result: AuditResult) -> dict[str, bool] | None:
    """Synthetic image label -> probable copy (exact duplicates included), for per-subgroup copy rates.

    None when the result has no per-image list (not computable, or more than PER_IMAGE_LIMIT images).
    """
    rows = result.charts.get("per_image")
    if not rows:
        return None
    return {row["label"]: bool(row["copy"]) for row in rows}
