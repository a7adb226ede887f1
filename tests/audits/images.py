"""Build real-image-derived test files (DICOM, NIfTI, PNG) and hostile files, offline.

Sources (no download): pydicom's shipped test files via get_testdata_file(name,
download=False) and nibabel's shipped example4d.nii.gz found from nibabel.__file__ (never
nibabel.testing, which imports pytest; never get_testdata_files(pattern), which downloads).
Every writer returns the path it wrote.
"""

from __future__ import annotations

import functools
import gzip
import io
import json
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import nibabel
import numpy as np
import pydicom
from PIL import Image as PILImage
from PIL import PngImagePlugin
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

DICOM_SOURCES = (
    "CT_small.dcm",
    "MR_small.dcm",
    "MR_small_RLE.dcm",
    "MR_small_jp2klossless.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
)
EXAMPLE4D = Path(os.path.dirname(nibabel.__file__)) / "tests" / "data" / "example4d.nii.gz"
TRAINED = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
UID_KEYWORDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID")


def dicom_source(name: str = "MR_small.dcm") -> Path:
    path = get_testdata_file(name, download=False)
    assert path is not None, f"{name} is not shipped with pydicom"
    return Path(str(path))


def synthesizing_equipment() -> Dataset:
    code = Dataset()
    code.CodeValue = "109100"
    code.CodingSchemeDesignator = "DCM"
    code.CodeMeaning = "Synthesizing Equipment"
    equipment = Dataset()
    equipment.PurposeOfReferenceCodeSequence = [code]
    equipment.Manufacturer = "MISyn test generator"
    equipment.SoftwareVersions = "1.0"
    return equipment


def write_dicom(
    path: Path,
    source: str = "MR_small.dcm",
    synthetic: str | None = "YES",
    equipment: bool = True,
    fresh_uids: bool = True,
    pixels: np.ndarray | None = None,
    **attributes: Any,
) -> Path:
    """A copy of a shipped DICOM, relabelled.

    synthetic: SyntheticData value ("YES", "NO") or None to remove it; equipment: add a
    Contributing Equipment item (109100, DCM); fresh_uids: new Study/Series/SOP/FoR UIDs (else the
    real file's UIDs are kept); pixels: replacement pixel values (uncompressed sources only);
    attributes: header values to set ("" to blank one, None to delete it).
    """
    ds = pydicom.dcmread(dicom_source(source))
    if synthetic is None:
        if "SyntheticData" in ds:
            del ds.SyntheticData
    else:
        ds.SyntheticData = synthetic
    if equipment:
        ds.ContributingEquipmentSequence = [synthesizing_equipment()]
    elif "ContributingEquipmentSequence" in ds:
        del ds.ContributingEquipmentSequence
    if fresh_uids:
        for keyword in UID_KEYWORDS:
            setattr(ds, keyword, generate_uid())
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    if pixels is not None:
        assert not ds.file_meta.TransferSyntaxUID.is_compressed
        ds.PixelData = np.ascontiguousarray(pixels.astype(ds.pixel_array.dtype)).tobytes()
    for keyword, value in attributes.items():
        if value is None:
            if keyword in ds:
                delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def dicom_pixels(source: str = "MR_small.dcm") -> np.ndarray:
    return pydicom.dcmread(dicom_source(source)).pixel_array


@functools.cache
def example4d() -> np.ndarray:
    """The real EPI series shipped with nibabel, (128, 96, 24, 2) int16 (read-only copy)."""
    data = np.asanyarray(nibabel.load(EXAMPLE4D).dataobj)
    data.setflags(write=False)
    return data


def write_nifti(
    path: Path,
    kind: str = "volume",
    flag: str | None = "extension",
    descrip: str = "",
    data: np.ndarray | None = None,
    z_repeats: int = 1,
) -> Path:
    """A NIfTI-1 file from example4d: kind "slice" (128x96), "volume" (first volume) or "4d".

    flag: "extension" (JSON comment extension {"SyntheticData": "YES"}), "sidecar" (writes
    <stem>.json beside it), "descrip" (only the descrip text says synthetic) or None. gzip
    when the name ends in .gz.
    z_repeats (gzip, 3-D data only): the file holds `data` stacked that many times along z, as
    np.tile(data, (1, 1, z_repeats)) would, written as a gzip member for the header and the
    same member, compressed once, for each copy (a gzip stream may hold several members). A
    file of hundreds of MB then costs one copy's compression instead of tens of seconds.
    """
    if z_repeats > 1:
        return _write_nifti_repeated(path, flag, descrip, data, z_repeats)
    if data is None:
        full = example4d()
        data = {"slice": full[:, :, 12, 0], "volume": full[..., 0], "4d": full}[kind]
    image = nibabel.Nifti1Image(np.array(data), np.diag([2.0, 2.0, 2.2, 1.0]))
    if flag == "extension":
        content = json.dumps({"SyntheticData": "YES", "Generator": "test-gan"}).encode()
        image.header.extensions.append(nibabel.nifti1.Nifti1Extension("comment", content))
    if flag == "descrip" or descrip:
        image.header["descrip"] = (descrip or "synthetic image from a GAN").encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    nibabel.save(image, path)
    if flag == "sidecar":
        stem = path.name.removesuffix(".gz").removesuffix(".nii")
        (path.parent / f"{stem}.json").write_text(json.dumps({"SyntheticData": "YES", "RepetitionTime": 2.0}))
    return path


