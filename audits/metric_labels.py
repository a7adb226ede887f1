"""Every metric and threshold of the audits in plain words, for clinical and ethics reviewers.

`label(code)` is what a figure is called on a page (the audit's own METRIC_LABELS, or a
threshold's label); `explain(code)` says in one line what it means for the review. The pages
show the words and keep the code name small, in a tooltip, for the engineers.

A code is "audit.name" ("fidelity.coverage"), or a bare name with `audit=` given; a bare name
alone is looked up in every audit, first match, which is right only for the names whose meaning
is the same everywhere (n_flagged_total). Nested figures are dotted below their metric
("disclosure.by_format.dicom", "representation.attributes.sex.tvd").

A metric the engine emits without words here fails tests/reviews/test_metric_labels_c.py.
"""

from __future__ import annotations

import importlib
from functools import cache

from audits.engine.suite import AUDITS

_SET_HALVES = "the same figure between two halves of the real set: what chance alone gives, the yardstick for it"

EXPLANATIONS: dict[str, dict[str, str]] = {
    "disclosure": {
        "n_files": "How many synthetic files were checked for a label saying they are synthetic.",
        "n_rejected": "Files refused at upload (unreadable or of a wrong type); they were not checked.",
        "by_format": "How many of the checked files are DICOM, PNG or NIfTI.",
        "n_marked": "Files that say they are synthetic in a field software reads; these count towards passing.",
        "n_text_only": "Files that say they are synthetic only in free text, which software may miss.",
        "n_unmarked": "Files that nowhere say they are synthetic: they could be mistaken for real patient images.",
        "n_synthetic_yes": "DICOM files whose Synthetic Data field says YES, the standard way to mark them.",
        "n_synthetic_no": "DICOM files whose Synthetic Data field says NO, declaring a real acquisition: wrong for a synthetic image.",
        "n_synthetic_missing": "DICOM files without the Synthetic Data field.",
        "n_synthesizing_equipment": "DICOM files that name the software that generated them, as the standard asks.",
        "n_synthetic_yes_without_equipment": "Files marked synthetic that do not say which software generated them.",
        "n_image_type_derived": "DICOM files typed DERIVED; shown for information, it does not count as a synthetic label.",
        "n_burned_in_yes": "DICOM files that declare text burned into the pixels, which can carry identifying details.",
        "n_patient_identity_removed_yes": "DICOM files that declare the patient identity removed.",
        "n_nonempty_patient_name": "DICOM files that still carry a patient name.",
        "n_patient_id_matching_reference": "Files whose patient ID or name is that of a real patient file: a privacy concern.",
        "n_iptc_trained_algorithmic": "PNG files carrying the IPTC tag for images made by a trained algorithm.",
        "n_text_flag_only": "PNG files that say they are synthetic only in free text.",
        "n_png_unlabelled": "PNG files with no synthetic label at all.",
        "n_c2pa_manifest": "PNG files with a C2PA content-credentials record; its signature is not checked.",
        "n_json_extension_flag": "NIfTI files flagged synthetic in a JSON header extension.",
        "n_sidecar_flag": "NIfTI files flagged synthetic in a JSON file beside them.",
        "n_descrip_only": "NIfTI files labelled synthetic only in the free-text description field.",
        "n_nifti_unlabelled": "NIfTI files with no synthetic label at all.",
        "frac_labelled_machine_readable": "Share of the files that software can recognise as synthetic; the pass rule uses it.",
        "frac_labelled_any": "Share of the files labelled synthetic in any way, free text included; below the warn rule it fails.",
        "n_flagged_total": "Files listed for a person to look at.",
    },
    "privacy": {
        "n_dicom_files": "How many synthetic DICOM files had their header checked for real patients' details.",
        "n_reference_dicom_files": "How many real training DICOM files they were compared with.",
        "n_holdout_dicom_files": "How many real held-out DICOM files they were compared with.",
        "n_shared_identifiers": "Identifiers (IDs, names, dates, UIDs) of real files found again in synthetic files.",
        "n_files_sharing_identifiers": "Synthetic files carrying an identifier of a real file: each could point back to a patient.",
        "n_files_sharing_with_reference": "Synthetic files carrying an identifier of a real training file.",
        "n_files_sharing_with_holdout": "Synthetic files carrying an identifier of a real held-out file.",
        "shared_by_attribute": "For each header field, how many synthetic files repeat a real file's value.",
        "shared_by_set": "How many identifiers were found from each real set.",
        "n_times_on_other_days": "Exact real times of day found in files dated another day; possibly chance, they still fail.",
        "n_files_with_identifying_attributes": "Synthetic files keeping a name, ID or birth date, even one found in no real file.",
        "identifying_attributes_present": "For each identifying field, how many synthetic files fill it with a real-looking value.",
        "n_placeholder_values": "Placeholder values such as SYNTHETIC or ANONYMOUS, which identify nobody and are ignored.",
        "n_patient_identity_removed_yes": "Files declaring the patient identity removed; they are checked all the same.",
        "n_flagged_total": "Findings listed for a person to look at.",
    },
    "memorization": {
        "baseline": "Which real images the copy threshold was calibrated on: a held-out set, or each training image against the rest.",
        "baseline_n": "How many real images the calibration used; more gives a firmer threshold.",
        "ncc_threshold": "How similar (after alignment) an image must be to a training image to count as a probable copy.",
        "baseline_ncc_median": "How similar a typical real image the model never saw is to its closest training image.",
        "baseline_ncc_max": "The highest such similarity among real images the model never saw.",
        "synthetic_ncc_median": "How similar a typical synthetic image is to its closest training image; far above the baseline suggests copying.",
        "synthetic_ncc_max": "The similarity of the synthetic image closest to a training image.",
        "n_exact_duplicates": "Synthetic images whose pixels are identical to a training image: a patient's scan given out again.",
        "n_probable_copies": "Synthetic images so close to a training image that they are probably copies of it.",
        "frac_probable_copies": "Share of the synthetic images that are probable copies.",
        "expected_over_threshold": "How many images would be over the threshold by chance if nothing were copied.",
        "crossing_rate_high": "A cautious upper estimate of how often a real, never-seen image crosses the threshold.",
        "excess_p_value": "The chance of seeing this many probable copies if the model copied nothing; small means copying.",
        "extreme_p_value": "The chance of an image this close to a training image if nothing were copied; small means copying.",
        "n_transformed_copies": "Probable copies that were mirrored, rotated or cropped, which hides copying from a plain comparison.",
        "transforms_found": "How the probable copies were changed from their training image.",
        "train_images_copied": "Training images with at least one probable copy: the patients whose scans were reproduced.",
        "max_copies_of_one_reference": "The most probable copies of any single training image.",
        "baseline_median_nn_l2": "Typical pixel distance from a never-seen real image to its closest training image.",
        "ratio_median": "Typical pixel distance of a synthetic image to the training set, as a share of that baseline; well below 1 suggests copying.",
        "n_synthetic_used": "How many synthetic images were compared with the training set.",
        "n_reference_used": "How many training images they were compared with.",
        "n_dropped_blank": "Blank synthetic images left out: they resemble everything and nothing.",
        "n_dropped_blank_reference": "Blank training images left out of the comparison.",
        "n_dropped_blank_holdout": "Blank held-out images left out of the calibration.",
        "n_flagged_total": "Images listed for a person to look at, side by side with their closest training image.",
        "status_capped_by_baseline": "Without a held-out set the audit cannot be sure, so it warns at most unless an image is a near-exact copy.",
    },
    "fidelity": {
        "baseline_subset_size": "Images in each half of the real set when the real set is compared with itself.",
        "coverage_baseline": f"Coverage, {_SET_HALVES}.",
        "density_baseline": f"Density, {_SET_HALVES}.",
        "precision_baseline": f"Precision, {_SET_HALVES}.",
        "recall_baseline": f"Recall, {_SET_HALVES}.",
        "fd_ci_low": "Low end of the range the feature distance lies in (bootstrap interval).",
        "fd_ci_high": "High end of the range the feature distance lies in (bootstrap interval).",
        "feature_set": "Which image features were compared: simple measured features, not a neural network's (so not FID).",
        "features_dropped_constant": "Features left out because they have the same value in every image.",
        "foreground_frac_ks_D_baseline": f"The foreground-share gap, {_SET_HALVES}.",
        "per_image_mean_ks_D_baseline": f"The mean-brightness gap, {_SET_HALVES}.",
        "per_image_std_ks_D_baseline": f"The contrast gap, {_SET_HALVES}.",
        "kid_baseline_mean": f"The kernel distance, {_SET_HALVES}.",
        "kid_baseline_std": "How much that real-versus-real kernel distance varies between subsets.",
        "kid_std": "How much the kernel distance varies between subsets; large means the figure is uncertain.",
        "kid_subset_size_used": "Images in each subset the kernel distance was computed on.",
        "n_features_used": "How many image features were compared.",
        "n_reference_used": "How many real images were compared.",
        "n_synthetic_used": "How many synthetic images were compared.",
        "prdc_k": "How many nearest neighbours define 'close' for precision, recall, density and coverage.",
        "prdc_k_baseline": "The same number of neighbours for the real-versus-real figures.",
        "prdc_n_per_side": "Images from each set used for precision, recall, density and coverage.",
        "units": "The unit pixel values were compared in: HU for CT, SUV for PET, or relative brightness.",
        "intensity_scale": "Whether absolute values (quantitative) or brightness relative to each image were compared.",
        "window_low": "Lowest value of the fixed window absolute values were compared in.",
        "window_high": "Highest value of that window.",
        "w1_hist": "How far the synthetic images' pixel values are shifted from the real ones (Wasserstein-1 distance).",
        "w1_baseline_split": f"That shift, {_SET_HALVES}.",
        "w1_ratio": "The intensity shift as a multiple of what chance gives between real images; around 1 is as good as real.",
        "w1_excess": "How much larger the intensity shift is than chance gives, in the image unit (for CT, in HU).",
        "w1_null_q95": "The intensity shift that two real samples of these sizes exceed only 1 time in 20.",
        "w1_null_p_value": "The chance of an intensity shift this large if both sets came from the same images; small means a real difference.",
        "ks_D": "The largest gap between the real and synthetic pixel-value distributions (0 alike, 1 completely different).",
        "ks_D_baseline": f"That gap, {_SET_HALVES}.",
        "per_image_mean_ks_D": "How differently bright the synthetic images are from the real ones (0 alike, 1 completely different).",
        "per_image_std_ks_D": "How different the synthetic images' contrast is from the real ones' (0 alike, 1 completely different).",
        "foreground_frac_ks_D": "How different the share of each image taken by anatomy rather than background is (0 alike, 1 completely different).",
        "fd": "How far apart the real and synthetic images are in their measured features; 0 is identical.",
        "fd_baseline_split": f"The feature distance, {_SET_HALVES}.",
        "fd_ratio": "The feature distance as a multiple of what chance gives between real images; around 1 is as good as real.",
        "kid_mean": "Another distance between real and synthetic image features, steadier on small sets (KID); 0 is identical.",
        "precision": "Share of synthetic images that look like some real image; low means implausible images.",
        "recall": "Share of real images that some synthetic image resembles; low means the variety of real cases is not reproduced.",
        "density": "How tightly synthetic images crowd around real ones; about 1 as real images do, well above 1 suggests near-copies.",
        "coverage": "Share of real images with a synthetic image close by; low means some kinds of real cases are missing.",
        "n_synthetic_outside_reference": "Synthetic images unlike any real image: worth a look for artefacts.",
        "n_dropped_blank": "Blank images left out of the comparison.",
    },
    "representation": {
        "attributes": "The figures for each patient attribute (sex, age, scanner...) compared.",
        "status_by_attribute": "Whether each attribute passes, warns or fails.",
        "max_tvd": "The largest difference in subgroup shares between real and synthetic sets over all attributes.",
        "max_tvd_attribute": "The attribute with that largest difference.",
        "subgroup_gaps": "For each subgroup, how often its images are copied and how well it is covered.",
        "n_attributes": "How many patient attributes were compared.",
        "n_attributes_computed": "Attributes with values in both sets, so that they could be compared.",
        "n_attributes_too_small": "Attributes with too few images to judge.",
        "n_flagged_total": "Subgroups listed for a person to look at.",
        "tvd": "How much the subgroup shares differ between real and synthetic sets (0 same mix, 1 no overlap).",
        "abs_log_disparity": "How over- or under-represented a subgroup is in the synthetic set compared with the real one.",
        "missing_category_real_share": "Share of the real images belonging to a subgroup that has no synthetic image at all.",
        "cramers_v": "How strongly the subgroup mix depends on whether an image is real or synthetic (0 not at all, 1 entirely).",
        "age_w1_years": "How far the synthetic patients' ages are shifted from the real ones, in years.",
        "min_category_n": "The smallest subgroup size whose share is judged; smaller ones are too small to say.",
        "missing_values_share": "Share of images where the attribute is not recorded.",
        "min_group_n": "The smallest subgroup size whose copy rate or coverage is judged.",
        "subgroup_copy_rate_ratio": "How many times more often this subgroup's images are copied than images overall.",
        "subgroup_copy_rate_min": "Subgroup copy rates below this never warn, whatever the ratio.",
        "subgroup_copy_rate_alpha": "How unlikely by chance a subgroup's excess of copies must be to warn (significance level).",
        "subgroup_coverage_gap": "How much worse the worst-covered subgroup is reproduced than the best-covered one.",
    },
    "manifest": {
        "n_files": "How many synthetic files the generation manifest should describe.",
        "n_entries": "How many entries the manifest has.",
        "n_listed": "Files that have an entry in the manifest.",
        "n_unlisted": "Files with no entry: nobody can say how they were generated.",
        "coverage": "Share of the files that have an entry in the manifest.",
        "n_complete": "Files whose entry names the generator, its version and the seed, so they can be reproduced.",
        "n_incomplete": "Files whose entry lacks the generator, its version or the seed.",
        "complete_coverage": "Share of the files that can be traced to the generator, version and seed; the pass rule uses it.",
        "missing_by_field": "How many entries lack each field (generator, version, seed).",
        "n_entries_not_in_set": "Entries naming a file that is not in the uploaded set.",
        "n_duplicate_entries": "Files listed more than once.",
        "n_conflicting_duplicates": "Files listed more than once with different details.",
        "n_matched_by_basename": "Entries matched to a file by its name only, without its folder.",
        "n_generators": "How many different generators the manifest names.",
        "provenance_declared": "Whether the manifest says which files are real and which are synthetic.",
        "n_declared_real": "Files the manifest declares real.",
        "n_declared_synthetic": "Files the manifest declares synthetic.",
        "n_provenance_unknown": "Files declared neither real nor synthetic.",
        "mixing_ratio_real": "Share of the declared files that are real patient images mixed into the set.",
        "n_flagged_total": "Files and entries listed for a person to look at.",
    },
}

