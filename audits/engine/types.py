"""Plain data passed between the readers, the audits and their callers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np


class Status(StrEnum):
    PASS = "pass"  # noqa: S105 (an audit status, not a password)
    WARN = "warn"
    FAIL = "fail"
    NOT_COMPUTABLE = "not_computable"


# Worst first: a suite's overall status is the worst of its audits.
SEVERITY = {Status.FAIL: 3, Status.WARN: 2, Status.NOT_COMPUTABLE: 1, Status.PASS: 0}


def worst(statuses: list[Status]) -> Status:
    return max(statuses, key=SEVERITY.__getitem__, default=Status.PASS)


@dataclass(slots=True)  # slots: a merge holds one per file, tens of thousands
class FileRecord:
    """One file of an image set as read from disk: what it is, or why it was rejected."""

    name: str  # path inside the set, with forward slashes
    sha256: str  # of the file's bytes
    format: str = ""  # "dicom", "nifti" or "png"; "" when rejected
    width: int = 0
    height: int = 0
    slices: int = 0  # 2-D images this file contributes (volume slices, frames)
    header: dict[str, Any] = field(default_factory=dict)  # selected header values, JSON-safe
    error: str = ""  # why the file was rejected; "" when accepted

    @property
    def accepted(self) -> bool:
        return not self.error


@dataclass(slots=True)  # slots: a merge holds one per image, tens of thousands
class Image:
    """One 2-D image of a set after preprocessing (percentile clip, [0, 1], resize)."""

    file: str  # FileRecord.name it came from
    index: int  # slice or frame index within the file (0 for a 2-D file)
    pixels: np.ndarray  # float32, shape (size, size), values in [0, 1]
    pixel_sha256: str  # of the decoded native pixels (dtype and byte order normalised)
    blank: bool  # constant or near-constant before scaling: excluded from comparisons
    # The same image resized like `pixels` but in the file's own units, neither clipped nor
    # scaled (DICOM after its modality LUT / RescaleSlope and RescaleIntercept: HU for CT;
    # NIfTI after scl_slope and scl_inter): what a quantitative intensity comparison needs.
    # float32 (size, size); None when the producer did not keep it.
    native: np.ndarray | None = None
    unit: str = ""  # the unit `native` is in when the file declares one ("HU" for CT), else ""

    @property
    def label(self) -> str:
        return f"{self.file}#{self.index}" if self.index else self.file


@dataclass
class ImageSet:
    """A loaded set: its files, its preprocessed 2-D images and optional per-file metadata."""

    role: str  # "synthetic", "reference" or "holdout"
    files: list[FileRecord]
    images: list[Image]
    metadata: dict[str, dict[str, str]] = field(default_factory=dict)  # file name -> attribute -> value
    # The researcher's subgroup mapping: attribute -> {spelling -> group} ("" = count as missing).
    value_map: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def usable(self) -> list[Image]:
        return [image for image in self.images if not image.blank]

    def digest(self) -> str:
        """SHA-256 over the sorted file digests (and sidecar digests): the identity of the set's content."""
        import hashlib

        joined = "\n".join(
            sorted(
                # A NIfTI's JSON sidecar (its disclosure flag) is part of the file's identity.
                f"{f.name}:{f.sha256}" + (f":{f.header['sidecar_sha256']}" if f.header.get("sidecar_sha256") else "")
                for f in self.files
                if f.accepted
            )
        )
        return hashlib.sha256(joined.encode()).hexdigest()


@dataclass
class AuditResult:
    """What every audit returns; JSON-safe through `as_dict`."""

    audit: str
    status: Status
    summary: str  # one sentence a reviewer can read
    metrics: dict[str, Any] = field(default_factory=dict)
    # name -> {"warn": x, "fail": y, "direction": "above" | "below"}
    thresholds: dict[str, Any] = field(default_factory=dict)
    flagged: list[dict[str, Any]] = field(default_factory=list)  # at most FLAGGED_LIMIT items
    charts: dict[str, Any] = field(default_factory=dict)  # chart-ready arrays (lists), no figures
    reason: str = ""  # for NOT_COMPUTABLE: why
    needed: str = ""  # for NOT_COMPUTABLE: what would make it computable
    caveats: list[str] = field(default_factory=list)
    inputs: dict[str, Any] = field(default_factory=dict)  # counts and set digests
    params: dict[str, Any] = field(default_factory=dict)
    code_version: str = ""
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = str(self.status)
        return data


FLAGGED_LIMIT = 50


def not_computable(audit: str, reason: str, needed: str, **extra: Any) -> AuditResult:
    return AuditResult(
        audit=audit,
        status=Status.NOT_COMPUTABLE,
        summary=f"Not computable: {reason}",
        reason=reason,
        needed=needed,
        **extra,
    )
