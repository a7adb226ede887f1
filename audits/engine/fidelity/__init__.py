"""Fidelity audit: how far the synthetic set's distribution is from the reference set's.

AUDITS.md sections 1c, A6 and A7. Two families of measures, each reported beside the same
figure for two disjoint random subsets of the reference set (the real-versus-real baseline):

* intensity (A6): the 1-Wasserstein distance W1 between the pooled pixel distributions
  (histograms on the comparison scale), the Kolmogorov-Smirnov D on a pixel subsample (each
  image's 256 pixels at positions the seed and its pixel digest fix, pooled, at most
  ks_max_pixels of them: a sample each chunk task can draw alone), and KS D on per-image
  mean, standard deviation and foreground fraction. The comparison scale is
  relative (each image clipped to its own 0.5th-99.5th percentiles and scaled to [0, 1]:
  256 bins) or quantitative (every image's values in its file's unit, HU for CT, through
  one fixed window, the same for both sets: 2048 bins, W1 reported in the unit); see
  `scale` for which one a run uses and how the window is chosen;
* features (A7): on the handcrafted "rad-lite-35 v1" features (`features.py`; not FID, not
  FRD), jointly z-scored over S u R with constant features dropped: the Frechet distance
  with a bootstrap interval, KID, and precision / recall / density / coverage.

Status (defaults, all configurable through params): warn if w1_ratio > 3, or fd_ratio > 5
while fd > 5, or coverage < 0.8, or precision < 0.7; fail if w1_ratio > 10, or
fd_ratio > 20, or coverage < 0.5. A ratio is a value divided by its baseline.

The W1 ratio rule applies only while the shift is beyond chance: w1_null_p_value, the share
of n_permutations random relabellings of the images of both sets (sizes kept) whose pooled
W1 reaches the observed one, must be below w1_significance (0.01). A single baseline split
is a noisy denominator: on exchangeable real splits of CT crops the ratio alone exceeded 3
in 4 of 40 seeds; gated, in none. Images, not pixels, are the exchangeable units, so the
anatomy mixture between images is part of the null.

When the intensities are compared in HU, also the absolute rule of AUDITS.md A6, on the
shift beyond what real samples show: w1_excess = w1_hist - w1_null_q95 (in HU), where
w1_null_q95 is the 95th percentile of W1 between two disjoint random halves of the
reference (n_permutations draws of h images each), scaled to the sizes compared by
sqrt((1/N + 1/M) / (2/h)); it warns above 20 HU and fails above 50 HU. Taken beyond that
percentile, a clean real sample of varied anatomy, whose pooled HU histogram differs from
the reference's through the mixture of tissues alone, is not failed (40 of 40 exchangeable
CT splits passed), while a calibration error adds roughly its own size (1.25 x + 150
moves soft tissue by about 160 HU and failed in every split). The null comes from the
reference alone, so it does not grow with the shift under test. Its price is power on very
mixed sets: where two real halves differ by 70 HU at the 95th percentile, a 100 HU offset
mostly warns. For other quantitative units no absolute tolerance is assumed: only the
ratio rule applies.

The handcrafted features always see the relative images, in both modes. Texture (GLCM, LBP,
gradients) describes structure, which a fixed 4096 HU window would crush into a few grey
levels (soft tissue spans about 5 % of it), and a calibration error is already judged, in
its own unit, by the intensity measures above; on the relative images FD and PRDC keep
meaning "do the images look alike", and the features computed by the chunk tasks (before
the fidelity settings are known) stay valid whatever the intensity scale.

The settings a person may change are `THRESHOLDS` (the rules above, the intensity scale and
the quantitative window); everything else in `DEFAULTS` (seed, sample caps, bootstrap and
KID counts, k, eps, the foreground level) is a compute setting. `METRIC_LABELS` names the
metrics in words.

Every random choice (baseline split, subsamples, bootstrap, KID subsets) draws from its own
stream derived from params["seed"], so a rerun on the same sets gives the same numbers,
and changing one step's size does not move another step's numbers.

The baseline compares two disjoint random subsets of the reference set with
min(N, floor(M/2)) images each (the two halves when N >= M/2), so that it carries at least
the small-sample bias of the synthetic-versus-reference figure (N against M images): a
ratio near 1 means "as far from the reference as real images are from each other", and the
sampling noise of small sets leans the ratios towards leniency. Precision, recall, density
and coverage compare equal-sized samples (min(N, M, cap) per side), because recall and
coverage depend on the ratio of the two sample sizes.

Modules: `params` (defaults and their checks), `sampling` (the seeded streams and row
samples), `intensity` (A6), `distances` (Frechet distance, KID), `neighbours` (PRDC),
`projection` (joint z-scores, PCA chart), `scale` (relative or quantitative intensities), `status`
(the rules), `summary` (the per-image summaries a chunk task computes, from which `run` gives the
same result as from the pixels) and `audit` (`run`).
"""

