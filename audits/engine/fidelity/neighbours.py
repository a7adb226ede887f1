"""k-nearest-neighbour balls (A7): precision, recall, density and coverage, in blocks of rows."""

from __future__ import annotations

from typing import Any

import numpy as np


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
