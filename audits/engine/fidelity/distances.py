"""Distances between two sets of feature rows (A7): the Frechet distance and KID."""

from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg


def frechet_distance(x: np.ndarray, y: np.ndarray, eps: float = 1e-6) -> float:
    """Frechet distance between Gaussians fitted to the rows of x and y.

    FD = |mu_x - mu_y|^2 + Tr(S_x + S_y - 2 (S_x S_y)^(1/2)), covariances with ddof=1.
    `scipy.linalg.sqrtm` of S_x S_y can come back complex with tiny imaginary parts (the
    product is similar to a positive semi-definite matrix, so the exact root is real) or
    inaccurate or non-finite when a covariance is singular (fewer rows than features). If the
    root is not trustworthy (`_sqrtm_product`), both
    covariances get eps * I added, consistently in the traces too, so FD(X, X) stays 0;
    then the real part is taken. Round-off can leave a tiny negative total; it is clipped to 0.
    """
    if len(x) < 2 or len(y) < 2:
        raise ValueError("the Frechet distance needs at least 2 rows per side")
    mu_x, mu_y = x.mean(axis=0), y.mean(axis=0)
    cov_x = np.atleast_2d(np.cov(x, rowvar=False))
    cov_y = np.atleast_2d(np.cov(y, rowvar=False))
    diff = mu_x - mu_y
    root = _sqrtm_product(cov_x, cov_y)
    if root is None:
        offset = eps * np.eye(cov_x.shape[0])
        cov_x, cov_y = cov_x + offset, cov_y + offset
        root = _sqrtm_product(cov_x, cov_y, strict=False)
    assert root is not None  # noqa: S101 - strict=False always returns a matrix
    value = float(diff @ diff + np.trace(cov_x) + np.trace(cov_y) - 2.0 * np.trace(root))
    return max(value, 0.0)


def _sqrtm_product(a: np.ndarray, b: np.ndarray, strict: bool = True) -> np.ndarray | None:
    """Real part of sqrtm(a @ b); with strict, None when the root is not trustworthy.

    Untrustworthy: non-finite, an imaginary part above 1e-3 of the largest real entry, or a
    relative residual |X X - A|_F / |A|_F above 1e-6 (sqrtm of a singular product).
    """
    product = a @ b
    with warnings.catch_warnings():
        # Singular products are expected with fewer images than features; the checks below decide.
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        root = np.asarray(linalg.sqrtm(product))
    if strict:
        if not np.isfinite(root).all():
            return None
        scale = max(1.0, float(np.abs(root.real).max()))
        if np.iscomplexobj(root) and np.abs(root.imag).max() > 1e-3 * scale:
            return None
        norm = float(np.linalg.norm(product))
        if norm > 0 and float(np.linalg.norm(root @ root - product)) > 1e-6 * norm:
            return None
    return np.nan_to_num(root.real)


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """KID's kernel k(x, y) = (x.y / d + 1)^3."""
    kernel = x @ y.T
    kernel /= x.shape[1]
    kernel += 1.0
    cube = kernel * kernel  # multiplications are several times faster than ** 3
    cube *= kernel  # (k k) k in place: the same values, one temporary fewer
    return cube


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with the cubic polynomial kernel (diagonals of k(x, x) and k(y, y) left out)."""
    m, n = len(x), len(y)
    # One kernel matrix at a time (each reduced as soon as it is made): a third of the memory.
    k_xx = polynomial_kernel(x, x)
    term_x = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    del k_xx
    k_yy = polynomial_kernel(y, y)
    term_y = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    del k_yy
    return float(term_x + term_y - 2.0 * polynomial_kernel(x, y).mean())


def kid(
    x: np.ndarray, y: np.ndarray, subset_size: int, n_subsets: int, rng: np.random.Generator
) -> tuple[float, float, int]:
    """KID (Binkowski et al. 2018): mean and population sd of MMD^2 over random subsets, and the subset size.

    Each subset takes m = min(subset_size, len(x), len(y)) rows of each side without
    replacement. When m is the size of both sides every subset is the whole of both sets,
    so MMD^2 is computed once and the sd is 0.
    """
    m = min(subset_size, len(x), len(y))
    if m < 2 or n_subsets < 1:
        raise ValueError("KID needs subsets of at least 2 rows per side and at least one subset")
    if m == len(x) == len(y):
        return mmd2_unbiased(x, y), 0.0, m
    values = [
        mmd2_unbiased(x[rng.choice(len(x), m, replace=False)], y[rng.choice(len(y), m, replace=False)])
        for _ in range(n_subsets)
    ]
    return float(np.mean(values)), float(np.std(values)), m
