"""Safe extraction: hostile archives are refused whole, with a reason, and leave nothing behind."""

from __future__ import annotations

import io
import os
import stat
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings

from audits.archives import ArchiveRejected, UploadBudget, archive_kind, extract_archive, nested_archive
from audits.engine.preprocess import Preprocessing
from audits.engine.readers import NOT_AN_IMAGE, read_file
from tests.audits.images import dicom_source, write_nifti

CT = dicom_source("CT_small.dcm").read_bytes()
MR = dicom_source("MR_small.dcm").read_bytes()


# --------------------------------------------------------------------------- builders


def zip_bytes(entries: list[tuple[str | zipfile.ZipInfo, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def zip_entry(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # Unix: the high 16 bits of external_attr are st_mode
    info.external_attr = mode << 16
    return info


def tar_bytes(entries: list[tuple[tarfile.TarInfo, bytes | None]], compression: str = "") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=f"w:{compression}") as archive:
        for info, data in entries:
            if data is not None:
                info.size = len(data)
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def tar_file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def tar_special(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info, None


def lying_zip(data: bytes, declared: int) -> bytes:
    """A zip whose local and central headers both declare `declared` bytes for a larger member."""
    raw = bytearray(zip_bytes([("scan.dcm", data)]))
    local = raw.index(b"PK\x03\x04")
    struct.pack_into("<I", raw, local + 22, declared)
    central = raw.index(b"PK\x01\x02")
    struct.pack_into("<I", raw, central + 24, declared)
    return bytes(raw)


def many_member_zip(count: int, size: int) -> bytes:
    """A zip of `count` members of `size` zero bytes each, deflated once and repeated (fast to build):
    each member alone stays under the member ratio floor; together they are a bomb."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    deflated = packer.compress(bytes(size)) + packer.flush()
    crc = zlib.crc32(bytes(size))
    out, directory = bytearray(), bytearray()
    for index in range(count):
        name = f"slices/{index:05d}.dcm".encode()
        offset = len(out)
        out += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc, len(deflated), size, len(name), 0)
        out += name + deflated
        directory += struct.pack(
            "<4s6H3L5H2L",
            b"PK\x01\x02",
            20,
            20,
            0,
            8,
            0,
            0x21,
            crc,
            len(deflated),
            size,
            len(name),
            0,
            0,
            0,
            0,
            0,
            offset,
        )
        directory += name
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(directory), len(out), 0)
    return bytes(out + directory + end)


# --------------------------------------------------------------------------- helpers


def tree(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*")} if root.exists() else set()


@pytest.fixture
def into(tmp_path: Path) -> Path:
    folder = tmp_path / "extract"
    folder.mkdir()
    return folder


def extract(data: bytes, into: Path) -> list[tuple[str, Path]]:
    return extract_archive(io.BytesIO(data), into)


def assert_refused(data: bytes, into: Path, *words: str) -> str:
    """The archive is refused with a reason naming `words`; nothing is left anywhere."""
    parent = into.parent.parent
    before_parent, before_private = tree(parent), tree(Path(settings.PRIVATE_STORAGE_ROOT))
    with pytest.raises(ArchiveRejected) as caught:
        extract(data, into)
    reason = caught.value.reason
    for word in words:
        assert word in reason, reason
    assert list(into.iterdir()) == []
    assert tree(parent) == before_parent
    assert tree(Path(settings.PRIVATE_STORAGE_ROOT)) == before_private
    assert not any(path.name.startswith("evil") for path in parent.rglob("*"))
    return reason


# --------------------------------------------------------------------------- recognised by content


def test_archives_are_recognised_by_content_not_by_name(tmp_path: Path) -> None:
    assert archive_kind(io.BytesIO(zip_bytes([("a.dcm", CT)]))) == "zip"
    for compression in ("", "gz", "bz2", "xz"):
        assert archive_kind(io.BytesIO(tar_bytes([tar_file("a.dcm", CT)], compression))) == "tar"
    assert archive_kind(io.BytesIO(CT)) is None  # a DICOM, whatever it is called
    assert archive_kind(io.BytesIO(write_nifti(tmp_path / "brain.nii.gz").read_bytes())) is None  # gzip, no tar
    assert archive_kind(io.BytesIO(b"")) is None
    assert archive_kind(io.BytesIO(b"\x1f\x8b\x08\x00broken gzip")) is None


def test_a_zip_of_real_dicom_is_extracted_with_its_names(into: Path) -> None:
    data = zip_bytes(
        [
            ("scans/", b""),
            ("scans/ct.dcm", CT),
            ("scans\\mr.dcm", MR),  # a Windows tool's separator
            ("__MACOSX/scans/._ct.dcm", b"resource fork"),
            ("scans/.DS_Store", b"finder"),
            (".hidden/x.dcm", CT),
        ]
    )
    extracted = extract(data, into)
    assert [name for name, _path in extracted] == ["scans/ct.dcm", "scans/mr.dcm"]
    assert [path.read_bytes() for _name, path in extracted] == [CT, MR]
    for _name, path in extracted:
        assert path.parent.parent == into and stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.name.isdigit()  # numbered names: an entry name never becomes a path on disk


@pytest.mark.parametrize("compression", ["", "gz", "bz2", "xz"])
def test_a_tar_of_real_dicom_is_extracted(into: Path, compression: str) -> None:
    folder = tarfile.TarInfo("./set")
    folder.type = tarfile.DIRTYPE
    data = tar_bytes(
        [(folder, None), tar_file("./set/ct.dcm", CT), tar_file("set/mr.dcm", MR), tar_file("set/._mr.dcm", b"x")],
        compression,
    )
    extracted = extract(data, into)
    assert [(name, path.read_bytes()) for name, path in extracted] == [("set/ct.dcm", CT), ("set/mr.dcm", MR)]


def test_a_nested_archive_is_kept_as_a_file_and_then_rejected_as_no_image(into: Path) -> None:
    inner = zip_bytes([("inner/ct.dcm", CT)])
    extracted = extract(zip_bytes([("outer/ct.dcm", CT), ("outer/inner.zip", inner)]), into)
    assert [name for name, _ in extracted] == ["outer/ct.dcm", "outer/inner.zip"]
    record, images = read_file(extracted[1][1], "outer/inner.zip", Preprocessing())
    assert record.error == NOT_AN_IMAGE and images == []
    assert not any(path.name == "ct.dcm" for path in into.rglob("*"))


def test_an_empty_zip_gives_no_files(into: Path) -> None:
    assert extract(zip_bytes([]), into) == []


# --------------------------------------------------------------------------- paths that leave the folder


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("../evil.dcm", ["outside", "../evil.dcm"]),
        ("scans/../../evil.dcm", ["outside"]),
        ("/var/evil.dcm", ["absolute"]),
        ("C:\\evil.dcm", ["absolute"]),
        ("C:evil.dcm", ["absolute"]),
        ("..\\..\\evil.dcm", ["outside"]),
        ("\\\\server\\share\\evil.dcm", ["absolute"]),
        ("evil\n.dcm", ["control characters"]),  # zipfile itself cuts a name at NUL
    ],
)
def test_zip_slip_is_refused(into: Path, name: str, words: list[str]) -> None:
    # A good file first: whatever was written before the bad entry is removed again.
    assert_refused(zip_bytes([("ok.dcm", CT), (name, CT)]), into, *words)


@pytest.mark.parametrize("name", ["../evil.dcm", "/evil.dcm", "a/../../evil.dcm", "..\\evil.dcm"])
def test_tar_slip_is_refused(into: Path, name: str) -> None:
    reason = assert_refused(tar_bytes([tar_file("ok.dcm", CT), tar_file(name, CT)], "gz"), into)
    assert "outside" in reason or "absolute" in reason


# --------------------------------------------------------------------------- links and devices


def test_a_symlink_in_a_zip_is_refused(into: Path) -> None:
    link = zip_entry("scans/link.dcm", stat.S_IFLNK | 0o777)
    assert_refused(zip_bytes([("ok.dcm", CT), (link, b"/etc/passwd")]), into, "symbolic link", "scans/link.dcm")


def test_a_device_in_a_zip_is_refused(into: Path) -> None:
    device = zip_entry("null", stat.S_IFCHR | 0o666)
    assert_refused(zip_bytes([(device, b"")]), into, "device")


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        (tar_special("link.dcm", tarfile.SYMTYPE, "/etc/passwd"), ["link"]),
        (tar_special("hard.dcm", tarfile.LNKTYPE, "ok.dcm"), ["link"]),
        (tar_special("tty", tarfile.CHRTYPE), ["device"]),
        (tar_special("disk", tarfile.BLKTYPE), ["device"]),
        (tar_special("pipe", tarfile.FIFOTYPE), ["device or pipe"]),
    ],
)
def test_links_and_devices_in_a_tar_are_refused(
    into: Path, entry: tuple[tarfile.TarInfo, None], words: list[str]
) -> None:
    assert_refused(tar_bytes([tar_file("ok.dcm", CT), entry]), into, *words)


# --------------------------------------------------------------------------- limits


@override_settings(ARCHIVE_MAX_MEMBERS=3)
def test_too_many_entries_are_refused(into: Path) -> None:
    entries = [(f"scan{i}.dcm", CT) for i in range(4)]
    assert_refused(zip_bytes(entries), into, "more than 3 entries")
    assert_refused(tar_bytes([tar_file(name, data) for name, data in entries], "gz"), into, "more than 3 entries")
    assert len(extract(zip_bytes(entries[:3]), into)) == 3


@override_settings(ARCHIVE_MAX_MEMBERS=3)
def test_an_end_record_that_understates_the_entries_does_not_help(into: Path) -> None:
    raw = bytearray(zip_bytes([(f"scan{i}.dcm", CT) for i in range(4)]))
    end = raw.rindex(b"PK\x05\x06")
    struct.pack_into("<HH", raw, end + 8, 1, 1)  # entries on this disk, entries in total
    assert_refused(bytes(raw), into, "more than 3 entries")


@override_settings(ARCHIVE_MAX_MEMBERS=2)
def test_a_table_of_contents_too_large_for_the_entry_limit_is_refused_before_parsing(into: Path) -> None:
    entries = [("a" * 1100 + ".dcm", CT), ("b" * 1100 + ".dcm", MR)]
    assert_refused(zip_bytes(entries), into, "table of contents", "larger than 2 entries can need")


@override_settings(ARCHIVE_MAX_TOTAL_BYTES=len(CT) + len(MR) - 1)
def test_a_declared_total_over_the_limit_is_refused(into: Path) -> None:
    assert_refused(zip_bytes([("ct.dcm", CT), ("mr.dcm", MR)]), into, "add up to more than")
    assert_refused(tar_bytes([tar_file("ct.dcm", CT), tar_file("mr.dcm", MR)]), into, "add up to more than")


def test_a_zip_bomb_is_refused_by_its_ratio(into: Path) -> None:
    bomb = zip_bytes([("ok.dcm", CT), ("zeros.dcm", bytes(50 * 1024 * 1024))])
    assert len(bomb) < 200 * 1024
    assert_refused(bomb, into, "expands more than 100 times", "zeros.dcm")


def test_a_tar_gz_bomb_is_refused_by_its_ratio(into: Path) -> None:
    bomb = tar_bytes([tar_file("zeros.dcm", bytes(50 * 1024 * 1024))], "gz")
    assert_refused(bomb, into, "expands more than 100 times its own size", "ARCHIVE_MAX_RATIO")


def test_a_hidden_member_of_a_tar_bomb_counts_although_it_is_skipped(into: Path) -> None:
    # Skipping a member of a compressed tar still decompresses it.
    bomb = tar_bytes([tar_file("ok.dcm", CT), tar_file(".zeros", bytes(50 * 1024 * 1024))], "gz")
    assert_refused(bomb, into, "expands more than 100 times its own size")


def test_many_members_each_under_the_member_floor_are_refused_by_the_whole_archive_ratio(into: Path) -> None:
    # The attack measured on the old code: 1,100 members just under the 1 MiB floor, 1.07 GiB from ~1.3 MB.
    bomb = many_member_zip(1100, 1024 * 1024 - 1)
    assert len(bomb) < 1.5 * 1024 * 1024
    with zipfile.ZipFile(io.BytesIO(bomb)) as archive:  # a valid zip whose every member expands
        assert archive.read("slices/00007.dcm") == bytes(1024 * 1024 - 1)
    reason = assert_refused(bomb, into, "expands more than 100 times its own size", "ARCHIVE_MAX_RATIO")
    assert "a likely archive bomb" in reason


def test_a_small_archive_of_blank_slices_is_not_held_to_the_whole_archive_ratio(into: Path) -> None:
    # Ten blank 512 KiB slices: 5 MiB from a few KiB, under the 32 MiB floor for a whole archive.
    extracted = extract(many_member_zip(10, 512 * 1024), into)
    assert len(extracted) == 10 and all(path.stat().st_size == 512 * 1024 for _name, path in extracted)


def test_the_upload_budget_holds_across_archives(into: Path) -> None:
    budget = UploadBudget(bytes_left=len(CT) + len(MR) + 10, files_left=10, total_bytes=len(CT) + len(MR) + 10)
    first = extract_archive(io.BytesIO(zip_bytes([("ct.dcm", CT), ("mr.dcm", MR)])), into, budget=budget)
    assert len(first) == 2 and budget.bytes_left == 10 and budget.files_left == 8
    with pytest.raises(ArchiveRejected) as caught:
        extract_archive(io.BytesIO(zip_bytes([("ct.dcm", CT)])), into, budget=budget)
    assert (
        "more than" in caught.value.reason and "the limit for one upload, UPLOAD_MAX_EXPANDED_MB" in caught.value.reason
    )


def test_the_upload_budget_counts_files(into: Path) -> None:
    budget = UploadBudget(bytes_left=10**9, files_left=2, total_bytes=10**9, total_files=2)
    with pytest.raises(ArchiveRejected) as caught:
        extract_archive(io.BytesIO(zip_bytes([("a.dcm", CT), ("b.dcm", MR), ("c.dcm", CT)])), into, budget=budget)
    assert "more than 2 files (the limit for one upload, UPLOAD_MAX_FILES)" in caught.value.reason
    assert list(into.iterdir()) == []


def test_a_nested_archive_is_named_as_such(tmp_path: Path) -> None:
    inner = tmp_path / "inner.bin"
    inner.write_bytes(tar_bytes([tar_file("ct.dcm", CT)], "gz"))
    assert "a tar archive inside the uploaded archive: nested archives are not opened" in (nested_archive(inner) or "")
    nifti = write_nifti(tmp_path / "brain.nii.gz", kind="slice", flag=None)
    assert nested_archive(nifti) is None  # a gzip stream, but no archive


def test_small_members_are_not_held_to_the_ratio(into: Path) -> None:
    # A blank 512 x 512 16-bit slice compresses about 1000:1 and is harmless.
    extracted = extract(zip_bytes([("blank.dcm", bytes(512 * 1024))]), into)
    assert [name for name, _ in extracted] == ["blank.dcm"]


def test_a_zip_whose_header_lies_about_the_size_is_stopped_while_extracting(into: Path) -> None:
    data = os.urandom(300 * 1024)
    forged = lying_zip(data, declared=1000)
    with zipfile.ZipFile(io.BytesIO(forged)) as archive:
        assert archive.infolist()[0].file_size == 1000  # the header checks alone would let it through
    assert_refused(forged, into, "more bytes than its header declares", "(1000)")


def test_a_lying_header_that_hides_a_bomb_is_stopped_while_extracting(into: Path) -> None:
    forged = lying_zip(bytes(50 * 1024 * 1024), declared=2 * 1024 * 1024)
    assert_refused(forged, into, "more bytes than its header declares")


@override_settings(ARCHIVE_MAX_TOTAL_BYTES=1024 * 1024)
def test_the_declared_total_counts_every_member(into: Path) -> None:
    # Each member alone is under the limit; together they are not, so nothing is extracted.
    data = zip_bytes([("a.dcm", os.urandom(600 * 1024)), ("b.dcm", os.urandom(600 * 1024))])
    assert_refused(data, into, "add up to more than 1.0")


def test_a_damaged_archive_is_refused(into: Path) -> None:
    data = zip_bytes([("ct.dcm", CT), ("mr.dcm", MR)])
    assert_refused(data[: len(data) // 2], into, "cannot be read")
    gz = tar_bytes([tar_file("ct.dcm", CT), tar_file("mr.dcm", MR)], "gz")
    assert_refused(gz[: len(gz) // 2], into, "damaged")


def test_a_file_that_is_no_archive_is_refused(into: Path) -> None:
    assert_refused(CT, into, "neither a zip nor a tar")
