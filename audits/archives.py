"""Safe extraction of uploaded zip and tar archives.

An archive is recognised by its bytes (zip magic, a readable tar header), never by its
name. It is refused whole, with a reason the uploader can act on, for an entry that could
leave the extraction folder (absolute, '..', drive letter, backslash tricks), a link or
device entry, too many entries, too large a declared total or too high a compression
ratio. The ratio holds for each member and for the archive as a whole (expanded bytes over
the archive's own size), so a thousand members each just under the member floor are still
refused. The limits are checked on the headers first and again on the bytes actually
written, because headers can lie. An `UploadBudget` shared by the archives of one upload
caps the bytes and files they expand to together.

Members are written under numbered names inside a fresh private folder, so no entry name
ever becomes a path on disk; the names travel beside the paths. Nested archives are not
opened: `nested_archive` names them, and the ingest rejects such a member with that reason.
"""

from __future__ import annotations

import copy
import lzma
import os
import re
import shutil
import stat
import struct
import tarfile
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

from django.conf import settings
from django.template.defaultfilters import filesizeformat

ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header; an empty archive
CHUNK = 1024 * 1024
# Bytes of central directory one entry may need (46 fixed, a long name, the usual extra fields):
# a bigger directory is refused before zipfile builds an object per entry in memory.
ZIP_DIRECTORY_BYTES_PER_ENTRY = 1024
_END_RECORD = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_END = b"PK\x06\x06"
# What a damaged or hostile archive can raise while it is read (never while we write).
READ_ERRORS = (
    zipfile.BadZipFile,
    tarfile.TarError,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    OSError,
    NotImplementedError,
    RuntimeError,
    ValueError,
    OverflowError,
)
_DRIVE = re.compile(r"^[A-Za-z]:")
_DEVICE_TYPES = frozenset({stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO, stat.S_IFSOCK})

ArchiveKind = Literal["zip", "tar"]
Extracted = list[tuple[str, Path]]


