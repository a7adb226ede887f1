"""Fidelity audit: how far the synthetic set's distribution is from the reference set's.

AUDITS.md sections 1c, A6 and A7. Two families of measures, each reported beside the same
figure for two disjoint random subsets of the reference set (the real-versus-real baseline):

* intensity (A6): the 1-Wasserstein distance W1 between the pooled pixel distributions
  (256-bin histograms on [0, 1]), the Kolmogorov-Smirnov D on a pixel subsample, and KS D
  on per-image mean, standard deviation and foreground fraction;
* features (A7): on the handcrafted "rad-lite-35 v1" features (`features.py`; not FID, not
  FRD), jointly z-scored over S u R with constant features dropped: the Frechet distance
  with a bootstrap interval, KID, and precision / recall / density / coverage.

Status (defaults, all configurable through params): warn if w1_ratio > 3, or fd_ratio > 5
while fd > 5, or coverage < 0.8, or precision < 0.7; fail if w1_ratio > 10, or
fd_ratio > 20, or coverage < 0.5. A ratio is a value divided by its baseline.

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
`projection` (joint z-scores, PCA chart), `status` (the rules) and `audit` (`run`).
"""

from audits.engine.fidelity.audit import AUDIT, CHART_BINS, NEEDED, NOT_FID, run
from audits.engine.fidelity.distances import _sqrtm_product as _sqrtm_product
from audits.engine.fidelity.distances import frechet_distance, kid, mmd2_unbiased, polynomial_kernel
from audits.engine.fidelity.intensity import (
    INTENSITY_BINS,
    bin_centres,
    histogram_w1,
    ks_d,
    per_image_stats,
    pixel_histograms,
    sample_pixels,
)
from audits.engine.fidelity.neighbours import _BLOCK as _BLOCK
from audits.engine.fidelity.neighbours import knn_radii, pairwise_distances, prdc, prdc_scan
from audits.engine.fidelity.params import DEFAULTS, FLOAT_DEFAULTS, INT_DEFAULTS, THRESHOLD_DEFAULTS, resolve_params
from audits.engine.fidelity.sampling import _baseline_split as _baseline_split
from audits.engine.fidelity.status import thresholds_of

__all__ = [
    "AUDIT",
    "CHART_BINS",
    "DEFAULTS",
    "FLOAT_DEFAULTS",
    "INTENSITY_BINS",
    "INT_DEFAULTS",
    "NEEDED",
    "NOT_FID",
    "THRESHOLD_DEFAULTS",
    "bin_centres",
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
    "prdc",
    "prdc_scan",
    "resolve_params",
    "run",
    "sample_pixels",
    "thresholds_of",
]
