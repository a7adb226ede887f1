"""Seeded randomness: one stream per step, the real-versus-real baseline split, and capped row samples."""

from __future__ import annotations

import numpy as np

# One random stream per step: see the package docstring.
_STREAMS = {
    "split": 1,
    "ks": 2,
    "bootstrap": 3,
    "kid": 4,
    "kid_baseline": 5,
    "prdc": 6,
    "projection": 7,
    "window": 8,
    "permutation": 9,
    "reference_splits": 10,
}


def _rng(seed: int, step: str) -> np.random.Generator:
    return np.random.default_rng([seed, _STREAMS[step]])


def _baseline_split(n_syn: int, n_ref: int, seed: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Two disjoint random subsets of the reference rows, min(n_syn, n_ref // 2) each; None below 2.

    Matching the synthetic set's size (up to half the reference) gives the baseline the same
    small-sample bias as the synthetic-versus-reference figure instead of less, so a small
    synthetic set is not judged against a baseline made smooth by a large reference.
    """
    half = n_ref // 2
    size = min(n_syn, half)
    if size < 2:
        return None
    order = _rng(seed, "split").permutation(n_ref)
    return np.sort(order[:size]), np.sort(order[half : half + size])


def _cap(n: int, cap: int, rng: np.random.Generator) -> np.ndarray:
    """Row indices: all n, or a sorted seeded sample of `cap` of them."""
    return np.arange(n) if n <= cap else np.sort(rng.choice(n, cap, replace=False))
