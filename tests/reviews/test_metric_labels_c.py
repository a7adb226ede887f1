"""Every metric and threshold a reviewer can meet has plain words (audits.metric_labels).

The codes come from a real suite run (the fixture of tests/audits/engine/test_declarations.py)
as the pages show them: every row of "Figures and thresholds" (charts.metric_rows, nested
figures flattened), every scalar metric of the round diff (the numbers run_metrics keeps), and
every threshold of the thresholds page. A metric added to the engine without words here fails.
"""

from __future__ import annotations

import importlib

import pytest
from django.template import Context, Template

from audits import metric_labels
from audits.charts.tables import metric_rows
from audits.engine.suite import AUDITS
from audits.thresholds import readable
from tests.audits.engine.test_declarations import suite_results  # noqa: F401 (a fixture, used by name)


def _figures_codes(result: dict) -> set[str]:
    rows, nested = metric_rows(result)
    return {row.name for row in rows} | {name for name, _words, _value in nested}


def _diff_codes(result: dict) -> set[str]:
    """The metrics the round diff compares: the numbers (audits.selectors.run_metrics)."""
    return {
        name
        for name, value in result["metrics"].items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    }


def _assert_worded(audit: str, codes: set[str]) -> None:
    missing = []
    for code in sorted(codes):
        words, why = metric_labels.label(code, audit), metric_labels.explain(code, audit)
        if not metric_labels.known(code, audit) or not why.strip() or words == readable(code):
            missing.append(code)
        assert "\n" not in why, f"{audit}.{code}: the explanation is one line"
    assert not missing, f"{audit}: no plain words for {missing} (add them to audits/metric_labels.py)"


@pytest.mark.parametrize("audit", AUDITS)
def test_every_figure_of_a_real_run_has_a_label_and_an_explanation(suite_results, audit):  # noqa: F811
    result = suite_results[audit].as_dict()
    figures, diffed = _figures_codes(result), _diff_codes(result)
    assert figures and diffed, f"{audit} showed no figure"
    _assert_worded(audit, figures | diffed)


@pytest.mark.parametrize("audit", AUDITS)
def test_every_threshold_and_declared_metric_has_words(audit):
    module = importlib.import_module(f"audits.engine.{audit}")
    _assert_worded(audit, set(module.THRESHOLDS) | set(module.METRIC_LABELS))


def test_a_code_no_audit_knows_is_reported_unknown_rather_than_given_invented_words():
    assert not metric_labels.known("fidelity.brand_new_metric")
    assert metric_labels.explain("fidelity.brand_new_metric") == ""
    assert metric_labels.label("fidelity.brand_new_metric") == "Brand new metric"


def test_the_same_code_reads_as_its_own_audit_means_it():
    assert metric_labels.label("fidelity.coverage") == "Share of real images with a synthetic image close by"
    assert metric_labels.label("coverage", "manifest") == "Share of files listed in the manifest"
    assert metric_labels.label("fidelity.hu_w1_warn") == "CT intensity shift, warn above"  # no "W1"
    assert metric_labels.unit("x baseline") == "times what chance gives"
    assert metric_labels.label("representation.attributes.sex.tvd").startswith("Sex: share difference")


def test_the_template_filters_give_the_words_and_the_explanation():
    page = Template(
        "{% load metric_labels %}{{ code|metric_label:audit }} / {{ code|metric_help:audit }} / {{ full|metric_label }}"
    ).render(Context({"code": "n_exact_duplicates", "audit": "memorization", "full": "manifest.n_unlisted"}))
    assert page == (
        "Synthetic images whose pixels are identical to a training image / Synthetic images whose pixels are "
        "identical to a training image: a patient&#x27;s scan given out again. / Files missing from the manifest"
    )
