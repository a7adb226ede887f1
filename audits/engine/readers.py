"""Read uploaded image files into an `ImageSet`: recognise by content, validate, decode, preprocess.

Formats: DICOM (Part 10 files, 'DICM' at offset 128; uncompressed, RLE, JPEG lossless,
JPEG-LS and JPEG 2000 transfer syntaxes), NIfTI-1 and NIfTI-2 single files (.nii, or the
same gzip-compressed), and PNG. The file name is never trusted: a file is what its bytes
say it is. Every size the header declares is checked against fixed limits before any pixel
is decoded, so a hostile header cannot make the reader allocate gigabytes. A file that
fails any check comes back as a `FileRecord` whose `error` says why, with no images; the
readers never raise for bad input.

Each accepted file contributes one `Image` per 2-D slice or frame: multi-frame DICOM gives
one per frame, a 3-D NIfTI one per slice along its third axis, a 4-D NIfTI one per slice of
every volume (index = volume * slices + slice).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import logging
import math
import os
import re
import struct
import warnings
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .preprocess import Preprocessing, pixel_digest, preprocess
from .types import FileRecord, Image, ImageSet

# Limits checked against header values before decoding (SECURITY.md, "Uploads").
MAX_FILE_BYTES = 2 * 1024**3
MAX_SIDE = 8192  # DICOM rows / columns, PNG width / height
MAX_FRAMES = 2000  # DICOM frames
MAX_TOTAL_PIXELS = 200_000_000  # DICOM rows * columns * frames
MAX_PNG_PIXELS = 64 * 1024 * 1024  # PNG width * height (Pillow's own default bomb limit is 89 M)
MAX_NIFTI_DIM = 4096  # each NIfTI dimension
MAX_NIFTI_VOXELS = 300_000_000
MAX_SIDECAR_BYTES = 1024 * 1024
MAX_TEXT_CHARS = 2000  # header strings and PNG text values are cut to this length
MAX_WARNINGS = 5

NOT_AN_IMAGE = "not a DICOM, NIfTI or PNG file"

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
GZIP_MAGIC = b"\x1f\x8b"

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
    "PatientBirthDate",
    "PatientSex",
    "PatientAge",
    "PatientAddress",
    "AccessionNumber",
    "ReferringPhysicianName",
    "InstitutionName",
    "InstitutionAddress",
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

# NIfTI datatype codes nibabel can read as real-valued (or RGB) arrays, with their bits per voxel.
NIFTI_DATATYPES = {
    2: 8,  # uint8
    4: 16,  # int16
    8: 32,  # int32
    16: 32,  # float32
    64: 64,  # float64
    128: 24,  # RGB24
    256: 8,  # int8
    512: 16,  # uint16
    768: 32,  # uint32
    1024: 64,  # int64
    1280: 64,  # uint64
    2304: 32,  # RGBA32
}
NIFTI_EXTENSION_NAMES = {
    0: "ignore",
    2: "dicom",
    4: "afni",
    6: "comment",
    8: "xcede",
    10: "jimdiminfo",
    12: "workflow_fwds",
    14: "freesurfer",
    16: "pypickle",
    18: "mind_ident",
    20: "b_value",
    22: "spherical_direction",
    24: "dt_component",
    26: "shc_degreeorder",
    28: "voxbo",
    30: "caret",
    32: "cifti",
    34: "variable_frame_timing",
    38: "eval",
    40: "matlab",
    42: "quantiphyse",
    44: "mrs",
}


class Rejected(Exception):
    """Raised inside the readers with the reason a file is refused; never escapes `read_file`."""


# --------------------------------------------------------------------------- helpers


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def sniff_format(path: Path) -> str:
    """What the bytes say the file is: "dicom", "nifti", "png", "empty" or "unknown"."""
    with open(path, "rb") as handle:
        head = handle.read(560)
    if not head:
        return "empty"
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    if head.startswith(PNG_SIGNATURE):
        return "png"
    if head.startswith(GZIP_MAGIC):
        try:
            with gzip.open(path, "rb") as stream:
                inner = stream.read(560)
        except (OSError, EOFError, zlib.error):
            return "unknown"
        return "nifti" if _nifti_version(inner) else "unknown"
    return "nifti" if _nifti_version(head) else "unknown"


def _nifti_version(head: bytes) -> tuple[int, str] | None:
    """(1 or 2, byte order) when `head` starts with a NIfTI header, else None."""
    if len(head) < 348:
        return None
    for order in "<>":
        (size,) = struct.unpack(order + "i", head[:4])
        if size == 348 and head[344:348] in (b"n+1\0", b"ni1\0"):
            return 1, order
        if size == 540 and len(head) >= 540 and head[4:8] in (b"n+2\0", b"ni2\0"):
            return 2, order
    return None


def _clip_text(value: str) -> str:
    """A header string fit for JSON storage: no NUL characters (PostgreSQL refuses them), bounded length."""
    value = value.replace("\x00", "")
    return value if len(value) <= MAX_TEXT_CHARS else value[:MAX_TEXT_CHARS] + "…"


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


def _strict_json(text: str) -> Any:
    """json.loads that refuses NaN and Infinity (not JSON, and not storable as JSON)."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not valid JSON")

    return json.loads(text, parse_constant=refuse)


