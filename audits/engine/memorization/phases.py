"""The memorization search in phases, so that a run can spread it over tasks (issue 13).

(a) `block_candidates`: the candidates of a block of query images among a block of reference
    images (pixel L2, Fourier magnitude, transform thumbnails), reference rows numbered in the
    whole set; `merge_candidates` keeps each query's best over every reference block. Ties go
    to the lower reference row, so the result does not depend on how the references were split.
(b) `score_block`: a query block's as-is re-rank, transform pre-rank, whole-pixel alignment and
    continuous refinement, from the query pixels and only its candidates' reference pixels.
    The refinement depends on one number of the whole set (`geometry.refine_cut`); a block
    scored alone is refined both ways and `combine_scores` picks per image once the cut is known.
(c) `audit.decide` turns the per-image rows into the result.

`memorization.run` composes (a), (b) and (c) in one process over one block; the app's run
composes them over chunk tasks, with identical results (tests/audits/test_scaleout.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from audits.engine.memorization.geometry import (
    TRANSFORM_BLOCK,
    BestMatch,
    TransformCandidates,
    View,
    coarse_alignment,
    prerank,
    refine_cut,
    refined_match,
    transform_candidates,
    zoom_views,
)
from audits.engine.memorization.ncc import _summarise, rerank
from audits.engine.memorization.params import _blas_limit, resolve_params
from audits.engine.memorization.search import _unique_per_row, nearest_candidates, spectrum_features


@dataclass
class Candidates:
    """Per query row: its candidate reference rows (numbered in the whole reference set)."""

    pixel: np.ndarray  # (q, k) nearest by pixel L2, -1 where none
    pixel_d: np.ndarray  # (q, k) squared distances, +inf where none
    spectrum: np.ndarray  # (q, spectrum_k) nearest by Fourier magnitude
    spectrum_d: np.ndarray
    transform: TransformCandidates | None  # the transform_pool best thumbnails, None when switched off

    def as_is(self) -> np.ndarray:
        """The as-is candidates (pixel and spectrum), each reference at most once per row."""
        return _unique_per_row(np.concatenate([self.pixel, self.spectrum], axis=1))

    def rows(self) -> np.ndarray:
        """Every reference row these candidates need, sorted."""
        parts = [self.pixel.ravel(), self.spectrum.ravel()]
        if self.transform is not None:
            parts.append(self.transform.indices.ravel())
        every = np.concatenate(parts)
        return np.unique(every[every >= 0])


def block_candidates(
    queries: np.ndarray,
    references: np.ndarray,
    offset: int,
    params: dict[str, Any],
    views: list[View] | None,
    *,
    query_groups: np.ndarray | None = None,
    reference_groups: np.ndarray | None = None,
    query_spectrum: np.ndarray | None = None,
    reference_spectrum: np.ndarray | None = None,
) -> Candidates:
    """Phase (a): candidates of queries (q, size, size) among references (mb, size, size), rows + offset.

    Groups exclude pairs of equal group (leave-one-out: an image must not find itself); spectra
    are computed here when not given.
    """
    p = params
    size = queries.shape[-1]
    both = {"synthetic_groups": query_groups, "reference_groups": reference_groups}
    if query_groups is None or reference_groups is None:
        both = {"synthetic_groups": None, "reference_groups": None}
    pixel, pixel_d = nearest_candidates(queries, references, p["k"], p["block"], **both)
    q = len(queries)
    spectrum, spectrum_d = np.full((q, 0), -1, np.int64), np.full((q, 0), np.inf, np.float32)
    if p["spectrum_k"]:
        q_spec = spectrum_features(queries, size) if query_spectrum is None else query_spectrum
        r_spec = spectrum_features(references, size) if reference_spectrum is None else reference_spectrum
        spectrum, spectrum_d = nearest_candidates(q_spec, r_spec, p["spectrum_k"], p["block"], **both)
    transform = None
    if views is not None:
        transform = transform_candidates(
            queries,
            references,
            views,
            p["transform_pool"],
            p["thumb"],
            query_groups=both["synthetic_groups"],
            reference_groups=both["reference_groups"],
            block=min(p["block"], TRANSFORM_BLOCK),
        )
        transform.indices = np.where(transform.indices >= 0, transform.indices + offset, -1)
    return Candidates(
        pixel=np.where(pixel >= 0, pixel + offset, -1),
        pixel_d=pixel_d,
        spectrum=np.where(spectrum >= 0, spectrum + offset, -1),
        spectrum_d=spectrum_d,
        transform=transform,
    )


def _best_nearest(indices: list[np.ndarray], distances: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest over blocks: by distance, ties to the lower row; empty slots last."""
    idx, dist = np.concatenate(indices, axis=1), np.concatenate(distances, axis=1)
    k = indices[0].shape[1]
    key = np.where(idx >= 0, idx, np.iinfo(np.int64).max)
    order = np.lexsort((key, dist), axis=-1)[:, :k]
    return np.take_along_axis(idx, order, axis=1), np.take_along_axis(dist, order, axis=1)


