"""NIfTI-1 and NIfTI-2 single files (.nii, .nii.gz): the header checked before decoding, one image per slice."""

from __future__ import annotations

import contextlib
import gzip
import logging
import math
import struct
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..preprocess import Preprocessing
from ..types import FileRecord, Image
from .common import (
    MAX_FILE_BYTES,
    MAX_NIFTI_DIM,
    MAX_NIFTI_VOXELS,
    MAX_WARNINGS,
    NIFTI_TRAILING_SLACK,
    NOT_AN_IMAGE,
    ReadLimits,
    Rejected,
    _clip_text,
    _frame_images,
    _strict_json,
    check_declared,
    interruptions,
    size_text,
)
from .sniff import GZIP_MAGIC, _nifti_version

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


def _check_gzip_length(path: Path, expected: int) -> None:
    """Decompress a .nii.gz once, a chunk at a time, and stop as soon as it passes the size its header
    declares: a stream that holds more than it says is refused before nibabel reads a voxel of it."""
    total = 0
    try:
        with gzip.open(path, "rb") as stream:
            while chunk := stream.read(1024 * 1024):
                total += len(chunk)
                if total > expected + NIFTI_TRAILING_SLACK:
                    raise Rejected(
                        f"NIfTI .gz stream decompresses to more than its header declares ({size_text(expected)}): "
                        "decompression was stopped there; the file is forged or damaged"
                    )
    except (OSError, EOFError, zlib.error) as exc:
        raise Rejected(f"NIfTI data does not decompress: {exc}") from exc
    if total < expected:
        raise Rejected(f"NIfTI file is {total} bytes once decompressed, its header declares {expected}")


def _read_nifti(path: Path, record: FileRecord, params: Preprocessing | None, limits: ReadLimits) -> list[Image]:
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
    shown = "x".join(str(d) for d in shape)
    check_declared("NIfTI", f"{shown} voxels x {bitpix // 8 or 1} bytes", data_bytes, limits)
    if compressed:
        _check_gzip_length(path, data_offset + data_bytes)
    else:
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
    except interruptions(MemoryError):
        raise  # not the file's fault: read_file reports memory, the caller its interruptions
    except Exception as exc:
        raise Rejected(f"NIfTI data does not decode: {exc}") from exc
    for message in notes.messages:
        warnings.warn(message, UserWarning, stacklevel=1)  # collected into header["read_warnings"]
    # After the y-up orientation a slice is (y, x): height is the second voxel axis.
    record.width, record.height = shape[0], shape[1]
    return images


def read_nifti_slice(path: Path, index: int) -> np.ndarray | None:
    """Slice `index` of an already validated NIfTI file, oriented as `read_file` shows it.

    Indexes count slices volume by volume, as `read_file` numbers its images. Only that
    slice is read from the file (a thumbnail must not decode a whole series). None when the
    index is out of range or the file does not read.
    """
    import nibabel

    with open(path, "rb") as handle:
        compressed = handle.read(2) == GZIP_MAGIC
    opener = gzip.open if compressed else open
    try:
        with opener(path, "rb") as stream:
            found = _nifti_version(stream.read(540))
            if found is None:
                return None
            stream.seek(0)
            image_class = nibabel.Nifti1Image if found[0] == 1 else nibabel.Nifti2Image
            image = image_class.from_stream(stream)
            shape = tuple(int(n) for n in image.header.get_data_shape())
            if len(shape) == 2:
                return _oriented(_as_plain(np.asanyarray(image.dataobj).reshape(shape))) if index == 0 else None
            depth, volumes = shape[2], (shape[3] if len(shape) >= 4 else 1)
            if not 0 <= index < depth * volumes:
                return None
            volume, k = divmod(index, depth)
            key = (slice(None), slice(None), k) + ((volume,) if len(shape) >= 4 else ())
            section = np.asanyarray(image.dataobj[key + (0,) * max(len(shape) - len(key), 0)])
            return _oriented(_as_plain(section.reshape(shape[:2])))
    except interruptions(MemoryError):
        raise
    except Exception:  # noqa: BLE001 (a thumbnail is best effort; the file was validated at upload)
        return None