def _frame_images(name: str, frames: Iterable[np.ndarray], params: Preprocessing, invert: bool = False) -> list[Image]:
    images = []
    for index, native in enumerate(frames):
        pixels, blank = preprocess(native, params)
        if invert and not blank:
            pixels = (1.0 - pixels).astype(np.float32)
        images.append(Image(file=name, index=index, pixels=pixels, pixel_sha256=pixel_digest(native), blank=blank))
    return images


# --------------------------------------------------------------------------- DICOM


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
        except Exception as exc:  # noqa: BLE001 - a malformed element must not reject the whole header
            header[keyword] = f"<unreadable: {exc}>"
            continue
        header[keyword] = _json_safe(value)
    image_type = header.get("ImageType")
    if isinstance(image_type, str):
        header["ImageType"] = [image_type]
    try:
        synthesizing, equipment = _synthesizing_equipment(ds)
    except Exception:  # noqa: BLE001 - a malformed sequence counts as no equipment recorded
        synthesizing, equipment = False, []
    header["synthesizing_equipment"] = synthesizing
    header["contributing_equipment"] = equipment
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


def _read_dicom(path: Path, record: FileRecord, params: Preprocessing) -> list[Image]:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path)  # never force=True: a DICOM must really be one
    except InvalidDicomError as exc:
        raise Rejected(f"not a valid DICOM file: {exc}") from exc
    except MemoryError:
        raise  # not the file's fault: read_file reports it as such
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
    except MemoryError:
        raise  # not the file's fault: read_file reports it as such
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
        except MemoryError:
            raise
        except Exception as exc:
            raise Rejected(f"DICOM palette does not apply: {exc}") from exc

    stack = array if frames > 1 else array[np.newaxis]
    record.width, record.height, record.slices = columns, rows, frames
    return _frame_images(record.name, (stack[i] for i in range(frames)), params, invert=photometric == "MONOCHROME1")


# --------------------------------------------------------------------------- NIfTI


def _nifti_extensions(header: Any) -> list[dict[str, Any]]:
    result = []
    for extension in header.extensions:
        code = int(extension.get_code())
        content = extension.get_content()
        text = content.rstrip(b"\0").decode("utf-8", "replace") if isinstance(content, bytes) else str(content)
        item: dict[str, Any] = {"code": code, "name": NIFTI_EXTENSION_NAMES.get(code, "unknown"), "content": ""}
        try:
            item["json"] = _strict_json(text.strip()) if text.strip()[:1] in ("{", "[") else None
        except (ValueError, RecursionError):
            item["json"] = None
        item["content"] = _clip_text(text)
        result.append(item)
    return result


def _nifti_text(header: Any, field_name: str) -> str:
    value = header[field_name]
    data = value.tobytes() if hasattr(value, "tobytes") else bytes(value)
    return data.split(b"\0", 1)[0].decode("latin-1").strip()


