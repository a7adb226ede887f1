"""Fidelity parameters: the defaults (all overridable through params) and their checks."""

from __future__ import annotations

from typing import Any

import numpy as np

# Threshold parameters may be None to switch a rule off.
THRESHOLD_DEFAULTS: dict[str, float | None] = {
    "w1_ratio_warn": 3.0,
    "w1_ratio_fail": 10.0,
    "fd_ratio_warn": 5.0,
    "fd_ratio_fail": 20.0,
    "fd_warn_min": 5.0,  # fd_ratio warns only while fd itself is above this
    "coverage_warn": 0.8,
    "coverage_fail": 0.5,
    "precision_warn": 0.7,
    "precision_fail": None,
}
INT_DEFAULTS: dict[str, int] = {
    "seed": 0,
    "n_bootstrap": 50,
    "k": 5,
    "prdc_max_per_side": 5000,
    "kid_subset_size": 1000,
    "kid_n_subsets": 100,
    "ks_max_pixels": 200_000,
    "projection_max_points": 2000,
}
FLOAT_DEFAULTS: dict[str, float] = {
    "foreground_threshold": 0.1,  # a pixel above this (on the [0, 1] scale) is foreground
    "fd_eps": 1e-6,  # added to the covariance diagonals when sqrtm needs it
}
DEFAULTS: dict[str, Any] = {**INT_DEFAULTS, **FLOAT_DEFAULTS, **THRESHOLD_DEFAULTS}


def resolve_params(params: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults overlaid with `params`; an unknown name or a malformed value is an error."""
    params = dict(params or {})
    unknown = sorted(set(params) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown fidelity parameter(s) {unknown}; known: {sorted(DEFAULTS)}")
    resolved = dict(DEFAULTS)
    for name, value in params.items():
        if name in INT_DEFAULTS:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"fidelity parameter {name} must be a non-negative integer, got {value!r}")
        elif value is None and name in THRESHOLD_DEFAULTS:
            resolved[name] = None  # None switches that threshold's rule off
            continue
        elif isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
            raise ValueError(f"fidelity parameter {name} must be a finite number, got {value!r}")
        resolved[name] = value
    for name in ("k", "kid_subset_size"):
        if resolved[name] < 1:
            raise ValueError(f"fidelity parameter {name} must be at least 1")
    if resolved["prdc_max_per_side"] < 2 or resolved["kid_subset_size"] < 2:
        raise ValueError("prdc_max_per_side and kid_subset_size must be at least 2")
    return resolved
