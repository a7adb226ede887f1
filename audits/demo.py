"""Demo image sets whose audit outcomes are known, built from real images shipped inside nibabel.

Source: `example4d.nii.gz` in nibabel's own test data (a real EPI fMRI series, 128 x 96 x 24
voxels, 2 volumes), found from `nibabel.__file__` without a download (never through
`nibabel.testing`, which imports pytest). Only volume 0 is used: volume 1 is the same brain a
moment later and would be a copy of it. Every random choice has a fixed seed, every UID is
derived from fixed text and the NIfTI files are gzipped with a fixed time stamp, so two builds
give byte-identical files.

- reference (real training set): the 12 even axial slices as DICOM files with plausible but
  fictitious headers: 6 demo patients (2 slices each), PatientSex 3 F / 3 M, two sites with
  one scanner each, fresh UIDs; ImageComments records the slice each file comes from.
- holdout (real, never "trained on"): the 12 odd slices, same kind of headers, 6 more patients.
- synthetic (16 files) with one planted problem per audit:
  * labelled files: DICOM SyntheticData YES with a Contributing Equipment item coded
    (109100, DCM, "Synthesizing Equipment"), PNG with an XMP DigitalSourceType
    trainedAlgorithmicMedia, NIfTI with a JSON comment extension {"SyntheticData": "YES"};
    and 3 unlabelled files (`UNLABELLED`): disclosure must fail;
  * 3 copies of training slices (`PLANTED_COPIES`: exact, 2 % noise, shifted 2 px): the
    memorization audit must flag exactly these;
  * one DICOM keeping the StudyInstanceUID of a real study (`PRIVACY_LEAK`): privacy fails;
  * the other 12 are plausible novel slices: held-out slices smoothed and re-noised, which
    the memorization audit must not flag;
  * metadata CSVs for both sets: sex F is 50 % of the real images and 25 % of the synthetic
    ones (representation fails on sex); age bands are alike;
  * a generation manifest (file, generator, version, seed) that lists 13 of the 16 files.

`attach_demo_sets` uploads the three sets to the demo project through the ordinary upload
service, which queues the audit suite on the worker.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

SEED = 20250809
SOURCE_NAME = "nibabel tests/data/example4d.nii.gz"
UID_ROOT = "1.2.826.0.1.3680043.8.498."  # pydicom's root, as generate_uid uses by default
TRAINED = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
GENERATOR = ("misyn-demo-ldm", "0.3.1")

REFERENCE_SLICES = tuple(range(0, 24, 2))
HOLDOUT_SLICES = tuple(range(1, 24, 2))

NOVEL_SMOOTHING = 0.8  # Gaussian sigma in pixels
NOVEL_NOISE = 0.03  # standard deviation, as a share of the slice's 99.5th percentile
NOVEL_ROTATION = (3.0, 6.0)  # degrees, either sign: a new pose, as a generator would vary it
NOVEL_SCALE = (0.96, 1.04)
# The approved project's generator, well trained: a smaller change of pose, no smoothing, less
# noise. Its 24 slices stay below the memorization audit's copy threshold against every training
# slice and cover the training set: the fidelity audit's coverage and precision are 0.833 each on
# the 12 reference slices (0.8 and 0.7 warn); with the planted set's stronger smoothing and pose
# they were 0.17 and 0.58, a fail.
CLEAN_NOVEL_SMOOTHING = 0.0
CLEAN_NOVEL_NOISE = 0.01
CLEAN_NOVEL_ROTATION = (1.0, 2.0)
CLEAN_NOVEL_SCALE = (0.99, 1.01)
COPY_NOISE = 0.02
COPY_SHIFT = 2  # pixels, along the rows (the 128-pixel axis)


@dataclass(frozen=True)
class Patient:
    """A fictitious patient for the real slices' headers (the pixels all come from one volume)."""

    patient_id: str
    sex: str
    age: int
    site: str
    manufacturer: str
    model: str