def _check_nifti_header(head: bytes, version: int, order: str) -> tuple[tuple[int, ...], int, int]:
    """Validate the header fields that size the data; returns (shape, bits per voxel, vox_offset)."""
    if version == 1:
        dims = struct.unpack(order + "8h", head[40:56])
        datatype, bitpix = struct.unpack(order + "hh", head[70:74])
        (vox_offset_f,) = struct.unpack(order + "f", head[108:112])
        if not math.isfinite(vox_offset_f) or vox_offset_f < 0 or vox_offset_f > MAX_FILE_BYTES:
            raise Rejected(f"NIfTI vox_offset {vox_offset_f} is implausible")
        vox_offset = int(vox_offset_f)
        header_size = 348
    else:
        datatype, bitpix = struct.unpack(order + "hh", head[12:16])
        dims = struct.unpack(order + "8q", head[16:80])
        (vox_offset,) = struct.unpack(order + "q", head[168:176])
        header_size = 540
        if vox_offset < 0 or vox_offset > MAX_FILE_BYTES:
            raise Rejected(f"NIfTI vox_offset {vox_offset} is implausible")
    ndim = dims[0]
    if not 1 <= ndim <= 7:
        raise Rejected(f"NIfTI dim[0] = {ndim} is implausible (must be 1..7)")
    shape = tuple(int(d) for d in dims[1 : ndim + 1])
    shown = "x".join(str(d) for d in shape)
    if any(d < 1 or d > MAX_NIFTI_DIM for d in shape):
        raise Rejected(f"NIfTI dimensions {shown} are implausible (each must be 1..{MAX_NIFTI_DIM})")
    while len(shape) > 4 and shape[-1] == 1:
        shape = shape[:-1]
    if len(shape) > 4:
        raise Rejected(f"NIfTI dimensions {shown} have more than 4 axes; only 2-D, 3-D and 4-D images are audited")
    voxels = math.prod(shape)
    if voxels > MAX_NIFTI_VOXELS:
        raise Rejected(f"NIfTI dimensions {shown} are implausible ({voxels} voxels, limit {MAX_NIFTI_VOXELS})")
    if datatype not in NIFTI_DATATYPES:
        raise Rejected(f"NIfTI datatype {datatype} is not supported (complex, binary or unknown)")
    if bitpix != NIFTI_DATATYPES[datatype]:
        raise Rejected(f"NIfTI bitpix {bitpix} does not match datatype {datatype}")
    if vox_offset and vox_offset < header_size:
        raise Rejected(f"NIfTI vox_offset {vox_offset} lies inside the header")
    return shape, bitpix, max(vox_offset, header_size + 4 if version == 1 else header_size)


