"""Shift-tolerant normalised cross-correlation (NCC*) re-rank of the candidate pairs (step 3).

`rerank` scores every candidate pair, `shift_ncc` one pair, and `_summarise` reduces each
query row to its NCC* candidate and its L2-nearest candidate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audits.engine import memorization as package  # its tuning constants, read at call time: tests set them there
from audits.engine.memorization.params import _blas_limit


def _normalised_crops(images: np.ndarray, max_shift: int) -> np.ndarray:
    """Centre crops (side size - 2 * max_shift) as zero-mean unit-norm float32 rows; 0 if constant."""
    from audits.engine.memorization.geometry import zscore_rows

    size = images.shape[1]
    return zscore_rows(images[:, max_shift : size - max_shift, max_shift : size - max_shift])


def rerank(
    synthetic: np.ndarray, reference: np.ndarray, indices: np.ndarray, max_shift: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NCC*, its shift and the exact L2 distance for every candidate pair.

    synthetic (n, size, size) and reference (m, size, size) are preprocessed images;
    indices (n, k) are reference rows as `nearest_candidates` returns them (-1: none).
    NCC*(s, r) = max over |dy|, |dx| <= max_shift of the Pearson correlation between the
    centre crop of r (side size - 2 * max_shift) and the same-sized window of s moved by
    (dy, dx); a window or crop without variance correlates 0.

    Returns ncc (n, k) float32 (-inf where there is no candidate), shifts (n, k, 2) int
    (dy, dx) of the best window, and l2 (n, k) float32 exact ||s - r|| (+inf where none).
    The windows of a chunk of synthetic rows are gathered into one reused buffer and
    multiplied with the normalised reference crops of their candidates (one small matrix
    product per row, with one BLAS thread: threads only add synchronisation at that size).
    """
    s_img = np.asarray(synthetic, dtype=np.float32)
    r_img = np.asarray(reference, dtype=np.float32)
    n, k = indices.shape
    ncc = np.full((n, k), -np.inf, dtype=np.float32)
    shifts = np.zeros((n, k, 2), dtype=np.int64)
    l2 = np.full((n, k), np.inf, dtype=np.float32)
    if n == 0:
        return ncc, shifts, l2
    size = s_img.shape[1]
    if s_img.shape[1:] != r_img.shape[1:] or s_img.shape[1] != s_img.shape[2]:
        raise ValueError(f"images must be square and of one size, got {s_img.shape[1:]} and {r_img.shape[1:]}")
    side = size - 2 * max_shift
    if side < 2:
        raise ValueError(f"max_shift {max_shift} leaves no centre crop in {size} x {size} images")
    valid = indices >= 0
    used = np.unique(indices[valid])
    crops = _normalised_crops(r_img[used], max_shift)
    position = np.searchsorted(used, np.where(valid, indices, used[0] if used.size else 0))
    span = 2 * max_shift + 1
    n_shifts = span * span
    chunk = max(1, package._RERANK_BYTES // (n_shifts * side * side * 4))
    buffer = np.empty((min(chunk, n), span, span, side, side), dtype=np.float32)
    with _blas_limit(1):
        _rerank_chunks(s_img, r_img, indices, max_shift, crops, position, buffer, ncc, shifts, l2)
    return ncc, shifts, l2


def _rerank_chunks(
    s_img: np.ndarray,
    r_img: np.ndarray,
    indices: np.ndarray,
    max_shift: int,
    crops: np.ndarray,
    position: np.ndarray,
    buffer: np.ndarray,
    ncc: np.ndarray,
    shifts: np.ndarray,
    l2: np.ndarray,
) -> None:
    n = len(s_img)
    chunk, span, _, side, _ = buffer.shape
    n_shifts = span * span
    valid = indices >= 0
    r_flat = r_img.reshape(len(r_img), -1)
    s_flat = s_img.reshape(n, -1)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        grid = buffer[: stop - start]
        for y in range(span):  # 49 strided copies beat one copy of a sliding-window view
            for x in range(span):
                grid[:, y, x] = s_img[start:stop, y : y + side, x : x + side]
        windows = grid.reshape(stop - start, n_shifts, side * side)
        # the crops are zero-mean, so the windows need no centring for the numerator
        candidates = crops[position[start:stop]]  # (b, k, side * side)
        products = np.matmul(windows, candidates.transpose(0, 2, 1))  # (b, n_shifts, k)
        norms = _window_norms(s_img[start:stop], side, span)[:, :, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            corr = np.where(norms > 1e-5, products / norms, 0.0)
        best = corr.argmax(axis=1)  # (b, k)
        best_corr = np.take_along_axis(corr, best[:, None, :], axis=1)[:, 0, :]
        chunk_valid = valid[start:stop]
        ncc[start:stop] = np.where(chunk_valid, np.clip(best_corr, -1.0, 1.0), -np.inf)
        shifts[start:stop, :, 0] = best // span - max_shift
        shifts[start:stop, :, 1] = best % span - max_shift
        safe = np.where(chunk_valid, indices[start:stop], 0)
        diff = s_flat[start:stop, None, :] - r_flat[safe]
        l2[start:stop] = np.where(chunk_valid, np.linalg.norm(diff, axis=2), np.inf)


def _window_norms(images: np.ndarray, side: int, span: int) -> np.ndarray:
    """||w - mean(w)|| of every side x side window at offsets 0..span-1, (b, span * span) float64.

    From integral images of x and x^2: sum(w^2) - sum(w)^2 / side^2, in float64.
    """
    x = images.astype(np.float64)
    b, size, _ = x.shape

    def box(values: np.ndarray) -> np.ndarray:
        integral = np.zeros((b, size + 1, size + 1))
        integral[:, 1:, 1:] = values.cumsum(axis=1).cumsum(axis=2)
        lo, hi = slice(0, span), slice(side, side + span)
        return integral[:, hi, hi] - integral[:, lo, hi] - integral[:, hi, lo] + integral[:, lo, lo]

    sums = box(x)
    spread = box(x * x) - sums * sums / (side * side)
    return np.sqrt(np.maximum(spread, 0.0)).reshape(b, span * span)


def shift_ncc(synthetic: np.ndarray, reference: np.ndarray, max_shift: int = 3) -> float:
    """NCC* of one pair of preprocessed images (see `rerank`)."""
    ncc, _, _ = rerank(synthetic[None], reference[None], np.zeros((1, 1), dtype=np.int64), max_shift)
    return float(ncc[0, 0])


@dataclass
class _Rows:
    """Per-query summary of the re-ranked candidates."""

    d: np.ndarray  # exact NN distance (min over candidates)
    ncc: np.ndarray  # NCC* (max over candidates)
    best: np.ndarray  # reference row of the NCC* candidate
    shift: np.ndarray  # (q, 2) its shift
    nearest: np.ndarray  # reference row of the L2-nearest candidate
    nearest_ncc: np.ndarray  # NCC* of the L2-nearest candidate
    nearest_shift: np.ndarray  # (q, 2) and its shift


def _summarise(indices: np.ndarray, ncc: np.ndarray, shifts: np.ndarray, l2: np.ndarray) -> _Rows:
    q = len(indices)
    if q == 0:
        empty = np.zeros(0)
        no_shift = np.zeros((0, 2), np.int64)
        return _Rows(empty, empty, empty.astype(np.int64), no_shift, empty.astype(np.int64), empty, no_shift)
    order = np.arange(q)
    best_col = np.argmax(ncc, axis=1)
    near_col = np.argmin(l2, axis=1)
    return _Rows(
        d=l2[order, near_col].astype(np.float64),
        ncc=ncc[order, best_col].astype(np.float64),
        best=indices[order, best_col],
        shift=shifts[order, best_col],
        nearest=indices[order, near_col],
        nearest_ncc=ncc[order, near_col].astype(np.float64),
        nearest_shift=shifts[order, near_col],
    )