def merge_candidates(parts: Sequence[Candidates]) -> Candidates:
    """Each query's best candidates over reference blocks given in row order (phase a, merged)."""
    if len(parts) == 1:
        return parts[0]
    pixel, pixel_d = _best_nearest([c.pixel for c in parts], [c.pixel_d for c in parts])
    spectrum, spectrum_d = _best_nearest([c.spectrum for c in parts], [c.spectrum_d for c in parts])
    transform = None
    found = [c.transform for c in parts if c.transform is not None]
    if found:
        k = found[0].indices.shape[1]
        corr = np.concatenate([t.corr for t in found], axis=1)
        # stable: equal correlations keep block order, which is row order
        order = np.argsort(-corr, axis=1, kind="stable")[:, :k]

        def take(name: str) -> np.ndarray:
            return np.take_along_axis(np.concatenate([getattr(t, name) for t in found], axis=1), order, axis=1)

        transform = TransformCandidates(
            indices=take("indices"), corr=take("corr"), symmetry=take("symmetry"), view=take("view")
        )
    return Candidates(pixel, pixel_d, spectrum, spectrum_d, transform)


@dataclass
class BlockScores:
    """Phase (b) per query row: the as-is match and the transform match, refined both ways.

    `upper_*` is the match when the row is at or above the set's refine cut, `lower_*` when it
    is below (equal when the cut was known); `combine_scores` picks one per row.
    """

    d: np.ndarray  # exact L2 to the nearest as-is candidate
    as_is_ncc: np.ndarray
    as_is_best: np.ndarray  # reference row (whole set) of the best as-is candidate
    as_is_shift: np.ndarray  # (q, 2)
    coarse_best: np.ndarray  # whole-pixel best of the transform candidates (-inf without transforms)
    upper_ncc: np.ndarray
    upper_reference: np.ndarray
    upper_symmetry: np.ndarray
    upper_scale: np.ndarray
    upper_top: np.ndarray
    upper_left: np.ndarray
    lower_ncc: np.ndarray
    lower_reference: np.ndarray
    lower_symmetry: np.ndarray
    lower_scale: np.ndarray
    lower_top: np.ndarray
    lower_left: np.ndarray

    def arrays(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_arrays(cls, data: Any) -> BlockScores:
        return cls(**{f.name: np.asarray(data[f.name]) for f in fields(cls)})


def score_block(
    queries: np.ndarray,
    as_is: np.ndarray,
    transform: TransformCandidates | None,
    reference_rows: np.ndarray,
    references: np.ndarray,
    params: dict[str, Any],
    views: list[View] | None,
    *,
    whole_set: bool,
) -> BlockScores:
    """Phase (b) for queries (q, size, size): references[i] is reference row reference_rows[i] (sorted).

    With `whole_set` the queries are the whole set and its refine cut is applied directly;
    otherwise each row is refined both ways (`BlockScores`).
    """
    p = params
    rows = np.asarray(reference_rows, dtype=np.int64)

    def local(indices: np.ndarray) -> np.ndarray:
        return np.where(indices >= 0, np.searchsorted(rows, np.maximum(indices, 0)), -1)

    def whole(indices: np.ndarray) -> np.ndarray:
        return np.where(indices >= 0, rows[np.maximum(indices, 0)] if rows.size else -1, -1)

    as_is_local = local(as_is)
    summary = _summarise(as_is_local, *rerank(queries, references, as_is_local, p["max_shift"]))
    q = len(queries)
    as_is_match = BestMatch(
        ncc=summary.ncc,
        reference=summary.best,
        symmetry=np.zeros(q, np.int64),
        scale=np.ones(q),
        top=np.zeros(q),
        left=np.zeros(q),
    )
    upper = lower = as_is_match
    coarse_best = np.full(q, -np.inf)
    if transform is not None and views is not None and q:
        found = TransformCandidates(local(transform.indices), transform.corr, transform.symmetry, transform.view)
        found = _with_as_is(prerank(queries, references, found, views, p["transform_k"], p["max_shift"]), summary.best)
        coarse = coarse_alignment(queries, references, found, views, p["max_shift"], min_scale=p["min_scale"])
        coarse_best = coarse.best
        mask = coarse_best >= refine_cut(coarse_best) if whole_set else np.ones(q, dtype=bool)
        upper = refined_match(queries, references, found, coarse, mask, p["max_shift"], min_scale=p["min_scale"])
        lower = upper
        if not whole_set:
            lower = refined_match(
                queries, references, found, coarse, np.zeros(q, dtype=bool), p["max_shift"], min_scale=p["min_scale"]
            )
    return BlockScores(
        d=summary.d,
        as_is_ncc=summary.ncc,
        as_is_best=whole(summary.best),
        as_is_shift=np.asarray(summary.shift, dtype=np.int64).reshape(q, 2),
        coarse_best=coarse_best,
        upper_ncc=upper.ncc,
        upper_reference=whole(upper.reference),
        upper_symmetry=upper.symmetry,
        upper_scale=upper.scale,
        upper_top=upper.top,
        upper_left=upper.left,
        lower_ncc=lower.ncc,
        lower_reference=whole(lower.reference),
        lower_symmetry=lower.symmetry,
        lower_scale=lower.scale,
        lower_top=lower.top,
        lower_left=lower.left,
    )


@dataclass
class SetScores:
    """Phase (b) over a whole query set: what `audit.decide` needs per query row."""

    d: np.ndarray  # exact L2 to the nearest as-is candidate
    as_is: BestMatch  # with `shift` below: the as-is search's match
    shift: np.ndarray  # (q, 2)
    match: BestMatch  # the transform search's match (the as-is one when switched off)
    transforms: bool


def combine_scores(blocks: Sequence[BlockScores], transforms: bool) -> SetScores:
    """The blocks of one query set, in row order, as one set: each row refined as the set's cut says."""
    arrays = {
        f.name: np.concatenate([getattr(b, f.name) for b in blocks] or [np.zeros(0)]) for f in fields(BlockScores)
    }
    q = arrays["d"].shape[0]
    arrays["as_is_shift"] = np.concatenate([b.as_is_shift.reshape(-1, 2) for b in blocks] or [np.zeros((0, 2))])
    upper = arrays["coarse_best"] >= refine_cut(arrays["coarse_best"])

    def pick(name: str) -> np.ndarray:
        return np.where(upper, arrays[f"upper_{name}"], arrays[f"lower_{name}"])

    as_is = BestMatch(
        ncc=arrays["as_is_ncc"].astype(np.float64),
        reference=arrays["as_is_best"].astype(np.int64),
        symmetry=np.zeros(q, np.int64),
        scale=np.ones(q),
        top=np.zeros(q),
        left=np.zeros(q),
    )
    match = BestMatch(
        ncc=pick("ncc"),
        reference=pick("reference"),
        symmetry=pick("symmetry"),
        scale=pick("scale"),
        top=pick("top"),
        left=pick("left"),
    )
    return SetScores(
        d=arrays["d"].astype(np.float64), as_is=as_is, shift=arrays["as_is_shift"], match=match, transforms=transforms
    )


def _with_as_is(found: TransformCandidates, as_is: np.ndarray) -> TransformCandidates:
    """The transform candidates plus each query's best as-is candidate (pixel and Fourier search).

    The thumbnail search compares whole views without shifting them, so a copy moved by a few
    pixels can miss it; the as-is search finds it, and with this column its match is aligned
    and refined like the others.
    """
    extra = np.asarray(as_is, dtype=np.int64)[:, None]
    return TransformCandidates(
        indices=np.concatenate([found.indices, extra], axis=1),
        corr=np.concatenate([found.corr, np.zeros(extra.shape, dtype=found.corr.dtype)], axis=1),
        symmetry=np.concatenate([found.symmetry, np.zeros(extra.shape, dtype=np.int64)], axis=1),
        view=np.concatenate([found.view, np.zeros(extra.shape, dtype=np.int64)], axis=1),
    )


def search_block(
    queries: np.ndarray,
    reference_blocks: Iterable[tuple[int, np.ndarray, np.ndarray | None]],
    reference_pixels: Callable[[np.ndarray], np.ndarray],
    params: dict[str, Any],
    *,
    query_groups: np.ndarray | None = None,
    heartbeat: Callable[[], object] | None = None,
) -> BlockScores:
    """Phases (a) and (b) for one query block, as a chunk task runs them.

    reference_blocks yields (first row, pixels (mb, size, size), exclusion groups or None) in
    row order, one block in memory at a time; reference_pixels(rows) returns the pixels of the
    given sorted reference rows (the candidates' only). Refined both ways (`combine_scores`).
    """
    p = resolve_params(params)
    queries = np.asarray(queries, dtype=np.float32)
    size = queries.shape[-1]
    views = zoom_views(size, p["min_scale"], p["crop_scales"], p["crop_positions"]) if p["search_transforms"] else None
    parts = [
        block_candidates(queries, pixels, offset, p, views, query_groups=query_groups, reference_groups=groups)
        for offset, pixels, groups in reference_blocks
    ]
    found = merge_candidates(parts)
    if heartbeat is not None:  # the scoring below is the longer part
        heartbeat()
    rows = found.rows()
    references = np.asarray(reference_pixels(rows), dtype=np.float32).reshape(len(rows), size, size)
    with _blas_limit(p["blas_threads"]):
        return score_block(queries, found.as_is(), found.transform, rows, references, p, views, whole_set=False)