class ArchiveRejected(Exception):
    """The whole archive is refused; `reason` says why in the uploader's words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Limits:
    members: int
    total_bytes: int
    ratio: int
    ratio_floor: int  # smaller members are not held to the ratio: a blank slice compresses ~1000:1
    ratio_floor_total: int = 32 * 1024 * 1024  # a whole archive expanding to less is not held to it either

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(
            members=settings.ARCHIVE_MAX_MEMBERS,
            total_bytes=settings.ARCHIVE_MAX_TOTAL_BYTES,
            ratio=settings.ARCHIVE_MAX_RATIO,
            ratio_floor=settings.ARCHIVE_RATIO_FLOOR_BYTES,
            ratio_floor_total=settings.ARCHIVE_RATIO_FLOOR_TOTAL_BYTES,
        )


@dataclass
class UploadBudget:
    """What all the files of one upload may still add up to: bytes once expanded, and files.

    Shared by its archives (and charged for its loose files), so ten archives just under the
    per-archive limit cannot expand to ten times it.
    """

    bytes_left: int
    files_left: int
    total_bytes: int = 0
    total_files: int = 0

    @classmethod
    def from_settings(cls) -> UploadBudget:
        return cls(
            bytes_left=settings.UPLOAD_MAX_EXPANDED_BYTES,
            files_left=settings.UPLOAD_MAX_FILES,
            total_bytes=settings.UPLOAD_MAX_EXPANDED_BYTES,
            total_files=settings.UPLOAD_MAX_FILES,
        )

    def charge_bytes(self, count: int) -> None:
        self.bytes_left -= count
        if self.bytes_left < 0:
            raise ArchiveRejected(
                f"the upload's files add up to more than {filesizeformat(self.total_bytes)} once expanded "
                "(the limit for one upload, UPLOAD_MAX_EXPANDED_MB); split the set into several uploads"
            )

    def charge_file(self) -> None:
        self.files_left -= 1
        if self.files_left < 0:
            raise ArchiveRejected(
                f"the upload holds more than {self.total_files} files (the limit for one upload, UPLOAD_MAX_FILES)"
            )


def nested_archive(path: Path) -> str | None:
    """Why a file is refused as an archive inside an archive, or None when it is none.

    A gzip-compressed NIfTI is a gzip stream too, but no tar: only zip and tar count.
    """
    with open(path, "rb") as handle:
        kind = archive_kind(handle)
    if kind is None:
        return None
    return (
        f"a {kind} archive inside the uploaded archive: nested archives are not opened; "
        "upload it on its own or put its files in the outer archive"
    )


def archive_kind(fileobj: IO[bytes]) -> ArchiveKind | None:
    """The archive kind by content ("zip", or "tar" plain, gzip, bzip2 or xz); None for anything else."""
    fileobj.seek(0)
    head = fileobj.read(4)
    fileobj.seek(0)
    if head in ZIP_MAGICS:
        return "zip"
    try:
        is_tar = tarfile.is_tarfile(fileobj)  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 (a corrupt gzip or xz stream raises its own errors: it is simply no tar)
        is_tar = False
    fileobj.seek(0)
    return "tar" if is_tar else None


def _shown(raw: str) -> str:
    """An entry name for a message: control characters made visible, long names cut."""
    text = "".join(char if char.isprintable() else f"\\x{ord(char):02x}" for char in raw)
    return f"“{text[:120]}{'…' if len(text) > 120 else ''}”"


def member_name(raw: str) -> str | None:
    """The entry's name with forward slashes, or None for an entry skipped silently.

    Backslashes count as separators, so `..\\evil` is caught as the escape it is meant to be.
    """
    if any(ord(char) < 32 for char in raw):
        raise ArchiveRejected(f"the entry {_shown(raw)} has control characters in its name")
    name = raw.replace("\\", "/")
    if name.startswith("/") or _DRIVE.match(name):
        raise ArchiveRejected(f"the entry {_shown(raw)} has an absolute path; only relative paths are allowed")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ArchiveRejected(f"the entry {_shown(raw)} points outside the archive's folder ('..')")
    if not parts or parts[0] == "__MACOSX" or any(part.startswith(".") for part in parts):
        return None
    return "/".join(parts)


@dataclass
class _Writer:
    """Writes members under numbered names and holds every limit on the bytes really written."""

    folder: Path
    limits: Limits
    archive_size: int
    budget: UploadBudget | None = None
    files: Extracted = field(default_factory=list)
    declared_total: int = 0
    written_total: int = 0

    def check_count(self, count: int) -> None:
        if count > self.limits.members:
            raise ArchiveRejected(f"it has more than {self.limits.members} entries")

    def check_declared(self, name: str, size: int, compressed: int | None) -> None:
        """Refuse on the header alone: declared total, member ratio (zip) or archive ratio (tar)."""
        if size < 0:
            raise ArchiveRejected(f"the entry {_shown(name)} declares a negative size: the archive is damaged")
        self.declared_total += size
        if self.declared_total > self.limits.total_bytes:
            raise ArchiveRejected(
                f"its files add up to more than {filesizeformat(self.limits.total_bytes)} "
                "(the limit for one archive); split the set into several archives"
            )
        if self.budget is not None and self.declared_total > self.budget.bytes_left:
            self.budget.charge_bytes(self.declared_total)  # raises: the header alone passes the budget
        if compressed is not None:  # the member first: a single bomb is named
            self._check_member_ratio(name, size, compressed)
        self._check_archive_ratio(self.declared_total)

    def _check_member_ratio(self, name: str, size: int, compressed: int) -> None:
        if size > self.limits.ratio_floor and size > self.limits.ratio * max(compressed, 1):
            raise ArchiveRejected(
                f"the entry {_shown(name)} expands more than {self.limits.ratio} times "
                f"({filesizeformat(max(compressed, 0))} to at least {filesizeformat(size)}): a likely zip bomb"
            )

    def _check_archive_ratio(self, total: int) -> None:
        """The whole archive is held to the ratio (a tar's members are not even compressed one by one)."""
        if total > max(self.limits.ratio_floor, self.limits.ratio_floor_total, self.limits.ratio * self.archive_size):
            raise ArchiveRejected(
                f"it expands more than {self.limits.ratio} times its own size "
                f"({filesizeformat(self.archive_size)} to more than {filesizeformat(total)}; "
                "the limit ARCHIVE_MAX_RATIO): a likely archive bomb"
            )

    def write(self, name: str, stream: IO[bytes], *, declared: int, compressed: int | None) -> None:
        path = self.folder / f"{len(self.files):06d}"
        written = 0
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(descriptor, "wb") as out:
            while True:
                try:
                    chunk = stream.read(CHUNK)
                except READ_ERRORS as exc:
                    raise ArchiveRejected(f"the entry {_shown(name)} is damaged or forged ({exc})") from None
                if not chunk:
                    break
                written += len(chunk)
                if written > declared:
                    raise ArchiveRejected(
                        f"the entry {_shown(name)} holds more bytes than its header declares "
                        f"({declared}): the archive is forged or damaged"
                    )
                self.written_total += len(chunk)
                if self.written_total > self.limits.total_bytes:
                    raise ArchiveRejected(
                        f"it expands beyond {filesizeformat(self.limits.total_bytes)} (the limit for one archive)"
                    )
                if self.budget is not None:
                    self.budget.charge_bytes(len(chunk))
                if compressed is not None:
                    self._check_member_ratio(name, written, compressed)
                self._check_archive_ratio(self.written_total)
                out.write(chunk)
        if written != declared:
            raise ArchiveRejected(
                f"the entry {_shown(name)} holds {written} bytes but its header declares {declared}: "
                "the archive is damaged"
            )
        if self.budget is not None:
            self.budget.charge_file()
        self.files.append((name, path))


def _zip_entry_type(info: zipfile.ZipInfo) -> str:
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if kind == stat.S_IFLNK:
        return "link"
    if kind in _DEVICE_TYPES:
        return "device"
    return "dir" if info.is_dir() or kind == stat.S_IFDIR else "file"


def _zip_directory(fileobj: IO[bytes], size: int) -> tuple[int, int] | None:
    """(entries, central directory bytes) from the end record, read before zipfile parses the directory."""
    tail_length = min(size, _END_RECORD.size + 0xFFFF)
    fileobj.seek(size - tail_length)
    tail = fileobj.read(tail_length)
    fileobj.seek(0)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + _END_RECORD.size > len(tail):
        return None
    entries, directory_size = _END_RECORD.unpack_from(tail, at)[4:6]
    locator = at - 20
    if locator >= 0 and tail[locator : locator + 4] == _ZIP64_LOCATOR:
        (offset,) = struct.unpack_from("<Q", tail, locator + 8)
        fileobj.seek(offset)
        record = fileobj.read(56)
        fileobj.seek(0)
        if len(record) == 56 and record[:4] == _ZIP64_END:
            entries, directory_size = struct.unpack_from("<QQ", record, 32)
    return entries, directory_size


def _extract_zip(fileobj: IO[bytes], writer: _Writer) -> None:
    directory = _zip_directory(fileobj, writer.archive_size)
    if directory is not None:
        entries, directory_size = directory
        writer.check_count(entries)
        if directory_size > writer.limits.members * ZIP_DIRECTORY_BYTES_PER_ENTRY:
            raise ArchiveRejected(
                f"its table of contents ({filesizeformat(directory_size)}) is larger than "
                f"{writer.limits.members} entries can need"
            )
    try:
        archive = zipfile.ZipFile(fileobj)
    except READ_ERRORS as exc:
        raise ArchiveRejected(f"it looks like a zip archive but cannot be read ({exc})") from None
    with archive:
        infos = archive.infolist()
        writer.check_count(len(infos))
        planned: list[tuple[str, zipfile.ZipInfo]] = []
        compressed_total = 0
        for info in infos:
            name = member_name(info.filename)
            kind = _zip_entry_type(info)
            if kind == "link":
                raise ArchiveRejected(f"the entry {_shown(info.filename)} is a symbolic link; links are not allowed")
            if kind == "device":
                raise ArchiveRejected(f"the entry {_shown(info.filename)} is a device or pipe, not a file")
            if name is None or kind == "dir":
                continue
            if info.flag_bits & 0x1:
                raise ArchiveRejected(f"the entry {_shown(info.filename)} is encrypted; upload it unencrypted")
            writer.check_declared(name, info.file_size, info.compress_size)
            compressed_total += info.compress_size
            planned.append((name, info))
        if compressed_total > writer.archive_size:
            raise ArchiveRejected(
                "its entries claim more compressed bytes than the archive holds (overlapping entries)"
            )
        for name, info in planned:
            # zipfile would stop at the declared size and blame the CRC; reading on past it lets the
            # writer count the surplus and name the lie. At most one chunk more than declared is read.
            probe = copy.copy(info)
            probe.file_size = info.file_size + 2 * CHUNK
            try:
                stream = archive.open(probe)
            except READ_ERRORS as exc:
                raise ArchiveRejected(f"the entry {_shown(name)} cannot be read ({exc})") from None
            with stream:
                writer.write(name, stream, declared=info.file_size, compressed=info.compress_size)


def _next_member(archive: tarfile.TarFile) -> tarfile.TarInfo | None:
    try:
        return archive.next()
    except READ_ERRORS as exc:
        raise ArchiveRejected(f"it is a damaged tar archive ({exc})") from None


def _extract_tar(fileobj: IO[bytes], writer: _Writer) -> None:
    try:
        archive = tarfile.open(fileobj=fileobj, mode="r:*")  # noqa: SIM115 (closed by the with below)
    except READ_ERRORS as exc:
        raise ArchiveRejected(f"it looks like a tar archive but cannot be read ({exc})") from None
    with archive:
        count = 0
        while (member := _next_member(archive)) is not None:
            count += 1
            writer.check_count(count)
            name = member_name(member.name)
            if member.issym() or member.islnk():
                raise ArchiveRejected(f"the entry {_shown(member.name)} is a link; links are not allowed")
            if member.ischr() or member.isblk() or member.isfifo():
                raise ArchiveRejected(f"the entry {_shown(member.name)} is a device or pipe, not a file")
            if member.isreg():
                # Skipping a member of a compressed tar still decompresses it, so skipped ones count too.
                writer.check_declared(name or member.name, member.size, None)
            if name is None or member.isdir():
                continue
            if not member.isreg():
                raise ArchiveRejected(f"the entry {_shown(member.name)} is not a regular file")
            try:
                stream = archive.extractfile(member)
            except READ_ERRORS as exc:
                raise ArchiveRejected(f"the entry {_shown(name)} cannot be read ({exc})") from None
            if stream is None:
                raise ArchiveRejected(f"the entry {_shown(name)} is not a regular file")
            with stream:
                writer.write(name, stream, declared=member.size, compressed=None)


def extract_archive(fileobj: IO[bytes], into: Path, *, budget: UploadBudget | None = None) -> Extracted:
    """Extract a zip or tar archive into a new private folder inside `into`.

    Returns (name inside the archive with forward slashes, extracted path) per file, in
    archive order. On rejection the new folder is removed again and ArchiveRejected says why.
    `budget`, shared by the archives of one upload, is charged for every byte and file written.
    """
    kind = archive_kind(fileobj)
    if kind is None:
        raise ArchiveRejected("it is neither a zip nor a tar archive")
    fileobj.seek(0, os.SEEK_END)
    size = fileobj.tell()
    fileobj.seek(0)
    folder = Path(tempfile.mkdtemp(prefix="archive-", dir=into))
    writer = _Writer(folder=folder, limits=Limits.from_settings(), archive_size=size, budget=budget)
    try:
        if kind == "zip":
            _extract_zip(fileobj, writer)
        else:
            _extract_tar(fileobj, writer)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return writer.files
