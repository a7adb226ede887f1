"""The joint z-scoring of both feature matrices, and their 2-D PCA projection for the chart."""

from __future__ import annotations

from typing import Any

import numpy as np

from audits.engine.fidelity.sampling import _cap, _rng

_PROJECTION_METHOD = "PCA of z-scored rad-lite-35 features"


def _joint_zscore(f_syn: np.ndarray, f_ref: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both matrices z-scored with the mean and sd of their union; constant columns dropped."""
    joint = np.vstack([f_syn, f_ref])
    mean, sd = joint.mean(axis=0), joint.std(axis=0)
    joint = joint.astype(np.result_type(joint.dtype, mean.dtype), copy=False)
    kept = sd > 1e-10 * (1.0 + np.abs(mean))
    scale = np.where(kept, sd, 1.0)
    joint -= mean  # in place: the same values as (joint - mean) / scale, without two more copies
    joint /= scale
    z = joint if kept.all() else joint[:, kept]
    return z[: len(f_syn)], z[len(f_syn) :], kept


def _projection(z_syn: np.ndarray, z_ref: np.ndarray, cap: int, seed: int) -> dict[str, Any]:
    """2-D PCA of the joint z-scored features (SVD), at most `cap` points per side in the chart."""
    centred = np.vstack([z_syn, z_ref])
    centred -= centred.mean(axis=0)  # in place: one copy of both sets fewer
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt[:2]
    # Fix each axis's sign so that its largest loading is positive: SVD signs are arbitrary.
    axes = axes * np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)])[:, None]
    coords = centred @ axes.T
    if coords.shape[1] < 2:
        coords = np.hstack([coords, np.zeros((len(coords), 2 - coords.shape[1]))])
    variance = singular**2
    explained = variance[:2] / variance.sum() if variance.sum() > 0 else np.zeros(min(2, len(variance)))
    rng = _rng(seed, "projection")
    syn_coords, ref_coords = coords[: len(z_syn)], coords[len(z_syn) :]
    return {
        "synthetic": _rounded(syn_coords[_cap(len(syn_coords), cap, rng)]),
        "reference": _rounded(ref_coords[_cap(len(ref_coords), cap, rng)]),
        "method": _PROJECTION_METHOD,
        "explained_variance_ratio": _rounded(explained),
    }


def _rounded(values: np.ndarray) -> list:
    return np.round(np.asarray(values, dtype=np.float64), 4).tolist()
