"""The disclosure audit on real files over many seeds: clean labelled samples, planted problems.

    .venv/bin/python -m bench.disclosure_truth [--seeds 30]

Per seed, a synthetic set of 6 to 14 real files is written: DICOMs copied from pydicom's
bundled CT and MR files and PNG slices of nibabel's example4d EPI series, chosen at random,
each labelled as a generator should (DICOM SyntheticData YES with a synthesizing Contributing
Equipment item and fresh UIDs; PNG with the IPTC DigitalSourceType trainedAlgorithmicMedia in
XMP), and the real source DICOMs as the reference set.
- clean: how often the labelled set fails or warns;
- planted, one at a time into a clean set: an unlabelled DICOM, an unlabelled PNG, a DICOM
  saying SyntheticData NO, and a labelled DICOM that keeps its real PatientID and PatientName
  (an identity leak against the reference): how often each is found (the set fails) with the
  planted file named among the flagged ones.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from audits.engine import disclosure
from audits.engine.preprocess import Preprocessing
from audits.engine.readers.sets import read_folder
from audits.engine.types import Status
from tests.audits.images import dicom_source, example4d, to_uint16, write_dicom, write_png

SOURCES = ("CT_small.dcm", "MR_small.dcm")
P = Preprocessing()


def _clean_set(folder: Path, rng: np.random.Generator) -> None:
    volume = example4d()[..., 0]
    for index in range(int(rng.integers(6, 15))):
        if rng.random() < 0.5:
            write_dicom(folder / f"s{index:02d}.dcm", source=str(rng.choice(SOURCES)), PatientID=f"SYN{index}",
                        PatientName="SYNTHETIC")  # fmt: skip
        else:
            write_png(folder / f"s{index:02d}.png", to_uint16(volume[:, :, int(rng.integers(0, volume.shape[2]))]))


def _plant(kind: str, folder: Path, rng: np.random.Generator) -> str:
    name = f"planted-{kind}"
    source = str(rng.choice(SOURCES))
    if kind == "unlabelled_dicom":
        write_dicom(folder / f"{name}.dcm", source=source, synthetic=None, equipment=False, PatientID="SYNX")
        return f"{name}.dcm"
    if kind == "unlabelled_png":
        write_png(folder / f"{name}.png", label=None)
        return f"{name}.png"
    if kind == "synthetic_no":
        write_dicom(folder / f"{name}.dcm", source=source, synthetic="NO", PatientID="SYNX")
        return f"{name}.dcm"
    write_dicom(folder / f"{name}.dcm", source=source)  # keeps the real file's PatientID and PatientName
    return f"{name}.dcm"


def rates(seeds: int) -> dict[str, Counter[str]]:
    results: dict[str, Counter[str]] = {}
    root = Path(tempfile.mkdtemp(prefix="disclosure-truth-"))
    try:
        reference_folder = root / "reference"
        for source in SOURCES:
            reference_folder.mkdir(parents=True, exist_ok=True)
            shutil.copy(dicom_source(source), reference_folder / source)
        reference = read_folder(reference_folder, "reference", P)
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            folder = root / f"seed{seed}"
            _clean_set(folder, rng)
            clean = disclosure.run(read_folder(folder, "synthetic", P), reference=reference)
            results.setdefault("clean", Counter())[clean.status.value] += 1
            for kind in ("unlabelled_dicom", "unlabelled_png", "synthetic_no", "identity_leak"):
                planted_folder = root / f"seed{seed}-{kind}"
                shutil.copytree(folder, planted_folder)
                planted = _plant(kind, planted_folder, rng)
                result = disclosure.run(read_folder(planted_folder, "synthetic", P), reference=reference)
                named = any(entry.get("file") == planted for entry in result.flagged)
                found = "found" if result.status == Status.FAIL and named else f"missed ({result.status.value})"
                results.setdefault(kind, Counter())[found] += 1
                shutil.rmtree(planted_folder)
            shutil.rmtree(folder)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=30)
    args = parser.parse_args()
    for case, counts in rates(args.seeds).items():
        print(f"{case:<18} " + ", ".join(f"{key}: {value}/{args.seeds}" for key, value in sorted(counts.items())))


if __name__ == "__main__":
    main()
