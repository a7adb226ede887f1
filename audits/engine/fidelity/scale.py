"""Which intensity scale the comparison uses: relative (per-image percentiles) or quantitative (a fixed window).

Relative: each image's `pixels`, clipped to its own 0.5th-99.5th percentiles and scaled to
[0, 1] by the preprocessing. Robust to scanners and protocols that differ only in gain,
and blind, by construction, to any global brightness or calibration change.

Quantitative: each image's `native` values (the file's own units, HU for CT) mapped through
one fixed window [low, low + width] to [0, 1], the same for every image of both sets, so an
offset or gain shows up in the intensity measures. The window is, unless the researcher
sets it: for HU, -1024 to 3072 (air to the top of 12-bit CT; padding below -1024 counts as
air, metal above 3072 as 3072); for any other unit, the 0.1st to 99.9th percentile of a
seeded sample of both sets' pooled values, so both sets are compared over the whole range
either of them occupies.

The setting `intensity_scale` decides: "relative"; "hu" or "quantitative" (the researcher
declares the unit: HU, or another fixed unit); or "auto", which is quantitative only when
every compared image of both sets carries the same unit from its file (DICOM CT: HU; PET
with Units GML: SUV, BQML: Bq/ml; a NIfTI whose BIDS sidecar says Modality CT: HU, or
gives PET Units Bq/mL) and relative otherwise, saying so when the sets disagree. A NIfTI or
PNG without such a sidecar has no unit: the researcher declares it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audits.engine.fidelity.params import resolve_params
from audits.engine.types import FileRecord, Image

HU_WINDOW = (-1024.0, 4096.0)  # (low, width)
WINDOW_PERCENTILES = (0.1, 99.9)
RELATIVE = "relative"
DECLARED_UNIT = "native units"  # quantitative in a unit the files do not name


@dataclass(frozen=True)
class IntensityScale:
    quantitative: bool
    unit: str  # "HU", "SUV", "Bq/ml", DECLARED_UNIT, or RELATIVE
    low: float = 0.0
    width: float = 1.0

    def on_window(self, image: Image) -> np.ndarray:
        """The image on [0, 1]: its relative pixels, or its native values through the window."""
        if not self.quantitative or image.native is None:
            return image.pixels
        return np.clip((image.native - np.float32(self.low)) / np.float32(self.width), 0.0, 1.0).astype(np.float32)

    def to_unit(self, position: np.ndarray | float) -> np.ndarray | float:
        """A position on [0, 1] as a value in the unit (the identity for relative)."""
        return self.low + np.asarray(position) * self.width if self.quantitative else position


def sidecar_units(files: list[FileRecord]) -> dict[str, str]:
    """File name -> the unit its BIDS JSON sidecar declares (NIfTI has no unit of its own)."""
    units = {}
    for record in files:
        sidecar = record.header.get("sidecar") if isinstance(record.header, dict) else None
        if not isinstance(sidecar, dict):
            continue
        modality = str(sidecar.get("Modality", "")).strip().upper()
        declared = str(sidecar.get("Units", "")).strip().lower()
        if modality == "CT":
            units[record.name] = "HU"
        elif declared in ("bq/ml", "bqml"):
            units[record.name] = "Bq/ml"
        elif declared in ("suv", "g/ml", "gml"):
            units[record.name] = "SUV"
    return units


def _units(units: list[str]) -> set[str]:
    return set(units)


def effective_units(summary: dict[str, np.ndarray], file_units: dict[str, str]) -> list[str]:
    """Each image's unit: its reader's, or else its file's sidecar's (NIfTI has no unit of its own)."""
    return [
        str(unit) or file_units.get(str(name), "")
        for unit, name in zip(summary["units"], summary["files"], strict=True)
    ]


def _describe(units: set[str]) -> str:
    named = sorted(unit for unit in units if unit)
    if not named:
        return "no declared unit"
    return " and ".join(named) + (" mixed with images of no declared unit" if "" in units else "")


def choose_scale(
    syn: list[Image],
    ref: list[Image],
    p: dict,
    rng: np.random.Generator,
    file_units: dict[str, str] | None = None,
) -> tuple[IntensityScale, list[str]]:
    """The scale the setting and the files call for, and the caveats that explain a fallback.

    `file_units` (file name -> unit, from `sidecar_units`) names the unit of images whose own
    reader gave none.
    """
    from audits.engine.fidelity.summary import chunk_summary

    p = resolve_params(p)
    return choose_scale_from(chunk_summary(syn, p), chunk_summary(ref, p), p, rng, file_units)


def choose_scale_from(
    syn: dict[str, np.ndarray],
    ref: dict[str, np.ndarray],
    p: dict,
    rng: np.random.Generator,
    file_units: dict[str, str] | None = None,
) -> tuple[IntensityScale, list[str]]:
    """`choose_scale` on the two sets' summaries (`summary.chunk_summary`)."""
    file_units = file_units or {}
    setting = p["intensity_scale"]
    if setting == "relative":
        return IntensityScale(False, RELATIVE), []
    missing = int((~syn["has_native"]).sum() + (~ref["has_native"]).sum())
    syn_units, ref_units = set(effective_units(syn, file_units)), set(effective_units(ref, file_units))
    units = syn_units | ref_units
    caveats: list[str] = []
    if setting == "auto":
        if len(units) != 1 or "" in units:
            if units - {""}:
                caveats.append(
                    f"Intensities were compared on the relative scale: the synthetic images have "
                    f"{_describe(syn_units)}, the reference images {_describe(ref_units)}. "
                    "If both hold "
                    "values in the same fixed unit, set the intensity scale to quantitative (or HU)."
                )
            return IntensityScale(False, RELATIVE), caveats
        unit = next(iter(units))
    elif setting == "hu":
        unit = "HU"
        if units - {"", "HU"}:
            caveats.append(f"The intensity scale was set to HU, though the files declare {_describe(units)}.")
    else:
        unit = next(iter(units)) if len(units) == 1 and "" not in units else DECLARED_UNIT
    if missing:
        caveats.append(
            f"Intensities were compared on the relative scale: the absolute values of {missing} images were "
            "not kept (results read before they were), so a quantitative comparison was not possible."
        )
        return IntensityScale(False, RELATIVE), caveats
    low, width = _window(syn, ref, unit, p, rng)
    if not (np.isfinite(low) and np.isfinite(width) and width > 0):
        caveats.append(
            "Intensities were compared on the relative scale: the quantitative window is empty "
            "(both sets hold almost one value); set its lowest value and width."
        )
        return IntensityScale(False, RELATIVE), caveats
    return IntensityScale(True, unit, float(low), float(width)), caveats


def _window(
    syn: dict[str, np.ndarray], ref: dict[str, np.ndarray], unit: str, p: dict, rng: np.random.Generator
) -> tuple[float, float]:
    from audits.engine.fidelity.summary import capped_sample

    if unit == "HU":
        low, high = HU_WINDOW[0], HU_WINDOW[0] + HU_WINDOW[1]
    else:
        # Each set sampled alike, so a large set does not set the window alone.
        n = max(int(p["ks_max_pixels"]), 1)
        sample = np.concatenate([capped_sample(side, "native_sample", n, rng) for side in (syn, ref)])
        low, high = (float(v) for v in np.percentile(sample, WINDOW_PERCENTILES))
        if high <= low:
            low, high = float(sample.min()), float(sample.max())
    if p["window_low"] is not None:
        low = float(p["window_low"])
    width = float(p["window_width"]) if p["window_width"] is not None else high - low
    return low, width
