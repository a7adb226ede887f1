"""Fidelity parameters: the defaults, which of them a person may set (THRESHOLDS), and their checks."""

from __future__ import annotations

from typing import Any

import numpy as np

from audits.engine.schema import Setting, check_thresholds

# Rule thresholds; None switches a rule off.
THRESHOLD_DEFAULTS: dict[str, float | None] = {
    "w1_ratio_warn": 3.0,
    "w1_ratio_fail": 10.0,
    "w1_significance": 0.01,  # the W1 ratio rule applies only while the permutation p-value is below this
    "hu_w1_warn": 20.0,  # HU only: W1 above the real-vs-real baseline, in HU (AUDITS.md A6)
    "hu_w1_fail": 50.0,
    "fd_ratio_warn": 5.0,
    "fd_ratio_fail": 20.0,
    "fd_warn_min": 5.0,  # fd_ratio warns only while fd itself is above this
    "coverage_warn": 0.8,
    "coverage_fail": 0.5,
    "precision_warn": 0.7,
    "precision_fail": None,
}
# How intensities are compared, and the fixed window of quantitative values (None: see intensity.py).
SCALE_DEFAULTS: dict[str, Any] = {
    "intensity_scale": "auto",
    "window_low": None,
    "window_width": None,
}
INT_DEFAULTS: dict[str, int] = {
    "seed": 0,
    "n_bootstrap": 50,
    "k": 5,
    "prdc_max_per_side": 5000,
    "kid_subset_size": 1000,
    "kid_n_subsets": 100,
    "ks_max_pixels": 200_000,
    "projection_max_points": 2000,
    "n_permutations": 200,  # relabellings (p-value) and reference splits (HU rule) for W1's null
}
FLOAT_DEFAULTS: dict[str, float] = {
    "foreground_threshold": 0.1,  # a pixel above this (on the [0, 1] scale or window) is foreground
    "fd_eps": 1e-6,  # added to the covariance diagonals when sqrtm needs it
}
DEFAULTS: dict[str, Any] = {**INT_DEFAULTS, **FLOAT_DEFAULTS, **THRESHOLD_DEFAULTS, **SCALE_DEFAULTS}

INTENSITY_SCALES = (
    ("auto", "From the files: CT in HU and PET in SUV or Bq/ml are quantitative, everything else relative"),
    ("hu", "Quantitative, in Hounsfield units (CT stored as NIfTI or PNG, say)"),
    ("quantitative", "Quantitative, in another fixed unit (PET SUV, parametric maps)"),
    ("relative", "Relative: each image scaled by its own percentiles"),
)


def _ratio(label: str, help_text: str) -> Setting:
    return Setting(label, "float", low=1.0, high=1000.0, help=help_text, unit="x baseline", allow_none=True)


def _share(label: str, help_text: str) -> Setting:
    return Setting(label, "float", low=0.0, high=1.0, help=help_text, allow_none=True)


THRESHOLDS: dict[str, Setting] = {
    "intensity_scale": Setting(
        "Intensity scale",
        "choice",
        choices=INTENSITY_SCALES,
        help="Quantitative compares absolute values in a fixed window, so a brightness or calibration change "
        "is seen; relative compares each image after scaling it by its own percentiles.",
    ),
    "window_low": Setting(
        "Quantitative window, lowest value",
        "float",
        low=-1e9,
        high=1e9,
        help="Values below it count as it. Empty: -1024 for HU, else the 0.1st percentile of both sets.",
        unit="in the image unit",
        allow_none=True,
    ),
    "window_width": Setting(
        "Quantitative window, width",
        "float",
        low=1e-6,
        high=1e9,
        help="The window runs from its lowest value over this width. Empty: 4096 for HU, else up to the "
        "99.9th percentile of both sets.",
        unit="in the image unit",
        allow_none=True,
    ),
    "w1_ratio_warn": _ratio("Intensity W1 ratio, warn above", "How many times the real-vs-real W1 warns."),
    "w1_ratio_fail": _ratio("Intensity W1 ratio, fail above", "How many times the real-vs-real W1 fails."),
    "w1_significance": Setting(
        "Intensity W1 ratio, only when beyond chance at",
        "float",
        low=0.001,
        high=1.0,
        help="The W1 ratio rules apply only when a shift this large would arise by chance (images of both sets "
        "relabelled at random) less often than this. Empty: always apply them.",
        unit="p-value",
        allow_none=True,
    ),
    "hu_w1_warn": Setting(
        "HU shift, warn above",
        "float",
        low=1.0,
        high=1000.0,
        help="CT in HU only: warn when the intensity W1 exceeds the real-vs-real one by more than this.",
        unit="HU",
        allow_none=True,
    ),
    "hu_w1_fail": Setting(
        "HU shift, fail above",
        "float",
        low=1.0,
        high=1000.0,
        help="CT in HU only: fail when the intensity W1 exceeds the real-vs-real one by more than this.",
        unit="HU",
        allow_none=True,
    ),
    "fd_ratio_warn": _ratio("Feature distance ratio, warn above", "How many times the real-vs-real FD warns."),
    "fd_ratio_fail": _ratio("Feature distance ratio, fail above", "How many times the real-vs-real FD fails."),
    "fd_warn_min": Setting(
        "Feature distance, warn only above",
        "float",
        low=0.0,
        high=1e6,
        help="The FD-ratio warning also needs the FD itself above this, so tiny distances never warn.",
        allow_none=True,
    ),
    "coverage_warn": _share("Coverage, warn below", "Share of real images with a synthetic neighbour."),
    "coverage_fail": _share("Coverage, fail below", "Share of real images with a synthetic neighbour."),
    "precision_warn": _share("Precision, warn below", "Share of synthetic images inside the real cloud."),
    "precision_fail": _share("Precision, fail below", "Share of synthetic images inside the real cloud."),
}