class _Collector(logging.Handler):
    """Keeps nibabel's log messages (e.g. "qform_code 7 not valid") instead of printing them."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.messages) < MAX_WARNINGS:
            self.messages.append(record.getMessage())


@contextlib.contextmanager
def _nibabel_log(collector: _Collector) -> Iterator[None]:
    from nibabel.imageglobals import LoggingOutputSuppressor, logger

    with LoggingOutputSuppressor():
        logger.addHandler(collector)
        try:
            yield
        finally:
            logger.removeHandler(collector)


def _oriented(section: np.ndarray) -> np.ndarray:
    """A (x, y) slice shown the usual way: y (anterior for RAS volumes) up, x to the right."""
    return np.ascontiguousarray(np.flipud(np.swapaxes(section, 0, 1)))


def _nifti_slices(volume: np.ndarray) -> Iterator[np.ndarray]:
    for k in range(volume.shape[2]):
        yield _oriented(volume[:, :, k])


def _as_plain(array: np.ndarray) -> np.ndarray:
    """RGB(A) structured voxels become a trailing channel axis."""
    if array.dtype.names:
        return np.stack([array[channel] for channel in array.dtype.names], axis=-1)
    return array


def _read_nifti(path: Path, record: FileRecord, params: Preprocessing) -> list[Image]:
    import nibabel

    with open(path, "rb") as handle:
        compressed = handle.read(2) == GZIP_MAGIC
    opener = gzip.open if compressed else open
    try:
        with opener(path, "rb") as stream:
            head = stream.read(540)
    except (OSError, EOFError, zlib.error) as exc:
        raise Rejected(f"NIfTI header does not decompress: {exc}") from exc
    found = _nifti_version(head)
    if found is None:
        raise Rejected(NOT_AN_IMAGE)
    version, order = found
    if (version == 1 and head[344:348] == b"ni1\0") or (version == 2 and head[4:8] == b"ni2\0"):
        raise Rejected("NIfTI header/image pair (.hdr + .img) is not supported: upload a single .nii or .nii.gz")
    shape, bitpix, data_offset = _check_nifti_header(head, version, order)
    record.format = "nifti"
    data_bytes = math.prod(shape) * bitpix // 8
    if not compressed:
        size = path.stat().st_size
        if size < data_offset + data_bytes:
            raise Rejected(f"NIfTI data is {max(size - data_offset, 0)} bytes, header says {data_bytes}")

    image_class = nibabel.Nifti1Image if version == 1 else nibabel.Nifti2Image
    images: list[Image] = []
    notes = _Collector()
    try:
        with _nibabel_log(notes), opener(path, "rb") as stream:
            image = image_class.from_stream(stream)
            header = image.header
            record.header = {
                "descrip": _clip_text(_nifti_text(header, "descrip")),
                "intent_name": _clip_text(_nifti_text(header, "intent_name")),
                "intent_code": int(header["intent_code"]),
                "aux_file": _clip_text(_nifti_text(header, "aux_file")),
                "extensions": _nifti_extensions(header),
                "nifti_version": version,
                "shape": list(shape),
                "datatype": str(header.get_data_dtype()),
            }
            proxy = image.dataobj
            if len(shape) == 1:
                raise Rejected(f"NIfTI image is 1-D ({shape[0]} voxels): there is no 2-D slice to audit")
            if len(shape) == 2:
                plain = _as_plain(np.asanyarray(proxy).reshape(shape))
                images = _frame_images(record.name, [_oriented(plain)], params)
                record.slices = 1
            else:
                volumes = shape[3] if len(shape) == 4 else 1

                def slices() -> Iterator[np.ndarray]:
                    for t in range(volumes):
                        # Index the 4th axis explicitly: trailing axes of length 1 may follow it.
                        part = proxy[(slice(None),) * 3 + (t,)] if len(shape) == 4 else proxy
                        volume = np.asanyarray(part).reshape(shape[:3])
                        yield from _nifti_slices(_as_plain(volume))

                images = _frame_images(record.name, slices(), params)
                record.slices = shape[2] * volumes
    except Rejected:
        raise
    except MemoryError:
        raise  # not the file's fault: read_file reports it as such
    except Exception as exc:
        raise Rejected(f"NIfTI data does not decode: {exc}") from exc
    for message in notes.messages:
        warnings.warn(message, UserWarning, stacklevel=1)  # collected into header["read_warnings"]
    # After the y-up orientation a slice is (y, x): height is the second voxel axis.
    record.width, record.height = shape[0], shape[1]
    return images


# --------------------------------------------------------------------------- PNG

_DST_ATTRIBUTE = re.compile(r"""\b[\w.-]*:?DigitalSourceType\s*=\s*(["'])(.*?)\1""", re.S)
_DST_ELEMENT = re.compile(r"<([\w.-]*:?DigitalSourceType)\b([^>]*?)(/>|>(.*?)</\1\s*>)", re.S)
_RESOURCE = re.compile(r"""rdf:resource\s*=\s*(["'])(.*?)\1""", re.S)


def digital_source_type_from_xmp(xmp: str) -> str:
    """The IPTC DigitalSourceType value in an XMP packet (attribute, element text or rdf:resource), or ""."""
    match = _DST_ATTRIBUTE.search(xmp)
    if match and match.group(2).strip():
        return match.group(2).strip()
    for element in _DST_ELEMENT.finditer(xmp):
        resource = _RESOURCE.search(element.group(2))
        if resource and resource.group(2).strip():
            return resource.group(2).strip()
        text = re.sub(r"<[^>]*>", "", element.group(4) or "").strip()
        if text:
            return text
    return ""


def _png_chunks(data: bytes) -> tuple[tuple[int, int, int, int], list[str]]:
    """IHDR (width, height, bit depth, colour type) and the chunk types, from the raw bytes."""
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise Rejected("PNG does not decode: IHDR chunk missing")
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    types: list[str] = []
    offset = 8
    while offset + 8 <= len(data) and len(types) < 100_000:
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8].decode("latin-1")
        types.append(kind)
        offset += 12 + length
        if kind == "IEND":
            break
    return (width, height, depth, colour), types


