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

`extract(pixels)` computes one image as defined above, through scikit-image. `extract_many`
computes a whole chunk at once in numpy (images of one shape stacked, in blocks of
`_BLOCK`): the co-occurrence counts of all images and offsets by one `np.bincount` each, the
six properties as matrix products, LBP by the same bilinear interpolation and comparison
scikit-image's loop makes (so every code is the same), first-order statistics and Sobel over
the stack. Its values equal `extract`'s to floating-point rounding (tests compare them on
real images at rtol 1e-9); only the order of some sums differs.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
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
    """Feature matrix (n, 35) of a list of 2-D images, rows in the list's order (as `extract` row by row)."""
    matrix = np.empty((len(images), N_FEATURES), dtype=np.float64)
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for row, pixels in enumerate(images):
        by_shape.setdefault(_checked(pixels).shape, []).append(row)
    for rows in by_shape.values():
        for start in range(0, len(rows), _BLOCK):
            block = rows[start : start + _BLOCK]
            stack = np.stack([np.asarray(images[row], dtype=np.float64) for row in block])
            matrix[block] = _stack_features(stack)
    return matrix


_BLOCK = 32  # images per vectorised step: about 10 MiB of temporaries at 64 x 64, and cache-friendly


def _checked(pixels: np.ndarray) -> np.ndarray:
    x = np.asarray(pixels)
    if x.ndim != 2 or x.size == 0:
        raise ValueError(f"expected a non-empty 2-D image, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("image has non-finite pixels")
    return x


def _stack_features(stack: np.ndarray) -> np.ndarray:
    """The 35 features of each image of a float64 stack (n, h, w)."""
    return np.concatenate(
        [_first_order_stack(stack), _glcm_stack(stack), _lbp_stack(stack), _gradient_stack(stack)], axis=1
    )


def _first_order_stack(stack: np.ndarray) -> np.ndarray:
    values = stack.reshape(len(stack), -1)  # rows reduce like `first_order`'s flat image
    mean = values.mean(axis=1)
    centred = values - mean[:, None]
    squared = centred * centred  # products, not pow(): several times faster, equal to rounding
    variance = np.mean(squared, axis=1)
    std = np.sqrt(variance)
    varies = std > 1e-12 * np.maximum(1.0, np.abs(mean))
    safe_std, safe_variance = np.where(varies, std, 1.0), np.where(varies, variance, 1.0)
    skewness = np.where(varies, np.mean(squared * centred, axis=1) / safe_std**3, 0.0)
    kurtosis = np.where(varies, np.mean(squared * squared, axis=1) / safe_variance**2 - 3.0, 0.0)
    counts = _histogram_rows(np.clip(values, 0.0, 1.0), HISTOGRAM_BINS)
    p = counts / values.shape[1]
    logs = np.log2(p, out=np.zeros_like(p), where=p > 0)
    entropy = -(p * logs).sum(axis=1)
    percentiles = np.percentile(values, PERCENTILES, axis=1).T
    energy = np.mean(values * values, axis=1)
    return np.column_stack([mean, std, skewness, kurtosis, entropy, percentiles, energy])


def _histogram_rows(values: np.ndarray, bins: int) -> np.ndarray:
    """Counts (n, bins) per row of values on [0, 1], binned exactly as np.histogram(range=(0, 1)) bins them:
    bin k holds edges[k] <= v < edges[k + 1], the last bin its right edge too."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.minimum((values * bins).astype(np.intp), bins - 1)
    index -= values < edges[index]
    index += (values >= edges[index + 1]) & (index != bins - 1)
    offsets = (np.arange(len(values)) * bins)[:, None]
    return np.bincount((index + offsets).ravel(), minlength=len(values) * bins).reshape(len(values), bins)


def _glcm_offsets() -> list[tuple[int, int]]:
    """(row, column) offsets, distance-major then angle, as scikit-image rounds them."""
    return [
        (round(np.sin(angle) * distance), round(np.cos(angle) * distance))
        for distance in GLCM_DISTANCES
        for angle in GLCM_ANGLES
    ]


def _glcm_stack(stack: np.ndarray) -> np.ndarray:
    n, height, width = stack.shape
    levels = quantise(stack).astype(np.intp)
    offsets = _glcm_offsets()
    # Pair key = image * levels**2 + level * levels + neighbour level: one bincount counts every image.
    first = (np.arange(n) * GLCM_LEVELS * GLCM_LEVELS)[:, None, None] + levels * GLCM_LEVELS
    counts = np.empty((n, len(offsets), GLCM_LEVELS, GLCM_LEVELS), dtype=np.float64)
    done: dict[tuple[int, int], int] = {}
    for k, (dr, dc) in enumerate(offsets):
        if (dr, dc) in done:  # scikit-image rounds the diagonals at distance 2 onto those at distance 1
            counts[:, k] = counts[:, done[dr, dc]]
            continue
        done[dr, dc] = k
        rows, cols = slice(max(0, -dr), min(height, height - dr)), slice(max(0, -dc), min(width, width - dc))
        moved_rows = slice(rows.start + dr, rows.stop + dr)
        moved_cols = slice(cols.start + dc, cols.stop + dc)
        keys = first[:, rows, cols] + levels[:, moved_rows, moved_cols]
        flat = np.bincount(keys.ravel(), minlength=n * GLCM_LEVELS * GLCM_LEVELS)
        counts[:, k] = flat.reshape(n, GLCM_LEVELS, GLCM_LEVELS)
    glcm_matrix = counts + counts.transpose(0, 1, 3, 2)  # symmetric
    sums = glcm_matrix.sum(axis=(2, 3), keepdims=True)
    glcm_matrix /= np.where(sums == 0, 1.0, sums)
    props = _glcm_properties(glcm_matrix.reshape(n, len(offsets), -1))
    # (n, offsets, props) -> angle average per distance -> distance-major, properties in order.
    per_distance = props.reshape(n, len(GLCM_DISTANCES), len(GLCM_ANGLES), len(GLCM_PROPERTIES)).mean(axis=2)
    return np.nan_to_num(per_distance.reshape(n, -1), nan=0.0, posinf=0.0, neginf=0.0)


def _glcm_properties(p: np.ndarray) -> np.ndarray:
    """graycoprops' six properties (GLCM_PROPERTIES order) of normalised matrices p (n, offsets, levels**2)."""
    grey = np.arange(GLCM_LEVELS, dtype=np.float64)
    i, j = np.meshgrid(grey, grey, indexing="ij")
    difference = (i - j).ravel()
    weights = np.stack([difference**2, np.abs(difference), 1.0 / (1.0 + difference**2)], axis=1)
    weighted = p @ weights  # contrast, dissimilarity, homogeneity
    asm = np.einsum("nok,nok->no", p, p)
    square = p.reshape(*p.shape[:2], GLCM_LEVELS, GLCM_LEVELS)
    row_share, col_share = square.sum(axis=3), square.sum(axis=2)
    mean_i, mean_j = row_share @ grey, col_share @ grey
    diff_i, diff_j = grey - mean_i[..., None], grey - mean_j[..., None]
    std_i = np.sqrt(np.einsum("nol,nol->no", row_share, diff_i**2))
    std_j = np.sqrt(np.einsum("nol,nol->no", col_share, diff_j**2))
    cov = (diff_i[..., None, :] @ square @ diff_j[..., :, None])[..., 0, 0]
    degenerate = (std_i < 1e-15) | (std_j < 1e-15)
    correlation = np.where(degenerate, 1.0, cov / np.where(degenerate, 1.0, std_i * std_j))
    return np.stack([weighted[..., 0], weighted[..., 1], weighted[..., 2], np.sqrt(asm), correlation, asm], axis=-1)


def _lbp_stack(stack: np.ndarray) -> np.ndarray:
    """`lbp_histogram` of each image: scikit-image's "uniform" codes, P = 8, R = 1, computed over the stack.

    scikit-image reads each neighbour at (r - sin(2 pi i / P), c + cos(2 pi i / P)), both rounded to 5
    decimals, by bilinear interpolation with zeros outside the image, and compares it with the centre
    (value - centre >= 0). The same float operations in the same order run here on the whole stack,
    so every comparison, and so every code, comes out as scikit-image's.
    """
    n, height, width = stack.shape
    image = np.round(np.clip(stack, 0.0, 1.0) * 255).astype(np.uint8).astype(np.float64)
    padded = np.pad(image, ((0, 0), (1, 1), (1, 1)))  # the zeros bilinear_interpolation reads outside
    angle = 2 * np.pi * np.arange(LBP_POINTS, dtype=np.double) / LBP_POINTS
    row_steps = np.round(-LBP_RADIUS * np.sin(angle), 5)
    col_steps = np.round(LBP_RADIUS * np.cos(angle), 5)
    bits = np.empty((LBP_POINTS, n, height, width), dtype=bool)
    top, bottom, other = (np.empty_like(image) for _ in range(3))
    for point, (row_step, col_step) in enumerate(zip(row_steps, col_steps, strict=True)):
        r = np.arange(height, dtype=np.float64) + row_step
        c = np.arange(width, dtype=np.float64) + col_step
        low_r, low_c, high_r, high_c = np.floor(r), np.floor(c), np.ceil(r), np.ceil(c)

        def at(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
            # Every neighbour lies within one pixel: a whole-image shift of the padded stack.
            top, left = int(rows[0]) + 1, int(cols[0]) + 1
            return padded[:, top : top + height, left : left + width]

        if row_step == int(row_step) and col_step == int(col_step):
            # On the pixel grid the interpolation weights are 1 and 0: the neighbour itself, exactly.
            bits[point] = at(low_r, low_c) - image >= 0
            continue
        dr, dc = (r - low_r)[:, None], (c - low_c)[None, :]
        # scikit-image's bilinear_interpolation, term by term, written into two buffers.
        np.multiply(1 - dc, at(low_r, low_c), out=top)
        top += np.multiply(dc, at(low_r, high_c), out=other)
        np.multiply(1 - dc, at(high_r, low_c), out=bottom)
        bottom += np.multiply(dc, at(high_r, high_c), out=other)
        top *= 1 - dr
        top += np.multiply(dr, bottom, out=other)
        top -= image
        np.greater_equal(top, 0, out=bits[point])
    changes = np.count_nonzero(bits[1:] != bits[:-1], axis=0)  # no wrap-around, as scikit-image counts
    codes = np.where(changes <= 2, bits.sum(axis=0), LBP_POINTS + 1)
    offsets = (np.arange(n) * LBP_BINS)[:, None, None]
    counts = np.bincount((codes + offsets).ravel(), minlength=n * LBP_BINS).reshape(n, LBP_BINS)
    return counts / (height * width)


def _gradient_stack(stack: np.ndarray) -> np.ndarray:
    """`gradient` of each image: skimage.filters.sobel's kernels and reflection, one image plane at a time."""
    edge, smooth = np.array([1, 0, -1]), np.array([1, 2, 1]) / 4
    squares = np.zeros_like(stack)
    for kernel in (edge[:, None] * smooth[None, :], smooth[:, None] * edge[None, :]):
        along = ndimage.convolve(stack, kernel[None], mode="reflect")
        along *= along
        squares += along
    magnitude = (np.sqrt(squares) / np.sqrt(2, dtype=np.float64)).reshape(len(stack), -1)
    return np.column_stack([magnitude.mean(axis=1), magnitude.std(axis=1)])
