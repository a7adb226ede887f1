"""Every audit declares what a person may set (THRESHOLDS) and what its metrics are called
(METRIC_LABELS), and the declarations hold against the engine itself.

The label test runs the whole suite once over small real image sets (nibabel's EPI series,
pydicom's CT and MR, each turned a few degrees with fresh noise for the synthetic set) with
metadata and a manifest, so every audit computes and emits its metrics.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pytest
from scipy.ndimage import rotate

from audits.engine.inputs import metadata_from_headers, parse_manifest
from audits.engine.preprocess import Preprocessing
from audits.engine.readers import read_folder
from audits.engine.schema import Setting
from audits.engine.suite import AUDITS, run_suite
from audits.engine.types import AuditResult
from audits.thresholds import usable_thresholds
from tests.audits.images import dicom_pixels, example4d, to_uint16, write_dicom, write_png


def _module(audit: str) -> Any:
    return importlib.import_module(f"audits.engine.{audit}")


def _defaults(audit: str) -> dict[str, Any]:
    module = _module(audit)
    return dict(getattr(module, "DEFAULTS", None) or getattr(module, "DEFAULT_PARAMS", None) or {})


@pytest.mark.parametrize("audit", AUDITS)
def test_each_threshold_is_a_parameter_of_the_audit_and_accepts_its_own_default(audit):
    module = _module(audit)
    thresholds = getattr(module, "THRESHOLDS", None)
    assert isinstance(thresholds, dict), f"audits.engine.{audit} declares no THRESHOLDS"
    defaults = _defaults(audit)
    for name, setting in thresholds.items():
        assert isinstance(setting, Setting), f"{audit}.{name} is not a schema.Setting"
        assert name in defaults, f"{audit}.{name} is declared a threshold but is not a parameter of the audit"
        assert setting.label.strip(), f"{audit}.{name} has no label"
        setting.check(name, defaults[name])  # the default itself is a valid value
        if setting.kind == "choice":
            assert setting.choices, f"{audit}.{name} is a choice without choices"
        if setting.low is not None and setting.high is not None:
            assert setting.low <= setting.high, f"{audit}.{name}: bounds the wrong way round"


@pytest.mark.parametrize("audit", AUDITS)
def test_each_audit_names_its_metrics_in_words(audit):
    labels = getattr(_module(audit), "METRIC_LABELS", None)
    assert isinstance(labels, dict) and labels, f"audits.engine.{audit} declares no METRIC_LABELS"
    for code, words in labels.items():
        assert isinstance(code, str) and isinstance(words, str) and words.strip() and words != code


# ------------------------------------------------------------------ one real suite run


def _epi(index: int) -> np.ndarray:
    return np.asarray(example4d()[:, :, index, 0], dtype=np.float64)


def _new_pose(pixels: np.ndarray, angle: float, seed: int) -> np.ndarray:
    turned = rotate(pixels.astype(np.float64), angle, reshape=False, order=1)
    noise = np.random.default_rng(seed).normal(0.0, 0.02 * float(np.percentile(pixels, 99.5)), pixels.shape)
    return np.clip(turned + noise * (turned > 0), 0, None)


def _metadata(names: list[str]) -> dict[str, dict[str, str]]:
    sexes, ages = ("F", "M"), ("34", "51", "67")
    return {name: {"sex": sexes[i % 2], "age": ages[i % 3]} for i, name in enumerate(sorted(names))}


@pytest.fixture(scope="module")
def suite_results(tmp_path_factory) -> dict[str, AuditResult]:
    root = tmp_path_factory.mktemp("declared")
    reference, holdout, synthetic = (root / name for name in ("reference", "holdout", "synthetic"))
    write_dicom(reference / "real_ct.dcm", "CT_small.dcm", synthetic=None, equipment=False, fresh_uids=False)
    write_dicom(reference / "real_mr.dcm", "MR_small.dcm", synthetic=None, equipment=False, fresh_uids=False)
    for index in range(0, 24, 2):
        write_png(reference / f"epi_{index:02d}.png", to_uint16(_epi(index)), label=None)
    for index in (1, 5, 9, 13, 17, 21):
        write_png(holdout / f"epi_{index:02d}.png", to_uint16(_epi(index)), label=None)
    write_dicom(synthetic / "synth_ct.dcm", "CT_small.dcm", pixels=_new_pose(dicom_pixels("CT_small.dcm"), 5.0, 1))
    write_dicom(synthetic / "synth_mr.dcm", "MR_small.dcm", equipment=False)  # YES without the equipment
    for position, index in enumerate((3, 7, 11, 15, 19, 23)):
        pixels = _new_pose(_epi(index), 4.0 if position % 2 else -4.0, seed=10 + position)
        write_png(synthetic / f"synth_epi_{index:02d}.png", to_uint16(pixels), label=None if position == 0 else "xmp")
    write_png(synthetic / "copy_epi_08.png", to_uint16(_epi(8)))  # a real training slice, copied
    params = Preprocessing()
    sets = {role: read_folder(path, role, params) for role, path in (("reference", reference), ("holdout", holdout))}
    sets["synthetic"] = read_folder(synthetic, "synthetic", params)
    for engine_set in sets.values():
        engine_set.metadata = _metadata([record.name for record in engine_set.files])
        engine_set.metadata = metadata_from_headers(engine_set)
    names = [record.name for record in sets["synthetic"].files]
    manifest_text = "file,generator,version,seed\n" + "".join(
        f"{name},test-gan,1.0,{seed}\n" for seed, name in enumerate(names[:-1])
    )
    # Stored values of an older row: compute settings and values out of bounds are set aside,
    # so the run gets only valid thresholds and does not fail.
    stored = {
        "memorization": {"block": 7, "seed": 3},
        "fidelity": {"n_bootstrap": 1},
        "disclosure": {"pass_fraction": 7},
    }
    thresholds, set_aside = usable_thresholds(stored)
    assert {item.code for item in set_aside} >= {"memorization.block", "disclosure.pass_fraction"}
    return run_suite(
        synthetic=sets["synthetic"],
        reference=sets["reference"],
        holdout=sets["holdout"],
        manifest=parse_manifest(manifest_text, "manifest.csv"),
        params=thresholds,
    )


@pytest.mark.parametrize("audit", AUDITS)
def test_every_metric_an_audit_emits_has_words(suite_results, audit):
    result = suite_results[audit]
    assert result.status != "not_computable", f"{audit} did not compute: {result.summary}"
    assert result.metrics, f"{audit} emitted no metric"
    labels = getattr(_module(audit), "METRIC_LABELS", None) or {}
    unnamed = sorted(set(result.metrics) - set(labels))
    assert not unnamed, f"{audit} emits metrics without METRIC_LABELS words: {unnamed}"
    unnamed_rules = sorted(set(result.thresholds) - set(labels))
    assert not unnamed_rules, f"{audit} has threshold rules on metrics without words: {unnamed_rules}"


def test_a_set_with_a_stored_compute_setting_runs_with_the_engines_own_value(suite_results):
    params = suite_results["disclosure"].params
    assert params["pass_fraction"] == 1.0  # the stored 7 was set aside
    memorization = suite_results["memorization"].params
    if "block" in memorization:
        assert memorization["block"] != 7
