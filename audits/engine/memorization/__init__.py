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

from audits.engine.memorization.audit import AUDIT, CLOSEST_PAIRS, KIND_ORDER, PER_IMAGE_LIMIT, copy_flags, run
from audits.engine.memorization.baseline import check_computable, nn_inputs
from audits.engine.memorization.ncc import rerank, shift_ncc
from audits.engine.memorization.params import DEFAULT_PARAMS, METRIC_LABELS, THRESHOLDS, resolve_params
from audits.engine.memorization.search import NNInputs, candidate_rows, nearest_candidates, spectrum_features
from audits.engine.types import AuditResult, Image

# Tuning constants live here, in the package, and the modules read them at call time, so that a
# test can set them on the package (as it could on the one module this package replaced).
_ARGPARTITION_ROWS = 256  # rows per argpartition call, bounds its int64 temporary to 256 * m * 8 bytes
_RERANK_BYTES = 64 * 2**20  # bound on the shifted-window buffer of one re-rank chunk

__all__ = [
    "AUDIT",
    "CLOSEST_PAIRS",
    "DEFAULT_PARAMS",
    "KIND_ORDER",
    "METRIC_LABELS",
    "PER_IMAGE_LIMIT",
    "THRESHOLDS",
    "AuditResult",
    "Image",
    "NNInputs",
    "candidate_rows",
    "check_computable",
    "copy_flags",
    "nearest_candidates",
    "nn_inputs",
    "rerank",
    "resolve_params",
    "run",
    "shift_ncc",
    "spectrum_features",
]