SITES = (
    ("Northfield General Hospital (demo)", "SIEMENS", "Prisma"),
    ("Southbank Imaging Centre (demo)", "GE MEDICAL SYSTEMS", "Discovery MR750"),
)
AGES = (34, 47, 52, 61, 29, 45, 38, 56, 66, 43, 25, 50)


def _patients() -> list[Patient]:
    """12 patients: 0-5 own the reference slices, 6-11 the held-out ones; F/M alternate, sites by pairs."""
    result = []
    for number in range(12):
        site, manufacturer, model = SITES[(number // 2) % 2]
        sex = "F" if number % 2 == 0 else "M"
        result.append(Patient(f"DEMO-{number + 1:03d}", sex, AGES[number], site, manufacturer, model))
    return result


# The synthetic set: file name -> (kind, source slice, format, label, sex, age).
# kind: "novel" (a held-out slice smoothed and re-noised, by its held-out slice number),
# "copy_exact" / "copy_noise" / "copy_shift" (a reference slice), "leak" (novel, real StudyInstanceUID).
SYNTHETIC: dict[str, tuple[str, int, str, bool, str, int]] = {
    "synth_0001.dcm": ("novel", 1, "dicom", True, "F", 45),
    "synth_0002.dcm": ("novel", 3, "dicom", True, "M", 52),
    "synth_0003.dcm": ("novel", 5, "dicom", True, "M", 33),
    "synth_0004.dcm": ("leak", 7, "dicom", True, "M", 48),
    "synth_0005.png": ("novel", 9, "png", True, "F", 58),
    "synth_0006.png": ("novel", 11, "png", True, "M", 27),
    "synth_0007.png": ("novel", 13, "png", True, "M", 64),
    "synth_0008.nii.gz": ("novel", 15, "nifti", True, "M", 41),
    "synth_0009.nii.gz": ("novel", 17, "nifti", True, "F", 36),
    "synth_0010.dcm": ("novel", 19, "dicom", False, "M", 55),
    "synth_0011.dcm": ("novel", 21, "dicom", False, "M", 47),
    "synth_0012.png": ("novel", 23, "png", False, "M", 31),
    "synth_0013.dcm": ("copy_exact", 8, "dicom", True, "F", 44),
    "synth_0014.png": ("copy_noise", 12, "png", True, "M", 62),
    "synth_0015.dcm": ("copy_shift", 16, "dicom", True, "M", 39),
    "synth_0016.nii.gz": ("novel", 1, "nifti", True, "M", 67),
}
# The approved project's synthetic set: the same generator, done right (CLEAN_NOVEL_*). 24 novel
# slices, two poses of each held-out slice, in the three formats; every file labelled and in the
# manifest, no real UID, and the reference set's mix of sex (half F) and ages (the reference
# patients' ages in turn): every audit passes, so the project a first visitor opens from the
# register shows no waiver.
_CLEAN_FORMATS = (("dicom", ".dcm"), ("png", ".png"), ("nifti", ".nii.gz"))
CLEAN_SYNTHETIC: dict[str, tuple[str, int, str, bool, str, int]] = {
    f"synth_{number:04d}{_CLEAN_FORMATS[number % 3][1]}": (
        "novel",
        HOLDOUT_SLICES[(number - 1) % len(HOLDOUT_SLICES)],
        _CLEAN_FORMATS[number % 3][0],
        True,
        "F" if number % 2 else "M",
        AGES[((number - 1) // 2) % 6],
    )
    for number in range(1, 2 * len(HOLDOUT_SLICES) + 1)
}
PLANTED_COPIES = {name: spec[1] for name, spec in SYNTHETIC.items() if spec[0].startswith("copy_")}
"""Synthetic file -> the reference slice it copies; the memorization audit must flag exactly these."""
UNLABELLED = frozenset(name for name, spec in SYNTHETIC.items() if not spec[3])
PRIVACY_LEAK = "synth_0004.dcm"
LEAKED_FROM_SLICE = 6  # the reference slice whose StudyInstanceUID the leaking file keeps
NOT_IN_MANIFEST = frozenset({"synth_0010.dcm", "synth_0012.png", "synth_0015.dcm"})


def reference_name(slice_index: int) -> str:
    return f"real_{slice_index:02d}.dcm"


# --------------------------------------------------------------------------- source pixels


def example4d_path() -> Path:
    import nibabel

    return Path(os.path.dirname(nibabel.__file__)) / "tests" / "data" / "example4d.nii.gz"


def _volume() -> np.ndarray:
    """Volume 0 of example4d, (128, 96, 24) int16."""
    import nibabel

    image = nibabel.load(example4d_path())
    return np.asarray(image.dataobj[..., 0], dtype=np.int16)  # type: ignore[attr-defined]


def _shown(volume: np.ndarray, index: int) -> np.ndarray:
    """Axial slice `index` as it is displayed (rows = y with anterior up, columns = x): (96, 128)."""
    return np.ascontiguousarray(np.flipud(volume[:, :, index].T))


def _novel(real: np.ndarray, rng: np.random.Generator, clean: bool = False) -> np.ndarray:
    """A plausible new slice from a held-out one: a slightly different pose (rotation, scale),
    smoothed, then fresh noise inside the head (the background stays 0); with `clean`, as the
    approved project's generator makes them (CLEAN_NOVEL_*)."""
    from scipy.ndimage import affine_transform, gaussian_filter

    rotation, scale_range = (CLEAN_NOVEL_ROTATION, CLEAN_NOVEL_SCALE) if clean else (NOVEL_ROTATION, NOVEL_SCALE)
    smoothing, noise = (CLEAN_NOVEL_SMOOTHING, CLEAN_NOVEL_NOISE) if clean else (NOVEL_SMOOTHING, NOVEL_NOISE)
    angle = np.deg2rad(rng.uniform(*rotation) * rng.choice([-1.0, 1.0]))
    scale = rng.uniform(*scale_range)
    matrix = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) / scale
    centre = (np.array(real.shape) - 1) / 2.0
    posed = affine_transform(real.astype(np.float64), matrix, offset=centre - matrix @ centre, order=1)
    inside = posed > 0.5
    smooth = gaussian_filter(posed, sigma=smoothing) if smoothing else posed
    level = float(np.percentile(real, 99.5))
    noisy = smooth + rng.normal(0.0, noise * level, real.shape)
    return np.where(inside, np.clip(np.round(noisy), 0, 32767), 0).astype(np.int16)


def _noisy_copy(real: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    scale = float(np.percentile(real, 99.5) - np.percentile(real, 0.5))
    noisy = real.astype(np.float64) + rng.normal(0.0, COPY_NOISE * scale, real.shape)
    return np.clip(np.round(noisy), 0, 32767).astype(np.int16)


def _shifted_copy(real: np.ndarray) -> np.ndarray:
    shifted = np.zeros_like(real)
    shifted[:, COPY_SHIFT:] = real[:, :-COPY_SHIFT]
    return shifted


# --------------------------------------------------------------------------- writers


def _uid(*parts: object) -> str:
    from pydicom.uid import generate_uid

    return str(generate_uid(UID_ROOT, entropy_srcs=[f"misyn-demo:{SEED}", *map(str, parts)]))


def synthesizing_equipment(manufacturer: str, model: str = "", version: str = "") -> Any:
    """A Contributing Equipment Sequence item coded (109100, DCM, "Synthesizing Equipment")."""
    from pydicom.dataset import Dataset

    code = Dataset()
    code.CodeValue = "109100"
    code.CodingSchemeDesignator = "DCM"
    code.CodeMeaning = "Synthesizing Equipment"
    equipment = Dataset()
    equipment.PurposeOfReferenceCodeSequence = [code]
    equipment.Manufacturer = manufacturer
    if model:
        equipment.ManufacturerModelName = model
    if version:
        equipment.SoftwareVersions = version
    return equipment


def _write_dicom(path: Path, pixels: np.ndarray, attributes: dict[str, Any]) -> Path:
    """An uncompressed MR Image Storage file (explicit VR little endian) with the given header values."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import UID, ExplicitVRLittleEndian, MRImageStorage

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = UID(attributes["SOPInstanceUID"])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = UID(_uid("implementation"))
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = MRImageStorage
    ds.Modality = "MR"
    ds.StudyDate = "20240312"
    ds.PixelSpacing = [2.0, 2.0]
    ds.SliceThickness = 2.2
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.PixelData = np.ascontiguousarray(pixels.astype("<i2")).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def _xmp(source_type: str) -> str:
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">'
        f'<rdf:Description rdf:about="" Iptc4xmpExt:DigitalSourceType="{source_type}"/>'
        "</rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    )


def _write_png(path: Path, pixels: np.ndarray, labelled: bool) -> Path:
    """16-bit grey PNG; labelled files carry the IPTC DigitalSourceType in an XMP iTXt chunk."""
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    if labelled:
        info.add_itxt("XML:com.adobe.xmp", _xmp(TRAINED), zip=True)
    grey = np.clip(pixels, 0, 65535).astype(np.uint16)
    Image.fromarray(grey).save(path, format="PNG", pnginfo=info)
    return path


def _write_nifti(path: Path, pixels: np.ndarray, labelled: bool, seed: int) -> Path:
    """A one-slice NIfTI-1 volume whose slice reads back as `pixels`; gzip with a fixed time stamp."""
    import nibabel

    # The readers show a NIfTI slice (x, y) as flipud(slice.T): invert that.
    voxels = np.ascontiguousarray(np.flipud(pixels).T)[:, :, np.newaxis]
    image = nibabel.Nifti1Image(voxels.astype(np.int16), np.diag([2.0, 2.0, 2.2, 1.0]))
    if labelled:
        flag = {"SyntheticData": "YES", "Generator": GENERATOR[0], "GeneratorVersion": GENERATOR[1], "Seed": seed}
        image.header.extensions.append(nibabel.nifti1.Nifti1Extension("comment", json.dumps(flag).encode()))
    path.write_bytes(gzip.compress(image.to_bytes(), mtime=0))
    return path


# --------------------------------------------------------------------------- the sets


def _real_attributes(patient: Patient, slice_index: int, role: str) -> dict[str, Any]:
    return {
        "PatientName": f"Demo^{patient.patient_id}",
        "PatientID": patient.patient_id,
        "PatientSex": patient.sex,
        "PatientAge": f"{patient.age:03d}Y",
        "InstitutionName": patient.site,
        "Manufacturer": patient.manufacturer,
        "ManufacturerModelName": patient.model,
        "ImageType": ["ORIGINAL", "PRIMARY", "M", "ND"],
        "StudyInstanceUID": _uid("study", patient.patient_id),
        "SeriesInstanceUID": _uid("series", patient.patient_id),
        "FrameOfReferenceUID": _uid("frame", patient.patient_id),
        "SOPInstanceUID": _uid(role, slice_index),
        "InstanceNumber": slice_index + 1,
        "SeriesDescription": "EPI axial",
        "ImageComments": (
            f"Real EPI slice {slice_index} of volume 0 of {SOURCE_NAME}; "
            "patient, site and scanner are fictitious demo values."
        ),
    }


def _real_set(volume: np.ndarray, folder: Path, slices: tuple[int, ...], patients: list[Patient], role: str) -> list:
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for position, index in enumerate(slices):
        patient = patients[position // 2]
        name = reference_name(index)
        _write_dicom(folder / name, _shown(volume, index), _real_attributes(patient, index, role))
        rows.append([name, patient.sex, _band(patient.age)])
    return rows


def _band(age: int) -> str:
    from audits.engine.inputs import age_band

    return age_band(age)


def _synthetic_pixels(
    volume: np.ndarray, kind: str, source: int, rng: np.random.Generator, clean: bool = False
) -> np.ndarray:
    real = _shown(volume, source)
    if kind == "copy_exact":
        return real.copy()
    if kind == "copy_noise":
        return _noisy_copy(real, rng)
    if kind == "copy_shift":
        return _shifted_copy(real)
    return _novel(real, rng, clean)


def _synthetic_attributes(name: str, position: int, labelled: bool, sex: str, leak_study: str) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "PatientName": "",
        "PatientID": "",
        "PatientSex": sex,
        "StudyDate": "",  # no real exam: a real StudyDate would be a leak of its own
        "StudyInstanceUID": leak_study if leak_study and name == PRIVACY_LEAK else _uid("synthetic-study"),
        "SeriesInstanceUID": _uid("synthetic-series"),
        "FrameOfReferenceUID": _uid("synthetic-frame"),
        "SOPInstanceUID": _uid("synthetic", name),
        "InstanceNumber": position + 1,
    }
    if labelled:
        attributes["SyntheticData"] = "YES"
        attributes["ContributingEquipmentSequence"] = [synthesizing_equipment("MISyn demo", *GENERATOR)]
        attributes["ImageType"] = ["DERIVED", "SECONDARY"]
        attributes["ImageComments"] = f"Made by the MISyn Review demo from {SOURCE_NAME} (see audits/demo.py)."
    else:
        attributes["ImageType"] = ["ORIGINAL", "PRIMARY", "M", "ND"]
    return attributes


def _synthetic_set(volume: np.ndarray, folder: Path, leak_study: str, *, clean: bool = False) -> tuple[list, list]:
    """The planted-problem set (SYNTHETIC), or with `clean` the one every audit passes (CLEAN_SYNTHETIC)."""
    folder.mkdir(parents=True, exist_ok=True)
    metadata, manifest = [], []
    spec = CLEAN_SYNTHETIC if clean else SYNTHETIC
    not_in_manifest = frozenset() if clean else NOT_IN_MANIFEST
    for position, (name, (kind, source, fmt, labelled, sex, age)) in enumerate(spec.items()):
        seed = SEED + position
        pixels = _synthetic_pixels(volume, kind, source, np.random.default_rng(seed), clean)
        if fmt == "dicom":
            attributes = _synthetic_attributes(name, position, labelled, sex, "" if clean else leak_study)
            _write_dicom(folder / name, pixels, attributes)
        elif fmt == "png":
            _write_png(folder / name, pixels, labelled)
        else:
            _write_nifti(folder / name, pixels, labelled, seed)
        metadata.append([name, sex, _band(age)])
        if name not in not_in_manifest:
            manifest.append([name, *GENERATOR, seed])
    return metadata, manifest


def _write_csv(path: Path, header: list[str], rows: list) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def build_demo_sets(folder: Path, *, clean: bool = False) -> dict[str, Path]:
    """Write the three demo sets and their side files under `folder`; return their paths.

    Keys: reference, holdout, synthetic (folders), reference_metadata, synthetic_metadata,
    manifest (CSV files). Deterministic: the same bytes on every build. The synthetic set has
    one planted problem per audit, or with `clean` none (CLEAN_SYNTHETIC); the real sets are
    the same either way.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    volume = _volume()
    patients = _patients()
    paths = {role: folder / role for role in ("reference", "holdout", "synthetic")}
    reference_rows = _real_set(volume, paths["reference"], REFERENCE_SLICES, patients[:6], "reference")
    _real_set(volume, paths["holdout"], HOLDOUT_SLICES, patients[6:], "holdout")
    leak_study = _uid("study", patients[REFERENCE_SLICES.index(LEAKED_FROM_SLICE) // 2].patient_id)
    synthetic_rows, manifest_rows = _synthetic_set(volume, paths["synthetic"], leak_study, clean=clean)
    paths["reference_metadata"] = _write_csv(
        folder / "reference-metadata.csv", ["file", "sex", "age_band"], reference_rows
    )
    paths["synthetic_metadata"] = _write_csv(
        folder / "synthetic-metadata.csv", ["file", "sex", "age_band"], synthetic_rows
    )
    paths["manifest"] = _write_csv(folder / "manifest.csv", ["file", "generator", "version", "seed"], manifest_rows)
    return paths


# --------------------------------------------------------------------------- upload to the demo project


def _zip_folder(folder: Path, name: str) -> Any:
    """The folder's files as one in-memory zip upload (flat names, fixed time stamps)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.iterdir()):
            info = zipfile.ZipInfo(path.name, date_time=(2025, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="application/zip")


def _csv_upload(path: Path) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(path.name, path.read_bytes(), content_type="text/csv")


def attach_demo_sets(project: Any, researcher: Any, *, clean: bool = False) -> list[Any]:
    """Upload the demo sets to `project` as `researcher` and leave one audit run queued; with
    `clean`, the synthetic set every audit passes (build_demo_sets).

    Idempotent: returns [] when the project already has a current image set (or is no longer
    a draft, when uploads are refused). The real sets come first and queue nothing (every
    audit needs the synthetic set); the synthetic upload queues the one run over all three
    sets. Returns the new ImageSet rows.
    """
    from django.db import transaction

    from audits.enums import SetRole
    from audits.models import ImageSet
    from audits.services.uploads import image_set_upload

    if not project.is_editable or ImageSet.objects.filter(project=project, is_current=True).exists():
        return []
    with tempfile.TemporaryDirectory(prefix="misyn-demo-") as workdir:
        paths = build_demo_sets(Path(workdir), clean=clean)
        uploads = [
            (SetRole.REFERENCE, "reference.zip", paths["reference_metadata"], None),
            (SetRole.HOLDOUT, "holdout.zip", None, None),
            (SetRole.SYNTHETIC, "synthetic.zip", paths["synthetic_metadata"], paths["manifest"]),
        ]
        with transaction.atomic():
            sets = [
                image_set_upload(
                    actor=researcher,
                    project=project,
                    role=role,
                    files=[_zip_folder(paths[str(role)], archive)],
                    metadata=_csv_upload(metadata) if metadata else None,
                    manifest=_csv_upload(manifest) if manifest else None,
                    ingest_now=True,  # read here, as a worker would: the demo's sets are current at once
                )
                for role, archive, metadata, manifest in uploads
            ]
    log.info("demo image sets attached to project %s", project.pk)
    return sets


def run_demo_audits(project: Any, actor: Any) -> Any:
    """Compute the project's queued audit run here, step by step as the worker would (claim,
    chunks, merge), so that the demo's approved project has results before its reviewers sign.
    The worker later receives the run's messages and finds it finished."""
    from audits.engine.preprocess import Preprocessing
    from audits.enums import RunStatus
    from audits.models import AuditRun
    from audits.services import runs

    run = AuditRun.objects.filter(project=project, status=RunStatus.QUEUED).order_by("-pk").first()
    if run is None:
        return None
    claimed = runs.run_claim(run_id=run.pk)
    if claimed is None:
        return None
    runs.run_plan_chunks(run=claimed)
    preprocessing = Preprocessing(**claimed.params.get("preprocess", {}))
    for chunk in claimed.chunks.order_by("index"):
        artifact = runs.chunk_compute(chunk=chunk, params=preprocessing)
        runs.chunk_complete(run=claimed, index=chunk.index, artifact=artifact)
    runs.run_succeed(run=claimed, results=runs.run_merge(run=claimed))
    return claimed
