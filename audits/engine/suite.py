"""The whole suite over loaded sets: the one entry point for tasks, the command line and benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from audits.engine import ENGINE_VERSION
from audits.engine.types import AuditResult, ImageSet, not_computable

AUDITS = ("disclosure", "privacy", "memorization", "fidelity", "representation", "manifest")

_NEEDS_SYNTHETIC = "a synthetic image set (DICOM, NIfTI or PNG files, or an archive of them)"
_NEEDS_REFERENCE = "a reference set of the real training images"


def _missing(audit: str, what: str, needed: str) -> AuditResult:
    return not_computable(audit, f"no {what} was uploaded", needed, code_version=ENGINE_VERSION)


def run_suite(
    *,
    synthetic: ImageSet | None,
    reference: ImageSet | None,
    holdout: ImageSet | None = None,
    manifest: list[dict[str, Any]] | None = None,
    params: dict[str, dict[str, Any]] | None = None,
    features: tuple[np.ndarray, np.ndarray] | None = None,
    progress: Callable[[str, int], None] | None = None,
    memorization_scores: dict[str, Any] | None = None,
    fidelity_summaries: tuple[dict[str, np.ndarray], dict[str, np.ndarray]] | None = None,
    fidelity_images: Callable[[], tuple[ImageSet, ImageSet]] | None = None,
) -> dict[str, AuditResult]:
    """Run every audit that its inputs allow; the others say why not and what they need.

    `params` maps an audit name to its parameters (thresholds); `features` are the
    rad-lite feature matrices of the usable synthetic and reference images when chunk
    tasks computed them already; `memorization_scores` are the memorization audit's per-image
    scores when chunk tasks searched for copies (`memorization.run_scored`; its pixels are then
    not read); `fidelity_summaries` are the fidelity audit's per-image summaries from the chunk
    tasks (`fidelity.chunk_summary`), and `fidelity_images` gives the two sets with their pixels
    for the one case summaries cannot decide (`fidelity.SummaryWindowError`).
    """
    from audits.engine import disclosure, privacy, representation
    from audits.engine import manifest as manifest_audit

    params = params or {}
    results: dict[str, AuditResult] = {}

    def step(name: str, call: Callable[[], AuditResult]) -> None:
        if progress is not None:
            progress(name, AUDITS.index(name))
        started = time.perf_counter()
        result = call()
        result.timings.setdefault("total", round(time.perf_counter() - started, 4))
        results[name] = result

    if synthetic is None:
        for name in AUDITS:
            results[name] = _missing(name, "synthetic set", _NEEDS_SYNTHETIC)
        return results
    step("disclosure", lambda: disclosure.run(synthetic, params.get("disclosure"), reference=reference))
    step("manifest", lambda: manifest_audit.run(synthetic, manifest, params.get("manifest")))
    if reference is None:
        for name in ("privacy", "memorization", "fidelity", "representation"):
            results[name] = _missing(name, "reference set", _NEEDS_REFERENCE)
    else:
        step("privacy", lambda: privacy.run(synthetic, reference, params.get("privacy"), holdout=holdout))
        step("memorization", lambda: _memorization(synthetic, reference, holdout, params, memorization_scores))
        step(
            "fidelity",
            lambda: _fidelity(
                synthetic, reference, params.get("fidelity"), features, fidelity_summaries, fidelity_images
            ),
        )
        per_image = _copy_flags(results["memorization"])
        step(
            "representation",
            lambda: representation.run(synthetic, reference, params.get("representation"), per_image=per_image),
        )
    return {name: results[name] for name in AUDITS}


def _fidelity(
    synthetic: ImageSet,
    reference: ImageSet,
    params: dict[str, Any] | None,
    features: tuple[np.ndarray, np.ndarray] | None,
    summaries: tuple[dict[str, np.ndarray], dict[str, np.ndarray]] | None,
    images: Callable[[], tuple[ImageSet, ImageSet]] | None,
) -> AuditResult:
    from audits.engine import fidelity

    if summaries is not None and features is not None:
        try:
            return fidelity.run(synthetic, reference, params, features=features, summaries=summaries)
        except fidelity.SummaryWindowError:
            if images is None:
                raise
            synthetic, reference = images()  # a window only the data decide: on the pixels
    return fidelity.run(synthetic, reference, params, features=features)


def _memorization(
    synthetic: ImageSet,
    reference: ImageSet,
    holdout: ImageSet | None,
    params: dict[str, dict[str, Any]],
    scores: dict[str, Any] | None,
) -> AuditResult:
    from audits.engine import memorization

    if scores is None:
        return memorization.run(synthetic, reference, holdout, params.get("memorization"))
    return memorization.run_scored(synthetic, reference, holdout, params.get("memorization"), scores)


def _copy_flags(memorization_result: AuditResult) -> dict[str, Any] | None:
    rows = memorization_result.charts.get("per_image")
    if not rows:
        return None
    return {"copy": {row["label"]: bool(row["copy"]) for row in rows}}
