"""Representation audit (A8 subgroup make-up, A9 per-subgroup gaps) against hand-computed values and scipy."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

import numpy as np
import pytest
from scipy import stats
from scipy.stats.contingency import association

from audits.engine import ENGINE_VERSION, representation
from audits.engine.types import FLAGGED_LIMIT, FileRecord, Image, ImageSet, Status

# ---------------------------------------------------------------------------------------------
# Builders: image sets straight from types, no readers.


def make_set(
    role: str,
    rows: Mapping[str, Mapping[str, str]],
    slices: Mapping[str, int] | None = None,
    extra_files: int = 0,
    with_images: bool = True,
) -> ImageSet:
    """One file per metadata row (plus `extra_files` without a row); `slices[file]` images per file."""
    slices = slices or {}
    names = list(rows) + [f"{role}/extra{i}.png" for i in range(extra_files)]
    files, images = [], []
    for name in names:
        n = slices.get(name, 1)
        files.append(FileRecord(name=name, sha256=f"sha-{role}-{name}", format="png", width=2, height=2, slices=n))
        for index in range(n):
            images.append(
                Image(
                    file=name,
                    index=index,
                    pixels=np.zeros((2, 2), np.float32),
                    pixel_sha256=f"px-{name}-{index}",
                    blank=False,
                )
            )
    return ImageSet(
        role=role,
        files=files,
        images=images if with_images else [],
        metadata={name: dict(row) for name, row in rows.items()},
    )


def rows_from_counts(role: str, counts: Mapping[str, int], attribute: str = "sex") -> dict[str, dict[str, str]]:
    rows: dict[str, dict[str, str]] = {}
    for value, n in counts.items():
        for _ in range(n):
            rows[f"{role}/{len(rows):05d}.png"] = {attribute: value}
    return rows


def from_counts(role: str, counts: Mapping[str, int], attribute: str = "sex") -> ImageSet:
    return make_set(role, rows_from_counts(role, counts, attribute))


def run_counts(real: Mapping[str, int], synth: Mapping[str, int], params=None, attribute: str = "sex"):
    return representation.run(
        from_counts("synthetic", synth, attribute), from_counts("reference", real, attribute), params
    )


def attr(result, name: str = "sex") -> dict:
    return result.metrics["attributes"][name]


# ---------------------------------------------------------------------------------------------
# A8: categorical attributes


def test_verified_example_fails_on_effect_size():
    """AUDITS.md: F/M 0.48/0.52 real vs 0.31/0.69 synthetic -> TVD 0.17, V about 0.17, p about 1e-14."""
    result = run_counts({"F": 480, "M": 520}, {"F": 310, "M": 690})
    m = attr(result)
    assert result.status == Status.FAIL
    assert m["categories"] == ["F", "M"]
    assert m["real_counts"] == [480, 520] and m["synth_counts"] == [310, 690]
    assert m["real_prop"] == pytest.approx([0.48, 0.52]) and m["synth_prop"] == pytest.approx([0.31, 0.69])
    assert m["tvd"] == pytest.approx(0.17)
    # By hand: expected counts 395 / 605 in each row, n = 2000.
    chi2 = 2 * 85**2 * (1 / 395 + 1 / 605)
    assert m["chi2"] == pytest.approx(chi2)
    assert m["dof"] == 1
    assert m["cramers_v"] == pytest.approx(math.sqrt(chi2 / 2000))
    assert m["cramers_v"] == pytest.approx(0.17, abs=0.01)
    assert m["p_value"] == pytest.approx(stats.chi2.sf(chi2, 1))
    assert 1e-15 < m["p_value"] < 1e-13
    assert m["min_expected_count"] == pytest.approx(395) and m["chi2_valid"] is True
    scipy_result = stats.chi2_contingency([[480, 520], [310, 690]], correction=False)
    assert m["chi2"] == pytest.approx(scipy_result.statistic) and m["p_value"] == pytest.approx(scipy_result.pvalue)
    assert m["log_disparity"] == pytest.approx([math.log(0.31 / 0.48), math.log(0.69 / 0.52)])
    reasons = [f["reason"] for f in result.flagged]
    assert "F: 48 % of real images, 31 % of synthetic" in reasons
    assert "M: 52 % of real images, 69 % of synthetic" in reasons
    assert result.flagged[0]["category"] is None and "TVD 0.17" in result.flagged[0]["reason"]
    assert result.metrics["n_flagged_total"] == 3
    assert "sex fails (TVD 0.17)" in result.summary


def test_tvd_and_log_disparity_by_hand():
    result = run_counts({"A": 50, "B": 30, "C": 20}, {"A": 60, "B": 30, "C": 10})
    m = attr(result)
    assert m["tvd"] == pytest.approx(0.5 * (0.1 + 0.0 + 0.1))
    assert m["gap"] == pytest.approx([0.1, 0.0, -0.1])
    assert m["log_disparity"] == pytest.approx([math.log(1.2), 0.0, math.log(0.5)])
    # Hand chi-square: column totals 110/60/30, expected 55/30/15 per row.
    chi2 = 2 * (5**2 / 55 + 0 + 5**2 / 15)
    assert m["chi2"] == pytest.approx(chi2) and m["dof"] == 2
    assert m["cramers_v"] == pytest.approx(math.sqrt(chi2 / 200))
    assert result.status == Status.WARN  # TVD 0.10 is still warn; |log 0.5| = log 2 is not beyond log 2


def test_cramers_v_matches_an_independent_computation():
    real = {"a": 120, "b": 75, "c": 40, "d": 15}
    synth = {"a": 90, "b": 95, "c": 30, "d": 35}
    m = attr(run_counts(real, synth))
    table = np.array([[real[c] for c in "abcd"], [synth[c] for c in "abcd"]], dtype=float)
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    chi2 = float(((table - expected) ** 2 / expected).sum())
    assert m["chi2"] == pytest.approx(chi2)
    assert m["cramers_v"] == pytest.approx(math.sqrt(chi2 / (table.sum() * (min(table.shape) - 1))))
    assert m["cramers_v"] == pytest.approx(association(table.astype(int), method="cramer"))
    assert m["min_expected_count"] == pytest.approx(expected.min())


def test_missing_category_with_five_percent_of_real_fails():
    result = run_counts({"A": 120, "B": 70, "C": 10}, {"A": 120, "B": 80})
    m = attr(result)
    assert m["categories"] == ["A", "B", "C"]
    assert m["missing_in_synth"] == ["C"] and m["absent_in_synth"] == ["C"]
    assert m["log_disparity"][2] is None
    assert result.status == Status.FAIL
    missing = [f for f in result.flagged if f["category"] == "C"]
    assert missing and missing[0]["reason"] == "C: 5.0 % of real images, 0 % of synthetic (missing from synthetic)"
    assert "missing from the synthetic set" in result.flagged[0]["reason"]


def test_a_category_below_the_minimum_size_is_too_small_to_judge():
    """5 real images of C and none synthetic: too few to call C missing (min_category_n 10)."""
    result = run_counts({"A": 60, "B": 35, "C": 5}, {"A": 60, "B": 40})
    m = attr(result)
    assert m["absent_in_synth"] == ["C"] and m["missing_in_synth"] == []
    assert m["too_small_categories"] == ["C"]
    assert not any("missing from the synthetic set" in reason for reason in m["reasons"])
    assert not any(f["category"] == "C" for f in result.flagged)
    assert result.charts["attributes"][0]["too_small_categories"] == ["C"]
    # A lower minimum judges it again.
    assert attr(run_counts({"A": 60, "B": 35, "C": 5}, {"A": 60, "B": 40}, {"min_category_n": 5}))[
        "missing_in_synth"
    ] == ["C"]


def test_absent_category_below_the_missing_share_is_not_missing():
    m = attr(run_counts({"A": 60, "B": 36, "C": 4}, {"A": 62, "B": 38}))
    assert m["missing_in_synth"] == [] and m["absent_in_synth"] == ["C"]
    assert m["tvd"] == pytest.approx(0.04)
    # The rare absent category still lifts Cramer's V above 0.1: warn, not fail.
    assert m["cramers_v"] > 0.1
    assert m["status"] == "warn"


def test_synthetic_only_category():
    result = run_counts({"A": 50, "B": 50}, {"A": 45, "B": 45, "X": 10}, attribute="site")
    m = attr(result, "site")
    assert m["absent_in_real"] == ["X"]
    assert m["real_counts"] == [50, 50, 0] and m["synth_counts"] == [45, 45, 10]
    assert m["log_disparity"][2] is None
    assert m["tvd"] == pytest.approx(0.1)
    assert result.status == Status.WARN
    flagged = {f["category"]: f["reason"] for f in result.flagged}
    assert flagged["X"] == "X: 0 % of real images, 10 % of synthetic (only in synthetic)"


def test_one_subgroup_sets_pass_without_chi_square():
    result = run_counts({"F": 40}, {"F": 25})
    m = attr(result)
    assert result.status == Status.PASS
    assert m["tvd"] == 0
    assert m["chi2"] is None and m["p_value"] is None and m["cramers_v"] is None and m["dof"] is None
    assert m["chi2_valid"] is False
    assert "chi-square" in m["chi2_note"]
    assert any("chi-square and Cramer's V not computed" in c for c in result.caveats)
    assert result.flagged == []


def test_missing_values_are_reported_not_a_category():
    real_rows = rows_from_counts("reference", {"F": 40, "M": 40, "": 20})
    synth_rows = rows_from_counts("synthetic", {"F": 30, "M": 30, "  ": 5})
    synthetic = make_set("synthetic", synth_rows, extra_files=5)  # 5 files with no metadata row
    result = representation.run(synthetic, make_set("reference", real_rows))
    m = attr(result)
    assert m["categories"] == ["F", "M"]
    assert m["n_missing_real"] == 20 and m["n_missing_synth"] == 10
    assert m["missing_share_real"] == pytest.approx(0.2) and m["missing_share_synth"] == pytest.approx(10 / 70)
    assert m["real_prop"] == pytest.approx([0.5, 0.5]) and m["synth_prop"] == pytest.approx([0.5, 0.5])
    # Shares are balanced, but a fifth of the reference images have no value: that warns.
    assert result.status == Status.WARN
    assert m["reasons"] == [
        "value missing for 20 % of the reference images",
        "value missing for 14 % of the synthetic images",
    ]
    assert any("value missing for 20 reference and 10 synthetic images" in c for c in result.caveats)
    assert any("5 synthetic images (5 files) have no metadata row" in c for c in result.caveats)


def test_values_are_stripped_and_columns_matched_case_insensitively():
    synthetic = make_set("synthetic", {"s/a.png": {"Sex": " F ", "seed": "1"}, "s/b.png": {"Sex": "M", "seed": "2"}})
    reference = make_set(
        "reference",
        {"r/a.png": {"sex": "F", "site": "X", "seed": "1"}, "r/b.png": {"sex": "M ", "site": "Y", "seed": "2"}},
    )
    result = representation.run(synthetic, reference)
    assert set(result.metrics["attributes"]) == {"sex"}
    assert attr(result)["categories"] == ["F", "M"] and attr(result)["tvd"] == 0
    assert any("Only in the reference metadata" in c and "site" in c for c in result.caveats)
    assert any(c.startswith("seed: an identifier") for c in result.caveats)


def test_counts_are_per_image_not_per_file():
    # One synthetic volume of 8 slices is F, two 2-D files are M: 8 F images vs 2 M images.
    synthetic = make_set(
        "synthetic",
        {"s/vol.nii.gz": {"sex": "F"}, "s/a.png": {"sex": "M"}, "s/b.png": {"sex": "M"}},
        slices={"s/vol.nii.gz": 8},
    )
    reference = from_counts("reference", {"F": 50, "M": 50})
    m = attr(representation.run(synthetic, reference))
    assert m["synth_counts"] == [8, 2]
    assert m["synth_prop"] == pytest.approx([0.8, 0.2])
    # Without loaded images, accepted files count max(1, slices) images each.
    files_only = make_set("synthetic", synthetic.metadata, slices={"s/vol.nii.gz": 8}, with_images=False)
    result = representation.run(files_only, reference)
    assert attr(result)["synth_counts"] == [8, 2]
    assert result.inputs["unit_synthetic"] == "files"
    # With neither images nor files, each metadata row counts once.
    bare = ImageSet(role="synthetic", files=[], images=[], metadata=synthetic.metadata)
    result = representation.run(bare, reference)
    assert attr(result)["synth_counts"] == [1, 2] and result.inputs["unit_synthetic"] == "metadata rows"


def test_high_cardinality_column_is_not_a_subgroup():
    synth = {f"s/{i}.png": {"sex": "F" if i % 2 else "M", "note": f"free text {i}"} for i in range(60)}
    real = {f"r/{i}.png": {"sex": "F" if i % 2 else "M", "note": f"other {i}"} for i in range(60)}
    result = representation.run(make_set("synthetic", synth), make_set("reference", real))
    assert set(result.metrics["attributes"]) == {"sex"}
    assert any(c.startswith("note: 120 categories") for c in result.caveats)


# ---------------------------------------------------------------------------------------------
# A8: continuous age


def age_sets(real_ages, synth_ages, slices_real=None, column="age"):
    real_rows = {f"r/{i}.png": {column: str(a)} for i, a in enumerate(real_ages)}
    synth_rows = {f"s/{i}.png": {column: str(a)} for i, a in enumerate(synth_ages)}
    return make_set("synthetic", synth_rows), make_set("reference", real_rows, slices=slices_real)


def test_age_w1_and_ks_match_scipy_per_image():
    rng = np.random.default_rng(7)
    real_ages = np.round(rng.normal(50, 15, 300).clip(1, 99)).astype(int)
    synth_ages = np.round(rng.normal(58, 15, 250).clip(1, 99)).astype(int)
    slices_real = {f"r/{i}.png": 3 for i in range(0, 300, 10)}  # every tenth real file is a 3-slice volume
    synthetic, reference = age_sets(real_ages, synth_ages, slices_real)
    result = representation.run(synthetic, reference)
    m = attr(result, "age")
    real_per_image = np.repeat(real_ages, [slices_real.get(f"r/{i}.png", 1) for i in range(300)])
    assert m["kind"] == "continuous" and m["unit"] == "years"
    assert m["n_real"] == len(real_per_image) == 360
    assert m["w1"] == pytest.approx(stats.wasserstein_distance(real_per_image, synth_ages))
    ks = stats.ks_2samp(real_per_image, synth_ages)
    assert m["ks_d"] == pytest.approx(ks.statistic) and m["ks_p_value"] == pytest.approx(ks.pvalue)
    assert 5 < m["w1"] < 10 and m["status"] == "warn"
    bands = m["bands"]
    assert bands["categories"] == [b for b, _ in representation.AGE_BANDS if b in bands["categories"]]
    expected_real = [sum(representation.age_band(a) == b for a in real_per_image) for b in bands["categories"]]
    assert bands["real_counts"] == expected_real
    chart = result.charts["attributes"][0]
    assert chart["attribute"] == "age" and chart["categories"] == bands["categories"]
    assert chart["gap"] == pytest.approx(np.subtract(chart["synthetic_share"], chart["real_share"]).tolist())


def test_dicom_age_strings_are_continuous():
    synthetic, reference = age_sets(["045Y", "050Y", "006M"], ["47", "52.5", "1"], column="PatientAge")
    m = attr(representation.run(synthetic, reference), "PatientAge")
    assert m["kind"] == "continuous"
    assert m["w1"] == pytest.approx(stats.wasserstein_distance([47, 52.5, 1], [45, 50, 0.5]))


def test_age_groups_and_non_numeric_ages_are_categorical():
    synthetic, reference = age_sets(["40-59", "18-39"], ["40-59", "60-79"], column="age")
    result = representation.run(synthetic, reference)
    assert attr(result, "age")["kind"] == "categorical"
    assert any("compared as categories" in c for c in result.caveats)
    synthetic, reference = age_sets(["1", "2"], ["1", "2"], column="age_group")
    assert attr(representation.run(synthetic, reference), "age_group")["kind"] == "categorical"
    assert not representation.is_age_attribute("image_type") and not representation.is_age_attribute("stage")
    assert representation.is_age_attribute("PatientAge") and representation.is_age_attribute("age_years")


@pytest.mark.parametrize(("synth_age", "status"), [(45, "pass"), (50, "warn"), (50.5, "fail")])
def test_age_w1_thresholds(synth_age, status):
    synthetic, reference = age_sets([40] * 40, [synth_age] * 40)
    m = attr(representation.run(synthetic, reference), "age")
    assert m["w1"] == pytest.approx(synth_age - 40)
    assert m["status"] == status  # W1 exactly 5 passes, exactly 10 warns, above 10 fails


def test_missing_age_band_fails_even_with_small_w1():
    synthetic, reference = age_sets([40] * 90 + [10] * 10, [40] * 100)
    result = representation.run(synthetic, reference)
    m = attr(result, "age")
    assert m["w1"] == pytest.approx(3.0)
    assert m["bands"]["missing_in_synth"] == ["<18"]
    assert result.status == Status.FAIL
    assert any(f["reason"].startswith("<18: 10 % of real images, 0 % of synthetic") for f in result.flagged)


# ---------------------------------------------------------------------------------------------
# Thresholds


@pytest.mark.parametrize(
    ("synth_f", "tvd", "status"),
    [(451, 0.049, "pass"), (450, 0.05, "warn"), (400, 0.10, "warn"), (399, 0.101, "fail")],
)
def test_tvd_thresholds(synth_f, tvd, status):
    m = attr(run_counts({"F": 500, "M": 500}, {"F": synth_f, "M": 1000 - synth_f}))
    assert m["tvd"] == pytest.approx(tvd)
    assert m["status"] == status


@pytest.mark.parametrize(("synth_a", "status"), [(40, "pass"), (41, "warn")])
def test_log_disparity_threshold(synth_a, status):
    m = attr(run_counts({"A": 20, "B": 980}, {"A": synth_a, "B": 1000 - synth_a}))
    assert m["tvd"] < 0.05 and m["cramers_v"] <= 0.1
    assert m["status"] == status  # exactly 2x is not beyond log 2


def test_cramers_v_threshold_and_configurable_params():
    real, synth = {"A": 20, "B": 980}, {"A": 40, "B": 960}
    v = attr(run_counts(real, synth))["cramers_v"]
    assert attr(run_counts(real, synth, {"cramers_v_warn": v - 1e-6}))["status"] == "warn"
    result = run_counts({"F": 480, "M": 520}, {"F": 310, "M": 690}, {"tvd_fail": 0.2, "tvd_warn": 0.1})
    assert result.status == Status.WARN
    assert result.params["tvd_fail"] == 0.2 and result.params["min_group_n"] == 30
    assert result.thresholds["tvd"] == {"warn": 0.1, "fail": 0.2, "direction": "above"}
    with pytest.raises(ValueError, match="tvd_warn"):
        run_counts(real, synth, {"tvd_warn": 0.3})
    with pytest.raises(ValueError, match="must be a number"):
        run_counts(real, synth, {"tvd_fail": "high"})
    assert any("Unknown parameter" in c for c in run_counts(real, synth, {"tvd_fial": 0.2}).caveats)


# ---------------------------------------------------------------------------------------------
# NOT_COMPUTABLE


def test_not_computable_without_metadata():
    with_meta = from_counts("reference", {"F": 3})
    bare = make_set("synthetic", {"s/a.png": {}})
    bare.metadata = {}
    result = representation.run(bare, with_meta)
    assert result.status == Status.NOT_COMPUTABLE
    assert result.reason == "no subgroup metadata for the synthetic set"
    assert result.needed == representation.NEEDED_METADATA and "PatientSex" in result.needed
    assert result.code_version == ENGINE_VERSION and result.inputs["reference_digest"] == with_meta.digest()
    assert representation.run(from_counts("synthetic", {"F": 3}), make_set("reference", {})).reason == (
        "no subgroup metadata for the reference set"
    )
    blank_values = make_set("reference", {"r/a.png": {"sex": ""}})
    assert representation.run(bare, blank_values).reason == "no subgroup metadata for the synthetic and reference sets"


def test_not_computable_without_a_shared_attribute():
    result = representation.run(from_counts("synthetic", {"F": 3}), from_counts("reference", {"A": 3}, "site"))
    assert result.status == Status.NOT_COMPUTABLE
    assert result.reason.startswith("no subgroup attribute is shared by the two sets")
    synthetic = make_set("synthetic", {"s/a.png": {"sex": "", "site": "A"}})
    reference = make_set("reference", {"r/a.png": {"sex": "F"}})
    result = representation.run(synthetic, reference)
    assert result.status == Status.NOT_COMPUTABLE
    assert result.reason == "no shared subgroup attribute has values in both sets"


def test_not_computable_when_metadata_names_no_file():
    synthetic = from_counts("synthetic", {"F": 3})
    synthetic.metadata = {"elsewhere/x.png": {"sex": "F"}}
    result = representation.run(synthetic, from_counts("reference", {"F": 3}))
    assert result.status == Status.NOT_COMPUTABLE
    assert "names none of its files" in result.reason


# ---------------------------------------------------------------------------------------------
# A9: per-subgroup gaps


def gap_sets():
    """Synthetic: 20 F volumes of 2 slices (40 images), 80 M volumes (160), 10 O files; real alike."""
    synth_rows = {f"s/f{i}.nii": {"sex": "F"} for i in range(20)}
    synth_rows |= {f"s/m{i}.nii": {"sex": "M"} for i in range(80)}
    synth_rows |= {f"s/o{i}.png": {"sex": "O"} for i in range(10)}
    slices = {name: 2 for name in synth_rows if name.endswith(".nii")}
    synthetic = make_set("synthetic", synth_rows, slices=slices)
    reference = from_counts("reference", {"F": 40, "M": 160, "O": 10})
    return synthetic, reference


def test_copy_rate_gap_warns_for_the_worst_group():
    synthetic, reference = gap_sets()
    labels = [image.label for image in synthetic.images]
    assert "s/f0.nii#1" in labels and "s/f0.nii" in labels
    copies = {f"s/f{i}.nii#1" for i in range(8)} | {"s/m0.nii", "s/m1.nii#1"}  # F 8/40, M 2/160, O 0/10
    per_image = {"copy": {label: label in copies for label in labels}}
    result = representation.run(synthetic, reference, per_image=per_image)
    assert attr(result)["status"] == "pass"
    assert result.status == Status.WARN
    gaps = result.metrics["subgroup_gaps"]["sex"]
    assert gaps["overall_copy_rate"] == pytest.approx(10 / 210)
    groups = {g["category"]: g for g in gaps["per_group"]}
    assert groups["F"]["n"] == 40 and groups["F"]["n_copies"] == 8 and groups["F"]["copy_rate"] == pytest.approx(0.2)
    assert groups["M"]["copy_rate"] == pytest.approx(2 / 160)
    assert groups["O"]["copy_rate"] == 0 and groups["O"]["sufficient_n"] is False
    assert groups["O"]["p_value"] is None and gaps["groups_insufficient_n"] == ["O"]
    assert gaps["worst_group"] == "F" and gaps["groups_copied_more"] == ["F"]
    assert gaps["copy_rate_gap"] == pytest.approx(0.2 - 10 / 210)
    assert gaps["copy_rate_ratio"] == pytest.approx(0.2 / (10 / 210))
    # F against the other 170 images with a verdict (2 copies): one-sided Fisher, x 2 groups tested.
    fisher = stats.fisher_exact([[8, 32], [2, 168]], alternative="greater").pvalue
    assert groups["F"]["p_value"] == pytest.approx(fisher)
    assert groups["F"]["p_value_adjusted"] == pytest.approx(min(1.0, 2 * fisher))
    assert groups["F"]["rate_ratio"] == pytest.approx(0.2 / (2 / 170))
    flag = next(f for f in result.flagged if f["kind"] == "subgroup_metric")
    assert flag["category"] == "F"
    assert flag["reason"] == f"copy rate 20 % in F (8 of 40) vs 4.8 % overall, Fisher p = {2 * fisher:.2g} (corrected)"
    rows = {row["category"]: row for row in result.charts["subgroup_metrics"]}
    assert rows["F"]["n"] == 40 and rows["F"]["copy_rate"] == pytest.approx(0.2) and rows["F"]["judged"] == "yes"
    assert (
        rows["F"]["p_value_corrected"] == pytest.approx(2 * fisher)
        and flag["p_value_corrected"] == rows["F"]["p_value_corrected"]
    )
    assert rows["O"]["n"] == 10 and rows["O"]["judged"] == "too small to judge"


def test_copy_rate_gap_below_two_times_overall_passes():
    synthetic, reference = gap_sets()
    labels = [image.label for image in synthetic.images]
    copies = {f"s/f{i}.nii" for i in range(2)} | {f"s/m{i}.nii" for i in range(6)}  # F 5 %, M 3.75 %
    result = representation.run(synthetic, reference, per_image={"copy": {lb: lb in copies for lb in labels}})
    assert result.metrics["subgroup_gaps"]["sex"]["status"] == "pass"
    assert result.status == Status.PASS


def test_coverage_gap_warns():
    synthetic, reference = gap_sets()
    per_image = {"coverage": {"Sex": {"F": 0.9, "M": 0.65, "O": 0.1}}}
    result = representation.run(synthetic, reference, per_image=per_image)
    gaps = result.metrics["subgroup_gaps"]["sex"]
    assert gaps["coverage_gap"] == pytest.approx(0.25)
    assert gaps["coverage_worst_group"] == "M" and gaps["groups_insufficient_n"] == ["O"]
    assert gaps["status"] == "warn" and result.status == Status.WARN
    per_image = {"coverage": {"sex": {"F": 0.9, "M": 0.75}}}
    assert representation.run(synthetic, reference, per_image=per_image).status == Status.PASS


# ---------------------------------------------------------------------------------------------
# Envelope


def test_result_is_json_safe_and_fully_described():
    synthetic, reference = gap_sets()
    per_image = {"copy": {image.label: False for image in synthetic.images}, "coverage": {"sex": {"F": 1.0}}}
    result = representation.run(synthetic, reference, per_image=per_image)
    data = json.loads(json.dumps(result.as_dict()))
    assert data["audit"] == "representation" and data["code_version"] == ENGINE_VERSION
    assert data["inputs"]["n_synthetic_images"] == 210 and data["inputs"]["synthetic_digest"] == synthetic.digest()
    assert data["params"]["log_disparity_warn"] == pytest.approx(math.log(2))
    assert set(data["timings"]) >= {"total", "attributes"}
    assert set(data["charts"]) == {"attributes", "subgroup_metrics"}
    assert set(data["charts"]["attributes"][0]) >= {
        "attribute",
        "categories",
        "real_share",
        "synthetic_share",
        "gap",
        "status",
    }
    assert "Per-subgroup" not in " ".join(data["caveats"])
    no_gaps = representation.run(synthetic, reference)
    assert no_gaps.metrics["subgroup_gaps"] is None
    assert any("Per-subgroup copy rates" in c for c in no_gaps.caveats)


def test_metadata_keyed_by_base_name_is_matched():
    synthetic = make_set("synthetic", {"batch1/s/a.png": {"sex": "F"}, "batch1/s/b.png": {"sex": "M"}})
    synthetic.metadata = {"a.png": {"sex": "F"}, "./batch1/s/b.png": {"sex": "M"}}
    result = representation.run(synthetic, from_counts("reference", {"F": 1, "M": 1}))
    assert attr(result)["synth_counts"] == [1, 1]
    assert not any("no metadata row" in c for c in result.caveats)


def test_not_computable_when_only_identifiers_are_shared():
    synthetic = make_set("synthetic", {"s/a.png": {"PatientID": "1"}})
    reference = make_set("reference", {"r/a.png": {"PatientID": "2"}})
    result = representation.run(synthetic, reference)
    assert result.status == Status.NOT_COMPUTABLE
    assert result.reason.startswith("no shared column is a subgroup attribute")


def test_flagged_list_is_capped_but_counted():
    real = {f"c{i:02d}": 10 for i in range(60)}
    result = run_counts(real, {"c00": 100}, {"max_categories": 100})
    assert result.status == Status.FAIL
    # The attribute, c00 over-represented 60x, and 59 categories absent from synthetic.
    assert result.metrics["n_flagged_total"] == 61
    assert len(result.flagged) == FLAGGED_LIMIT
    assert any(c.startswith("61 flagged items") for c in result.caveats)
    reasons = {f["category"]: f["reason"] for f in result.flagged}
    assert reasons["c00"] == "c00: 1.7 % of real images, 100 % of synthetic (over-represented 60x)"
    assert reasons["c01"] == "c01: 1.7 % of real images, 0 % of synthetic (absent from synthetic)"