def _read_png(path: Path, record: FileRecord, params: Preprocessing) -> list[Image]:
    from PIL import Image as PILImage

    data = path.read_bytes()
    (width, height, _depth, _colour), chunk_types = _png_chunks(data)
    record.format = "png"
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE) or width * height > MAX_PNG_PIXELS:
        raise Rejected(
            f"PNG size {width}x{height} exceeds the decompression-bomb limit "
            f"({MAX_SIDE} per side, {MAX_PNG_PIXELS} pixels)"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            with PILImage.open(io.BytesIO(data), formats=["PNG"]) as opened:
                if opened.size != (width, height):
                    raise Rejected(f"PNG does not decode: size {opened.size} differs from IHDR {width}x{height}")
                opened.load()
                chunks: dict[str, Any] = dict(getattr(opened, "text", None) or {})
                text = {str(k): _clip_text(str(v)) for k, v in chunks.items()}
                xmp_full = str(chunks.get("XML:com.adobe.xmp", ""))
                mode = opened.mode
                n_frames = int(getattr(opened, "n_frames", 1) or 1)
                image: PILImage.Image = opened
                if mode == "P":
                    image = opened.convert("RGBA" if "transparency" in opened.info else "RGB")
                elif mode in ("1", "LA", "PA"):
                    image = opened.convert("L")
                native = np.array(image)
    except Rejected:
        raise
    except MemoryError:
        raise  # not the file's fault: read_file reports it as such
    except Exception as exc:
        raise Rejected(f"PNG does not decode: {exc}") from exc
    if native.ndim == 3 and native.shape[-1] not in (3, 4):
        native = native[..., 0]
    if native.dtype == bool:
        native = native.astype(np.uint8)

    source_type = digital_source_type_from_xmp(xmp_full) if xmp_full else ""
    if not source_type:
        for key, value in text.items():
            if key.strip().lower() in ("digitalsourcetype", "iptc4xmpext:digitalsourcetype"):
                source_type = value.strip()
                break
    record.header = {
        "text": text,
        "digital_source_type": source_type,
        "c2pa_manifest": "caBX" in chunk_types,
        "mode": mode,
        "frames": n_frames,  # an animated PNG is audited by its first frame
    }
    record.width, record.height, record.slices = width, height, 1
    return _frame_images(record.name, [native], params)


# --------------------------------------------------------------------------- public API


def read_file(path: Path, name: str, params: Preprocessing) -> tuple[FileRecord, list[Image]]:
    """Recognise, validate and decode one file; a bad file gives a record with `error` and no images."""
    path = Path(path)
    record = FileRecord(name=name, sha256="")
    kind = ""
    try:
        if path.is_symlink() or not path.is_file():
            raise Rejected("not a regular file")
        size = path.stat().st_size
        record.sha256 = file_sha256(path)
        if size == 0:
            raise Rejected("empty file (0 bytes)")
        if size > MAX_FILE_BYTES:
            raise Rejected(f"file is {size} bytes, more than the limit of {MAX_FILE_BYTES}")
        kind = sniff_format(path)
        reader = {"dicom": _read_dicom, "nifti": _read_nifti, "png": _read_png}.get(kind)
        if reader is None:
            raise Rejected(NOT_AN_IMAGE)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            images = reader(path, record, params)
        if not images:
            raise Rejected("file contains no 2-D image")
    except Rejected as exc:
        return _rejected(record, kind, _clean(str(exc), path)), []
    except MemoryError:
        return _rejected(record, kind, "file needs more memory to decode than is available"), []
    except Exception as exc:  # noqa: BLE001 - the contract: bad input never raises
        return _rejected(record, kind, _clean(f"file could not be read: {type(exc).__name__}: {exc}", path)), []
    notes = list(dict.fromkeys(_clean(str(w.message), path) for w in caught))[:MAX_WARNINGS]
    if notes:
        record.header["read_warnings"] = notes
    return record, images


_OBJECT_REPR = re.compile(r"\s*<[\w.]+ object at 0x[0-9a-fA-F]+>")
MAX_REASON_CHARS = 400


def _clean(message: str, path: Path) -> str:
    """A library message fit for a report: no server paths or object reprs, one line, bounded length."""
    for location in sorted({str(path), str(path.resolve()), str(path.parent), str(path.resolve().parent)}, key=len)[
        ::-1
    ]:
        if len(location) > 1:
            message = message.replace(location, "")
    message = " ".join(_OBJECT_REPR.sub("", message).split())
    return message if len(message) <= MAX_REASON_CHARS else message[:MAX_REASON_CHARS] + "…"


def _rejected(record: FileRecord, kind: str, reason: str) -> FileRecord:
    """A rejected record keeps its name and digest, and what its bytes looked like; nothing else."""
    return FileRecord(
        name=record.name,
        sha256=record.sha256,
        header={"detected_format": kind} if kind in ("dicom", "nifti", "png") else {},
        error=reason,
    )


_NIFTI_SUFFIX = re.compile(r"(\.nii\.gz|\.nii|\.gz)$", re.I)


def _sidecar(path: Path) -> dict[str, Any]:
    size = path.stat().st_size
    if size > MAX_SIDECAR_BYTES:
        raise Rejected(f"JSON sidecar is {size} bytes, more than the limit of {MAX_SIDECAR_BYTES}")
    try:
        parsed = _strict_json(path.read_bytes().decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise Rejected(f"JSON sidecar does not parse: {exc}") from exc
    if not isinstance(parsed, dict):
        raise Rejected("JSON sidecar is not a JSON object")
    return parsed


def read_set(
    files: Iterable[tuple[str, Path]],
    role: str,
    params: Preprocessing,
    metadata: dict[str, dict[str, str]] | None = None,
) -> ImageSet:
    """Read (name, path) pairs into an ImageSet, in name order.

    A `.json` file whose stem matches a NIfTI file of the set (`x.json` beside `x.nii` or
    `x.nii.gz`) is that file's BIDS sidecar: it is attached as `header["sidecar"]` and is not
    listed as a file of its own. Any other JSON file is rejected with a reason.
    """
    ordered = sorted(((str(name).replace("\\", "/"), Path(path)) for name, path in files), key=lambda item: item[0])
    records: list[FileRecord] = []
    images: list[Image] = []
    jsons: list[tuple[str, Path]] = []
    seen: set[str] = set()
    for name, path in ordered:
        if name in seen:
            records.append(FileRecord(name=name, sha256="", error="duplicate file name in the set"))
            continue
        seen.add(name)
        if name.lower().endswith(".json"):
            try:
                looks = sniff_format(path) if path.is_file() and not path.is_symlink() else "unknown"
            except OSError:
                looks = "unknown"
            if looks not in ("dicom", "nifti", "png"):
                jsons.append((name, path))
                continue
        record, file_images = read_file(path, name, params)
        records.append(record)
        images.extend(file_images)

    nifti_by_stem = {
        _NIFTI_SUFFIX.sub("", record.name): record for record in records if record.accepted and record.format == "nifti"
    }
    for name, path in jsons:
        record = FileRecord(name=name, sha256="")
        try:
            if path.is_symlink() or not path.is_file():
                raise Rejected("not a regular file")
            record.sha256 = file_sha256(path)
            owner = nifti_by_stem.get(name[: -len(".json")])
            if owner is None:
                raise Rejected(
                    "JSON file is not a sidecar of a NIfTI file in this set "
                    f"(no {name[: -len('.json')]}.nii or .nii.gz beside it)"
                )
            owner.header["sidecar"] = _sidecar(path)
            owner.header["sidecar_file"] = name
            owner.header["sidecar_sha256"] = record.sha256
            continue
        except Rejected as exc:
            record.error = str(exc)
        except OSError as exc:
            record.error = f"file could not be read: {exc}"
        records.append(record)

    records.sort(key=lambda record: record.name)
    return ImageSet(role=role, files=records, images=images, metadata=dict(metadata or {}))


def _walk(folder: Path) -> Iterator[tuple[str, Path]]:
    for root, dirs, names in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for file_name in sorted(names):
            if file_name.startswith("."):
                continue
            path = Path(root) / file_name
            yield path.relative_to(folder).as_posix(), path


def read_folder(folder: Path, role: str, params: Preprocessing) -> ImageSet:
    """Every non-hidden file under `folder`, recursively, named by its relative path with forward slashes."""
    return read_set(_walk(Path(folder)), role, params)


def images_from_arrays(role: str, arrays: list[np.ndarray], names: list[str] | None, params: Preprocessing) -> ImageSet:
    """An ImageSet from in-memory arrays (tests, benchmarks): 2-D or colour (H, W, 3|4) arrays are one
    image each, other 3-D arrays a stack of 2-D images along their first axis. Records have format "array"."""
    if names is not None and len(names) != len(arrays):
        raise ValueError(f"{len(names)} names for {len(arrays)} arrays")
    records: list[FileRecord] = []
    images: list[Image] = []
    for position, array in enumerate(arrays):
        name = names[position] if names is not None else f"array_{position:05d}"
        native = np.asarray(array)
        if native.ndim == 2 or (native.ndim == 3 and native.shape[-1] in (3, 4)):
            frames = [native]
        elif native.ndim == 3:
            frames = [native[i] for i in range(native.shape[0])]
        else:
            raise ValueError(f"array {name!r} has shape {native.shape}: expected 2-D, (H, W, 3|4) or (N, H, W)")
        height, width = frames[0].shape[:2]
        records.append(
            FileRecord(
                name=name,
                sha256=pixel_digest(native),
                format="array",
                width=int(width),
                height=int(height),
                slices=len(frames),
            )
        )
        images.extend(_frame_images(name, frames, params))
    return ImageSet(role=role, files=records, images=images)
