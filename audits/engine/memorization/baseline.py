"""Inputs of the searches and the baseline choice (step 4): held-out set or leave-one-out.

`nn_inputs` builds the pixel matrices, picks the baseline query rows (a seeded sample) and the
exact-duplicate groups that keep a reference image from finding itself; `check_computable`
says when the sets cannot be compared at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from audits.engine.memorization.params import resolve_params
from audits.engine.memorization.search import NNInputs, spectrum_features
from audits.engine.types import Image, ImageSet


def _matrix(images: Sequence[Image], size: int) -> np.ndarray:
    if not images:
        return np.zeros((0, size * size), dtype=np.float32)
    return np.stack([np.asarray(image.pixels, dtype=np.float32).reshape(-1) for image in images])


def _sample(count: int, limit: int | None, seed: int) -> np.ndarray:
    if limit is None or count <= limit:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, size=limit, replace=False))


@dataclass
class BaselinePlan:
    """Which images make the null: their kind, their rows (in holdout.usable or reference.usable) and counts."""

    kind: str  # "holdout" or "train_loo"
    rows: np.ndarray
    pool: int  # images the rows were sampled from
    n_holdout_duplicates: int  # usable held-out images left out as exact duplicates of R (all of them for train_loo)


def baseline_plan(
    reference_digests: Sequence[str], holdout_digests: Sequence[str], params: dict[str, Any]
) -> BaselinePlan:
    """The baseline's query rows from the usable images' pixel digests alone (seeded sample).

    Decided once over the whole sets, so that a run split into tasks samples exactly the rows
    that the in-process audit does, whatever order the tasks run in.
    """
    p = resolve_params(params)
    r_hashes = set(reference_digests)
    kept = [i for i, digest in enumerate(holdout_digests) if digest not in r_hashes]
    if kept:
        rows = np.asarray(kept, dtype=np.int64)[_sample(len(kept), p["baseline_sample"], p["seed"])]
        return BaselinePlan("holdout", rows, len(kept), len(holdout_digests) - len(kept))
    rows = _sample(len(reference_digests), p["baseline_sample"], p["seed"])
    return BaselinePlan("train_loo", rows, len(reference_digests), len(holdout_digests))


def duplicate_groups(digests: Sequence[str]) -> np.ndarray:
    """An id per distinct digest (first seen first): the leave-one-out exclusion groups."""
    group_of: dict[str, int] = {}
    return np.asarray([group_of.setdefault(digest, len(group_of)) for digest in digests], dtype=np.int64)


def nn_inputs(
    synthetic: ImageSet, reference: ImageSet, holdout: ImageSet | None = None, params: dict[str, Any] | None = None
) -> NNInputs:
    """Matrices and exclusion groups for the synthetic and baseline searches (see `NNInputs`).

    Assumes the sets passed `check_computable`.
    """
    p = resolve_params(params)
    s_used, r_used = synthetic.usable, reference.usable
    size = int(np.asarray(s_used[0].pixels).shape[0])
    h_used = [] if holdout is None else holdout.usable
    plan = baseline_plan([i.pixel_sha256 for i in r_used], [i.pixel_sha256 for i in h_used], p)
    reference_matrix = _matrix(r_used, size)
    rows = plan.rows
    if plan.kind == "holdout":
        inputs = NNInputs(
            size=size,
            synthetic=_matrix(s_used, size),
            reference=reference_matrix,
            baseline=_matrix([h_used[i] for i in rows], size),
            baseline_rows=rows,
            baseline_kind="holdout",
            baseline_groups=None,
            reference_groups=None,
            baseline_pool=plan.pool,
            n_holdout_duplicates=plan.n_holdout_duplicates,
        )
    else:
        groups = duplicate_groups([image.pixel_sha256 for image in r_used])
        inputs = NNInputs(
            size=size,
            synthetic=_matrix(s_used, size),
            reference=reference_matrix,
            baseline=reference_matrix[rows],
            baseline_rows=rows,
            baseline_kind="train_loo",
            baseline_groups=groups[rows],
            reference_groups=groups,
            baseline_pool=plan.pool,
            n_holdout_duplicates=plan.n_holdout_duplicates,
        )
    if p["spectrum_k"]:
        inputs.synthetic_spectrum = spectrum_features(inputs.synthetic, size)
        inputs.reference_spectrum = spectrum_features(inputs.reference, size)
        if inputs.baseline_kind == "train_loo":
            inputs.baseline_spectrum = inputs.reference_spectrum[rows]
        else:
            inputs.baseline_spectrum = spectrum_features(inputs.baseline, size)
    return inputs


def check_computable(
    synthetic: ImageSet, reference: ImageSet, holdout: ImageSet | None, max_shift: int
) -> tuple[str, str] | None:
    """(reason, what is needed) when the audit cannot run on these sets, else None."""
    s_used, r_used = synthetic.usable, reference.usable
    h_used = [] if holdout is None else holdout.usable
    n_s, n_r = len(synthetic.images), len(reference.images)
    if n_s == 0:
        return (
            "the synthetic set has no readable images",
            "a synthetic set with at least one readable, non-blank image",
        )
    if not s_used and not r_used and n_r:
        return (
            f"all images are blank (all {n_s} synthetic and all {n_r} reference images are constant)",
            "synthetic and reference images with visible content; blank (constant) images are not compared",
        )
    if not s_used:
        return (
            f"all {n_s} synthetic images are blank (constant)",
            "at least one synthetic image with visible content; blank images are not compared",
        )
    shapes = {np.asarray(image.pixels).shape for image in [*s_used, *r_used, *h_used]}
    if len(shapes) > 1 or any(len(shape) != 2 or shape[0] != shape[1] for shape in shapes):
        return (
            f"the images were preprocessed to different sizes ({', '.join(sorted(map(str, shapes)))})",
            "all sets preprocessed with the same settings (one square size)",
        )
    size = next(iter(shapes))[0]
    if size - 2 * max_shift < 2:
        return (
            f"max_shift {max_shift} leaves no centre crop in {size} x {size} images",
            "a smaller max_shift or a larger preprocessing size",
        )
    r_hashes = {image.pixel_sha256 for image in r_used}
    holdout_ok = any(image.pixel_sha256 not in r_hashes for image in h_used)
    if holdout_ok and not r_used:
        return (
            f"the reference set has no usable image ({n_r} read, all blank or none)",
            "a reference set of the real training images with at least one non-blank image",
        )
    if not holdout_ok and len(r_hashes) < 2:
        return (
            f"the reference set has {len(r_hashes)} distinct usable image(s) and no usable held-out set was given;"
            " the leave-one-out baseline needs at least 2",
            "at least 2 distinct non-blank reference images, or a held-out real set (recommended)",
        )
    return None
