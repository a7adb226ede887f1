"""Memorization audit: does a synthetic image copy a real training image? (AUDITS.md 1b, A3, A4)

Inputs are the synthetic set S (n usable images), the real reference (training) set R (m
usable images) and optionally a held-out real set H that was not used for training. Blank
images (`Image.blank`) are dropped from every comparison and counted. All comparisons run on
the preprocessed pixels (`preprocess.preprocess`: percentile clip, [0, 1], size x size).

Steps and formulas
------------------
1. Exact duplicates (A3): a usable synthetic image whose `pixel_sha256` (SHA-256 of the
   decoded native pixels, dtype and byte order normalised by `preprocess.pixel_digest`) is
   the digest of a usable reference image. Blank images are never counted as duplicates.

2. Nearest real neighbours (A4): with s and r the flattened float32 pixels,
       d(s, r)^2 = ||s||^2 + ||r||^2 - 2 s.r
   computed as one matrix product per block of `block` synthetic rows (default 2048), so the
   n x m matrix is never held; memory per block is about block * m * 4 bytes. The `k`
   (default 5) smallest per row are kept with `argpartition` (`nearest_candidates`). The
   expansion loses precision (identical vectors can come out > 0), so the exact distance
   ||s - r|| is recomputed for every candidate and d(s) = min over candidates.
   A shifted copy is far from its source in pixel L2 (a 2-pixel shift gives a ratio of about
   1.1) and, in a reference set of neighbouring slices, ranks behind them. So `spectrum_k`
   (default 5) more candidates come from the same search on `spectrum_features`, the
   low-frequency Fourier magnitudes, which a shift leaves (nearly) unchanged; the union is
   re-ranked (`candidate_rows`).

3. Shift-tolerant normalised cross-correlation re-rank, for every candidate pair:
       NCC*(s, r) = max over |dy|, |dx| <= max_shift of
                    Pearson(s[c + dy, c + dx], r[c])
   where c is the centre crop of side size - 2 * max_shift (58 x 58 for 64 x 64 and the
   default max_shift 3) and s[c + dy, c + dx] is that crop moved by (dy, dx) inside s (no
   wrap-around). A crop with no variance has Pearson 0. NCC*(s) = max over the candidates;
   the candidate reaching it is the image's "closest" reference (`rerank`).

4. Baseline, the real-versus-real reference point:
   - "holdout" when H has usable images: every usable h in H (up to `baseline_sample`, a
     seeded random sample) is treated like a synthetic image, d(h) and NCC*(h) against R.
     Holdout images that are exact pixel duplicates of a reference image are left out (they
     are not held out) and counted in a caveat.
   - "train_loo" otherwise: leave-one-out R -> R, each reference image against R without
     itself and without its exact pixel duplicates. Reference images are closer to their own
     set than new images are, so this baseline biases ratios low; the status is then capped
     at warn unless there are near-exact copies (see below).
   baseline_median_nn_l2 = median of d over the baseline images.

5. Per synthetic image:
       ratio(s) = d(s) / baseline_median_nn_l2
       threshold = max(ncc_floor, q99 of NCC* over the baseline images)
   - probable copy: NCC*(s) >= threshold, or an exact duplicate;
   - near copy for review: ratio(s) <= near_copy_ratio and not a probable copy;
   - frac_probable_copies = n_probable_copies / n_synthetic_used;
   - train_images_copied = distinct reference images with >= 1 probable copy.

Status (A4, defaults in brackets):
    fail  any exact duplicate, or frac_probable_copies > fail_fraction [0.01], or one reference
          image with >= max_copies_per_reference [3] probable copies;
    warn  0 < frac_probable_copies <= fail_fraction, or only near copies to review;
    pass  no probable copy, no exact duplicate and no near copy.
    With the leave-one-out baseline a fail is capped at warn unless a probable copy has
    ratio <= near_exact_ratio [0.1] (exact duplicates have ratio 0, so they always fail).

Parameters (`DEFAULT_PARAMS`): k 5, spectrum_k 5 (0: pixel candidates only), block 2048,
max_shift 3, ncc_floor 0.99, near_copy_ratio 0.3, fail_fraction 0.01,
max_copies_per_reference 3, near_exact_ratio 0.1, baseline_sample 5000 (None: every
baseline image), seed 0 (for that sample), blas_threads None (leave the BLAS thread pool as
it is; an int limits it with threadpoolctl).

Result (`run`):
    metrics   baseline ("holdout" | "train_loo"), baseline_n, baseline_median_nn_l2, ratio_p01,
              ratio_p05, ratio_median, ncc_shift_max_p99 (synthetic), ncc_shift_max_max,
              baseline_ncc_shift_p99, holdout_ncc_shift_p99 (None without H), ncc_threshold,
              n_exact_duplicates, n_probable_copies (exact duplicates included),
              frac_probable_copies, n_near_copies_review, train_images_copied,
              max_copies_of_one_reference, n_synthetic_used, n_reference_used,
              n_dropped_blank (synthetic), n_dropped_blank_reference, n_dropped_blank_holdout,
              n_flagged_total, status_capped_by_baseline.
    flagged   exact duplicates, probable copies and near copies, each {"synthetic", "reference"
              (labels), "synthetic_file", "synthetic_index", "reference_file",
              "reference_index", "ncc", "ratio", "shift": [dy, dx], "kind": "exact" |
              "probable_copy" | "near_copy"}, by NCC* of the pair descending, at most
              FLAGGED_LIMIT. The pair is the pixel-identical reference for "exact", the NCC*
              candidate for "probable_copy" and the L2-nearest for "near_copy".
    charts    synthetic_scores / baseline_scores (NCC* per image), synthetic_ratios /
              baseline_ratios, threshold, near_copy_ratio, sampled (score lists are a seeded
              sample of PER_IMAGE_LIMIT above that many images), closest_pairs (the 12 pairs
              with the highest NCC*, flagged or not, kind "none" when not), and, up to
              PER_IMAGE_LIMIT synthetic images, per_image [{"label", "file", "index", "ncc",
              "ratio", "copy"}] for per-subgroup copy rates (`copy_flags`). Lists are rounded
              to 4 decimals.

Large sets: the Django side may split the synthetic and the baseline query rows of
`inputs = nn_inputs(S, R, H, params)` into chunks, run `candidate_rows(inputs, "synthetic" |
"baseline", start, stop, params)` (two `nearest_candidates` searches) on each chunk as a
parallel task, concatenate the returned arrays in row order and pass them to
`run(S, R, H, params, candidates={"synthetic": ..., "baseline": ...})`, which then skips the
search and does the re-rank and the rest. The re-rank is O(rows * 49 * D) and cheap next
to the search; `rerank` itself also works on any chunk of rows.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from audits.engine import ENGINE_VERSION
from audits.engine.types import FLAGGED_LIMIT, AuditResult, Image, ImageSet, Status, not_computable

AUDIT = "memorization"

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

PER_IMAGE_LIMIT = 20000  # charts["per_image"] and the score lists only up to this many images
CLOSEST_PAIRS = 12  # charts["closest_pairs"]
_ARGPARTITION_ROWS = 256  # rows per argpartition call, bounds its int64 temporary to 256 * m * 8 bytes
_RERANK_BYTES = 64 * 2**20  # bound on the shifted-window buffer of one re-rank chunk

KIND_ORDER = {"exact": 0, "probable_copy": 1, "near_copy": 2, "none": 3}


# ---------------------------------------------------------------------------------------------
# Parameters


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


# ---------------------------------------------------------------------------------------------
# Nearest neighbours (the chunk step)


def _rows(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array, dtype=np.float32)
    return array.reshape(array.shape[0], int(np.prod(array.shape[1:], dtype=np.int64)))


def nearest_candidates(
    synthetic: np.ndarray,
    reference: np.ndarray,
    k: int,
    block: int = 2048,
    *,
    synthetic_groups: np.ndarray | None = None,
    reference_groups: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest reference rows of every synthetic row, by squared Euclidean distance.

    synthetic (n, ...) and reference (m, ...) are flattened to float32 rows. Distances come
    from ||s||^2 + ||r||^2 - 2 s.r (clipped at 0) with one matrix product per block of `block`
    synthetic rows, so memory stays at about block * m * 4 bytes. Returns (indices, sq_distances),
    both (n, k): reference row numbers (int64) and squared distances (float32), nearest first
    (ties by row number). Slots beyond the available references hold -1 and +inf.

    When both group arrays are given, a pair whose groups are equal is never a candidate: the
    leave-one-out baseline passes exact-duplicate ids so that an image does not find itself.

    Rows are independent, so chunks of synthetic rows can run as separate tasks and their
    results be merged with np.concatenate in row order.
    """
    if k < 1 or block < 1:
        raise ValueError("k and block must be >= 1")
    s = _rows(synthetic)
    r = _rows(reference)
    n, m = s.shape[0], r.shape[0]
    if n and m and s.shape[1] != r.shape[1]:
        raise ValueError(f"synthetic rows have {s.shape[1]} values, reference rows {r.shape[1]}")
    if (synthetic_groups is None) != (reference_groups is None):
        raise ValueError("give both synthetic_groups and reference_groups, or neither")
    indices = np.full((n, k), -1, dtype=np.int64)
    sq_distances = np.full((n, k), np.inf, dtype=np.float32)
    if n == 0 or m == 0:
        return indices, sq_distances
    sg = rg = None
    if synthetic_groups is not None and reference_groups is not None:
        sg = np.asarray(synthetic_groups)
        rg = np.asarray(reference_groups)
        if sg.shape != (n,) or rg.shape != (m,):
            raise ValueError("group arrays must have one entry per row")
    kk = min(k, m)
    r_sq = np.einsum("ij,ij->i", r, r)
    for start in range(0, n, block):
        sb = s[start : start + block]
        dist = sb @ r.T
        dist *= -2.0
        dist += np.einsum("ij,ij->i", sb, sb)[:, None]
        dist += r_sq[None, :]
        np.maximum(dist, 0.0, out=dist)
        for sub in range(0, dist.shape[0], _ARGPARTITION_ROWS):
            rows = dist[sub : sub + _ARGPARTITION_ROWS]
            if sg is not None and rg is not None:
                lo = start + sub
                rows[sg[lo : lo + rows.shape[0], None] == rg[None, :]] = np.inf
            if kk < m:
                part = np.argpartition(rows, kk - 1, axis=1)[:, :kk]
            else:
                part = np.broadcast_to(np.arange(m), (rows.shape[0], m))
            part_d = np.take_along_axis(rows, part, axis=1)
            order = np.lexsort((part, part_d), axis=-1)
            part = np.take_along_axis(part, order, axis=1)
            part_d = np.take_along_axis(part_d, order, axis=1)
            part = np.where(np.isinf(part_d), -1, part)
            lo = start + sub
            indices[lo : lo + rows.shape[0], :kk] = part
            sq_distances[lo : lo + rows.shape[0], :kk] = part_d
    return indices, sq_distances


