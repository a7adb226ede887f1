"""The handcrafted image feature set "rad-lite-35 v1" used by the fidelity audit.

It is a radiomics-style description of one preprocessed 2-D image (float, values in
[0, 1], as `preprocess.preprocess` returns them) in 35 numbers, computed with numpy and
scikit-image only, so it needs no network weights. It is **not** an Inception (FID) or
RadImageNet (FRD) embedding, and a distance computed on it must never be called FID or
FRD: values are comparable only between runs that use the same `FEATURE_SET` version.

The features, in `FEATURE_NAMES` order:

First order (11), on the pixel values x of the image:
    mean, std          mean and population standard deviation of x
    skewness           third standardised moment, E[(x - mean)^3] / std^3 (0 for a constant image)
    kurtosis           excess kurtosis, E[(x - mean)^4] / std^4 - 3 (0 for a constant image)
    entropy            Shannon entropy in bits of the 64-bin histogram of x on [0, 1]
    p10 ... p90        the 10th, 25th, 50th (median), 75th and 90th percentiles of x
    energy             mean of x^2 (pyradiomics' Energy divided by the pixel count, so that it
                       does not grow with image size)

Texture, grey-level co-occurrence matrix (12): the image is clipped to [0, 1] and quantised
to 32 levels (level = min(floor(32 x), 31)); `skimage.feature.graycomatrix` builds the
symmetric, normalised matrix for distances 1 and 2 pixels at angles 0, 45, 90 and 135
degrees, and `skimage.feature.graycoprops` gives contrast, dissimilarity, homogeneity,
energy, correlation and ASM (angular second moment), each averaged over the four angles.
Named glcm_<property>_d<distance>. A constant image has correlation 1 (scikit-image's
convention), contrast and dissimilarity 0, homogeneity, energy and ASM 1.

Local binary patterns (10): `skimage.feature.local_binary_pattern` with P = 8 neighbours at
radius R = 1, method "uniform", on the image scaled to 8-bit integers (0..255; comparing
integers avoids the sign flips float noise causes). Codes 0..8 are the uniform patterns by
their number of set bits, code 9 collects every non-uniform pattern; the features lbp_0 ..
lbp_9 are the share of pixels with each code (they sum to 1). As in scikit-image, border
pixels read zeros outside the image.

Gradient (2): mean and standard deviation of the Sobel gradient magnitude
(`skimage.filters.sobel`, reflecting borders).

Every feature is finite for any finite 2-D input of at least 1 x 1 pixels, constant images
included (those are normally excluded as blank before this point).
"""

from __future__ import annotations

import numpy as np
from skimage.feature import graycomatrix, graycoprops, local_binary_pattern
from skimage.filters import sobel

FEATURE_SET = "rad-lite-35 v1"

GLCM_LEVELS = 32
GLCM_DISTANCES = (1, 2)
GLCM_ANGLES = (0.0, np.pi / 4, np.pi / 2, 3 * np.pi / 4)
GLCM_PROPERTIES = ("contrast", "dissimilarity", "homogeneity", "energy", "correlation", "ASM")
HISTOGRAM_BINS = 64
LBP_POINTS = 8
LBP_RADIUS = 1
LBP_BINS = LBP_POINTS + 2  # "uniform": P + 1 uniform codes and one code for all others
PERCENTILES = (10, 25, 50, 75, 90)

FIRST_ORDER_NAMES = ["mean", "std", "skewness", "kurtosis", "entropy", "p10", "p25", "median", "p75", "p90", "energy"]
GLCM_NAMES = [f"glcm_{prop}_d{distance}" for distance in GLCM_DISTANCES for prop in GLCM_PROPERTIES]
LBP_NAMES = [f"lbp_{code}" for code in range(LBP_BINS)]
GRADIENT_NAMES = ["gradient_mean", "gradient_std"]
FEATURE_NAMES = FIRST_ORDER_NAMES + GLCM_NAMES + LBP_NAMES + GRADIENT_NAMES
N_FEATURES = len(FEATURE_NAMES)  # 35


def first_order(x: np.ndarray) -> np.ndarray:
    """The 11 first-order features of a 2-D float64 image."""
    values = x.ravel()
    mean = float(values.mean())
    centred = values - mean
    variance = float(np.mean(centred**2))
    std = float(np.sqrt(variance))
    # Relative guard: a near-constant image would otherwise divide rounding noise by ~0.
    if std > 1e-12 * max(1.0, abs(mean)):
        skewness = float(np.mean(centred**3)) / std**3
        kurtosis = float(np.mean(centred**4)) / variance**2 - 3.0
    else:
        skewness = kurtosis = 0.0
    counts = np.histogram(np.clip(values, 0.0, 1.0), bins=HISTOGRAM_BINS, range=(0.0, 1.0))[0]
    p = counts[counts > 0] / values.size
    entropy = float(-(p * np.log2(p)).sum())
    percentiles = np.percentile(values, PERCENTILES)
    energy = float(np.mean(values**2))
    return np.array([mean, std, skewness, kurtosis, entropy, *percentiles, energy])


def quantise(x: np.ndarray, levels: int = GLCM_LEVELS) -> np.ndarray:
    """Grey levels 0..levels-1 of an image on [0, 1] (values outside are clipped)."""
    return np.minimum(np.floor(np.clip(x, 0.0, 1.0) * levels), levels - 1).astype(np.uint8)


def glcm(x: np.ndarray) -> np.ndarray:
    """The 12 GLCM features: distance-major, properties in GLCM_PROPERTIES order, angle-averaged."""
    matrix = graycomatrix(
        quantise(x),
        distances=list(GLCM_DISTANCES),
        angles=list(GLCM_ANGLES),
        levels=GLCM_LEVELS,
        symmetric=True,
        normed=True,
    )
    # graycoprops returns (distances, angles) per property.
    props = np.stack([graycoprops(matrix, prop).mean(axis=1) for prop in GLCM_PROPERTIES], axis=1)
    return np.nan_to_num(props.ravel(), nan=0.0, posinf=0.0, neginf=0.0)


def lbp_histogram(x: np.ndarray) -> np.ndarray:
    """Share of pixels per uniform LBP code (P=8, R=1), on the image scaled to 0..255."""
    as_bytes = np.round(np.clip(x, 0.0, 1.0) * 255).astype(np.uint8)
    codes = local_binary_pattern(as_bytes, LBP_POINTS, LBP_RADIUS, method="uniform").astype(np.intp)
    return np.bincount(codes.ravel(), minlength=LBP_BINS)[:LBP_BINS] / codes.size


def gradient(x: np.ndarray) -> np.ndarray:
    """Mean and standard deviation of the Sobel gradient magnitude."""
    magnitude = sobel(x)
    return np.array([float(magnitude.mean()), float(magnitude.std())])


def extract(pixels: np.ndarray) -> np.ndarray:
    """The 35 rad-lite features of one 2-D image (float64, order of FEATURE_NAMES)."""
    x = np.asarray(pixels, dtype=np.float64)
    if x.ndim != 2 or x.size == 0:
        raise ValueError(f"expected a non-empty 2-D image, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("image has non-finite pixels")
    vector = np.concatenate([first_order(x), glcm(x), lbp_histogram(x), gradient(x)])
    return vector


def extract_many(images: list[np.ndarray]) -> np.ndarray:
    """Feature matrix (n, 35) of a list of 2-D images, rows in the list's order."""
    matrix = np.empty((len(images), N_FEATURES), dtype=np.float64)
    for row, pixels in enumerate(images):
        matrix[row] = extract(pixels)
    return matrix
