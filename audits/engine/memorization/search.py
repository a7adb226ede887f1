"""Candidate search of the memorization audit (step 2 of the package docstring).

Blocked nearest neighbours by squared Euclidean distance (`nearest_candidates`), the Fourier
magnitudes that put a shifted copy near its source (`spectrum_features`), what the searches
run on (`NNInputs`) and the chunk step that unites pixel and spectrum candidates
(`candidate_rows`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from audits.engine import memorization as package  # its tuning constants, read at call time: tests set them there
from audits.engine.memorization.geometry import best_columns
from audits.engine.memorization.params import resolve_params


def _rows(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array, dtype=np.float32)
    return array.reshape(array.shape[0], int(np.prod(array.shape[1:], dtype=np.int64)))


def nearest_candidates(
    synthetic: np.ndarray,
    reference: np.ndarray,
    k: int,
    block: int = 2048,
    *,
    synthetic_groups: np.ndarray | None = None,
    reference_groups: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest reference rows of every synthetic row, by squared Euclidean distance.

    synthetic (n, ...) and reference (m, ...) are flattened to float32 rows. Distances come
    from ||s||^2 + ||r||^2 - 2 s.r (clipped at 0) with one matrix product per block of `block`
    synthetic rows, so memory stays at about block * m * 4 bytes. Returns (indices, sq_distances),
    both (n, k): reference row numbers (int64) and squared distances (float32), nearest first
    (ties by row number). Slots beyond the available references hold -1 and +inf.

    When both group arrays are given, a pair whose groups are equal is never a candidate: the
    leave-one-out baseline passes exact-duplicate ids so that an image does not find itself.

    Rows are independent, so chunks of synthetic rows can run as separate tasks and their
    results be merged with np.concatenate in row order.
    """
    if k < 1 or block < 1:
        raise ValueError("k and block must be >= 1")
    s = _rows(synthetic)
    r = _rows(reference)
    n, m = s.shape[0], r.shape[0]
    if n and m and s.shape[1] != r.shape[1]:
        raise ValueError(f"synthetic rows have {s.shape[1]} values, reference rows {r.shape[1]}")
    if (synthetic_groups is None) != (reference_groups is None):
        raise ValueError("give both synthetic_groups and reference_groups, or neither")
    indices = np.full((n, k), -1, dtype=np.int64)
    sq_distances = np.full((n, k), np.inf, dtype=np.float32)
    if n == 0 or m == 0:
        return indices, sq_distances
    sg = rg = None
    if synthetic_groups is not None and reference_groups is not None:
        sg = np.asarray(synthetic_groups)
        rg = np.asarray(reference_groups)
        if sg.shape != (n,) or rg.shape != (m,):
            raise ValueError("group arrays must have one entry per row")
    kk = min(k, m)
    r_sq = np.einsum("ij,ij->i", r, r)
    for start in range(0, n, block):
        sb = s[start : start + block]
        dist = sb @ r.T
        dist *= -2.0
        dist += np.einsum("ij,ij->i", sb, sb)[:, None]
        dist += r_sq[None, :]
        np.maximum(dist, 0.0, out=dist)
        for sub in range(0, dist.shape[0], package._ARGPARTITION_ROWS):
            rows = dist[sub : sub + package._ARGPARTITION_ROWS]
            if sg is not None and rg is not None:
                lo = start + sub
                rows[sg[lo : lo + rows.shape[0], None] == rg[None, :]] = np.inf
            part = best_columns(-rows, kk)  # the kk nearest, ties to the lower row (block-independent)
            part_d = np.take_along_axis(rows, part, axis=1)
            order = np.lexsort((part, part_d), axis=-1)
            part = np.take_along_axis(part, order, axis=1)
            part_d = np.take_along_axis(part_d, order, axis=1)
            part = np.where(np.isinf(part_d), -1, part)
            lo = start + sub
            indices[lo : lo + rows.shape[0], :kk] = part
            sq_distances[lo : lo + rows.shape[0], :kk] = part_d
    return indices, sq_distances