def _write_nifti_repeated(path: Path, flag: str | None, descrip: str, data: np.ndarray | None, z_repeats: int) -> Path:
    assert path.name.endswith(".gz") and data is not None and data.ndim == 3 and flag != "sidecar"
    first = write_nifti(path.with_name(path.name.removesuffix(".gz")), flag=flag, descrip=descrip, data=data)
    single = first.read_bytes()
    first.unlink()
    header = nibabel.Nifti1Header.from_fileobj(io.BytesIO(single))
    offset = int(header["vox_offset"])
    header.set_data_shape((*data.shape[:2], data.shape[2] * z_repeats))  # the header's dims only
    prefix = header.binaryblock + single[348:offset]  # the extensions after the 348-byte header
    copy = gzip.compress(single[offset:], compresslevel=1, mtime=0)
    path.write_bytes(gzip.compress(prefix, compresslevel=1, mtime=0) + copy * z_repeats)
    return path


def xmp_packet(source_type: str = TRAINED, form: str = "attribute") -> str:
    if form == "attribute":
        body = f'<rdf:Description rdf:about="" Iptc4xmpExt:DigitalSourceType="{source_type}"/>'
    else:
        body = (
            '<rdf:Description rdf:about="">'
            f'<Iptc4xmpExt:DigitalSourceType rdf:resource="{source_type}"/>'
            "</rdf:Description>"
        )
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">'
        f"{body}</rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    )


def to_uint16(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array, dtype=np.float64)
    low, high = float(array.min()), float(array.max())
    scaled = (array - low) / (high - low or 1.0) * 65535.0
    return np.round(scaled).astype(np.uint16)


def write_png(
    path: Path,
    array: np.ndarray | None = None,
    label: str | None = "xmp",
    xmp_form: str = "attribute",
    text: dict[str, str] | None = None,
) -> Path:
    """A PNG of a real slice (default: example4d slice 12, as 16-bit grey).

    label: "xmp" (iTXt XML:com.adobe.xmp with DigitalSourceType trainedAlgorithmicMedia),
    "text" (only a free-text key SyntheticData=YES), "dst_text" (plain DigitalSourceType text
    key) or None; text: extra tEXt chunks.
    """
    if array is None:
        array = to_uint16(example4d()[:, :, 12, 0])
    info = PngImagePlugin.PngInfo()
    if label == "xmp":
        info.add_itxt("XML:com.adobe.xmp", xmp_packet(TRAINED, xmp_form), zip=True)
    elif label == "text":
        info.add_text("SyntheticData", "YES")
    elif label == "dst_text":
        info.add_text("DigitalSourceType", TRAINED)
    for key, value in (text or {}).items():
        info.add_text(key, value)
    image = PILImage.fromarray(np.asarray(array))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG", pnginfo=info)
    return path


# --------------------------------------------------------------------------- hostile files


def write_text_as_dcm(path: Path) -> Path:
    path.write_text("This is not a DICOM file.\n" * 20)
    return path


def write_short_pixel_dicom(path: Path, keep: int = 1000) -> Path:
    """CT_small with its pixel data cut to `keep` bytes (header says 32768)."""
    ds = pydicom.dcmread(dicom_source("CT_small.dcm"))
    ds.PixelData = ds.PixelData[:keep]
    ds.save_as(path, enforce_file_format=True)
    return path


def write_truncated_file(path: Path, source: str = "CT_small.dcm", drop: int = 31000) -> Path:
    """A shipped DICOM with its last `drop` bytes cut off (as by an interrupted upload)."""
    data = dicom_source(source).read_bytes()
    path.write_bytes(data[: len(data) - drop])
    return path


def write_nifti_huge_header(path: Path, dims: tuple[int, ...] = (100000, 100000, 100000)) -> Path:
    """A NIfTI-1 header claiming enormous dimensions, with 16 bytes of data (never decoded)."""
    header = bytearray(352)
    struct.pack_into("<i", header, 0, 348)
    full = (len(dims), *dims) + (1,) * (7 - len(dims))
    # int16 cannot hold 100000: such a header stores it wrapped, so write the NIfTI-2 form instead.
    if max(dims) > 32767:
        header = bytearray(544)
        struct.pack_into("<i", header, 0, 540)
        header[4:12] = b"n+2\0\r\n\x1a\n"
        struct.pack_into("<hh", header, 12, 4, 16)  # int16
        struct.pack_into("<8q", header, 16, *full)
        struct.pack_into("<q", header, 168, 544)
    else:
        struct.pack_into("<8h", header, 40, *full)
        struct.pack_into("<hh", header, 70, 4, 16)
        struct.pack_into("<f", header, 108, 352.0)
        header[344:348] = b"n+1\0"
    data = bytes(header) + b"\0" * 16
    if path.name.endswith(".gz"):
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def write_png_bomb(path: Path, side: int = 30000) -> Path:
    """A genuine side x side 1-bit PNG of zeros: about 110 KB on disk, 900 M pixels decoded."""
    row = b"\0" * (1 + (side + 7) // 8)
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(row * 1000) for _ in range(side // 1000)]
    parts.append(compressor.compress(row * (side % 1000)))
    parts.append(compressor.flush())
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", b"".join(parts))
    path.write_bytes(data + _png_chunk(b"IEND", b""))
    return path


def write_corrupt_png(path: Path) -> Path:
    """A valid PNG signature and IHDR followed by garbage image data."""
    ihdr = struct.pack(">IIBBBBB", 64, 64, 8, 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", os.urandom(200))
    path.write_bytes(data + _png_chunk(b"IEND", b""))
    return path


def write_random(path: Path, size: int = 4096, seed: int = 0) -> Path:
    path.write_bytes(np.random.default_rng(seed).bytes(size))
    return path


def write_empty(path: Path) -> Path:
    path.write_bytes(b"")
    return path