METRIC_LABELS: dict[str, str] = {
    "units": "unit of the intensity comparison (HU, SUV, ... or relative)",
    "intensity_scale": "how intensities were compared (quantitative or relative)",
    "window_low": "lowest value of the quantitative window",
    "window_high": "highest value of the quantitative window",
    "w1_hist": "shift between the pixel-intensity distributions (Wasserstein-1)",
    "w1_baseline_split": "the same shift between two halves of the real set",
    "w1_ratio": "intensity shift relative to the real-versus-real shift",
    "w1_excess": "intensity shift beyond what chance gives between real images, in the image unit",
    "w1_null_q95": "intensity shift two real samples of these sizes show 1 time in 20",
    "w1_null_p_value": "chance of an intensity shift this large if both sets were alike",
    "ks_D": "largest gap between the pixel-intensity distributions (KS D)",
    "ks_D_baseline": "the same gap between two halves of the real set",
    "per_image_mean_ks_D": "gap between the images' mean brightness (KS D)",
    "per_image_std_ks_D": "gap between the images' contrast (KS D of standard deviations)",
    "foreground_frac_ks_D": "gap between the images' foreground shares (KS D)",
    "fd": "distance between image-feature distributions (Fréchet, handcrafted features, not FID)",
    "fd_baseline_split": "the same distance between two halves of the real set",
    "fd_ratio": "feature distance relative to the real-versus-real distance",
    "kid_mean": "kernel distance between image-feature distributions (KID)",
    "precision": "share of synthetic images that look like some real image",
    "recall": "share of real images that some synthetic image resembles",
    "density": "how densely synthetic images crowd around real ones",
    "coverage": "share of real images with a synthetic image close by",
    "n_synthetic_outside_reference": "synthetic images unlike any real image",
    "n_dropped_blank": "blank images left out",
}


# (metric, direction) of each warn/fail pair: "above" rules fail above, "below" rules below.
ORDERED_PAIRS = (
    ("w1_ratio", "above"),
    ("hu_w1", "above"),
    ("fd_ratio", "above"),
    ("coverage", "below"),
    ("precision", "below"),
)


def resolve_params(params: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults overlaid with `params`; an unknown name or a malformed value is an error.

    The settable parameters are checked by their `THRESHOLDS` Setting (the form's own check),
    the compute settings here.
    """
    params = dict(params or {})
    unknown = sorted(set(params) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown fidelity parameter(s) {unknown}; known: {sorted(DEFAULTS)}")
    resolved = {**DEFAULTS, **check_thresholds("fidelity", THRESHOLDS, params)}
    for name, value in params.items():
        if name in THRESHOLDS:
            continue
        if name in INT_DEFAULTS:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"fidelity parameter {name} must be a non-negative integer, got {value!r}")
        elif isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
            raise ValueError(f"fidelity parameter {name} must be a finite number, got {value!r}")
    # A warn bound beyond its fail bound would never warn: every value past the fail bound fails first.
    for metric, direction in ORDERED_PAIRS:
        warn, fail = resolved[f"{metric}_warn"], resolved[f"{metric}_fail"]
        if warn is not None and fail is not None and (warn > fail if direction == "above" else warn < fail):
            relation = "above" if direction == "above" else "below"
            raise ValueError(
                f"fidelity: {THRESHOLDS[metric + '_warn'].label} ({metric}_warn, {warn:g}) must not be {relation} "
                f"{THRESHOLDS[metric + '_fail'].label} ({metric}_fail, {fail:g})"
            )
    for name in ("k", "kid_subset_size"):
        if resolved[name] < 1:
            raise ValueError(f"fidelity parameter {name} must be at least 1")
    if resolved["prdc_max_per_side"] < 2 or resolved["kid_subset_size"] < 2:
        raise ValueError("prdc_max_per_side and kid_subset_size must be at least 2")
    return resolved
