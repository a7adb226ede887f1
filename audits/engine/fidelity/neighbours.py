"""k-nearest-neighbour balls (A7): precision, recall, density and coverage, in blocks of rows."""

from __future__ import annotations

from typing import Any

import numpy as np


def pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances (len(a), len(b)) through |a|^2 + |b|^2 - 2 a.b, clipped at 0."""
    # The same operations as (|a|^2 + |b|^2) - 2 a.b, written over a.b: the sum of the squared norms is
    # made 64 rows at a time, so the result is the only (len(a), len(b)) array.
    squared = a @ b.T
    squared *= 2.0
    norms_a, norms_b = (a * a).sum(axis=1), (b * b).sum(axis=1)
    for start in range(0, len(a), 64):
        rows = slice(start, start + 64)
        np.subtract(norms_a[rows, None] + norms_b[None, :], squared[rows], out=squared[rows])
    np.maximum(squared, 0.0, out=squared)
    return np.sqrt(squared, out=squared)


# Rows per block: a block of distances stays below 1024 x 5000 x 8 B = 40 MB (prdc_max_per_side).
# Not smaller: BLAS rounds a.b differently for other block shapes (last-bit changes in the ratios).
_BLOCK = 1024


def knn_radii(x: np.ndarray, k: int) -> np.ndarray:
    """Distance of each row of x to its k-th nearest other row (the row itself is at distance 0)."""
    radii = np.empty(len(x))
    rows = _BLOCK
    for start in range(0, len(x), rows):
        block = pairwise_distances(x[start : start + rows], x)
        block.partition(k, axis=1)
        radii[start : start + rows] = block[:, k]
        del block  # before the next block is made: one block in memory at a time
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
    rows = _BLOCK
    for start in range(0, len(real), rows):
        stop = min(start + rows, len(real))
        dist = pairwise_distances(real[start:stop], fake)  # (block, N)
        radius = real_radii[start:stop, None]
        inside = dist <= radius
        balls_holding += inside.sum(axis=0)
        real_in_fake_ball[start:stop] = (dist <= fake_radii[None, :]).any(axis=1)
        real_covered[start:stop] = inside.any(axis=1)
        del inside
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.divide(dist, radius, out=dist)
        ratio[np.isnan(ratio)] = 0.0  # 0 / 0: a fake exactly on a zero-radius real point
        block_best = _column_argmin(ratio)
        block_ratio = ratio[block_best, np.arange(len(fake))]
        better = block_ratio < best_ratio
        best_ratio[better] = block_ratio[better]
        best_real[better] = block_best[better] + start
        del dist, ratio  # before the next block is made: one block in memory at a time
    return {
        "precision": float(np.mean(balls_holding > 0)),
        "recall": float(np.mean(real_in_fake_ball)),
        "density": float(balls_holding.sum() / (k * len(fake))),
        "coverage": float(np.mean(real_covered)),
        "fake_inside": balls_holding > 0,
        "fake_ratio": best_ratio,
        "fake_nearest_real": best_real,
    }


def _column_argmin(values: np.ndarray, columns: int = 512) -> np.ndarray:
    """`values.argmin(axis=0)`, `columns` at a time: numpy reduces across rows through a transposed copy of
    what it is given, which for a whole block of distances is a second block (40 MB at the caps)."""
    out = np.empty(values.shape[1], dtype=np.intp)
    for start in range(0, values.shape[1], columns):
        out[start : start + columns] = values[:, start : start + columns].argmin(axis=0)
    return out


def prdc(real: np.ndarray, fake: np.ndarray, k: int = 5) -> dict[str, float]:
    """The four PRDC numbers; see `prdc_scan`."""
    scan = prdc_scan(real, fake, k)
    return {name: scan[name] for name in ("precision", "recall", "density", "coverage")}
