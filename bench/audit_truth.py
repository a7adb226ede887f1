"""Privacy and fidelity audits on real files over many seeds: clean samples, planted problems.

    .venv/bin/python -m bench.audit_truth [--seeds 20]

Privacy, on the real headers of pydicom's bundled DICOM files (names, IDs, dates, UIDs as
their makers wrote them). Per seed the files are split at random into a reference, a
held-out and a synthetic third:
- clean: the synthetic third as a generator would write it (SYNTHETIC as the name, a new
  ID, the generation date, new UIDs; real pixels and everything else kept): how often it fails;
- clean with realistic dates: the same with random exam dates and times of 2000-2025 instead
  of the generation date (a known limitation: a real exam date fails whatever its patient);
- planted: 10 identifiers (name, ID, birth date, study date, accession, institution,
  referring physician, a UID, OtherPatientIDs, a series time), each copied from a random real
  file into a random clean synthetic file: how many are found at fail level, naming the file.

Fidelity, on real CT (pydicom's three CT slices of three patients, in HU) and real EPI
(nibabel's example4d, relative intensities). Per seed, crops of 60 % of the side at random
positions are split at random into a reference and a "synthetic" half:
- clean: how often the split fails or warns;
- planted: the synthetic half under 1.25 x + 150 (and + 100 HU, + 200 HU): how often it fails.
"""

from __future__ import annotations

import argparse
import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.pixels import apply_modality_lut
from pydicom.uid import generate_uid

from audits.engine import fidelity, privacy
from audits.engine.preprocess import Preprocessing
from audits.engine.readers.dicom import dicom_header
from audits.engine.readers.sets import images_from_arrays
from audits.engine.types import FileRecord, ImageSet

PLANTED = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "StudyDate",
    "AccessionNumber",
    "InstitutionName",
    "ReferringPhysicianName",
    "StudyInstanceUID",
    "OtherPatientIDs",
    "SeriesTime",
)
PLACEHOLDERS = {"", "^", "ANONYMOUS", "ANONYMIZED", "UNKNOWN", "NONE", "N/A", "SYNTHETIC", "19000101", "00000000"}


def _headers() -> list[tuple[str, dict[str, Any]]]:
    folder = Path(os.path.dirname(pydicom.data.__file__)) / "test_files"
    headers = []
    for path in sorted(folder.glob("*.dcm")):
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            headers.append((path.name, dicom_header(ds)))
        except Exception:  # noqa: BLE001, S112 (a deliberately broken test file is not a header to use)
            continue
    return headers


def _set(role: str, entries: list[tuple[str, dict[str, Any]]]) -> ImageSet:
    files = [FileRecord(name=name, sha256=name, format="dicom", header=header) for name, header in entries]
    return ImageSet(role=role, files=files, images=[])


def _clean(header: dict[str, Any], rng: np.random.Generator, realistic_dates: bool) -> dict[str, Any]:
    out = {key: value for key, value in header.items() if key not in ("OtherPatientIDs", "OtherPatientNames")}
    out |= {
        "PatientName": "SYNTHETIC",
        "PatientID": f"SYN-{rng.integers(10**6):06d}",
        "PatientBirthDate": "",
        "AccessionNumber": "",
        "InstitutionName": "",
        "ReferringPhysicianName": "",
        "StudyInstanceUID": generate_uid(),
        "SeriesInstanceUID": generate_uid(),
        "SOPInstanceUID": generate_uid(),
        "FrameOfReferenceUID": generate_uid(),
        "PatientIdentityRemoved": "YES",
    }
    for part in ("Study", "Series", "Acquisition", "Content"):
        if realistic_dates:
            day = np.datetime64("2000-01-01") + int(rng.integers(0, 26 * 365))
            out[f"{part}Date"] = str(day).replace("-", "")
            out[f"{part}Time"] = f"{rng.integers(7, 19):02d}{rng.integers(60):02d}{rng.integers(60):02d}"
        else:
            out[f"{part}Date"] = "20261207"
            out[f"{part}Time"] = ""
    out.pop("AcquisitionDateTime", None)
    return out


def _usable(value: Any) -> bool:
    """A real identifier to plant: not empty, not a placeholder, not a blanked date (11111111, 19000101)."""
    text = str(value[0] if isinstance(value, list) and value else value).strip().upper()
    blank_date = len(text) == 8 and text.isdigit() and not 1901 <= int(text[:4]) <= 2199
    return bool(text) and text not in PLACEHOLDERS and not set(text) <= set("0^ .:") and not blank_date


