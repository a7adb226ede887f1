"""Memorization audit: does a synthetic image copy a real training image? (AUDITS.md 1b, A3, A4; issue 8)

Inputs are the synthetic set S (n usable images), the real reference (training) set R (m
usable images) and optionally a held-out real set H that was not used for training. Blank
images (`Image.blank`) are dropped from every comparison and counted. All comparisons run on
the preprocessed pixels (`preprocess.preprocess`: percentile clip, [0, 1], size x size).

Why this design
---------------
A copy may be shifted, noisy, blurred, windowed, re-encoded, mirrored, rotated by a multiple of
90 degrees, or cropped and resized. Untransformed pixel similarity cannot separate such copies
from genuinely novel neighbouring slices (their scores overlap), and a threshold taken as the
99th percentile of a small baseline, with "more than 1 % crossed" as the verdict, fails clean
real data. So the audit (1) undoes the transform before comparing, (2) compares what a copy
keeps and a neighbouring slice does not (the anatomical detail), and (3) decides by a
calibrated statistical test against real images that were never trained on, scored by exactly
the same search.

Steps
-----
1. Exact duplicates (A3): a usable synthetic image whose `pixel_sha256` (SHA-256 of the
   decoded native pixels, dtype and byte order normalised) is the digest of a usable
   reference image. Always a copy, and the audit fails.

2. As-is candidates (`search`): the k (5) nearest reference images by pixel L2 (blocked
   matrix products, `nearest_candidates`) and the spectrum_k (5) nearest by low-frequency
   Fourier magnitude (`spectrum_features`, which a shift leaves unchanged), re-ranked by the
   shift-tolerant NCC* (`ncc.rerank`, every shift up to max_shift 3 px). With the transform
   search switched off, NCC* is the score.

3. Transform candidates (`geometry.transform_candidates`): every query under the eight
   symmetries of the square against every reference view (the whole image, and crops at
   crop_scales (3) scales from min_scale (0.7) on a crop_positions (4) x 4 grid), as z-scored
   thumb (24) x 24 thumbnails; the transform_pool (10) best references are pre-ranked by one
   FFT alignment each (`prerank`) and the transform_k (3) best kept, plus the as-is best.

4. Alignment (`geometry.best_matches`): each candidate under its symmetry is aligned by FFT
   cross-correlation over every position and a scale grid (every scale for the best
   candidate), then every candidate within 0.01 of its query's best is refined continuously
   (`refine_alignment`: pattern search on scale and sub-pixel position, both images
   area-resampled onto the crop's own grid).

5. Score of an aligned pair: the correlation of its anatomical detail (difference of
   Gaussians, sigma 1.5 and 6 px, `DETAIL_BAND`), the largest of: the pixels; their ranks
   (gamma and other monotone changes); the reference clipped where the copy is saturated (a
   display window); the reference blurred alike (a blurred copy). A query's score is its best
   candidate's; the pair, the symmetry and the crop box are reported.

6. The null (`calibration`): the baseline images, held-out ("holdout", a seeded sample of up
   to baseline_sample) or else reference images against the other reference images
   ("train_loo", weaker: see its caveat), go through steps 2 to 5 against R. Copy threshold:
   the Student-t prediction fitted to the upper half of the null on u = -log(1 - score), at
   tail probability flag_rate (1 %), never below the empirical quantile nor ncc_floor.

7. Decision: every synthetic image at or above the threshold is a probable copy, listed for
   review with its p-value. Status:
       fail  an exact duplicate, or the excess test or the extreme-image test below fail_alpha
             (0.001);
       warn  either test below warn_alpha (0.01), or one reference image with at least
             max_copies_per_reference (3) probable copies;
       pass  otherwise (a few images over the threshold, as many as real images give, pass).
   Excess test: P(X >= count over the threshold) for X ~ Binomial(n, p_high), p_high the 95th
   percentile of the null's crossing rate over its posterior. Extreme test: the smallest
   per-image p-value of the images over the threshold, times n. With the leave-one-out null a
   fail is capped at warn unless a copy scores near_exact_ncc (0.999) or more.

Costs are measured in bench/memorization_truth.py (the floor is one float32 GEMM S.R^T).

Result (`run`): metrics (`METRIC_LABELS` names each in words), flagged (exact duplicates and
probable copies with the reference, score, p-value, transform in words, alignment and crop
box), charts (score lists of S and the null, the fitted null curve, flagged points, closest
pairs, per-image rows for per-subgroup copy rates), caveats, params, timings.

Large sets (issue 13): `phases` splits the search into (a) candidates of a query block among a
reference block (`block_candidates`, merged by `merge_candidates`), (b) a query block's scores
from its candidates' pixels only (`score_block`, `combine_scores`) and (c) the decision
(`run_scored`), which needs labels and digests, not pixels. `run` composes them in one process;
the app's run spreads (a) and (b) over chunk tasks with identical results. `candidate_rows` and
`run(candidates=...)` remain for as-is candidates computed elsewhere.
"""

from __future__ import annotations

from audits.engine.memorization.audit import (
    AUDIT,
    CLOSEST_PAIRS,
    KIND_ORDER,
    PER_IMAGE_LIMIT,
    copy_flags,
    run,
    run_scored,
)
from audits.engine.memorization.baseline import (
    BaselinePlan,
    baseline_plan,
    check_computable,
    duplicate_groups,
    nn_inputs,
)
from audits.engine.memorization.ncc import rerank, shift_ncc
from audits.engine.memorization.params import DEFAULT_PARAMS, METRIC_LABELS, THRESHOLDS, resolve_params
from audits.engine.memorization.phases import (
    BlockScores,
    Candidates,
    SetScores,
    block_candidates,
    combine_scores,
    merge_candidates,
    score_block,
    search_block,
)
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
    "BaselinePlan",
    "BlockScores",
    "Candidates",
    "Image",
    "NNInputs",
    "SetScores",
    "baseline_plan",
    "block_candidates",
    "candidate_rows",
    "check_computable",
    "combine_scores",
    "copy_flags",
    "duplicate_groups",
    "merge_candidates",
    "nearest_candidates",
    "nn_inputs",
    "rerank",
    "resolve_params",
    "run",
    "run_scored",
    "score_block",
    "search_block",
    "shift_ncc",
    "spectrum_features",
]
