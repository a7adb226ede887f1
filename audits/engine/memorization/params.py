"""Parameters of the memorization audit: the defaults, their validation and the BLAS thread limit."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from audits.engine.schema import Setting, check_thresholds

DEFAULT_PARAMS: dict[str, Any] = {
    # thresholds (THRESHOLDS below): what counts as a copy and when the audit warns or fails
    "flag_rate": 0.01,
    "warn_alpha": 0.01,
    "fail_alpha": 0.001,
    "ncc_floor": 0.9,
    "near_exact_ncc": 0.999,
    "max_copies_per_reference": 3,
    "search_transforms": True,
    "min_scale": 0.7,
    # compute settings
    "k": 5,
    "spectrum_k": 5,
    "transform_k": 3,
    "transform_pool": 10,
    "thumb": 24,
    "crop_scales": 3,
    "crop_positions": 4,
    "block": 2048,
    "max_shift": 3,
    "baseline_sample": 5000,
    "seed": 0,
    "blas_threads": None,
}

THRESHOLDS: dict[str, Setting] = {
    "flag_rate": Setting(
        "Share of never-trained-on real images allowed over the copy threshold",
        "float",
        0.0001,
        0.05,
        help="The copy threshold is set so that only this share of real images that were never trained on"
        " would cross it (estimated from the held-out set, with its size taken into account).",
    ),
    "warn_alpha": Setting(
        "Warn when copying is this unlikely to be chance (p-value)",
        "float",
        1e-12,
        0.2,
        help="Warn when the number of images over the threshold, or the most extreme image, has a p-value"
        " below this under the real-versus-real baseline.",
    ),
    "fail_alpha": Setting(
        "Fail when copying is this unlikely to be chance (p-value)",
        "float",
        1e-12,
        0.1,
        help="Fail when the p-value of the excess over the baseline, or of the most extreme image, is below this.",
    ),
    "ncc_floor": Setting(
        "Lowest similarity ever called a copy (NCC)",
        "float",
        0.5,
        1.0,
        help="The copy threshold never goes below this, however different the real images are from each other.",
    ),
    "near_exact_ncc": Setting(
        "Similarity of a near-exact copy (NCC)",
        "float",
        0.9,
        1.0,
        help="Without a held-out set the status is capped at warn unless an image is at least this similar"
        " to a training image after alignment.",
    ),
    "max_copies_per_reference": Setting(
        "Warn when one real image has this many copies",
        "int",
        2,
        1000,
        unit="copies",
    ),
    "search_transforms": Setting(
        "Look for mirrored, rotated and cropped copies",
        "bool",
        help="Off compares images only as they are (with small shifts); on also undoes the eight flips and"
        " rotations of the square and crops down to the smallest crop below.",
    ),
    "min_scale": Setting(
        "Smallest crop searched (share of the side)",
        "float",
        0.5,
        1.0,
        help="A copy cropped to this share of the side, or more, and resized is found.",
    ),
}


def resolve_params(params: dict[str, Any] | None) -> dict[str, Any]:
    """DEFAULT_PARAMS updated with `params`; ValueError on an unknown name or a bad value."""
    merged = dict(DEFAULT_PARAMS)
    given = dict(params or {})
    unknown = sorted(set(given) - set(DEFAULT_PARAMS))
    if unknown:
        raise ValueError(f"unknown memorization parameter(s): {', '.join(unknown)}")
    merged.update(given)

    def integer(name: str, low: int, allow_none: bool = False) -> None:
        value = merged[name]
        if value is None and allow_none:
            return
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
            raise ValueError(f"memorization parameter {name} must be an integer >= {low}, got {value!r}")
        merged[name] = int(value)

    integer("k", 1)
    integer("spectrum_k", 0)
    integer("transform_k", 1)
    integer("transform_pool", 1)
    integer("thumb", 4)
    integer("crop_scales", 0)
    integer("crop_positions", 1)
    integer("block", 1)
    integer("max_shift", 0)
    integer("baseline_sample", 1, allow_none=True)
    integer("seed", 0)
    integer("blas_threads", 1, allow_none=True)
    merged = check_thresholds("memorization", THRESHOLDS, merged)
    if merged["fail_alpha"] > merged["warn_alpha"]:
        raise ValueError("memorization: the fail p-value must not be above the warn p-value")
    return merged


@contextlib.contextmanager
def _blas_limit(threads: int | None) -> Iterator[None]:
    if threads is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads, user_api="blas"):
        yield


METRIC_LABELS: dict[str, str] = {
    "baseline": "what real images never trained on were taken from (held-out set or leave-one-out)",
    "baseline_n": "real images in the baseline",
    "ncc_threshold": "copy threshold (similarity after alignment)",
    "baseline_ncc_median": "typical similarity of a never-trained-on real image to the training set",
    "baseline_ncc_max": "highest similarity of a never-trained-on real image to the training set",
    "synthetic_ncc_median": "typical similarity of a synthetic image to the training set",
    "synthetic_ncc_max": "highest similarity of a synthetic image to the training set",
    "n_exact_duplicates": "synthetic images whose pixels are identical to a training image",
    "n_probable_copies": "synthetic images over the copy threshold (probable copies)",
    "frac_probable_copies": "share of synthetic images over the copy threshold",
    "expected_over_threshold": "images over the threshold expected if nothing were copied",
    "crossing_rate_high": "upper bound on the share of real images over the threshold",
    "excess_p_value": "chance of this many images over the threshold without copying (p-value)",
    "extreme_p_value": "chance of the most similar image without copying (p-value, corrected for the number of images)",
    "n_transformed_copies": "probable copies that were mirrored, rotated or cropped",
    "transforms_found": "how the probable copies were changed",
    "train_images_copied": "training images with at least one probable copy",
    "max_copies_of_one_reference": "most probable copies of a single training image",
    "baseline_median_nn_l2": "typical pixel distance from a never-trained-on real image to the training set",
    "ratio_median": "typical pixel distance of a synthetic image, relative to the baseline",
    "n_synthetic_used": "synthetic images compared",
    "n_reference_used": "training images compared",
    "n_dropped_blank": "blank synthetic images left out",
    "n_dropped_blank_reference": "blank training images left out",
    "n_dropped_blank_holdout": "blank held-out images left out",
    "n_flagged_total": "images listed for review",
    "status_capped_by_baseline": "status capped at warn for want of a held-out set",
}