from audits.engine.fidelity.audit import AUDIT, CHART_BINS, NEEDED, NOT_FID, run
from audits.engine.fidelity.distances import _sqrtm_product as _sqrtm_product
from audits.engine.fidelity.distances import frechet_distance, kid, mmd2_unbiased, polynomial_kernel
from audits.engine.fidelity.intensity import (
    INTENSITY_BINS,
    QUANTITATIVE_BINS,
    bin_centres,
    histogram_w1,
    ks_d,
    per_image_stats,
    pixel_histograms,
    pooled_histogram,
    sample_pixels,
)
from audits.engine.fidelity.neighbours import _BLOCK as _BLOCK
from audits.engine.fidelity.neighbours import knn_radii, pairwise_distances, prdc, prdc_scan
from audits.engine.fidelity.params import (
    DEFAULTS,
    FLOAT_DEFAULTS,
    INT_DEFAULTS,
    THRESHOLD_DEFAULTS,
    THRESHOLDS,
    resolve_params,
)
from audits.engine.fidelity.params import METRIC_LABELS as _PARAM_LABELS
from audits.engine.fidelity.sampling import _baseline_split as _baseline_split
from audits.engine.fidelity.scale import HU_WINDOW, IntensityScale, choose_scale
from audits.engine.fidelity.status import thresholds_of
from audits.engine.fidelity.summary import (
    SAMPLE_PER_IMAGE,
    STORED_KEYS,
    SUMMARY_KEYS,
    PartedRows,
    StoredRows,
    SummaryWindowError,
    chunk_summary,
    concat_summaries,
    stored_part,
)

# Words for the supporting figures the audit reports beside its headline metrics (params.py
# names the headline ones; its entries win).
METRIC_LABELS: dict[str, str] = {
    "baseline_subset_size": "images in each half of the real set for the real-versus-real figures",
    "coverage_baseline": "the same coverage between two halves of the real set",
    "density_baseline": "the same density between two halves of the real set",
    "precision_baseline": "the same precision between two halves of the real set",
    "recall_baseline": "the same recall between two halves of the real set",
    "fd_ci_low": "Fréchet distance, lower end of its bootstrap interval",
    "fd_ci_high": "Fréchet distance, upper end of its bootstrap interval",
    "feature_set": "image features compared (handcrafted, not FID)",
    "features_dropped_constant": "features left out because they do not vary",
    "foreground_frac_ks_D_baseline": "the same foreground-share gap between two halves of the real set",
    "per_image_mean_ks_D_baseline": "the same mean-brightness gap between two halves of the real set",
    "per_image_std_ks_D_baseline": "the same contrast gap between two halves of the real set",
    "kid_baseline_mean": "the same kernel distance (KID) between two halves of the real set",
    "kid_baseline_std": "its spread over subsets",
    "kid_std": "spread of the kernel distance (KID) over subsets",
    "kid_subset_size_used": "images in each KID subset",
    "n_features_used": "features used",
    "n_reference_used": "real images compared",
    "n_synthetic_used": "synthetic images compared",
    "prdc_k": "neighbours per image for precision, recall, density and coverage",
    "prdc_k_baseline": "the same for the real-versus-real figures",
    "prdc_n_per_side": "images per set for precision, recall, density and coverage",
} | _PARAM_LABELS

__all__ = [
    "AUDIT",
    "CHART_BINS",
    "DEFAULTS",
    "FLOAT_DEFAULTS",
    "HU_WINDOW",
    "INTENSITY_BINS",
    "INT_DEFAULTS",
    "METRIC_LABELS",
    "NEEDED",
    "NOT_FID",
    "QUANTITATIVE_BINS",
    "SAMPLE_PER_IMAGE",
    "STORED_KEYS",
    "SUMMARY_KEYS",
    "THRESHOLDS",
    "THRESHOLD_DEFAULTS",
    "IntensityScale",
    "PartedRows",
    "StoredRows",
    "SummaryWindowError",
    "bin_centres",
    "choose_scale",
    "chunk_summary",
    "concat_summaries",
    "frechet_distance",
    "histogram_w1",
    "kid",
    "knn_radii",
    "ks_d",
    "mmd2_unbiased",
    "pairwise_distances",
    "per_image_stats",
    "pixel_histograms",
    "polynomial_kernel",
    "pooled_histogram",
    "prdc",
    "prdc_scan",
    "resolve_params",
    "run",
    "sample_pixels",
    "stored_part",
    "thresholds_of",
]