# Thresholds whose engine label or help is an engineer's (W1, FD, real-vs-real): the form and
# the pages show these words instead. Thresholds not listed read as the engine declares them.
THRESHOLD_WORDS: dict[str, dict[str, tuple[str, str]]] = {
    "memorization": {
        "max_copies_per_reference": (
            "Warn when one real image has this many copies",
            "Several synthetic images copying the same training image expose that one patient: warn from this many.",
        ),
    },
    "fidelity": {
        "w1_ratio_warn": (
            "Intensity shift, warn above",
            "Warns when the synthetic pixel values are shifted more than this many times the shift between two halves of the real set.",
        ),
        "w1_ratio_fail": (
            "Intensity shift, fail above",
            "Fails when the synthetic pixel values are shifted more than this many times the shift between two halves of the real set.",
        ),
        "w1_significance": (
            "Intensity shift rules apply only when beyond chance at",
            "A shift is judged only when one this large would arise by chance less often than this.",
        ),
        "hu_w1_warn": (
            "CT intensity shift, warn above",
            "CT in HU only: warns when the shift in Hounsfield units exceeds what chance gives by more than this.",
        ),
        "hu_w1_fail": (
            "CT intensity shift, fail above",
            "CT in HU only: fails when the shift in Hounsfield units exceeds what chance gives by more than this.",
        ),
        "fd_ratio_warn": (
            "Feature distance, warn above",
            "Warns when real and synthetic image features are this many times further apart than two halves of the real set.",
        ),
        "fd_ratio_fail": (
            "Feature distance, fail above",
            "Fails when real and synthetic image features are this many times further apart than two halves of the real set.",
        ),
        "fd_warn_min": (
            "Feature distance, warn only above",
            "The feature-distance warning also needs the distance itself above this, so tiny distances never warn.",
        ),
        "coverage_warn": (
            "Coverage, warn below",
            "Warns when fewer than this share of real images have a synthetic image close by (kinds of cases missing).",
        ),
        "coverage_fail": (
            "Coverage, fail below",
            "Fails when fewer than this share of real images have a synthetic image close by.",
        ),
        "precision_warn": (
            "Precision, warn below",
            "Warns when fewer than this share of synthetic images look like some real image (implausible images).",
        ),
        "precision_fail": (
            "Precision, fail below",
            "Fails when fewer than this share of synthetic images look like some real image.",
        ),
    },
}

