"""Geometric changes a copy may have undergone, and the search and alignment that undo them.

Why this design (issue 8): a copy of a training image may be mirrored, rotated by a multiple
of 90 degrees, or cropped and resized, on top of the shifts, noise, blur, windowing and
re-encoding that the shift-tolerant NCC* already tolerates. The pixel NCC of such a copy
against its source (0.5 to 0.96) lies inside the range of genuinely novel neighbouring slices,
so no threshold on the untransformed score can separate them; the transform has to be undone
before the images are compared. The family is small and known, so it is enumerated rather
than estimated:

- the eight symmetries of the square (`D8`) are applied to every query image;
- a crop to a fraction c >= `min_scale` of the side, moved anywhere and resized back, is a
  zoom by 1 / c about an unknown centre. The reference images are searched as `zoom_views`:
  each cropped at a few scales c on a grid of positions and resampled to a small thumbnail.

Candidate search (`transform_candidates`) compares z-scored thumbnails (t x t, default
24 x 24, of every query under the 8 symmetries against every reference view) by correlation,
one matrix product per (symmetry, view) pair, and keeps for each query the `k` reference
images with the best correlation over all pairs, with the symmetry and view that reached it.
Thumbnails are small enough that a view off by half a grid step still correlates well, and
z-scoring removes the intensity change that a crop brings through the per-image percentile
scaling. Exhaustively that is 8 x views products of n x m x t^2, 8 x views x (t / size)^2
times the plain pixel search (at the defaults 8 x 49 x 0.14 = 55 times). A bound on each
correlation from the thumbnails' low cosine frequencies rules out, before they are computed,
the pairs that cannot reach a query's k best, and the result is the exhaustive one; bench/
measures what that saves.

Verification (`aligned_ncc`) undoes the symmetry exactly and searches the scale finely and the
position exhaustively: the query under the symmetry is resampled to side c x size for each
scale c of a fine grid around the candidate's scale, its border of `max_shift` (scaled) is
trimmed, and its Pearson correlation with every same-sized window of the reference is computed
at once by FFT cross-correlation divided by the windows' spreads (integral images). The best
window gives NCC_aligned and the crop box of the reference that the query copies. At scale 1
and the identity this is exactly the shift-tolerant NCC* (every shift up to max_shift).

A blurred copy is compared with its source blurred alike: at the best scale, the reference is
also smoothed with each of `BLUR_SIGMAS` and the best NCC kept.

Resampling is by area averaging (`area_matrix`, the fraction of each input pixel inside each
output pixel), which is anti-aliased and is one small matrix product on each side.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

# name -> (words for a reviewer, function on (..., size, size) arrays)
D8: dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]] = {
    "identity": ("as is", lambda x: x),
    "flip_lr": ("mirrored left-right", lambda x: x[..., :, ::-1]),
    "flip_ud": ("mirrored top-bottom", lambda x: x[..., ::-1, :]),
    "rot90": ("rotated 90°", lambda x: np.rot90(x, 1, axes=(-2, -1))),
    "rot180": ("rotated 180°", lambda x: x[..., ::-1, ::-1]),
    "rot270": ("rotated 270°", lambda x: np.rot90(x, 3, axes=(-2, -1))),
    "transpose": ("mirrored along the diagonal", lambda x: np.swapaxes(x, -2, -1)),
    "anti_transpose": (
        "mirrored along the other diagonal",
        lambda x: np.rot90(np.swapaxes(x, -2, -1), 2, axes=(-2, -1)),
    ),
}
D8_NAMES = tuple(D8)
# the symmetry that undoes each one
D8_INVERSE = {name: name for name in D8_NAMES} | {"rot90": "rot270", "rot270": "rot90"}


def apply_d8(images: np.ndarray, name: str) -> np.ndarray:
    """`images` (..., size, size) under the symmetry `name` (a copy, C-contiguous)."""
    return np.ascontiguousarray(D8[name][1](np.asarray(images)))


def area_matrix(n_out: int, start: float, length: float, n_in: int) -> np.ndarray:
    """(n_out, n_in) weights resampling the interval [start, start + length) of n_in pixels to n_out.

    Entry (j, i) is the share of output pixel j covered by input pixel i (rows sum to 1 where the
    interval lies inside the image), so `A @ x` is the anti-aliased area average.
    """
    edges = start + length * np.arange(n_out + 1) / n_out
    lo, hi = edges[:-1, None], edges[1:, None]
    pixel = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(hi, pixel + 1) - np.maximum(lo, pixel), 0.0, None)
    sums = overlap.sum(axis=1, keepdims=True)
    return (overlap / np.where(sums > 0, sums, 1.0)).astype(np.float32)


def resample(images: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """rows @ image @ cols.T for each image of (b, h, w): (b, rows.shape[0], cols.shape[0])."""
    return np.einsum("ij,bjk,lk->bil", rows, np.asarray(images, dtype=np.float32), cols, optimize=True)


def zscore_rows(x: np.ndarray) -> np.ndarray:
    """Rows of (b, ...) flattened, centred and scaled to unit norm (0 where constant), float32."""
    rows = np.asarray(x, dtype=np.float32).reshape(len(x), -1).copy()
    rows -= rows.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(rows, axis=1)
    good = norms > 1e-6
    rows[good] /= norms[good, None]
    rows[~good] = 0.0
    return rows


@dataclass(frozen=True)
class View:
    """A crop of a reference image: side `scale` x size, top-left corner at (top, left) pixels."""

    scale: float
    top: float
    left: float


def zoom_views(size: int, min_scale: float, n_scales: int, positions: int) -> list[View]:
    """The identity view and crops at `n_scales` scales in [min_scale, 1) on a positions x positions grid."""
    views = [View(1.0, 0.0, 0.0)]
    if n_scales < 1 or min_scale >= 1.0:
        return views
    for scale in np.linspace(min_scale, 1.0, n_scales + 1)[:-1]:
        room = (1.0 - scale) * size
        for top in np.linspace(0.0, room, positions):
            for left in np.linspace(0.0, room, positions):
                views.append(View(float(scale), float(top), float(left)))
    return views


def view_thumbnails(images: np.ndarray, views: list[View], thumb: int) -> np.ndarray:
    """z-scored (views, b, thumb^2) thumbnails of each view's crop of each image.

    A view's thumbnail is rows @ image @ cols.T with the views' `area_matrix`es. The images lie
    side by side so that each product is one matrix product over all of them, and consecutive
    views with the same rows (the same top and scale, as `zoom_views` orders them) share the first.
    The numbers equal `resample`'s per view to float32 rounding (the products sum in another
    order), which can change which of two equally good symmetries is reported only where they
    tie to the last bit (an image symmetric about an axis).
    """
    x = np.asarray(images, dtype=np.float32)
    b, size, _ = x.shape
    out = np.empty((len(views), b, thumb * thumb), dtype=np.float32)
    side_by_side = np.ascontiguousarray(x.transpose(1, 0, 2)).reshape(size, b * size)
    key: tuple[float, float] | None = None
    stage = np.empty((0, size), dtype=np.float32)
    for index, view in enumerate(views):
        if (view.top, view.scale) != key:
            key = (view.top, view.scale)
            stage = (area_matrix(thumb, view.top, view.scale * size, size) @ side_by_side).reshape(thumb * b, size)
        cols = area_matrix(thumb, view.left, view.scale * size, size)
        out[index] = zscore_rows((stage @ cols.T).reshape(thumb, b, thumb).transpose(1, 0, 2))
    return out


def best_columns(values: np.ndarray, kk: int) -> np.ndarray:
    """Column numbers of the kk largest values of each row, ties to the lowest column, in column order.

    argpartition alone breaks ties arbitrarily; a reference set with duplicate images ties, and
    the candidates must not depend on how the references were split into blocks (tasks).
    """
    b, m = values.shape
    if kk >= m:
        return np.tile(np.arange(m), (b, 1))
    kth = -np.partition(-values, kk - 1, axis=1)[:, kk - 1 : kk]
    above = values > kth
    tied = values == kth
    room = kk - above.sum(axis=1, keepdims=True)
    chosen = above | (tied & (np.cumsum(tied, axis=1) <= room))
    return np.nonzero(chosen)[1].reshape(b, kk)


@dataclass
class TransformCandidates:
    """Per query row, the k best reference rows over all symmetries and views of the search."""

    indices: np.ndarray  # (q, k) reference rows, -1 where none
    corr: np.ndarray  # (q, k) thumbnail correlation
    symmetry: np.ndarray  # (q, k) index into D8_NAMES
    view: np.ndarray  # (q, k) index into the views list


def transform_candidates(
    queries: np.ndarray,
    references: np.ndarray,
    views: list[View],
    k: int,
    thumb: int,
    *,
    query_groups: np.ndarray | None = None,
    reference_groups: np.ndarray | None = None,
    block: int = 256,
) -> TransformCandidates:
    """Search every query under the 8 symmetries against every reference view (module docstring).

    queries (q, size, size) and references (m, size, size) are preprocessed images. A pair
    whose groups are equal is never a candidate (leave-one-out). For each query the result is
    the k references with the largest thumbnail correlation over all (symmetry, view) pairs,
    ties to the lower reference row, and the first pair (symmetries, then views, in order) that
    reached it.

    Most of the 8 x views products cannot change that result, and a bound rules them out
    before they are computed: with P the projection on the low cosine frequencies
    (`cosine_basis`), x . y <= Px . Py + |x - Px| |y - Py| (Cauchy-Schwarz on the rest), which
    costs (BOUND_SIDE / thumb)^2 of the product. A pair whose bound is below its query's k-th
    best correlation found so far can be neither among the k best nor the best pair of one of
    them, so only the rows of a tile of EXACT_TILE references that some pair of the tile leaves
    open are multiplied exactly. The result is the one the full products give (the tests
    compare with them); only the time depends on how similar the images are. Memory: block x m
    float32 three times, plus the thumbnails (views x m x thumb^2 floats).
    """
    q, m = len(queries), len(references)
    kk = min(k, m)
    indices = np.full((q, k), -1, dtype=np.int64)
    best_corr = np.full((q, k), -np.inf, dtype=np.float32)
    best_sym = np.zeros((q, k), dtype=np.int64)
    best_view = np.zeros((q, k), dtype=np.int64)
    if q == 0 or m == 0:
        return TransformCandidates(indices, best_corr, best_sym, best_view)
    size = queries.shape[-1]
    full = area_matrix(thumb, 0.0, size, size)
    ref_thumbs = view_thumbnails(references, views, thumb)  # (v, m, t^2)
    basis = cosine_basis(thumb, BOUND_SIDE)
    ref_bound = _bound_rows(ref_thumbs, basis)  # (v, m, d + 1)
    slack = BOUND_SLACK * thumb * thumb
    n_views = len(views)
    for start in range(0, q, block):
        part = queries[start : start + block]
        b = len(part)
        top = np.full((b, m), -np.inf, dtype=np.float32)
        code = np.zeros((b, m), dtype=np.int32)
        allowed = None
        if query_groups is not None and reference_groups is not None:
            allowed = query_groups[start : start + b, None] != reference_groups[None, :]
        thumbs = zscore_rows(resample(part, full, full)).reshape(b, thumb, thumb)
        floor: np.ndarray = np.full((b, 1), -np.inf, dtype=np.float32)  # each query's k-th best so far, less the slack
        for s_index, name in enumerate(D8_NAMES):
            q_rows = apply_d8(thumbs, name).reshape(b, -1)
            q_bound = _bound_rows(q_rows, basis)
            for v_index in range(n_views):
                combo = s_index * n_views + v_index
                open_pairs = (q_bound @ ref_bound[v_index].T) >= floor
                if allowed is not None:
                    open_pairs &= allowed
                for lo in range(0, m, EXACT_TILE):
                    cols = slice(lo, lo + EXACT_TILE)
                    open_rows = np.flatnonzero(open_pairs[:, cols].any(axis=1))
                    if open_rows.size == 0:
                        continue
                    corr = _rows_product(q_rows[open_rows], ref_thumbs[v_index, cols])
                    held = top[open_rows, cols]
                    better = corr > held
                    if allowed is not None:
                        better &= allowed[open_rows, cols]
                    top[open_rows, cols] = np.where(better, corr, held)
                    code[open_rows, cols] = np.where(better, combo, code[open_rows, cols])
                if combo == 0 or combo % 8 == 7:  # the k-th best only grows: a stale one rules out less
                    floor = (_kth_largest(top, kk) - slack)[:, None]
        if allowed is not None:
            top[~allowed] = -np.inf
        part_idx = best_columns(top, kk)
        part_corr = np.take_along_axis(top, part_idx, axis=1)
        order = np.argsort(-part_corr, axis=1, kind="stable")
        part_idx = np.take_along_axis(part_idx, order, axis=1)
        part_corr = np.take_along_axis(part_corr, order, axis=1)
        part_code = np.take_along_axis(code, part_idx, axis=1)
        usable = np.isfinite(part_corr)
        rows = slice(start, start + b)
        indices[rows, :kk] = np.where(usable, part_idx, -1)
        best_corr[rows, :kk] = part_corr
        best_sym[rows, :kk] = part_code // n_views
        best_view[rows, :kk] = part_code % n_views
    return TransformCandidates(indices, best_corr, best_sym, best_view)


# The bound of the thumbnail search (`transform_candidates`; exact whatever these are, they only set its speed)
BOUND_SIDE = 8  # the subspace: the BOUND_SIDE x BOUND_SIDE lowest 2-D cosine frequencies of a thumbnail
# Taken off each query's k-th best, per value of a thumbnail: a float32 product of unit rows of
# t^2 values is within t^2 float32 epsilons of the exact one (the classic worst-case bound of a
# sum), so twice that covers both the bound's product and the exact one at any thumbnail size.
BOUND_SLACK = 2 * float(np.finfo(np.float32).eps)
EXACT_TILE = 512  # references per exact product of the query rows that a tile's bounds leave open
# Queries searched at once: each of the 392 (symmetry, view) steps passes over block x m arrays, which
# stay in the caches at 256 (at 5,000 references 35.9 CPU s against 46.2 s with the GEMM's 2,048, same
# candidates; 128 and 64 were no faster at 1,000).
TRANSFORM_BLOCK = 256


def cosine_basis(thumb: int, side: int) -> np.ndarray:
    """(thumb^2, side^2) orthonormal columns: the lowest side x side 2-D DCT-II frequencies of thumb x thumb."""
    n = np.arange(thumb)
    k = np.arange(min(side, thumb))
    one = np.cos(np.pi * (n[:, None] + 0.5) * k[None, :] / thumb) * np.sqrt(2.0 / thumb)
    one[:, 0] /= np.sqrt(2.0)
    return np.einsum("ia,jb->ijab", one, one).reshape(thumb * thumb, -1).astype(np.float32)


def _bound_rows(rows: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """(..., d + 1) float32: each row's projection on `basis` and the norm of what it leaves out.

    The product of a query's and a reference's bound rows is Px . Py + |x - Px| |y - Py|,
    an upper bound of x . y (`transform_candidates`). The rest is measured on x - Px itself, not
    as |x|^2 - |Px|^2, so that a small rest is not lost to cancellation.
    """
    flat = rows.reshape(-1, rows.shape[-1])
    out = np.empty((flat.shape[0], basis.shape[1] + 1), dtype=np.float32)
    for start in range(0, flat.shape[0], 4096):  # the rest of a slice of rows stays in the caches
        part = flat[start : start + 4096]
        low = part @ basis
        rest = part - low @ basis.T
        out[start : start + 4096, :-1] = low
        out[start : start + 4096, -1] = np.sqrt(np.einsum("ij,ij->i", rest, rest))
    return out.reshape(*rows.shape[:-1], basis.shape[1] + 1)


MIN_PRODUCT_ROWS = 8


def _rows_product(rows: np.ndarray, references: np.ndarray) -> np.ndarray:
    """rows @ references.T, each row's values the same however many rows are multiplied together.

    OpenBLAS multiplies one or two rows by other kernels (a matrix-vector path among them), whose
    float32 sums differ in the last bits from those of three or more; which rows a tile leaves open
    depends on the block of queries, so a few rows are padded with copies of the first."""
    if len(rows) >= MIN_PRODUCT_ROWS:
        return rows @ references.T
    padded = np.concatenate([rows, np.repeat(rows[:1], MIN_PRODUCT_ROWS - len(rows), axis=0)])
    return (padded @ references.T)[: len(rows)]


def _kth_largest(top: np.ndarray, kk: int) -> np.ndarray:
    """Each row's kk-th largest value (-inf when the row has fewer finite values)."""
    return -np.partition(-top, kk - 1, axis=1)[:, kk - 1]