# ---------------------------------------------------------------------------------------------
# Shift-tolerant NCC re-rank


def _normalised_crops(images: np.ndarray, max_shift: int) -> np.ndarray:
    """Centre crops (side size - 2 * max_shift) as zero-mean unit-norm float32 rows; 0 if constant."""
    size = images.shape[1]
    crop = images[:, max_shift : size - max_shift, max_shift : size - max_shift].reshape(len(images), -1)
    crop = crop.astype(np.float32, copy=True)
    crop -= crop.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(crop, axis=1)
    good = norms > 1e-6
    crop[good] /= norms[good, None]
    crop[~good] = 0.0
    return crop


def rerank(
    synthetic: np.ndarray, reference: np.ndarray, indices: np.ndarray, max_shift: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NCC*, its shift and the exact L2 distance for every candidate pair.

    synthetic (n, size, size) and reference (m, size, size) are preprocessed images;
    indices (n, k) are reference rows as `nearest_candidates` returns them (-1: none).
    NCC*(s, r) = max over |dy|, |dx| <= max_shift of the Pearson correlation between the
    centre crop of r (side size - 2 * max_shift) and the same-sized window of s moved by
    (dy, dx); a window or crop without variance correlates 0.

    Returns ncc (n, k) float32 (-inf where there is no candidate), shifts (n, k, 2) int
    (dy, dx) of the best window, and l2 (n, k) float32 exact ||s - r|| (+inf where none).
    The windows of a chunk of synthetic rows are gathered into one reused buffer and
    multiplied with the normalised reference crops of their candidates (one small matrix
    product per row, with one BLAS thread: threads only add synchronisation at that size).
    """
    s_img = np.asarray(synthetic, dtype=np.float32)
    r_img = np.asarray(reference, dtype=np.float32)
    n, k = indices.shape
    ncc = np.full((n, k), -np.inf, dtype=np.float32)
    shifts = np.zeros((n, k, 2), dtype=np.int64)
    l2 = np.full((n, k), np.inf, dtype=np.float32)
    if n == 0:
        return ncc, shifts, l2
    size = s_img.shape[1]
    if s_img.shape[1:] != r_img.shape[1:] or s_img.shape[1] != s_img.shape[2]:
        raise ValueError(f"images must be square and of one size, got {s_img.shape[1:]} and {r_img.shape[1:]}")
    side = size - 2 * max_shift
    if side < 2:
        raise ValueError(f"max_shift {max_shift} leaves no centre crop in {size} x {size} images")
    valid = indices >= 0
    used = np.unique(indices[valid])
    crops = _normalised_crops(r_img[used], max_shift)
    position = np.searchsorted(used, np.where(valid, indices, used[0] if used.size else 0))
    span = 2 * max_shift + 1
    n_shifts = span * span
    chunk = max(1, _RERANK_BYTES // (n_shifts * side * side * 4))
    buffer = np.empty((min(chunk, n), span, span, side, side), dtype=np.float32)
    with _blas_limit(1):
        _rerank_chunks(s_img, r_img, indices, max_shift, crops, position, buffer, ncc, shifts, l2)
    return ncc, shifts, l2


def _rerank_chunks(
    s_img: np.ndarray,
    r_img: np.ndarray,
    indices: np.ndarray,
    max_shift: int,
    crops: np.ndarray,
    position: np.ndarray,
    buffer: np.ndarray,
    ncc: np.ndarray,
    shifts: np.ndarray,
    l2: np.ndarray,
) -> None:
    n = len(s_img)
    chunk, span, _, side, _ = buffer.shape
    n_shifts = span * span
    valid = indices >= 0
    r_flat = r_img.reshape(len(r_img), -1)
    s_flat = s_img.reshape(n, -1)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        grid = buffer[: stop - start]
        for y in range(span):  # 49 strided copies beat one copy of a sliding-window view
            for x in range(span):
                grid[:, y, x] = s_img[start:stop, y : y + side, x : x + side]
        windows = grid.reshape(stop - start, n_shifts, side * side)
        # the crops are zero-mean, so the windows need no centring for the numerator
        candidates = crops[position[start:stop]]  # (b, k, side * side)
        products = np.matmul(windows, candidates.transpose(0, 2, 1))  # (b, n_shifts, k)
        norms = _window_norms(s_img[start:stop], side, span)[:, :, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            corr = np.where(norms > 1e-5, products / norms, 0.0)
        best = corr.argmax(axis=1)  # (b, k)
        best_corr = np.take_along_axis(corr, best[:, None, :], axis=1)[:, 0, :]
        chunk_valid = valid[start:stop]
        ncc[start:stop] = np.where(chunk_valid, np.clip(best_corr, -1.0, 1.0), -np.inf)
        shifts[start:stop, :, 0] = best // span - max_shift
        shifts[start:stop, :, 1] = best % span - max_shift
        safe = np.where(chunk_valid, indices[start:stop], 0)
        diff = s_flat[start:stop, None, :] - r_flat[safe]
        l2[start:stop] = np.where(chunk_valid, np.linalg.norm(diff, axis=2), np.inf)


def _window_norms(images: np.ndarray, side: int, span: int) -> np.ndarray:
    """||w - mean(w)|| of every side x side window at offsets 0..span-1, (b, span * span) float64.

    From integral images of x and x^2: sum(w^2) - sum(w)^2 / side^2, in float64.
    """
    x = images.astype(np.float64)
    b, size, _ = x.shape

    def box(values: np.ndarray) -> np.ndarray:
        integral = np.zeros((b, size + 1, size + 1))
        integral[:, 1:, 1:] = values.cumsum(axis=1).cumsum(axis=2)
        lo, hi = slice(0, span), slice(side, side + span)
        return integral[:, hi, hi] - integral[:, lo, hi] - integral[:, hi, lo] + integral[:, lo, lo]

    sums = box(x)
    spread = box(x * x) - sums * sums / (side * side)
    return np.sqrt(np.maximum(spread, 0.0)).reshape(b, span * span)


def shift_ncc(synthetic: np.ndarray, reference: np.ndarray, max_shift: int = 3) -> float:
    """NCC* of one pair of preprocessed images (see `rerank`)."""
    ncc, _, _ = rerank(synthetic[None], reference[None], np.zeros((1, 1), dtype=np.int64), max_shift)
    return float(ncc[0, 0])


def spectrum_features(images: np.ndarray, size: int, block: int = 1024) -> np.ndarray:
    """Fourier magnitudes of each image: a description that a shift does not change.

    For each size x size image x (rows of `images`, flattened or not): |rfft2(x - mean(x))|
    at the lowest `cut` = max(1, size // 4) horizontal frequencies and the `cut` lowest
    non-negative and `cut` highest (negative) vertical ones, flattened to 2 * cut * cut
    float32 values (512 at 64 x 64). The magnitude of a circular shift is unchanged, and a
    small shift of an image with a dark border is nearly circular, so L2 on these values puts
    a shifted copy near its source even when similar neighbouring slices are nearer in pixels.
    """
    from scipy import fft

    x = np.asarray(images, dtype=np.float32).reshape(-1, size, size)
    cut = max(1, size // 4)
    out = np.empty((len(x), 2 * cut * cut), dtype=np.float32)
    for start in range(0, len(x), block):
        part = x[start : start + block]
        magnitude = np.abs(fft.rfft2(part - part.mean(axis=(1, 2), keepdims=True)))
        low = np.concatenate([magnitude[:, :cut, :cut], magnitude[:, -cut:, :cut]], axis=1)
        out[start : start + block] = low.reshape(len(part), -1)
    return out


# ---------------------------------------------------------------------------------------------
# Inputs of the searches


@dataclass
class NNInputs:
    """What the nearest-neighbour searches run on; rows follow `ImageSet.usable` order.

    synthetic (n, D) and reference (m, D) are flattened float32 pixels. baseline (q, D) are
    the baseline queries: held-out images (baseline_kind "holdout") or reference images
    (baseline_kind "train_loo"); baseline_rows are their positions in holdout.usable or
    reference.usable. For "train_loo", baseline_groups and reference_groups are exact-duplicate
    ids to pass to `nearest_candidates` (so that an image does not find itself); else None.
    """

    size: int
    synthetic: np.ndarray
    reference: np.ndarray
    baseline: np.ndarray
    baseline_rows: np.ndarray
    baseline_kind: str
    baseline_groups: np.ndarray | None
    reference_groups: np.ndarray | None
    baseline_pool: int = 0  # images the baseline rows were sampled from
    n_holdout_duplicates: int = 0  # usable holdout images left out as exact duplicates of R
    # `spectrum_features` of the same rows (None when spectrum_k is 0)
    synthetic_spectrum: np.ndarray | None = None
    reference_spectrum: np.ndarray | None = None
    baseline_spectrum: np.ndarray | None = None

    def queries(self, which: str) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """(pixels, spectrum, exclusion groups) of the "synthetic" or "baseline" query rows."""
        if which == "synthetic":
            return self.synthetic, self.synthetic_spectrum, None
        if which == "baseline":
            return self.baseline, self.baseline_spectrum, self.baseline_groups
        raise ValueError(f"which must be 'synthetic' or 'baseline', got {which!r}")


def _matrix(images: Sequence[Image], size: int) -> np.ndarray:
    if not images:
        return np.zeros((0, size * size), dtype=np.float32)
    return np.stack([np.asarray(image.pixels, dtype=np.float32).reshape(-1) for image in images])


def _sample(count: int, limit: int | None, seed: int) -> np.ndarray:
    if limit is None or count <= limit:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, size=limit, replace=False))


def nn_inputs(
    synthetic: ImageSet, reference: ImageSet, holdout: ImageSet | None = None, params: dict[str, Any] | None = None
) -> NNInputs:
    """Matrices and exclusion groups for the synthetic and baseline searches (see `NNInputs`).

    Assumes the sets passed `check_computable`.
    """
    p = resolve_params(params)
    s_used, r_used = synthetic.usable, reference.usable
    size = int(np.asarray(s_used[0].pixels).shape[0])
    r_hashes = {image.pixel_sha256 for image in r_used}
    h_used = [] if holdout is None else holdout.usable
    h_kept = [i for i, image in enumerate(h_used) if image.pixel_sha256 not in r_hashes]
    reference_matrix = _matrix(r_used, size)
    if h_kept:
        rows = np.asarray(h_kept, dtype=np.int64)[_sample(len(h_kept), p["baseline_sample"], p["seed"])]
        inputs = NNInputs(
            size=size,
            synthetic=_matrix(s_used, size),
            reference=reference_matrix,
            baseline=_matrix([h_used[i] for i in rows], size),
            baseline_rows=rows,
            baseline_kind="holdout",
            baseline_groups=None,
            reference_groups=None,
            baseline_pool=len(h_kept),
            n_holdout_duplicates=len(h_used) - len(h_kept),
        )
    else:
        group_of: dict[str, int] = {}
        groups = np.asarray(
            [group_of.setdefault(image.pixel_sha256, len(group_of)) for image in r_used], dtype=np.int64
        )
        rows = _sample(len(r_used), p["baseline_sample"], p["seed"])
        inputs = NNInputs(
            size=size,
            synthetic=_matrix(s_used, size),
            reference=reference_matrix,
            baseline=reference_matrix[rows],
            baseline_rows=rows,
            baseline_kind="train_loo",
            baseline_groups=groups[rows],
            reference_groups=groups,
            baseline_pool=len(r_used),
            n_holdout_duplicates=len(h_used),
        )
    if p["spectrum_k"]:
        inputs.synthetic_spectrum = spectrum_features(inputs.synthetic, size)
        inputs.reference_spectrum = spectrum_features(inputs.reference, size)
        if inputs.baseline_kind == "train_loo":
            inputs.baseline_spectrum = inputs.reference_spectrum[rows]
        else:
            inputs.baseline_spectrum = spectrum_features(inputs.baseline, size)
    return inputs


def candidate_rows(
    inputs: NNInputs, which: str, start: int, stop: int, params: dict[str, Any] | None = None
) -> np.ndarray:
    """The chunk step: candidate reference rows for query rows start:stop of `inputs`.

    which is "synthetic" or "baseline". Returns (stop - start, k + spectrum_k) int64: the k
    pixel-nearest (`nearest_candidates` on pixels) and the spectrum_k nearest by Fourier
    magnitude (`spectrum_features`, which finds shifted copies that pixel L2 ranks behind
    similar neighbours), each reference at most once per row, -1 in unused slots. Chunks are
    independent: concatenate them in row order and pass the result to `run(candidates=...)`.
    """
    p = resolve_params(params)
    pixels, spectrum, groups = inputs.queries(which)
    rows = slice(start, stop)
    sub_groups = None if groups is None else groups[rows]
    ref_groups = None if groups is None else inputs.reference_groups
    found, _ = nearest_candidates(
        pixels[rows],
        inputs.reference,
        p["k"],
        p["block"],
        synthetic_groups=sub_groups,
        reference_groups=ref_groups,
    )
    if p["spectrum_k"] and spectrum is not None and inputs.reference_spectrum is not None:
        more, _ = nearest_candidates(
            spectrum[rows],
            inputs.reference_spectrum,
            p["spectrum_k"],
            p["block"],
            synthetic_groups=sub_groups,
            reference_groups=ref_groups,
        )
        found = np.concatenate([found, more], axis=1)
    return _unique_per_row(found)


def _unique_per_row(indices: np.ndarray) -> np.ndarray:
    """Each reference row at most once per query row; repeats become -1 (order is not kept)."""
    out = np.sort(indices, axis=1)
    if out.shape[1] > 1:
        repeat = np.zeros(out.shape, dtype=bool)
        repeat[:, 1:] = (out[:, 1:] == out[:, :-1]) & (out[:, 1:] >= 0)
        out[repeat] = -1
    return out


def check_computable(
    synthetic: ImageSet, reference: ImageSet, holdout: ImageSet | None, max_shift: int
) -> tuple[str, str] | None:
    """(reason, what is needed) when the audit cannot run on these sets, else None."""
    s_used, r_used = synthetic.usable, reference.usable
    h_used = [] if holdout is None else holdout.usable
    n_s, n_r = len(synthetic.images), len(reference.images)
    if n_s == 0:
        return (
            "the synthetic set has no readable images",
            "a synthetic set with at least one readable, non-blank image",
        )
    if not s_used and not r_used and n_r:
        return (
            f"all images are blank (all {n_s} synthetic and all {n_r} reference images are constant)",
            "synthetic and reference images with visible content; blank (constant) images are not compared",
        )
    if not s_used:
        return (
            f"all {n_s} synthetic images are blank (constant)",
            "at least one synthetic image with visible content; blank images are not compared",
        )
    shapes = {np.asarray(image.pixels).shape for image in [*s_used, *r_used, *h_used]}
    if len(shapes) > 1 or any(len(shape) != 2 or shape[0] != shape[1] for shape in shapes):
        return (
            f"the images were preprocessed to different sizes ({', '.join(sorted(map(str, shapes)))})",
            "all sets preprocessed with the same settings (one square size)",
        )
    size = next(iter(shapes))[0]
    if size - 2 * max_shift < 2:
        return (
            f"max_shift {max_shift} leaves no centre crop in {size} x {size} images",
            "a smaller max_shift or a larger preprocessing size",
        )
    r_hashes = {image.pixel_sha256 for image in r_used}
    holdout_ok = any(image.pixel_sha256 not in r_hashes for image in h_used)
    if holdout_ok and not r_used:
        return (
            f"the reference set has no usable image ({n_r} read, all blank or none)",
            "a reference set of the real training images with at least one non-blank image",
        )
    if not holdout_ok and len(r_hashes) < 2:
        return (
            f"the reference set has {len(r_hashes)} distinct usable image(s) and no usable held-out set was given;"
            " the leave-one-out baseline needs at least 2",
            "at least 2 distinct non-blank reference images, or a held-out real set (recommended)",
        )
    return None


# ---------------------------------------------------------------------------------------------
# The audit


@dataclass
class _Rows:
    """Per-query summary of the re-ranked candidates."""

    d: np.ndarray  # exact NN distance (min over candidates)
    ncc: np.ndarray  # NCC* (max over candidates)
    best: np.ndarray  # reference row of the NCC* candidate
    shift: np.ndarray  # (q, 2) its shift
    nearest: np.ndarray  # reference row of the L2-nearest candidate
    nearest_ncc: np.ndarray  # NCC* of the L2-nearest candidate
    nearest_shift: np.ndarray  # (q, 2) and its shift


def _summarise(indices: np.ndarray, ncc: np.ndarray, shifts: np.ndarray, l2: np.ndarray) -> _Rows:
    q = len(indices)
    if q == 0:
        empty = np.zeros(0)
        no_shift = np.zeros((0, 2), np.int64)
        return _Rows(empty, empty, empty.astype(np.int64), no_shift, empty.astype(np.int64), empty, no_shift)
    order = np.arange(q)
    best_col = np.argmax(ncc, axis=1)
    near_col = np.argmin(l2, axis=1)
    return _Rows(
        d=l2[order, near_col].astype(np.float64),
        ncc=ncc[order, best_col].astype(np.float64),
        best=indices[order, best_col],
        shift=shifts[order, best_col],
        nearest=indices[order, near_col],
        nearest_ncc=ncc[order, near_col].astype(np.float64),
        nearest_shift=shifts[order, near_col],
    )


def _check_candidates(name: str, value: Any, rows: int, m: int) -> np.ndarray:
    """Candidate reference rows (rows, c) from an index array or an (indices, sq_distances) pair."""
    if value is None:
        raise ValueError(f"candidates[{name!r}] is missing")
    indices = np.asarray(value[0] if isinstance(value, tuple) else value)
    if indices.ndim != 2 or indices.shape[0] != rows or indices.shape[1] < 1 or indices.dtype.kind not in "iu":
        raise ValueError(f"candidates[{name!r}] must be a ({rows}, c) integer array, got {indices.shape}")
    if indices.size and (indices.max() >= m or indices.min() < -1):
        raise ValueError(f"candidates[{name!r}] has reference rows outside 0..{m - 1}")
    if rows and not (indices >= 0).any(axis=1).all():
        raise ValueError(f"candidates[{name!r}] has a row without any candidate")
    return _unique_per_row(indices.astype(np.int64))


def _round(value: float | None, digits: int = 6) -> float | None:
    if value is None or not np.isfinite(value):
        return None
    return round(float(value), digits)


def _rounded_list(values: np.ndarray, digits: int = 4) -> list[float]:
    return [round(float(v), digits) for v in values]


def _inputs_block(synthetic: ImageSet, reference: ImageSet, holdout: ImageSet | None) -> dict[str, Any]:
    block: dict[str, Any] = {
        "n_synthetic": len(synthetic.images),
        "n_synthetic_files": sum(1 for f in synthetic.files if f.accepted),
        "n_synthetic_used": len(synthetic.usable),
        "n_reference": len(reference.images),
        "n_reference_files": sum(1 for f in reference.files if f.accepted),
        "n_reference_used": len(reference.usable),
        "n_holdout": 0 if holdout is None else len(holdout.images),
        "n_holdout_used": 0 if holdout is None else len(holdout.usable),
        "synthetic_digest": synthetic.digest(),
        "reference_digest": reference.digest(),
        "holdout_digest": None if holdout is None else holdout.digest(),
    }
    sizes = {np.asarray(image.pixels).shape for image in synthetic.usable}
    if len(sizes) == 1:
        block["image_size"] = int(next(iter(sizes))[0])
    return block


def run(
    synthetic: ImageSet,
    reference: ImageSet,
    holdout: ImageSet | None = None,
    params: dict[str, Any] | None = None,
    *,
    candidates: dict[str, Any] | None = None,
) -> AuditResult:
    """Run the memorization audit (see the module docstring for formulas and thresholds).

    `candidates`, when given, holds candidate reference rows for all query rows of
    `nn_inputs(...)`, merged from chunk tasks: {"synthetic": (n, c) int array, "baseline":
    (q, c) int array}, each as `candidate_rows` returns them (an `(indices, sq_distances)`
    pair from `nearest_candidates` is accepted too); the search is then skipped and only the
    re-rank and the rest run. Raises ValueError for unknown or invalid parameters and for
    candidate arrays of the wrong shape.
    """
    started = time.perf_counter()
    p = resolve_params(params)
    timings: dict[str, float] = {}
    inputs = _inputs_block(synthetic, reference, holdout)

    def lap(name: str, since: float) -> float:
        now = time.perf_counter()
        timings[name] = round(now - since, 4)
        return now

    problem = check_computable(synthetic, reference, holdout, p["max_shift"])
    if problem is not None:
        timings["total"] = round(time.perf_counter() - started, 4)
        return not_computable(
            AUDIT,
            problem[0],
            problem[1],
            metrics={"n_dropped_blank": len(synthetic.images) - len(synthetic.usable)},
            inputs=inputs,
            params=p,
            code_version=ENGINE_VERSION,
            timings=timings,
        )
    with _blas_limit(p["blas_threads"]):
        return _run(synthetic, reference, holdout, p, candidates, inputs, timings, started, lap)


def _run(
    synthetic: ImageSet,
    reference: ImageSet,
    holdout: ImageSet | None,
    p: dict[str, Any],
    candidates: dict[str, Any] | None,
    inputs: dict[str, Any],
    timings: dict[str, float],
    started: float,
    lap: Callable[[str, float], float],
) -> AuditResult:
    t = time.perf_counter()
    s_used, r_used = synthetic.usable, reference.usable
    h_used = [] if holdout is None else holdout.usable
    # given candidates make the Fourier-magnitude features unnecessary here
    nn = nn_inputs(synthetic, reference, holdout, p if candidates is None else {**p, "spectrum_k": 0})
    size = nn.size
    n, m, q = len(nn.synthetic), len(nn.reference), len(nn.baseline)
    t = lap("prepare", t)

    # 1. exact pixel duplicates
    first_reference: dict[str, int] = {}
    for row, image in enumerate(r_used):
        first_reference.setdefault(image.pixel_sha256, row)
    exact_ref = np.asarray([first_reference.get(image.pixel_sha256, -1) for image in s_used], dtype=np.int64)
    is_exact = exact_ref >= 0
    t = lap("exact_duplicates", t)

    # 2. candidates
    if candidates is not None:
        s_idx = _check_candidates("synthetic", candidates.get("synthetic"), n, m)
        b_idx = _check_candidates("baseline", candidates.get("baseline"), q, m)
        t = lap("nn_given", t)
    else:
        s_idx = candidate_rows(nn, "synthetic", 0, n, p)
        t = lap("nn_synthetic", t)
        b_idx = candidate_rows(nn, "baseline", 0, q, p)
        t = lap("nn_baseline", t)

    # 3. re-rank
    shape = (-1, size, size)
    r_img = nn.reference.reshape(shape)
    s_rows = _summarise(s_idx, *rerank(nn.synthetic.reshape(shape), r_img, s_idx, p["max_shift"]))
    t = lap("rerank_synthetic", t)
    b_rows = _summarise(b_idx, *rerank(nn.baseline.reshape(shape), r_img, b_idx, p["max_shift"]))
    t = lap("rerank_baseline", t)

    # 4. baseline
    finite = np.isfinite(b_rows.d)
    baseline_d = b_rows.d[finite]
    baseline_ncc = b_rows.ncc[finite]
    caveats: list[str] = []
    median_nn = float(np.median(baseline_d)) if baseline_d.size else 0.0
    if median_nn <= 1e-9:
        caveats.append(
            "The baseline median nearest-neighbour distance is 0 (most baseline images have a pixel-identical"
            " neighbour after preprocessing), so distance ratios are not informative; only NCC* decides."
        )
    scale = median_nn if median_nn > 1e-9 else 1e-9
    baseline_q99 = float(np.quantile(baseline_ncc, 0.99)) if baseline_ncc.size else float("nan")
    threshold = max(p["ncc_floor"], baseline_q99) if np.isfinite(baseline_q99) else p["ncc_floor"]

    # 5. classify
    ratio = s_rows.d / scale
    ncc = s_rows.ncc.copy()
    ncc[is_exact] = 1.0
    ratio[is_exact] = 0.0
    probable = is_exact | (ncc >= threshold)
    near = (ratio <= p["near_copy_ratio"]) & ~probable
    copied_ref = np.where(is_exact, exact_ref, s_rows.best)
    copies_per_ref = Counter(int(ref) for ref in copied_ref[probable])
    max_copies = max(copies_per_ref.values(), default=0)
    n_probable = int(probable.sum())
    n_exact = int(is_exact.sum())
    n_near = int(near.sum())
    frac = n_probable / n
    near_exact = bool((probable & (ratio <= p["near_exact_ratio"])).any())

    reasons_fail: list[str] = []
    if n_exact:
        reasons_fail.append(f"{n_exact} exact pixel duplicate(s)")
    if frac > p["fail_fraction"]:
        reasons_fail.append(f"{100 * frac:.2f} % probable copies (limit {100 * p['fail_fraction']:.2f} %)")
    if max_copies >= p["max_copies_per_reference"]:
        reasons_fail.append(f"one real image copied {max_copies} times")
    if reasons_fail:
        status = Status.FAIL
    elif n_probable or n_near:
        status = Status.WARN
    else:
        status = Status.PASS
    capped = False
    if nn.baseline_kind == "train_loo":
        caveats.append(
            "No held-out real set was given: the baseline is leave-one-out within the reference set, whose images"
            " are closer to each other than new images are, so distance ratios are biased low and the NCC*"
            " threshold may be too; the status is capped at warn unless there are near-exact copies"
            f" (ratio <= {p['near_exact_ratio']}). Upload a held-out real set for a calibrated result."
        )
        if status == Status.FAIL and not near_exact:
            status = Status.WARN
            capped = True
    if threshold > p["ncc_floor"]:
        caveats.append(
            f"The NCC* threshold was raised from {p['ncc_floor']} to {threshold:.4f}, the 99th percentile of the"
            " baseline: real images in this data are that similar to each other."
        )
    if baseline_d.size < 20:
        caveats.append(
            f"The baseline has only {baseline_d.size} image(s); its median and 99th percentile are unstable."
        )
    if holdout is not None and nn.baseline_kind == "holdout" and nn.n_holdout_duplicates:
        caveats.append(
            f"{nn.n_holdout_duplicates} held-out image(s) are exact pixel duplicates of reference images and were"
            " left out of the baseline: the held-out set overlaps the training set."
        )
    if holdout is not None and nn.baseline_kind == "train_loo":
        caveats.append(
            "The held-out set had no usable image that is not also in the reference set, so the leave-one-out"
            " baseline was used instead."
        )
    if q < nn.baseline_pool:
        caveats.append(f"The baseline uses a seeded random sample of {q} of {nn.baseline_pool} images.")
    n_dropped = len(synthetic.images) - n
    if n_dropped:
        caveats.append(f"{n_dropped} blank (constant) synthetic image(s) were dropped and not compared.")
    caveats.append(
        "Pixel-space comparison tolerates shifts up to"
        f" {p['max_shift']} px, noise, gamma and re-encoding; flipped, rotated, cropped or strongly blurred copies"
        " can fall below the threshold: review the closest pairs and the near copies."
    )
    t = lap("classify", t)

    # 6. flagged items, charts: exact duplicates show their pixel-identical reference, probable
    # copies their NCC* candidate, near copies their L2-nearest candidate (NCC* of that pair)
    kind = np.where(is_exact, "exact", np.where(probable, "probable_copy", np.where(near, "near_copy", "none")))
    pair_ref = np.where(is_exact, exact_ref, np.where(near, s_rows.nearest, s_rows.best))
    pair_ncc = np.where(is_exact, 1.0, np.where(near, s_rows.nearest_ncc, s_rows.ncc))
    pair_shift = np.where(is_exact[:, None], 0, np.where(near[:, None], s_rows.nearest_shift, s_rows.shift))

    def pair(i: int) -> dict[str, Any]:
        s_image, r_image = s_used[i], r_used[int(pair_ref[i])]
        return {
            "synthetic": s_image.label,
            "reference": r_image.label,
            "synthetic_file": s_image.file,
            "synthetic_index": s_image.index,
            "reference_file": r_image.file,
            "reference_index": r_image.index,
            "ncc": round(float(pair_ncc[i]), 6),
            "ratio": round(float(ratio[i]), 6),
            "shift": [int(pair_shift[i, 0]), int(pair_shift[i, 1])],
            "kind": str(kind[i]),
        }

    # NCC* of the shown pair descending, then exact before probable before near, then ratio, then set order
    rank = np.vectorize(KIND_ORDER.__getitem__, otypes=[np.int64])(kind) if n else np.zeros(0, np.int64)
    order = np.lexsort((ratio, rank, -pair_ncc))
    flagged_rows = order[(probable | near)[order]]
    flagged = [pair(int(i)) for i in flagged_rows[:FLAGGED_LIMIT]]
    closest = [pair(int(i)) for i in order[:CLOSEST_PAIRS]]
    train_copied = len(copies_per_ref)

    s_order = np.arange(n) if n <= PER_IMAGE_LIMIT else _sample(n, PER_IMAGE_LIMIT, p["seed"])
    b_order = (
        np.arange(baseline_d.size)
        if baseline_d.size <= PER_IMAGE_LIMIT
        else _sample(baseline_d.size, PER_IMAGE_LIMIT, p["seed"])
    )
    charts: dict[str, Any] = {
        "synthetic_scores": _rounded_list(ncc[s_order]),
        "baseline_scores": _rounded_list(baseline_ncc[b_order]),
        "synthetic_ratios": _rounded_list(ratio[s_order]),
        "baseline_ratios": _rounded_list(baseline_d[b_order] / scale),
        "threshold": round(float(threshold), 6),
        "near_copy_ratio": p["near_copy_ratio"],
        "sampled": bool(n > PER_IMAGE_LIMIT or baseline_d.size > PER_IMAGE_LIMIT),
        "closest_pairs": closest,
    }
    if n <= PER_IMAGE_LIMIT:
        charts["per_image"] = [
            {
                "label": image.label,
                "file": image.file,
                "index": image.index,
                "ncc": round(float(ncc[i]), 6),
                "ratio": round(float(ratio[i]), 6),
                "copy": bool(probable[i]),
            }
            for i, image in enumerate(s_used)
        ]
    else:
        caveats.append(
            f"{n} synthetic images: the per-image list is left out of the result (limit {PER_IMAGE_LIMIT}) and the"
            " score charts show a seeded random sample."
        )

    metrics: dict[str, Any] = {
        "baseline": nn.baseline_kind,
        "baseline_n": int(baseline_d.size),
        "baseline_median_nn_l2": _round(median_nn),
        "ratio_p01": _round(float(np.percentile(ratio, 1))),
        "ratio_p05": _round(float(np.percentile(ratio, 5))),
        "ratio_median": _round(float(np.median(ratio))),
        "ncc_shift_max_p99": _round(float(np.quantile(ncc, 0.99))),
        "ncc_shift_max_max": _round(float(ncc.max())),
        "baseline_ncc_shift_p99": _round(baseline_q99),
        "holdout_ncc_shift_p99": _round(baseline_q99) if nn.baseline_kind == "holdout" else None,
        "ncc_threshold": _round(threshold),
        "n_exact_duplicates": n_exact,
        "n_probable_copies": n_probable,
        "frac_probable_copies": _round(frac),
        "n_near_copies_review": n_near,
        "train_images_copied": train_copied,
        "max_copies_of_one_reference": max_copies,
        "n_synthetic_used": n,
        "n_reference_used": m,
        "n_dropped_blank": n_dropped,
        "n_dropped_blank_reference": len(reference.images) - m,
        "n_dropped_blank_holdout": 0 if holdout is None else len(holdout.images) - len(h_used),
        "n_flagged_total": len(flagged_rows),
        "status_capped_by_baseline": capped,
    }
    thresholds = {
        "ncc_star": {"warn": round(float(threshold), 6), "fail": None, "direction": "above"},
        "ratio": {"warn": p["near_copy_ratio"], "fail": None, "direction": "below"},
        "frac_probable_copies": {"warn": 0.0, "fail": p["fail_fraction"], "direction": "above"},
        "n_exact_duplicates": {"warn": None, "fail": 0, "direction": "above"},
        "max_copies_of_one_reference": {"warn": None, "fail": p["max_copies_per_reference"] - 1, "direction": "above"},
    }
    baseline_text = "held-out real set" if nn.baseline_kind == "holdout" else "leave-one-out within the reference set"
    if n_probable == 0 and n_near == 0:
        summary = (
            f"No probable copies: none of {n} synthetic images reaches NCC* {threshold:.3f} against the real images,"
            f" no exact pixel duplicates (baseline: {baseline_text})."
        )
    else:
        parts = [
            f"{n_probable} of {n} synthetic images ({100 * frac:.2f} %) are probable copies of"
            f" {train_copied} real image(s)"
        ]
        if n_exact:
            parts.append(f"{n_exact} exact pixel duplicate(s)")
        if max_copies >= 2:
            parts.append(f"one real image copied {max_copies} times")
        if n_near:
            parts.append(f"{n_near} near copies to review")
        summary = "; ".join(parts) + f" (baseline: {baseline_text})."
        if capped:
            summary += " Capped at warn: " + ", ".join(reasons_fail) + " without a held-out baseline."
    lap("report", t)
    timings["total"] = round(time.perf_counter() - started, 4)
    return AuditResult(
        audit=AUDIT,
        status=status,
        summary=summary,
        metrics=metrics,
        thresholds=thresholds,
        flagged=flagged,
        charts=charts,
        caveats=caveats,
        inputs=inputs,
        params=p,
        code_version=ENGINE_VERSION,
        timings=timings,
    )


def copy_flags(result: AuditResult) -> dict[str, bool] | None:
    """Synthetic image label -> probable copy (exact duplicates included), for per-subgroup copy rates.

    None when the result has no per-image list (not computable, or more than PER_IMAGE_LIMIT images).
    """
    rows = result.charts.get("per_image")
    if not rows:
        return None
    return {row["label"]: bool(row["copy"]) for row in rows}