# A threshold's unit as the form shows it after the label.
UNIT_WORDS = {"x baseline": "times what chance gives"}


def unit(text: str) -> str:
    """A threshold's unit in words ("x baseline" -> "times what chance gives")."""
    return UNIT_WORDS.get(text, text)


@cache
def _declared(audit: str) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    """The audit's METRIC_LABELS and its thresholds (name -> (label, help))."""
    module = importlib.import_module(f"audits.engine.{audit}")
    labels = getattr(module, "METRIC_LABELS", None) or {}
    settings = getattr(module, "THRESHOLDS", None) or {}
    return (
        {str(k): str(v) for k, v in labels.items()},
        {
            str(k): THRESHOLD_WORDS.get(audit, {}).get(str(k)) or (s.label, s.help or s.label)
            for k, s in settings.items()
        },
    )


def _split(code: str, audit: str | None) -> tuple[str | None, str]:
    if audit is None:
        head, _, rest = code.partition(".")
        if head in AUDITS and rest:
            return head, rest
    return audit, code


def _find(code: str, audit: str | None) -> tuple[str, str, str] | None:
    """(audit, name, the part below the known name) of a code, or None when no audit knows it."""
    audit, name = _split(code, audit)
    for candidate in [audit] if audit else AUDITS:
        labels, settings = _declared(candidate)
        parts = name.split(".")
        for cut in range(len(parts), 0, -1):
            known = ".".join(parts[:cut])
            if known in labels or known in settings or known in EXPLANATIONS.get(candidate, {}):
                return candidate, known, ".".join(parts[cut:])
    return None


