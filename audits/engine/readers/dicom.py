"""DICOM Part 10 files: selected header values, size checks against the header, then the decoded frames."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from ..preprocess import Preprocessing
from ..types import FileRecord, Image
from .common import (
    MAX_FRAMES,
    MAX_SIDE,
    MAX_TOTAL_PIXELS,
    ReadLimits,
    Rejected,
    _clip_text,
    _frame_images,
    check_declared,
    interruptions,
)
from .units import dicom_units

# Uncompressed transfer syntaxes: the pixel data length must equal what the header implies.
NATIVE_TRANSFER_SYNTAXES = {
    "1.2.840.10008.1.2",  # implicit VR little endian
    "1.2.840.10008.1.2.1",  # explicit VR little endian
    "1.2.840.10008.1.2.1.99",  # deflated explicit VR little endian (pydicom inflates the dataset)
    "1.2.840.10008.1.2.2",  # explicit VR big endian (retired)
}

DICOM_HEADER_KEYWORDS = (
    "SyntheticData",
    "ImageType",
    "BurnedInAnnotation",
    "DerivationDescription",
    "ImageComments",
    "SeriesDescription",
    "PatientIdentityRemoved",
    "DeidentificationMethod",
    "PatientName",
    "PatientID",
    "OtherPatientIDs",
    "OtherPatientNames",
    "PatientBirthDate",
    "PatientSex",
    "PatientAge",
    "PatientAddress",
    "AccessionNumber",
    "ReferringPhysicianName",
    "InstitutionName",
    "InstitutionAddress",
    # Dates and times of the exam: the privacy audit compares them with the real sets'.
    "StudyDate",
    "SeriesDate",
    "AcquisitionDate",
    "ContentDate",
    "StudyTime",
    "SeriesTime",
    "AcquisitionTime",
    "ContentTime",
    "AcquisitionDateTime",
    "Manufacturer",
    "ManufacturerModelName",
    "SoftwareVersions",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "SOPClassUID",
    "FrameOfReferenceUID",
    "Modality",
    "BodyPartExamined",
    "PhotometricInterpretation",
)


def _json_safe(value: Any) -> Any:
    """A DICOM element value as JSON-safe data: strings, numbers, lists, None."""
    from pydicom.multival import MultiValue
    from pydicom.valuerep import PersonName

    if value is None:
        return None
    if isinstance(value, PersonName):
        return _clip_text(str(value))
    if isinstance(value, (MultiValue, list, tuple)):
        return [_json_safe(item) for item in value]
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else str(value)
    if isinstance(value, bytes):
        return _clip_text(value.decode("latin-1").rstrip("\0 "))
    return _clip_text(str(value))


def _synthesizing_equipment(ds: Any) -> tuple[bool, list[dict[str, Any]]]:
    found = False
    items = []
    for equipment in ds.get("ContributingEquipmentSequence", None) or []:
        purposes = equipment.get("PurposeOfReferenceCodeSequence", None) or []
        codes = [
            (str(code.get("CodeValue", "") or "").strip(), str(code.get("CodingSchemeDesignator", "") or "").strip())
            for code in purposes
        ]
        synthesizing = ("109100", "DCM") in codes
        found = found or synthesizing
        items.append(
            {
                "purpose": [f"{value} {scheme}".strip() for value, scheme in codes],
                "synthesizing": synthesizing,
                "Manufacturer": _json_safe(equipment.get("Manufacturer", None)),
                "ManufacturerModelName": _json_safe(equipment.get("ManufacturerModelName", None)),
                "SoftwareVersions": _json_safe(equipment.get("SoftwareVersions", None)),
            }
        )
    return found, items


def dicom_header(ds: Any) -> dict[str, Any]:
    """Selected header values of a pydicom Dataset, JSON-safe; absent elements are None."""
    header: dict[str, Any] = {}
    from pydicom.datadict import tag_for_keyword

    for keyword in DICOM_HEADER_KEYWORDS:
        try:
            tag = tag_for_keyword(keyword)
            value = ds[tag].value if tag is not None and tag in ds else None
        except interruptions():
            raise  # the caller's time limit, not a malformed element
        except Exception as exc:  # noqa: BLE001 - a malformed element must not reject the whole header
            header[keyword] = f"<unreadable: {exc}>"
            continue
        header[keyword] = _json_safe(value)
    image_type = header.get("ImageType")
    if isinstance(image_type, str):
        header["ImageType"] = [image_type]
    try:
        synthesizing, equipment = _synthesizing_equipment(ds)
    except interruptions():
        raise
    except Exception:  # noqa: BLE001 - a malformed sequence counts as no equipment recorded
        synthesizing, equipment = False, []
    header["synthesizing_equipment"] = synthesizing
    header["contributing_equipment"] = equipment
    try:  # the IDs only: the items may hold other identifiers the audits do not need
        items = ds.get("OtherPatientIDsSequence", None) or []
        header["OtherPatientIDsSequence"] = [_json_safe(item.get("PatientID", None)) for item in items]
    except interruptions():
        raise
    except Exception as exc:  # noqa: BLE001 - a malformed sequence must not reject the whole header
        header["OtherPatientIDsSequence"] = f"<unreadable: {exc}>"
    transfer_syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    header["transfer_syntax"] = str(transfer_syntax) if transfer_syntax else None
    return header


def _dicom_int(ds: Any, keyword: str, default: int | None = None) -> int:
    value = ds.get(keyword, None)
    if value is None or value == "":
        if default is None:
            raise Rejected(f"DICOM header has no {keyword}")
        return default
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise Rejected(f"DICOM {keyword} {value!r} is not a number") from exc


def _read_dicom(
    path: Path, record: FileRecord, params: Preprocessing | None, limits: ReadLimits, content: bytes | None = None
) -> list[Image]:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        # never force=True: a DICOM must really be one. Values over 1 MiB (the pixel data) are read
        # only when used, after the header's declared size has passed the budget. `content`: the
        # file's bytes when read_file has read them already.
        ds = pydicom.dcmread(path if content is None else io.BytesIO(content), defer_size="1 MB")
    except InvalidDicomError as exc:
        raise Rejected(f"not a valid DICOM file: {exc}") from exc
    except interruptions(MemoryError):
        raise  # not the file's fault: read_file reports memory, the caller its interruptions
    except Exception as exc:
        raise Rejected(f"DICOM header does not parse: {exc}") from exc

    record.format = "dicom"
    record.header = dicom_header(ds)

    pixel_keyword = next((k for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData") if k in ds), None)
    if pixel_keyword is None:
        sop_class = ds.get("SOPClassUID", None)
        label = f" ({sop_class.name})" if sop_class is not None and hasattr(sop_class, "name") else ""
        raise Rejected(f"DICOM file has no pixel data{label}")

    rows = _dicom_int(ds, "Rows")
    columns = _dicom_int(ds, "Columns")
    samples = _dicom_int(ds, "SamplesPerPixel", 1)
    bits = _dicom_int(ds, "BitsAllocated")
    frames = _dicom_int(ds, "NumberOfFrames", 1)
    if not (1 <= rows <= MAX_SIDE and 1 <= columns <= MAX_SIDE):
        raise Rejected(f"DICOM image size {rows}x{columns} is implausible (each side must be 1..{MAX_SIDE})")
    if not 1 <= frames <= MAX_FRAMES:
        raise Rejected(f"DICOM NumberOfFrames {frames} is implausible (must be 1..{MAX_FRAMES})")
    if rows * columns * frames > MAX_TOTAL_PIXELS:
        raise Rejected(
            f"DICOM declares {rows}x{columns}x{frames} = {rows * columns * frames} pixels, "
            f"more than the limit of {MAX_TOTAL_PIXELS}"
        )
    if samples not in (1, 3, 4):
        raise Rejected(f"DICOM SamplesPerPixel {samples} is not supported (1 or 3)")
    if bits not in (1, 8, 16, 32, 64):
        raise Rejected(f"DICOM BitsAllocated {bits} is not supported")
    check_declared(
        "DICOM",
        f"{rows}x{columns} pixels x {frames} frames x {samples} samples x {bits} bits",
        math.ceil(rows * columns * frames * samples * bits / 8),
        limits,
    )

    photometric = str(ds.get("PhotometricInterpretation", "") or "").strip().upper()
    transfer_syntax = str(record.header.get("transfer_syntax") or "")
    raw = ds[pixel_keyword].value
    if transfer_syntax in NATIVE_TRANSFER_SYNTAXES or pixel_keyword != "PixelData":
        if bits == 1:
            expected = math.ceil(rows * columns * frames * samples / 8)
        elif photometric == "YBR_FULL_422":
            expected = rows * columns * frames * 2 * (bits // 8)
        else:
            expected = rows * columns * frames * samples * (bits // 8)
        actual = len(raw) if raw is not None else 0
        if actual not in (expected, expected + expected % 2):
            raise Rejected(f"DICOM pixel data is {actual} bytes, header says {expected}")

    try:
        array = ds.pixel_array
    except interruptions(MemoryError):
        raise  # not the file's fault: read_file reports memory, the caller its interruptions
    except Exception as exc:
        raise Rejected(f"DICOM pixel data does not decode: {exc}") from exc

    colour = array.ndim >= 3 and array.shape[-1] in (3, 4) and samples > 1
    expected_shape: tuple[int, ...] = (rows, columns) + ((array.shape[-1],) if colour else ())
    if frames > 1:
        expected_shape = (frames, *expected_shape)
    if tuple(array.shape) != expected_shape:
        raise Rejected(f"decoded DICOM pixels have shape {tuple(array.shape)}, header says {expected_shape}")

    if photometric == "PALETTE COLOR":
        try:
            from pydicom.pixels import apply_color_lut

            array = apply_color_lut(array, ds)
        except interruptions(MemoryError):
            raise
        except Exception as exc:
            raise Rejected(f"DICOM palette does not apply: {exc}") from exc

    stack = array if frames > 1 else array[np.newaxis]
    record.width, record.height, record.slices = columns, rows, frames
    rescale, unit = dicom_units(ds, frames, colour=colour or photometric == "PALETTE COLOR")
    frame_list = (stack[i] for i in range(frames))
    invert = photometric == "MONOCHROME1"
    return _frame_images(record.name, frame_list, params, invert=invert, rescale=rescale, unit=unit)
