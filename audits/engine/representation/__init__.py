"""Representation audit: subgroup make-up of the synthetic set against the real one.

Implements A8 (`subgroup.representation`) and A9 (`subgroup.metric_gaps`) of AUDITS.md.

Inputs
------
Subgroup metadata comes from `ImageSet.metadata` (file name -> {attribute: value}): the
metadata CSV, with DICOM headers filling only what the CSV lacks (audits.engine.inputs.
metadata_from_headers). The attributes compared are the columns present in both sets, matched
on their name tokens ("PatientSex" = "patient_sex" = " Sex"); columns present in only one set
are listed in the caveats. Identifier-like columns (names with an id, uid, file, path, seed or
hash token) and attributes with more than `max_categories` groups are not subgroups and are
skipped with a caveat.

Counts are per 2-D IMAGE: a file's attributes apply to every image it contributes
(`ImageSet.images`; when a set has no images, each accepted file counts `max(1, slices)`
times; when it has no files either, each metadata row counts once).

Spellings -> groups (normalise.py)
----------------------------------
Values are resolved to groups before anything is counted: the researcher's mapping
(`ImageSet.value_map`, from the mapping CSV uploaded with a set; each set's own entries first,
then the other set's), missing markers (NA, N/A, null, -, ?), sex synonyms (F = f, female,
woman...; M = m, male, man...; O = o, other...; u / unknown are missing), ages (numbers,
DICOM AS "045Y" / "006M" / "010W" / "003D", "45 years") and, for every other value, case,
Unicode form, dashes and spacing. Each group is shown by the researcher's spelling, the DICOM
sex code, or else its most frequent original spelling. metrics["attributes"][name]["mapping"]
lists every spelling (up to 100) with its group (None = missing), the rule that decided it,
the years read for an age, and its images per set. An empty value, or one mapped to missing,
is *missing*: counted and reported, never a category; shares are over the images with a value.

Categorical attributes (categories c with a count in either set; p_S, p_R the shares)
------------------------------------------------------------------------------------
- TVD = 1/2 * sum_c |p_S(c) - p_R(c)|
- chi-square test of homogeneity on the 2 x C table of counts,
  `scipy.stats.chi2_contingency(table, correction=False)` (no Yates correction, so that
  Cramer's V is the textbook value); chi2_valid = (min expected count >= 5).
- Cramer's V = sqrt(chi2 / (n * (min(2, C) - 1))), n = all counted images of both sets.
- log-disparity(c) = log(p_S(c) / p_R(c)); None where either share is 0.
- missing_in_synth: categories with p_R >= missing_share and no synthetic image;
  absent_in_real: categories seen only in the synthetic set.
- A single category on both sides gives TVD 0; chi-square and V are then not computed.

Status per categorical attribute (defaults; every threshold is in THRESHOLDS):
- fail: TVD > tvd_fail (0.10), or a category with >= missing_share (5 %) of the real images
  is missing from the synthetic set;
- warn: tvd_warn (0.05) <= TVD <= tvd_fail, or |log-disparity| > log_disparity_warn (log 2,
  a 2x over- or under-representation) for some category, or Cramer's V > cramers_v_warn (0.1);
- pass otherwise.
Effect sizes drive the status. The chi-square p-value is reported as information only: with
N in the thousands every small shift is "significant" (AUDITS.md section 0, point 7).

Too small to judge, and missing values (every attribute)
--------------------------------------------------------
- A category with fewer than min_category_n (10) images in both sets is too small to judge:
  it counts in the shares and the TVD, but its own gap (missing, log-disparity) raises nothing
  ("too_small_categories").
- An attribute with fewer than min_category_n images with a value in either set is too small
  to judge: its shares are shown, its status is not_computable ("too_small": true), and it
  neither passes nor fails the audit.
- An attribute whose value is missing for more than missing_values_warn (10 %) of the images
  of either set warns, whatever its shares.

Continuous age
--------------
An attribute named like age, age_years, PatientAge (an `age` token in its name, and no
group/band/bin token) is continuous when at least half of each set's images with a value read
as an age (plain years, DICOM AS, or a number with a unit word); values that do not read as an
age then count as missing, with a caveat naming them. Otherwise it is compared as categories.
- W1 = scipy.stats.wasserstein_distance of the per-image ages, in years;
- KS D = scipy.stats.ks_2samp(real ages, synthetic ages).statistic (p-value as information);
- status: fail W1 > age_w1_fail (10 y), warn W1 > age_w1_warn (5 y); also fail when an age
  band (<18, 18-39, 40-59, 60-79, 80+: the one banding, AGE_BANDS) holding >= missing_share of
  the real images is missing from the synthetic set. The bands are compared like a categorical
  attribute (TVD, chi-square, V, log-disparity) for the share table; their TVD does not set
  the status.

Per-subgroup metric gaps (A9)
-----------------------------
`per_image` = {"copy": {synthetic Image.label -> probable copy (bool)},
"coverage": {attribute -> {category -> coverage}}}, from the memorization and fidelity
audits. For each attribute, per normalised group (age: per band):
- copy rate k/n = probable copies / synthetic images with a verdict; the overall rate K/N;
- groups with n >= min_group_n (30) are tested: Fisher's exact test, one-sided ("greater"),
  on [[k, n - k], [K - k, (N - n) - (K - k)]] (the group against the other images), its
  p-value Bonferroni-corrected over the attribute's tested groups; rate ratio = k/n over the
  rest's rate. Smaller groups are listed as too small to judge ("groups_insufficient_n");
- a group warns when its copy rate > copy_rate_ratio_warn (2) x overall, >= copy_rate_min
  (1 %), and its corrected p < copy_rate_alpha (0.01); "groups_copied_more" lists them;
- coverage warns when the worst coverage is coverage_gap_warn (0.2) or more below the best
  (coverage is used for groups with >= min_group_n images in both sets).

The overall status is the worst of the judged attributes' and the gaps' statuses. NOT_COMPUTABLE
when either set has no metadata, when no attribute is shared, when no shared attribute has
values in both sets, or when every attribute is too small to judge.

Output
------
- metrics: {"attributes": {name: per-attribute metrics above, with "status" and "reasons"},
  "status_by_attribute", "max_tvd", "max_tvd_attribute", "subgroup_gaps": {name: {...}} or
  None, "n_attributes", "n_attributes_computed", "n_attributes_too_small", "n_flagged_total"};
- flagged: per warned/failed attribute one "attribute" entry (its reasons) and "category"
  entries ("F: 48 % of real images, 31 % of synthetic", with "(missing from synthetic)",
  "(only in synthetic)", "(absent from synthetic)" or "(under-represented 2.3x)" when it
  applies), then "subgroup_metric" entries for A9 warnings; fail before warn, at most
  FLAGGED_LIMIT (the full count is metrics["n_flagged_total"]);
- charts: {"attributes": [{"attribute", "kind", "categories", "real_share",
  "synthetic_share", "gap" (synthetic - real), "real_counts", "synthetic_counts", "status",
  "too_small", "too_small_categories"}], "subgroup_metrics": [{"attribute", "category", "n",
  "n_copies", "copy_rate", "rate_ratio", "p_value_corrected", "coverage", "judged"}]}.
"""

from __future__ import annotations

from audits.engine.representation.audit import AUDIT, NEEDED_METADATA, run
from audits.engine.representation.categorical import compare_categorical
from audits.engine.representation.common import (
    DEFAULT_PARAMS,
    METRIC_LABELS,
    THRESHOLDS,
    clean_value,
    is_identifier_attribute,
    name_tokens,
    resolve_params,
)
from audits.engine.representation.continuous import AGE_BANDS, age_band, compare_continuous, is_age_attribute, parse_age
from audits.engine.representation.normalise import attribute_key, fold, is_sex_attribute

__all__ = [
    "AGE_BANDS",
    "AUDIT",
    "DEFAULT_PARAMS",
    "METRIC_LABELS",
    "NEEDED_METADATA",
    "THRESHOLDS",
    "age_band",
    "attribute_key",
    "clean_value",
    "compare_categorical",
    "compare_continuous",
    "fold",
    "is_age_attribute",
    "is_identifier_attribute",
    "is_sex_attribute",
    "name_tokens",
    "parse_age",
    "resolve_params",
    "run",
]