def privacy_rates(seeds: int) -> dict[str, Any]:
    headers = _headers()
    clean_fail = clean_dates_fail = 0
    found = Counter()
    planted_total = Counter()
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(headers))
        third = len(headers) // 3
        reference = [headers[i] for i in order[:third]]
        holdout = [headers[i] for i in order[third : 2 * third]]
        sources = [headers[i] for i in order[2 * third :]]
        real = reference + holdout
        for realistic, tally in ((False, "clean"), (True, "dates")):
            synthetic = [(f"syn_{i:03d}.dcm", _clean(h, rng, realistic)) for i, (_, h) in enumerate(sources)]
            result = privacy.run(
                _set("synthetic", synthetic), _set("reference", reference), None, _set("holdout", holdout)
            )
            if result.status == "fail":
                if tally == "clean":
                    clean_fail += 1
                else:
                    clean_dates_fail += 1
        synthetic = [(f"syn_{i:03d}.dcm", _clean(h, rng, False)) for i, (_, h) in enumerate(sources)]
        planted = []
        for attribute in PLANTED:
            donors = [h for _, h in real if _usable(h.get(attribute))]
            if not donors:
                continue
            donor = donors[rng.integers(len(donors))]
            target = int(rng.integers(len(synthetic)))
            synthetic[target][1][attribute] = donor[attribute]
            planted.append((synthetic[target][0], attribute))
            planted_total[attribute] += 1
        result = privacy.run(_set("synthetic", synthetic), _set("reference", reference), None, _set("holdout", holdout))
        fails = {(f["file"], f["attribute"]) for f in result.flagged if f.get("level") == "fail"}
        for file, attribute in planted:
            found[attribute] += (file, attribute) in fails
    return {
        "real headers": len(headers),
        "clean synthetic third fails": f"{clean_fail} of {seeds}",
        "clean with realistic random dates fails": f"{clean_dates_fail} of {seeds}",
        "planted identifiers found at fail": f"{sum(found.values())} of {sum(planted_total.values())}",
        "per attribute": {a: f"{found[a]}/{planted_total[a]}" for a in planted_total},
    }


def _ct_slices() -> list[np.ndarray]:
    from pydicom.data import get_testdata_file

    slices = []
    for name in ("CT_small.dcm", "693_J2KI.dcm", "J2K_pixelrep_mismatch.dcm"):
        ds = pydicom.dcmread(get_testdata_file(name, download=False))
        hu = apply_modality_lut(ds.pixel_array, ds).astype(np.float64)
        slices.append(hu if hu.shape[0] <= 128 else hu[::2, ::2])
    return slices


def _epi_slices() -> list[np.ndarray]:
    import nibabel

    volume = np.asarray(
        nibabel.load(os.path.join(os.path.dirname(nibabel.__file__), "tests", "data", "example4d.nii.gz")).dataobj
    )
    return [volume[:, :, z, 0].astype(np.float64) for z in range(3, 21)]


def _crops(slices: list[np.ndarray], rng: np.random.Generator, count: int) -> list[np.ndarray]:
    out = []
    for _ in range(count):
        image = slices[rng.integers(len(slices))]
        h, w = image.shape
        side_h, side_w = int(0.6 * h), int(0.6 * w)
        top, left = rng.integers(0, h - side_h + 1), rng.integers(0, w - side_w + 1)
        out.append(image[top : top + side_h, left : left + side_w])
    return out


def fidelity_rates(seeds: int) -> dict[str, Any]:
    params = Preprocessing()
    cases = {"CT in HU": (_ct_slices(), "HU"), "EPI, relative": (_epi_slices(), "")}
    out: dict[str, Any] = {}
    for label, (slices, unit) in cases.items():
        statuses: Counter[str] = Counter()
        caught: Counter[str] = Counter()
        changes = {"1.25x+150": (1.25, 150.0)} | ({"+100 HU": (1.0, 100.0), "+200 HU": (1.0, 200.0)} if unit else {})
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            crops = _crops(slices, rng, 80)
            real, synthetic = crops[:40], crops[40:]
            reference = images_from_arrays("reference", real, None, params, unit=unit)
            result = fidelity.run(images_from_arrays("synthetic", synthetic, None, params, unit=unit), reference)
            statuses[str(result.status)] += 1
            for name, (gain, offset) in changes.items():
                changed = [gain * a + offset for a in synthetic]
                shifted = fidelity.run(images_from_arrays("synthetic", changed, None, params, unit=unit), reference)
                caught[name] += shifted.status == "fail"
        out[label] = {
            "clean split": dict(statuses),
            "changes failed": {name: f"{caught[name]} of {seeds}" for name in changes},
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    args = parser.parse_args()
    print("privacy:", privacy_rates(args.seeds))
    print("fidelity:", fidelity_rates(args.seeds))


if __name__ == "__main__":
    main()