def spectrum_features(images: np.ndarray, size: int, block: int = 1024) -> np.ndarray:
    """Fourier magnitudes of each image: a description that a shift does not change.

    For each size x size image x (rows of `images`, flattened or not): |rfft2(x - mean(x))|
    at the lowest `cut` = max(1, size // 4) horizontal frequencies and the `cut` lowest
    non-negative and `cut` highest (negative) vertical ones, flattened to 2 * cut * cut
    float32 values (512 at 64 x 64). The magnitude of a circular shift is unchanged, and a
    small shift of an image with a dark border is nearly circular, so L2 on these values puts
    a shifted copy near its source even when similar neighbouring slices are nearer in pixels.
    """
    from scipy import fft

    x = np.asarray(images, dtype=np.float32).reshape(-1, size, size)
    cut = max(1, size // 4)
    out = np.empty((len(x), 2 * cut * cut), dtype=np.float32)
    for start in range(0, len(x), block):
        part = x[start : start + block]
        magnitude = np.abs(fft.rfft2(part - part.mean(axis=(1, 2), keepdims=True)))
        low = np.concatenate([magnitude[:, :cut, :cut], magnitude[:, -cut:, :cut]], axis=1)
        out[start : start + block] = low.reshape(len(part), -1)
    return out


@dataclass
class NNInputs:
    """What the nearest-neighbour searches run on; rows follow `ImageSet.usable` order.

    synthetic (n, D) and reference (m, D) are flattened float32 pixels. baseline (q, D) are
    the baseline queries: held-out images (baseline_kind "holdout") or reference images
    (baseline_kind "train_loo"); baseline_rows are their positions in holdout.usable or
    reference.usable. For "train_loo", baseline_groups and reference_groups are exact-duplicate
    ids to pass to `nearest_candidates` (so that an image does not find itself); else None.
    """

    size: int
    synthetic: np.ndarray
    reference: np.ndarray
    baseline: np.ndarray
    baseline_rows: np.ndarray
    baseline_kind: str
    baseline_groups: np.ndarray | None
    reference_groups: np.ndarray | None
    baseline_pool: int = 0  # images the baseline rows were sampled from
    n_holdout_duplicates: int = 0  # usable holdout images left out as exact duplicates of R
    # `spectrum_features` of the same rows (None when spectrum_k is 0)
    synthetic_spectrum: np.ndarray | None = None
    reference_spectrum: np.ndarray | None = None
    baseline_spectrum: np.ndarray | None = None

    def queries(self, which: str) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """(pixels, spectrum, exclusion groups) of the "synthetic" or "baseline" query rows."""
        if which == "synthetic":
            return self.synthetic, self.synthetic_spectrum, None
        if which == "baseline":
            return self.baseline, self.baseline_spectrum, self.baseline_groups
        raise ValueError(f"which must be 'synthetic' or 'baseline', got {which!r}")


def candidate_rows(
    inputs: NNInputs, which: str, start: int, stop: int, params: dict[str, Any] | None = None
) -> np.ndarray:
    """The chunk step: candidate reference rows for query rows start:stop of `inputs`.

    which is "synthetic" or "baseline". Returns (stop - start, k + spectrum_k) int64: the k
    pixel-nearest (`nearest_candidates` on pixels) and the spectrum_k nearest by Fourier
    magnitude (`spectrum_features`, which finds shifted copies that pixel L2 ranks behind
    similar neighbours), each reference at most once per row, -1 in unused slots. Chunks are
    independent: concatenate them in row order and pass the result to `run(candidates=...)`.
    """
    p = resolve_params(params)
    pixels, spectrum, groups = inputs.queries(which)
    rows = slice(start, stop)
    sub_groups = None if groups is None else groups[rows]
    ref_groups = None if groups is None else inputs.reference_groups
    found, _ = nearest_candidates(
        pixels[rows],
        inputs.reference,
        p["k"],
        p["block"],
        synthetic_groups=sub_groups,
        reference_groups=ref_groups,
    )
    if p["spectrum_k"] and spectrum is not None and inputs.reference_spectrum is not None:
        more, _ = nearest_candidates(
            spectrum[rows],
            inputs.reference_spectrum,
            p["spectrum_k"],
            p["block"],
            synthetic_groups=sub_groups,
            reference_groups=ref_groups,
        )
        found = np.concatenate([found, more], axis=1)
    return _unique_per_row(found)


def _unique_per_row(indices: np.ndarray) -> np.ndarray:
    """Each reference row at most once per query row; repeats become -1 (order is not kept)."""
    out = np.sort(indices, axis=1)
    if out.shape[1] > 1:
        repeat = np.zeros(out.shape, dtype=bool)
        repeat[:, 1:] = (out[:, 1:] == out[:, :-1]) & (out[:, 1:] >= 0)
        out[repeat] = -1
    return out


def _check_candidates(name: str, value: Any, rows: int, m: int) -> np.ndarray:
    """Candidate reference rows (rows, c) from an index array or an (indices, sq_distances) pair."""
    if value is None:
        raise ValueError(f"candidates[{name!r}] is missing")
    indices = np.asarray(value[0] if isinstance(value, tuple) else value)
    if indices.ndim != 2 or indices.shape[0] != rows or indices.shape[1] < 1 or indices.dtype.kind not in "iu":
        raise ValueError(f"candidates[{name!r}] must be a ({rows}, c) integer array, got {indices.shape}")
    if indices.size and (indices.max() >= m or indices.min() < -1):
        raise ValueError(f"candidates[{name!r}] has reference rows outside 0..{m - 1}")
    if rows and not (indices >= 0).any(axis=1).all():
        raise ValueError(f"candidates[{name!r}] has a row without any candidate")
    return _unique_per_row(indices.astype(np.int64))
