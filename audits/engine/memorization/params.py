"""Parameters of the memorization audit: the defaults, their validation and the BLAS thread limit."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

DEFAULT_PARAMS: dict[str, Any] = {
    "k": 5,
    "spectrum_k": 5,
    "block": 2048,
    "max_shift": 3,
    "ncc_floor": 0.99,
    "near_copy_ratio": 0.3,
    "fail_fraction": 0.01,
    "max_copies_per_reference": 3,
    "near_exact_ratio": 0.1,
    "baseline_sample": 5000,
    "seed": 0,
    "blas_threads": None,
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

    def number(name: str, low: float, high: float) -> None:
        value = merged[name]
        if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
            raise ValueError(f"memorization parameter {name} must be a number, got {value!r}")
        if not low <= float(value) <= high:
            raise ValueError(f"memorization parameter {name} must be in [{low}, {high}], got {value!r}")
        merged[name] = float(value)

    integer("k", 1)
    integer("spectrum_k", 0)
    integer("block", 1)
    integer("max_shift", 0)
    integer("max_copies_per_reference", 1)
    integer("baseline_sample", 1, allow_none=True)
    integer("seed", 0)
    integer("blas_threads", 1, allow_none=True)
    number("ncc_floor", -1.0, 1.0)
    number("near_copy_ratio", 0.0, float("inf"))
    number("fail_fraction", 0.0, 1.0)
    number("near_exact_ratio", 0.0, float("inf"))
    return merged


@contextlib.contextmanager
def _blas_limit(threads: int | None) -> Iterator[None]:
    if threads is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads, user_api="blas"):
        yield