@dataclass
class Alignment:
    """The best alignment of each query with its reference (one pair per row)."""

    ncc: np.ndarray  # (b,) Pearson correlation of the aligned pair
    scale: np.ndarray  # (b,) crop side of the reference / size
    top: np.ndarray  # (b,) crop box top-left in reference pixels
    left: np.ndarray  # (b,)


def aligned_ncc(queries: np.ndarray, references: np.ndarray, scales: np.ndarray, max_shift: int) -> Alignment:
    """NCC_aligned of each pair (queries[i], references[i]) over scales[i] and every position.

    queries and references (b, size, size), already under the candidate's symmetry; scales
    (b, c) crop scales to try per pair. For a scale c the query is resampled to side
    round(c * size), a border of round(c * max_shift) is trimmed, and the template's Pearson
    correlation with every window of the reference is computed by FFT cross-correlation
    (numerator) and integral images (window spread). Returns the best over scales and windows,
    with the reference crop box that the query matches (scale, top, left of the untrimmed box).
    """
    from scipy import fft

    q = np.asarray(queries, dtype=np.float32)
    r = np.asarray(references, dtype=np.float32)
    b, size, _ = q.shape
    out = Alignment(ncc=np.full(b, -np.inf), scale=np.ones(b), top=np.zeros(b), left=np.zeros(b))
    if b == 0:
        return out
    r_fft = fft.rfft2(r, s=(size, size), workers=-1)
    integral = _integrals(r.astype(np.float64))
    scale_grid = np.asarray(scales, dtype=np.float64)
    for column in range(scale_grid.shape[1]):
        sides = np.clip(np.rint(scale_grid[:, column] * size).astype(np.int64), 4, size)
        for side in np.unique(sides):
            rows = np.flatnonzero(sides == side)
            trim = min(round(int(side) * max_shift / size), (int(side) - 2) // 2)
            inner = side - 2 * trim
            matrix = area_matrix(int(side), 0.0, size, size)
            template = resample(q[rows], matrix, matrix)[:, trim : side - trim, trim : side - trim]
            flat = zscore_rows(template).reshape(len(rows), inner, inner)
            t_fft = fft.rfft2(flat, s=(size, size), workers=-1)
            corr = fft.irfft2(r_fft[rows] * np.conj(t_fft), s=(size, size), workers=-1)
            span = size - inner + 1
            numerator = corr[:, :span, :span]
            spread = _window_spread(integral[rows], inner, span)
            with np.errstate(divide="ignore", invalid="ignore"):
                ncc = np.where(spread > 1e-5, numerator / spread, 0.0)
            flat_best = ncc.reshape(len(rows), -1).argmax(axis=1)
            best = _subpixel_peak(ncc, flat_best // span, flat_best % span)
            better = best > out.ncc[rows]
            chosen = rows[better]
            out.ncc[chosen] = np.clip(best[better], -1.0, 1.0)
            out.scale[chosen] = side / size
            out.top[chosen] = flat_best[better] // span - trim
            out.left[chosen] = flat_best[better] % span - trim
    return out


BLUR_SIGMAS = (0.7, 1.4)  # Gaussian sigmas, in pixels of the compared images, tried on the reference


def _smoothed(images: np.ndarray, sigma: float) -> np.ndarray:
    from scipy import ndimage

    return ndimage.gaussian_filter(np.asarray(images, dtype=np.float32), (0, sigma, sigma), mode="nearest")


def _subpixel_peak(surface: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The peak of each (b, span, span) correlation surface, interpolated between whole-pixel offsets.

    A copy moved by a fraction of a pixel (a sub-pixel shift, or a crop that resampling puts off
    the grid) peaks between offsets. Per axis, a parabola through the best value f0 and its two
    neighbours f- and f+ peaks at f0 + (f+ - f-)^2 / (8 (2 f0 - f- - f+)) (standard in image
    registration); the two axes' gains are added, capped at half the gap to 1. At the border
    of the surface, or where the peak is not a local maximum, the whole-pixel value stands.
    """
    b, span, _ = surface.shape
    idx = np.arange(b)
    f0 = surface[idx, y, x]
    gain = np.zeros(b)
    for axis in (0, 1):
        pos = y if axis == 0 else x
        inside = (pos > 0) & (pos < span - 1)
        lo_pos, hi_pos = np.clip(pos - 1, 0, span - 1), np.clip(pos + 1, 0, span - 1)
        f_lo = surface[idx, lo_pos, x] if axis == 0 else surface[idx, y, lo_pos]
        f_hi = surface[idx, hi_pos, x] if axis == 0 else surface[idx, y, hi_pos]
        curvature = 2 * f0 - f_lo - f_hi
        ok = inside & (curvature > 1e-12)
        with np.errstate(divide="ignore", invalid="ignore"):
            gain += np.where(ok, (f_hi - f_lo) ** 2 / (8 * curvature), 0.0)
    return f0 + np.minimum(gain, np.maximum(1.0 - f0, 0.0) / 2)


def summed_area(images: np.ndarray) -> np.ndarray:
    """(b, size + 1, size + 1) float64 summed-area tables: entry (y, x) sums pixels [0, y) x [0, x)."""
    x = np.asarray(images, dtype=np.float64)
    table = np.zeros((x.shape[0], x.shape[1] + 1, x.shape[2] + 1))
    table[:, 1:, 1:] = x.cumsum(axis=1).cumsum(axis=2)
    return table


def box_resample(table: np.ndarray, top: np.ndarray, left: np.ndarray, length: np.ndarray, n_out: int) -> np.ndarray:
    """The box of side `length` at (top, left) of each image, area-averaged to (b, n_out, n_out).

    `table` is the images' `summed_area`. The integral over [0, y) x [0, x) of piecewise
    constant pixels is bilinear inside each pixel, so it is read at the fractional box edges by
    bilinear interpolation of the table, and each output pixel is its rectangle's integral
    divided by the rectangle's area inside the image: `area_matrix`'s numbers, at a cost that
    does not grow with the image size.
    """
    size = table.shape[1] - 1
    steps = np.arange(n_out + 1) / n_out

    def edges(start: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        e = np.clip(start[:, None] + length[:, None] * steps[None, :], 0.0, size)
        k = np.minimum(np.floor(e).astype(np.int64), size - 1)
        return e, k, e - k

    ey, ky, fy = edges(top)
    ex, kx, fx = edges(left)
    # whole rows (then whole columns) of the tables are gathered: contiguous copies, not single values
    b, width = table.shape[0], size + 1
    base = (np.arange(b) * width)[:, None]
    flat = table.reshape(b * width, width)
    # in place, in the order lower + f * (upper - lower) (the same numbers with fewer temporaries)
    lower, rows = flat[base + ky], flat[base + ky + 1]
    rows -= lower
    rows *= fy[:, :, None]
    rows += lower  # (b, n + 1, size + 1)
    flat = np.ascontiguousarray(rows.transpose(0, 2, 1)).reshape(b * width, n_out + 1)
    lower, corner = flat[base + kx], flat[base + kx + 1]
    corner -= lower
    corner *= fx[:, :, None]
    corner += lower
    corner = corner.transpose(0, 2, 1)  # (b, n + 1, n + 1)
    sums = corner[:, 1:, 1:] - corner[:, :-1, 1:]
    sums -= corner[:, 1:, :-1]
    sums += corner[:, :-1, :-1]
    area = np.diff(ey, axis=1)[:, :, None] * np.diff(ex, axis=1)[:, None, :]
    inside = area > 1e-9
    np.divide(sums, area, out=sums, where=inside)
    sums[~inside] = 0.0
    return sums.astype(np.float32)


class PairTables:
    """Summed-area tables of query and reference pairs, and each query's grid per side (cached)."""

    def __init__(self, queries: np.ndarray, references: np.ndarray, query_table: np.ndarray | None = None) -> None:
        self.size = int(queries.shape[-1])
        self.query_table = summed_area(queries) if query_table is None else query_table
        self.reference_table = summed_area(references)
        self._grids: dict[int, np.ndarray] = {}
        self._rows: dict[tuple[int, int], np.ndarray] = {}

    def query_grid(self, n: int, rows: np.ndarray) -> np.ndarray:
        """The whole query resampled to n x n, for `rows` (computed once per n for every pair)."""
        if n not in self._grids:
            b = self.query_table.shape[0]
            whole = np.full(b, float(self.size))
            self._grids[n] = box_resample(self.query_table, np.zeros(b), np.zeros(b), whole, n)
        return self._grids[n][rows]

    def query_rows(self, n: int, trim: int, rows: np.ndarray) -> np.ndarray:
        """`query_grid` without its border of `trim`, as z-scored rows (computed once per n and trim)."""
        key = (n, trim)
        if key not in self._rows:
            b = self.query_table.shape[0]
            self._rows[key] = zscore_rows(self.query_grid(n, np.arange(b))[:, trim : n - trim, trim : n - trim])
        return self._rows[key][rows]


def direct_ncc(
    pairs: PairTables,
    scale: np.ndarray,
    top: np.ndarray,
    left: np.ndarray,
    trim: int,
    *,
    only: np.ndarray | None = None,
) -> np.ndarray:
    """Pearson correlation of each query with its reference's box, both on the box's own grid.

    The box of side scale * size at (top, left) (reference pixels, fractional) and the whole
    query are both area-resampled to n = floor(scale * size) pixels a side, so neither is
    upsampled and the comparison is continuous in scale and position; a border of `trim`
    pixels is left out. `only` (a boolean mask of the pairs) computes those pairs alone and
    gives the others -inf; each pair's value does not depend on which others are computed with
    it. The score of an aligned pair compares more than the pixels: `detail_score`.
    """
    size = pairs.size
    out = np.zeros(len(scale)) if only is None else np.full(len(scale), -np.inf)
    sides = np.clip(np.floor(scale * size + 1e-6).astype(np.int64), 2 * trim + 4, size)
    for n in np.unique(sides if only is None else sides[only]):
        rows = np.flatnonzero(sides == n if only is None else (sides == n) & only)
        box = _BoxRows(rows, scale[rows] * size, top[rows], left[rows], int(n), trim)
        b = box.of(box_resample(pairs.reference_table[rows], box.top, box.left, box.length, int(n)))
        out[rows] = _row_corr(pairs.query_rows(int(n), trim, rows), zscore_rows(b))
    return out


def _window_like(query: np.ndarray, reference: np.ndarray, tolerance: float = 0.02) -> np.ndarray:
    """Each reference row clipped at the quantiles where its query row is saturated.

    A display window clips the darkest and brightest share of a copy to flat black and white.
    The reference is clipped at the same shares of its own values (the query's share of pixels
    within `tolerance` of its minimum, and of its maximum), so a windowed copy meets its source
    windowed alike. An image clipped only by the preprocessing (0.5 % each end) barely changes.
    """
    low, high = query.min(axis=1, keepdims=True), query.max(axis=1, keepdims=True)
    spread = np.maximum(high - low, 1e-9)
    share_low = np.mean(query <= low + tolerance * spread, axis=1)
    share_high = np.mean(query >= high - tolerance * spread, axis=1)
    ordered = np.sort(reference, axis=1)
    last = reference.shape[1] - 1
    row = np.arange(len(reference))
    floor = ordered[row, np.clip(np.rint(share_low * last).astype(np.int64), 0, last)]
    ceiling = ordered[row, np.clip(np.rint((1 - share_high) * last).astype(np.int64), 0, last)]
    return np.clip(reference, floor[:, None], np.maximum(ceiling, floor)[:, None])


def _band_pass(images: np.ndarray, band: tuple[float, float]) -> np.ndarray:
    """Difference of Gaussians of each (b, side, side) image, flattened: the band of anatomical detail."""
    from scipy import ndimage

    low, high = band
    x = np.asarray(images, dtype=np.float32)
    detail = ndimage.gaussian_filter(x, (0, low, low), mode="nearest") - ndimage.gaussian_filter(
        x, (0, high, high), mode="nearest"
    )
    return detail.reshape(len(x), -1)


# The score of an aligned pair: the correlation of its anatomical detail. Two different slices of
# one anatomy share their outline and coarse contrast (the low frequencies), which plain NCC is
# dominated by; a copy also shares the detail between 1.5 and 6 pixels. Measured on MNI slices 3 mm
# apart: the null's median falls from 0.97 to 0.95 while copies keep 0.997 and more.
DETAIL_BAND = (1.5, 6.0)

# Pairs aligned at once: a block's summed-area tables, windows and resampled boxes stay in the
# caches. Each pair's values do not depend on its block. Measured on the bench fields at 1,000 + 1,000
# (one thread, CPU seconds of the whole audit, same results): 256 pairs 59.3 s, 128 45.2 s, 64 40.5 s,
# 32 38.9 s, 16 42.6 s (2048 were 1.6 times slower per image than 256).
ALIGN_BLOCK = 32

REFINE_FROM_QUANTILE = 0.25  # a windowed copy's plain NCC can fall to the set's median, never this far

REFINE_STEPS: tuple[tuple[float, float], ...] = (
    (0.01, 0.5),
    (0.005, 0.25),
    (0.0025, 0.125),
    (0.00125, 0.0625),
)  # (scale, pixels) per level


def refine_alignment(
    queries: np.ndarray,
    references: np.ndarray,
    scale: np.ndarray,
    top: np.ndarray,
    left: np.ndarray,
    *,
    trim: int,
    min_scale: float,
    steps: tuple[tuple[float, float], ...] = (),
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Continuous refinement of scale and position from the whole-pixel FFT alignment (pattern search).

    Whole-pixel offsets and whole-pixel template sides leave a copy up to half a pixel off, and
    on smooth anatomy that costs as much correlation as a neighbouring slice's difference. From
    the FFT alignment, each pair's (scale, top, left) moves by +-1 step along each axis while
    `direct_ncc` improves, at `steps` (`REFINE_STEPS`: halving from (0.01, 0.5 px) to
    (0.00125, 1/16 px)), two passes per level; without steps the pair is scored where it stands. Returns (ncc, scale, top, left).
    """
    scale, top, left = scale.astype(np.float64), top.astype(np.float64), left.astype(np.float64)
    pairs = PairTables(queries, references)
    best = direct_ncc(pairs, scale, top, left, trim) if steps else np.zeros(len(scale))
    for step_scale, step_px in steps:
        moving = np.ones(len(scale), dtype=bool)
        for _ in range(2):
            moved = np.zeros(len(scale), dtype=bool)
            for axis, delta in (
                (0, step_scale),
                (0, -step_scale),
                (1, step_px),
                (1, -step_px),
                (2, step_px),
                (2, -step_px),
            ):
                trial = [scale.copy(), top.copy(), left.copy()]
                trial[axis] += delta
                trial[0] = np.clip(trial[0], min_scale - 0.02, 1.0)
                value = direct_ncc(pairs, trial[0], trial[1], trial[2], trim, only=moving)
                better = value > best
                moved |= better
                best = np.where(better, value, best)
                scale, top, left = (np.where(better, t, c) for t, c in zip(trial, (scale, top, left), strict=True))
            # a pair that did not move tries the same six steps from the same place again: nothing can change
            moving = moved
    blurred = [
        PairTables(queries, _smoothed(references, sigma), query_table=pairs.query_table) for sigma in BLUR_SIGMAS
    ]
    return detail_score(pairs, blurred, scale, top, left, trim), scale, top, left


def detail_score(
    pairs: PairTables, blurred: list[PairTables], scale: np.ndarray, top: np.ndarray, left: np.ndarray, trim: int
) -> np.ndarray:
    """The score of aligned pairs: the best detail correlation (`DETAIL_BAND`) of four comparisons.

    Each as `direct_ncc` computes it on the box's own grid: the pixels; their ranks (gamma and
    other monotone changes); the reference clipped where the query is saturated (a display
    window); and the reference blurred alike (`blurred`: the same pairs with the references
    smoothed by each of `BLUR_SIGMAS`). The query's detail and the reference's box are made
    once per pair and shared by the comparisons that use them.
    """
    from scipy.stats import rankdata

    size = pairs.size
    out = np.zeros(len(scale))
    sides = np.clip(np.floor(scale * size + 1e-6).astype(np.int64), 2 * trim + 4, size)
    for n in np.unique(sides):
        rows = np.flatnonzero(sides == n)
        box = _BoxRows(rows, scale[rows] * size, top[rows], left[rows], int(n), trim)
        a = box.of(pairs.query_grid(int(n), rows))
        b = box.of(box_resample(pairs.reference_table[rows], box.top, box.left, box.length, int(n)))
        a_detail = box.detail(a)
        score = np.maximum(
            _row_corr(a_detail, box.detail(b)),
            _row_corr(box.detail(rankdata(a, axis=1)), box.detail(rankdata(b, axis=1))),
        )
        score = np.maximum(score, _row_corr(a_detail, box.detail(_window_like(a, b))))
        for tables in blurred:  # a blurred copy keeps the detail of its source blurred alike
            smooth = box.of(box_resample(tables.reference_table[rows], box.top, box.left, box.length, int(n)))
            score = np.maximum(score, _row_corr(a_detail, box.detail(smooth)))
        out[rows] = score
    return out


@dataclass
class _BoxRows:
    """Pairs whose boxes share a side n: their rows, boxes, and the comparison's inner part."""

    rows: np.ndarray
    length: np.ndarray
    top: np.ndarray
    left: np.ndarray
    n: int
    trim: int

    def of(self, grids: np.ndarray) -> np.ndarray:
        """(b, n, n) grids without their border of trim, as rows."""
        return grids[:, self.trim : self.n - self.trim, self.trim : self.n - self.trim].reshape(self.rows.size, -1)

    def detail(self, x: np.ndarray) -> np.ndarray:
        side = self.n - 2 * self.trim
        return zscore_rows(_band_pass(x.reshape(-1, side, side), DETAIL_BAND))


def _row_corr(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", x, y)


def _integrals(x: np.ndarray) -> np.ndarray:
    """(b, 2, size + 1, size + 1): integral images of x and x^2."""
    b, size, _ = x.shape
    out = np.zeros((b, 2, size + 1, size + 1))
    out[:, 0, 1:, 1:] = x.cumsum(axis=1).cumsum(axis=2)
    out[:, 1, 1:, 1:] = (x * x).cumsum(axis=1).cumsum(axis=2)
    return out


def _window_spread(integral: np.ndarray, side: int, span: int) -> np.ndarray:
    """||w - mean(w)|| of every side x side window at offsets 0..span-1 in both axes, (b, span, span)."""
    lo, hi = slice(0, span), slice(side, side + span)
    boxes = integral[:, :, hi, hi] - integral[:, :, lo, hi] - integral[:, :, hi, lo] + integral[:, :, lo, lo]
    sums, squares = boxes[:, 0], boxes[:, 1]
    return np.sqrt(np.maximum(squares - sums * sums / (side * side), 0.0))


@dataclass
class BestMatch:
    """Per query row: its best aligned reference over all candidates, symmetries and crops."""

    ncc: np.ndarray  # (q,) NCC_aligned, -inf where no candidate
    reference: np.ndarray  # (q,) reference row, -1 where none
    symmetry: np.ndarray  # (q,) index into D8_NAMES
    scale: np.ndarray  # (q,) side of the matched reference crop / size
    top: np.ndarray  # (q,) crop box top-left, reference pixels
    left: np.ndarray  # (q,)


def best_matches(
    queries: np.ndarray,
    references: np.ndarray,
    candidates: TransformCandidates,
    views: list[View],
    max_shift: int,
    *,
    scale_step: float = 0.025,
    min_scale: float = 0.6,
    block: int = ALIGN_BLOCK,
    refine_margin: float = 0.05,
) -> BestMatch:
    """Verify each transform candidate (`aligned_ncc`) and keep each query's best match.

    The best candidate of each query is tried at every scale from 1 down to `min_scale` in
    steps of `scale_step` (the thumbnail search may have reached it through a neighbouring crop
    view); the others at c - 2 .. c + 2 steps around the scale c of their view. Every candidate
    within `refine_margin` of its query's best (the three best, above the set's lowest quarter) is
    then refined continuously (`refine_alignment`), which also gives its score, the detail
    correlation; on whole pixels a
    neighbouring slice can edge out the true source, which only the sub-pixel alignment puts
    ahead. The match is the refined candidate with the highest score. Rows are processed in
    blocks of `block`.

    In phases (a query block per task): `coarse_alignment`, then `refine_cut` over the whole
    set's coarse bests, then `refined_match` of each block with the cut.
    """
    coarse = coarse_alignment(
        queries, references, candidates, views, max_shift, scale_step=scale_step, min_scale=min_scale, block=block
    )
    upper = coarse.best >= refine_cut(coarse.best)
    return refined_match(
        queries,
        references,
        candidates,
        coarse,
        upper,
        max_shift,
        min_scale=min_scale,
        block=block,
        refine_margin=refine_margin,
    )


@dataclass
class CoarseAlignment:
    """Whole-pixel alignment of every candidate (q, k) and each query's best of them."""

    ncc: np.ndarray
    scale: np.ndarray
    top: np.ndarray
    left: np.ndarray

    @property
    def best(self) -> np.ndarray:
        return self.ncc.max(axis=1, initial=-np.inf)


def coarse_alignment(
    queries: np.ndarray,
    references: np.ndarray,
    candidates: TransformCandidates,
    views: list[View],
    max_shift: int,
    *,
    scale_step: float = 0.025,
    min_scale: float = 0.6,
    block: int = ALIGN_BLOCK,
) -> CoarseAlignment:
    """The first step of `best_matches`: each candidate aligned on whole pixels and a scale grid."""
    q, k = candidates.indices.shape
    found = {
        name: np.full((q, k), fill) for name, fill in (("ncc", -np.inf), ("scale", 1.0), ("top", 0.0), ("left", 0.0))
    }
    view_scale = np.asarray([view.scale for view in views])
    for column, rows, idx in _candidate_blocks(candidates, block):
        turned = _turned(queries, rows, candidates.symmetry[rows, column])
        if column == 0:  # the best candidate: every scale, since its view may be a neighbouring crop
            full = np.arange(1.0, min_scale - 1e-9, -scale_step)
            coarse = np.broadcast_to(full, (rows.size, full.size))
        else:
            centre = view_scale[candidates.view[rows, column]]
            coarse = np.clip(centre[:, None] + scale_step * np.arange(-2, 3)[None, :], min_scale, 1.0)
        # whole pixels and scale steps only: the continuous refinement below does the rest
        first = aligned_ncc(turned, references[idx], coarse, max_shift)
        found["ncc"][rows, column] = first.ncc
        found["scale"][rows, column] = first.scale
        found["top"][rows, column] = first.top
        found["left"][rows, column] = first.left
    return CoarseAlignment(**found)


def refine_cut(coarse_best: np.ndarray) -> float:
    """The set's REFINE_FROM_QUANTILE of the queries' whole-pixel best scores (+inf for none).

    The images at or above it are refined (their three best candidates within refine_margin);
    the rest, far below any copy threshold, are scored where their best candidate stands. The
    rule is the same for the synthetic and the baseline images, so the null still describes
    exactly what the synthetic images went through. It needs the whole set: the distributed run
    refines each block both ways and picks per image once the cut is known (`refined_match`).
    """
    scored = np.isfinite(coarse_best)
    return float(np.quantile(coarse_best[scored], REFINE_FROM_QUANTILE)) if scored.any() else float("inf")


def refined_match(
    queries: np.ndarray,
    references: np.ndarray,
    candidates: TransformCandidates,
    coarse: CoarseAlignment,
    upper: np.ndarray,
    max_shift: int,
    *,
    min_scale: float = 0.6,
    block: int = ALIGN_BLOCK,
    refine_margin: float = 0.05,
) -> BestMatch:
    """The last step of `best_matches`: refine the rows in `upper` fully, score the others as they stand."""
    q, k = candidates.indices.shape
    found = {name: getattr(coarse, name).copy() for name in ("ncc", "scale", "top", "left")}
    best = coarse.best
    finite = np.isfinite(found["ncc"])
    order = np.argsort(-np.where(finite, found["ncc"], -np.inf), axis=1, kind="stable")
    rank = np.argsort(order, axis=1)
    near = finite & upper[:, None] & (found["ncc"] >= best[:, None] - refine_margin) & (rank < 3)
    where = finite & ~upper[:, None] & (rank == 0)
    trim = max(1, max_shift)
    for chosen, schedule in ((near, REFINE_STEPS), (where, ())):
        rows_all, cols_all = np.nonzero(chosen)
        for start in range(0, rows_all.size, block):
            rows, cols = rows_all[start : start + block], cols_all[start : start + block]
            ncc, scale, top, left = refine_alignment(
                _turned(queries, rows, candidates.symmetry[rows, cols]),
                np.asarray(references[candidates.indices[rows, cols]], dtype=np.float32),
                found["scale"][rows, cols],
                found["top"][rows, cols],
                found["left"][rows, cols],
                trim=trim,
                min_scale=min_scale,
                steps=schedule,
            )
            for name, values in (("ncc", np.clip(ncc, -1.0, 1.0)), ("scale", scale), ("top", top), ("left", left)):
                found[name][rows, cols] = values
    # the score is the detail correlation of a scored pair; the other candidates drop out
    found["ncc"][~(near | where)] = -np.inf
    if k == 0:
        empty = np.full(q, -np.inf)
        return BestMatch(empty, np.full(q, -1), np.zeros(q, np.int64), np.ones(q), np.zeros(q), np.zeros(q))
    pick = (np.arange(q), found["ncc"].argmax(axis=1))
    has = np.isfinite(found["ncc"][pick])
    return BestMatch(
        ncc=found["ncc"][pick],
        reference=np.where(has, candidates.indices[pick], -1),
        symmetry=candidates.symmetry[pick],
        scale=found["scale"][pick],
        top=found["top"][pick],
        left=found["left"][pick],
    )


def _candidate_blocks(candidates: TransformCandidates, block: int) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(column, query rows, reference rows) of each candidate column in blocks of `block` query rows, skipping empty slots."""
    q, k = candidates.indices.shape
    for column in range(k):
        for start in range(0, q, block):
            rows = np.arange(start, min(q, start + block))
            idx = candidates.indices[rows, column]
            rows, idx = rows[idx >= 0], idx[idx >= 0]
            if rows.size:
                yield column, rows, idx


def _turned(queries: np.ndarray, rows: np.ndarray, symmetry: np.ndarray) -> np.ndarray:
    """queries[rows], each under its symmetry (index into D8_NAMES)."""
    turned = np.empty((rows.size, *queries.shape[1:]), dtype=np.float32)
    for s_index, name in enumerate(D8_NAMES):
        chosen = symmetry == s_index
        if chosen.any():
            turned[chosen] = apply_d8(queries[rows[chosen]], name)
    return turned


def prerank(
    queries: np.ndarray,
    references: np.ndarray,
    candidates: TransformCandidates,
    views: list[View],
    keep: int,
    max_shift: int,
    *,
    block: int = ALIGN_BLOCK,
) -> TransformCandidates:
    """The `keep` best of a wider candidate list, by one FFT alignment each at its view's scale.

    Thumbnails rank neighbouring slices of similar anatomy close together, and a crop between
    two grid views can put its source a few places down; one whole-pixel alignment per
    candidate (every position; the view's scale and 0.05 either side, since a crop may lie between
    two views) ranks them by what the verification measures.
    """
    q, k = candidates.indices.shape
    if k <= keep:
        return candidates
    score = np.full((q, k), -np.inf)
    view_scale = np.asarray([view.scale for view in views])
    for column, rows, idx in _candidate_blocks(candidates, block):
        turned = _turned(queries, rows, candidates.symmetry[rows, column])
        centre = view_scale[candidates.view[rows, column]][:, None]
        scales = np.clip(centre + np.array([[-0.05, 0.0, 0.05]]), 0.3, 1.0)
        score[rows, column] = aligned_ncc(turned, references[idx], scales, max_shift).ncc
    order = np.argsort(-score, axis=1, kind="stable")[:, :keep]

    def take(values: np.ndarray) -> np.ndarray:
        return np.take_along_axis(values, order, axis=1)

    return TransformCandidates(
        indices=take(candidates.indices),
        corr=take(candidates.corr),
        symmetry=take(candidates.symmetry),
        view=take(candidates.view),
    )