def _words(part: str) -> str:
    return part.replace(".", " · ").replace("_", " ")


def _capfirst(text: str) -> str:
    return text[:1].upper() + text[1:]


def known(code: str, audit: str | None = None) -> bool:
    """Whether the code has its own words (label and explanation), nested figures by their metric."""
    found = _find(code, audit)
    if found is None:
        return False
    where, name, _ = found
    labels, settings = _declared(where)
    return (name in labels and name in EXPLANATIONS.get(where, {})) or name in settings


def label(code: str, audit: str | None = None) -> str:
    """What a metric or threshold is called, in words ("Share of real images with a synthetic
    image close by"); a nested figure adds what it is below it ("Files per format: dicom")."""
    found = _find(code, audit)
    if found is None:
        return _capfirst(_words(_split(code, audit)[1]))
    where, name, below = found
    labels, settings = _declared(where)
    words = settings[name][0] if name in settings and name not in labels else labels.get(name, _words(name))
    if below:
        last = below.rsplit(".", 1)[-1]
        middle = below.rpartition(".")[0]
        if last in labels and middle:  # attributes.sex.tvd -> "Sex: share difference (TVD)"
            return _capfirst(f"{_words(middle)}: {labels[last]}")
        return _capfirst(f"{words}: {_words(below)}")
    return _capfirst(words)


def explain(code: str, audit: str | None = None) -> str:
    """One line on what the figure means for the review; empty for a code no audit knows."""
    found = _find(code, audit)
    if found is None:
        return ""
    where, name, below = found
    explanations = EXPLANATIONS.get(where, {})
    if below:
        last = below.rsplit(".", 1)[-1]
        if last in explanations and "." in below:
            return explanations[last]
    settings = _declared(where)[1]
    if name in settings and name not in explanations:
        return settings[name][1]
    return explanations.get(name, "")
