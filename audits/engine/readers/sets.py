"""One file whatever its format; a set of named files with their NIfTI sidecars; a folder; in-memory arrays."""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..preprocess import Preprocessing, pixel_digest
from ..types import FileRecord, Image, ImageSet
from .common import (
    MAX_FILE_BYTES,
    MAX_SIDECAR_BYTES,
    MAX_WARNINGS,
    NOT_AN_IMAGE,
    ReadLimits,
    Rejected,
    _frame_images,
    _strict_json,
    interruptions,
)
from .dicom import _read_dicom
from .nifti import _read_nifti
from .png import _read_png
from .sniff import file_sha256, sniff_format

# Files up to this size are read into memory once; larger ones are streamed from disk as before.
READ_ONCE_BYTES = 64 * 1024 * 1024


def read_file(
    path: Path, name: str, params: Preprocessing | None, limits: ReadLimits | None = None
) -> tuple[FileRecord, list[Image]]:
    """Recognise, validate and decode one file; a bad file gives a record with `error` and no images.

    `limits` bounds what a header may declare (ReadLimits' defaults when None). `params` None
    validates only: every frame is decoded, none preprocessed (the images have empty pixels)."""
    path = Path(path)
    record = FileRecord(name=name, sha256="")
    kind = ""
    try:
        if path.is_symlink() or not path.is_file():
            raise Rejected("not a regular file")
        size = path.stat().st_size
        # A small file is read once: hashed, recognised and decoded from the same bytes.
        content = path.read_bytes() if size <= READ_ONCE_BYTES else None
        record.sha256 = hashlib.sha256(content).hexdigest() if content is not None else file_sha256(path)
        if size == 0:
            raise Rejected("empty file (0 bytes)")
        if size > MAX_FILE_BYTES:
            raise Rejected(f"file is {size} bytes, more than the limit of {MAX_FILE_BYTES}")
        kind = sniff_format(path, content)
        if kind not in ("dicom", "nifti", "png"):
            raise Rejected(NOT_AN_IMAGE)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            limits = limits or ReadLimits()
            if kind == "dicom":
                images = _read_dicom(path, record, params, limits, content=content)
            elif kind == "png":
                images = _read_png(path, record, params, limits, content=content)
            else:  # the NIfTI reader streams (and bounds) its own decompression from the file
                images = _read_nifti(path, record, params, limits)
        if not images:
            raise Rejected("file contains no 2-D image")
    except Rejected as exc:
        return _rejected(record, kind, _clean(str(exc), path)), []
    except MemoryError:
        return _rejected(record, kind, "file needs more memory to decode than is available"), []
    except interruptions():
        raise
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
    params: Preprocessing | None,
    metadata: dict[str, dict[str, str]] | None = None,
    limits: ReadLimits | None = None,
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
        record, file_images = read_file(path, name, params, limits)
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


def images_from_arrays(
    role: str, arrays: list[np.ndarray], names: list[str] | None, params: Preprocessing, unit: str = ""
) -> ImageSet:
    """An ImageSet from in-memory arrays (tests, benchmarks): 2-D or colour (H, W, 3|4) arrays are one
    image each, other 3-D arrays a stack of 2-D images along their first axis. Records have format "array";
    `unit` is the unit the array values are in ("HU" for CT), "" for relative intensities."""
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
        images.extend(_frame_images(name, frames, params, unit=unit))
    return ImageSet(role=role, files=records, images=images)
