"""Readers: real DICOM / NIfTI / PNG files decode; hostile files are rejected with a reason and never raise."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

from audits.engine import readers
from audits.engine.inputs import age_band, dicom_age_years, metadata_from_headers, parse_metadata_csv
from audits.engine.preprocess import Preprocessing, pixel_digest, preprocess
from audits.engine.readers import images_from_arrays, read_file, read_folder, read_set
from tests.audits import images as fx

P = Preprocessing(size=32)


def read(path: Path, name: str | None = None):
    return read_file(path, name or path.name, P)


# --------------------------------------------------------------------------- DICOM


@pytest.mark.parametrize("source", fx.DICOM_SOURCES)
def test_every_shipped_transfer_syntax_decodes(source: str) -> None:
    record, images = read(fx.dicom_source(source))
    assert record.error == ""
    assert record.format == "dicom"
    assert record.slices == len(images) == 1
    assert images[0].pixels.shape == (32, 32)
    assert images[0].pixels.dtype == np.float32
    assert images[0].pixels.min() >= 0.0 and images[0].pixels.max() <= 1.0
    assert not images[0].blank
    expected = pydicom.dcmread(fx.dicom_source(source)).file_meta.TransferSyntaxUID
    assert record.header["transfer_syntax"] == str(expected)


def test_lossless_encodings_give_the_same_pixel_digest() -> None:
    digests = {read(fx.dicom_source(s))[1][0].pixel_sha256 for s in fx.DICOM_SOURCES if s.startswith("MR_small")}
    assert len(digests) == 1
    assert digests == {pixel_digest(fx.dicom_pixels("MR_small.dcm"))}


def test_dicom_header_collects_disclosure_and_identity_fields(tmp_path: Path) -> None:
    path = fx.write_dicom(tmp_path / "s.dcm", "CT_small.dcm", synthetic="YES", equipment=True)
    record, _ = read(path)
    header = record.header
    assert header["SyntheticData"] == "YES"
    assert header["synthesizing_equipment"] is True
    assert header["contributing_equipment"][0]["purpose"] == ["109100 DCM"]
    assert header["ImageType"] == ["ORIGINAL", "PRIMARY", "AXIAL"]
    assert header["PatientName"] == "CompressedSamples^CT1"
    assert header["PatientID"] == "1CT1"
    assert header["InstitutionName"] == "JFK IMAGING CENTER"
    assert header["Manufacturer"] == "GE MEDICAL SYSTEMS"
    assert header["Modality"] == "CT"
    assert header["PatientIdentityRemoved"] is None
    assert record.width == record.height == 128
    json.dumps(header)  # JSON-safe


def test_dicom_without_synthetic_marks(tmp_path: Path) -> None:
    record, images = read(fx.write_dicom(tmp_path / "r.dcm", synthetic=None, equipment=False))
    assert record.accepted and len(images) == 1
    assert record.header["SyntheticData"] is None
    assert record.header["synthesizing_equipment"] is False


def test_multiframe_dicom_gives_one_image_per_frame(tmp_path: Path) -> None:
    frames = np.stack([fx.dicom_pixels(), np.flipud(fx.dicom_pixels()), np.fliplr(fx.dicom_pixels())])
    path = fx.write_dicom(tmp_path / "mf.dcm", pixels=frames, NumberOfFrames=3)
    record, images = read(path)
    assert record.error == ""
    assert record.slices == 3
    assert [image.index for image in images] == [0, 1, 2]
    assert [image.label for image in images] == ["mf.dcm", "mf.dcm#1", "mf.dcm#2"]
    assert images[0].pixel_sha256 == pixel_digest(frames[0])
    assert len({image.pixel_sha256 for image in images}) == 3


def test_monochrome1_is_shown_inverted(tmp_path: Path) -> None:
    _, normal = read(fx.write_dicom(tmp_path / "m2.dcm"))
    _, inverted = read(fx.write_dicom(tmp_path / "m1.dcm", PhotometricInterpretation="MONOCHROME1"))
    assert inverted[0].pixel_sha256 == normal[0].pixel_sha256  # same stored values
    np.testing.assert_allclose(inverted[0].pixels, 1.0 - normal[0].pixels, atol=1e-6)


# --------------------------------------------------------------------------- NIfTI


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_nifti_volume_gives_axial_slices(tmp_path: Path, suffix: str) -> None:
    record, images = read(fx.write_nifti(tmp_path / f"v{suffix}", "volume"))
    assert record.error == ""
    assert record.format == "nifti"
    assert record.slices == len(images) == 24
    assert (record.width, record.height) == (128, 96)
    volume = fx.example4d()[..., 0]
    assert images[5].pixel_sha256 == pixel_digest(np.flipud(volume[:, :, 5].T))
    assert images[5].index == 5


def test_nifti_4d_audits_every_slice_of_every_volume() -> None:
    record, images = read(fx.EXAMPLE4D)
    assert record.error == ""
    assert record.slices == len(images) == 48
    data = fx.example4d()
    assert images[24 + 3].pixel_sha256 == pixel_digest(np.flipud(data[:, :, 3, 1].T))
    assert record.header["descrip"].startswith("FSL3.3")
    assert [e["content"] for e in record.header["extensions"]] == ["extcomment1", "extlongcomment2"]


def test_nifti_slice_and_json_extension(tmp_path: Path) -> None:
    record, images = read(fx.write_nifti(tmp_path / "s.nii.gz", "slice", flag="extension"))
    assert record.error == "" and len(images) == 1
    extension = record.header["extensions"][0]
    assert extension["code"] == 6 and extension["name"] == "comment"
    assert extension["json"]["SyntheticData"] == "YES"


def test_nifti_big_endian_and_nifti2_read() -> None:
    data = Path(fx.EXAMPLE4D).parent
    big, big_images = read(data / "anatomical.nii")
    assert big.error == "" and len(big_images) == 25
    assert big.header["descrip"] == "spm - 3D normalized"
    two, two_images = read(data / "example_nifti2.nii.gz")
    assert two.error == "" and two.header["nifti_version"] == 2 and len(two_images) == 24


def test_sidecar_is_attached_not_read_as_an_image(tmp_path: Path) -> None:
    fx.write_nifti(tmp_path / "sub-01_T1w.nii.gz", flag="sidecar")
    (tmp_path / "stray.json").write_text('{"a": 1}')
    image_set = read_folder(tmp_path, "synthetic", P)
    names = [record.name for record in image_set.files]
    assert names == ["stray.json", "sub-01_T1w.nii.gz"]
    stray, nifti = image_set.files
    assert "not a sidecar" in stray.error
    assert nifti.header["sidecar"] == {"SyntheticData": "YES", "RepetitionTime": 2.0}
    assert nifti.header["sidecar_file"] == "sub-01_T1w.json"


def test_bad_sidecar_is_rejected_and_image_kept(tmp_path: Path) -> None:
    fx.write_nifti(tmp_path / "a.nii", flag=None)
    (tmp_path / "a.json").write_text("{not json")
    image_set = read_folder(tmp_path, "synthetic", P)
    by_name = {record.name: record for record in image_set.files}
    assert "does not parse" in by_name["a.json"].error
    assert by_name["a.nii"].accepted and "sidecar" not in by_name["a.nii"].header


# --------------------------------------------------------------------------- PNG


@pytest.mark.parametrize("form", ["attribute", "element"])
def test_png_xmp_digital_source_type(tmp_path: Path, form: str) -> None:
    record, images = read(fx.write_png(tmp_path / "x.png", label="xmp", xmp_form=form))
    assert record.error == "" and record.format == "png" and len(images) == 1
    assert record.header["digital_source_type"] == fx.TRAINED
    assert "XML:com.adobe.xmp" in record.header["text"]


def test_png_text_key_and_unlabelled(tmp_path: Path) -> None:
    text, _ = read(fx.write_png(tmp_path / "t.png", label="text"))
    assert text.header["text"] == {"SyntheticData": "YES"} and text.header["digital_source_type"] == ""
    plain, _ = read(fx.write_png(tmp_path / "dst.png", label="dst_text"))
    assert plain.header["digital_source_type"] == fx.TRAINED
    bare, _ = read(fx.write_png(tmp_path / "n.png", label=None))
    assert bare.header["text"] == {} and bare.header["digital_source_type"] == ""


def test_png_text_values_are_truncated(tmp_path: Path) -> None:
    record, _ = read(fx.write_png(tmp_path / "long.png", label=None, text={"Comment": "x" * 5000}))
    assert len(record.header["text"]["Comment"]) <= readers.MAX_TEXT_CHARS + 1


def test_png_of_dicom_pixels_has_the_same_digest(tmp_path: Path) -> None:
    pixels = fx.dicom_pixels("MR_small.dcm")
    assert pixels.min() >= 0
    record, images = read(fx.write_png(tmp_path / "copy.png", pixels.astype(np.uint16), label=None))
    assert record.error == ""
    assert images[0].pixel_sha256 == read(fx.dicom_source("MR_small.dcm"))[1][0].pixel_sha256


def test_colour_and_blank_png(tmp_path: Path) -> None:
    grey = fx.to_uint16(fx.example4d()[:, :, 12, 0])
    rgb = np.repeat((grey >> 8).astype(np.uint8)[..., None], 3, axis=-1)
    record, images = read(fx.write_png(tmp_path / "rgb.png", rgb, label=None))
    assert record.error == "" and images[0].pixels.shape == (32, 32) and not images[0].blank
    blank, blank_images = read(fx.write_png(tmp_path / "blank.png", np.full((40, 40), 7, np.uint8), label=None))
    assert blank.accepted and blank_images[0].blank


# --------------------------------------------------------------------------- content, not names


def test_format_comes_from_content_not_name(tmp_path: Path) -> None:
    png_named_dcm = fx.write_png(tmp_path / "image.dcm", label=None)
    assert read(png_named_dcm)[0].format == "png"
    dicom_named_png = tmp_path / "scan.png"
    dicom_named_png.write_bytes(fx.dicom_source().read_bytes())
    assert read(dicom_named_png)[0].format == "dicom"
    nifti_no_suffix = tmp_path / "upload_3f2a"
    nifti_no_suffix.write_bytes(fx.EXAMPLE4D.read_bytes())
    record, images = read(nifti_no_suffix)
    assert record.format == "nifti" and len(images) == 48


# --------------------------------------------------------------------------- hostile files


def hostile_cases(tmp: Path) -> list[tuple[Path, str]]:
    return [
        (fx.write_text_as_dcm(tmp / "notes.dcm"), "not a DICOM, NIfTI or PNG file"),
        (fx.write_short_pixel_dicom(tmp / "short.dcm"), "DICOM pixel data is 1000 bytes, header says 32768"),
        (fx.write_truncated_file(tmp / "cut.dcm"), "DICOM pixel data is 1906 bytes, header says 32768"),
        (fx.write_nifti_huge_header(tmp / "huge.nii"), "NIfTI dimensions 100000x100000x100000 are implausible"),
        (fx.write_nifti_huge_header(tmp / "huge.nii.gz"), "NIfTI dimensions 100000x100000x100000 are implausible"),
        (fx.write_nifti_huge_header(tmp / "huge1.nii", (30000, 30000, 30000)), "NIfTI dimensions 30000x30000x30000"),
        (fx.write_png_bomb(tmp / "bomb.png"), "PNG size 30000x30000 exceeds the decompression-bomb limit"),
        (fx.write_corrupt_png(tmp / "corrupt.png"), "PNG does not decode"),
        (fx.write_empty(tmp / "empty.nii"), "empty file"),
        (fx.write_random(tmp / "random.png"), "not a DICOM, NIfTI or PNG file"),
    ]


def test_hostile_files_are_rejected_with_their_reason(tmp_path: Path) -> None:
    assert fx.write_png_bomb(tmp_path / "size.png").stat().st_size < 200_000
    for path, reason in hostile_cases(tmp_path):
        record, images = read(path)
        assert images == [], path.name
        assert reason in record.error, (path.name, record.error)
        assert record.format == "" and not record.accepted


def test_more_hostile_files(tmp_path: Path) -> None:
    gz_random = tmp_path / "r.nii.gz"
    gz_random.write_bytes(gzip.compress(np.random.default_rng(1).bytes(2000)))
    assert read(gz_random)[0].error == readers.NOT_AN_IMAGE

    broken_gz = tmp_path / "b.nii.gz"
    broken_gz.write_bytes(b"\x1f\x8b" + b"\x00" * 50)
    assert read(broken_gz)[0].error == readers.NOT_AN_IMAGE

    nifti = fx.write_nifti(tmp_path / "t.nii", "volume", flag=None)
    data = nifti.read_bytes()
    nifti.write_bytes(data[: len(data) - 5000])
    record, _ = read(nifti)
    assert record.error == f"NIfTI data is {len(data) - 5000 - 352} bytes, header says {128 * 96 * 24 * 2}"

    nifti_gz = fx.write_nifti(tmp_path / "t.nii.gz", "volume", flag=None)
    data = nifti_gz.read_bytes()
    nifti_gz.write_bytes(data[: len(data) // 2])
    record, _ = read(nifti_gz)
    assert record.error.startswith("NIfTI data does not decompress")

    big = fx.write_dicom(tmp_path / "big.dcm", Rows=10000)
    assert "DICOM image size 10000x64 is implausible" in read(big)[0].error
    frames = fx.write_dicom(tmp_path / "frames.dcm", NumberOfFrames=5000)
    assert "NumberOfFrames 5000 is implausible" in read(frames)[0].error
    no_pixels = fx.write_dicom(tmp_path / "nopix.dcm", PixelData=None)
    assert read(no_pixels)[0].error.startswith("DICOM file has no pixel data")

    preamble_only = tmp_path / "p.dcm"
    preamble_only.write_bytes(b"\0" * 128 + b"DICM")
    assert read(preamble_only)[0].error  # rejected with some reason, no exception

    assert read(tmp_path / "missing.dcm")[0].error == "not a regular file"
    assert read(tmp_path)[0].error == "not a regular file"


def test_rejected_files_do_not_stop_the_set(tmp_path: Path) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    hostile = hostile_cases(folder)
    fx.write_dicom(folder / "good" / "a.dcm")
    fx.write_png(folder / "good" / "b.png")
    (folder / ".hidden.dcm").write_bytes(fx.dicom_source().read_bytes())
    (folder / ".git").mkdir()
    (folder / ".git" / "x.dcm").write_bytes(fx.dicom_source().read_bytes())
    image_set = read_folder(folder, "synthetic", P)
    accepted = [record.name for record in image_set.files if record.accepted]
    assert accepted == ["good/a.dcm", "good/b.png"]
    assert len(image_set.files) == len(hostile) + 2
    assert len(image_set.images) == 2
    assert [record.name for record in image_set.files] == sorted(record.name for record in image_set.files)


def test_read_set_metadata_and_digest(tmp_path: Path) -> None:
    a = fx.write_dicom(tmp_path / "a.dcm")
    b = fx.write_png(tmp_path / "b.png")
    first = read_set([("b.png", b), ("sub\\a.dcm", a)], "reference", P, metadata={"b.png": {"sex": "F"}})
    assert [record.name for record in first.files] == ["b.png", "sub/a.dcm"]
    assert first.role == "reference" and first.metadata == {"b.png": {"sex": "F"}}
    again = read_set([("sub/a.dcm", a), ("b.png", b)], "reference", P)
    assert first.digest() == again.digest()
    duplicate = read_set([("a.dcm", a), ("a.dcm", b)], "synthetic", P)
    assert duplicate.files[1].error == "duplicate file name in the set"


def test_images_from_arrays() -> None:
    rng = np.random.default_rng(0)
    arrays = [rng.random((40, 50)), rng.random((3, 20, 20)), np.zeros((10, 10))]
    image_set = images_from_arrays("synthetic", arrays, ["a", "b", "c"], P)
    assert [record.slices for record in image_set.files] == [1, 3, 1]
    assert len(image_set.images) == 5
    assert image_set.images[-1].blank
    assert image_set.files[0].format == "array" and image_set.files[0].width == 50
    default_names = images_from_arrays("synthetic", arrays[:1], None, P)
    assert default_names.files[0].name == "array_00000"
    with pytest.raises(ValueError, match="names"):
        images_from_arrays("synthetic", arrays, ["a"], P)


# --------------------------------------------------------------------------- metadata (inputs.py)


def test_parse_metadata_csv() -> None:
    text = "id,Filename,sex,age\n1,./a.png,F,45\n2,b.png,M,\n3,,F,30\n4,a.png,M,50\n"
    mapping, warnings = parse_metadata_csv(text)
    assert mapping == {"a.png": {"id": "1", "sex": "F", "age": "45"}, "b.png": {"id": "2", "sex": "M"}}
    assert warnings == [
        "line 4: empty file name, row skipped",
        "line 5: duplicate row for 'a.png' (first on line 2), ignored",
    ]
    first_column, _ = parse_metadata_csv("image;site\nx.dcm;A\n")
    assert first_column == {"x.dcm": {"site": "A"}}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("file,sex\na.png,F\nb.png\n", "line 3: expected 2 fields, got 1"),
        ('file,sex\na.png,"F\n', "line"),
        ("file,,x\n", "line 1: column 2 has no name"),
        ("file,sex,Sex\n", "duplicate column"),
        ("file\na.png\n", "attribute column"),
    ],
)
def test_parse_metadata_csv_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_metadata_csv(text)


def test_metadata_from_headers_fills_only_missing_values(tmp_path: Path) -> None:
    fx.write_dicom(tmp_path / "ct.dcm", "CT_small.dcm", PatientAge="045Y", PatientSex="F")
    fx.write_dicom(tmp_path / "mr.dcm", "MR_small.dcm", PatientAge="070Y")
    fx.write_png(tmp_path / "p.png")
    image_set = read_folder(tmp_path, "reference", P)
    image_set.metadata = {"ct.dcm": {"sex": "male"}}
    merged = metadata_from_headers(image_set)
    assert merged["ct.dcm"] == {
        "sex": "male",
        "age": "045Y",  # as written: the representation audit reads DICOM ages itself
        "site": "JFK IMAGING CENTER",
        "scanner": "GE MEDICAL SYSTEMS RHAPSODE",
    }
    assert merged["mr.dcm"] == {"sex": "F", "age": "070Y", "site": "TOSHIBA", "scanner": "TOSHIBA_MEC MRT50H1"}
    assert "p.png" not in merged
    assert image_set.metadata == {"ct.dcm": {"sex": "male"}}  # unchanged


@pytest.mark.parametrize(
    ("row", "kept"),
    [
        ({"Sex": "M", "Age": "31"}, {"Sex": "M", "Age": "31"}),
        ({"SEX": " m ", "PatientAge": "31"}, {"SEX": " m ", "PatientAge": "31"}),
        ({"Patient Sex": "male", "age_band": "18-39"}, {"Patient Sex": "male", "age_band": "18-39"}),
        (
            {"Gender": "Male", "Age Years": "31", "Institution": "St Mary"},
            {"Gender": "Male", "Age Years": "31", "Institution": "St Mary"},
        ),
    ],
)
def test_csv_values_win_over_headers_whatever_the_column_spelling(
    tmp_path: Path, row: dict[str, str], kept: dict[str, str]
) -> None:
    """A CSV column "Sex" is never replaced, nor joined, by the header's PatientSex (issue 8)."""
    fx.write_dicom(tmp_path / "ct.dcm", "CT_small.dcm", PatientAge="045Y", PatientSex="F")
    image_set = read_folder(tmp_path, "reference", P)
    image_set.metadata = {"ct.dcm": dict(row)}
    merged = metadata_from_headers(image_set)["ct.dcm"]
    assert {k: v for k, v in merged.items() if k in row} == kept
    assert "sex" not in merged and "age" not in merged  # no second, header-made attribute beside the CSV's
    if "Institution" not in row:
        assert merged["site"] == "JFK IMAGING CENTER"  # a header still fills what the CSV lacks
    else:
        assert "site" not in merged


def test_age_parsing() -> None:
    assert dicom_age_years("045Y") == 45
    assert dicom_age_years("006M") == 0.5
    assert dicom_age_years("010W") == pytest.approx(10 * 7 / 365.25)
    assert dicom_age_years("1080M") == 90  # more months than DICOM's three digits hold
    assert dicom_age_years("garbage") is None
    # One banding for every spelling of age, the representation audit's.
    assert [age_band(a) for a in (0, 17.9, 18, 59, 60, 85)] == ["<18", "<18", "18-39", "40-59", "60-79", "80+"]


def test_mutated_real_files_never_raise_or_leak_paths(tmp_path: Path) -> None:
    """Byte flips and truncations of real files: every outcome is an image or a clean one-line reason."""
    sources = [fx.dicom_source(name) for name in fx.DICOM_SOURCES]
    sources += [fx.write_png(tmp_path / "a.png"), fx.write_nifti(tmp_path / "v.nii", "volume", flag="extension")]
    sources.append(fx.write_nifti(tmp_path / "v.nii.gz", "volume"))
    rng = np.random.default_rng(20240601)
    outcomes = {"accepted": 0, "rejected": 0}
    for case in range(160):
        data = bytearray(sources[case % len(sources)].read_bytes())
        if case % 2:
            data = data[: int(rng.integers(1, len(data)))]
        else:
            for _ in range(int(rng.integers(1, 8))):
                data[int(rng.integers(0, min(len(data), 1500)))] = int(rng.integers(0, 256))
        path = tmp_path / f"mutant_{case}"
        path.write_bytes(bytes(data))
        record, images = read(path)
        assert record.accepted == bool(images)
        assert str(tmp_path) not in record.error and "\n" not in record.error and " object at 0x" not in record.error
        assert all(str(tmp_path) not in note for note in record.header.get("read_warnings", []))
        outcomes["accepted" if record.accepted else "rejected"] += 1
    assert outcomes["accepted"] and outcomes["rejected"]


def test_nifti_trailing_unit_axes_and_rgb(tmp_path: Path) -> None:
    volume = fx.example4d()[..., :2].reshape(128, 96, 24, 2, 1)
    record, images = read(fx.write_nifti(tmp_path / "five.nii", data=volume, flag=None))
    assert record.error == "" and record.slices == len(images) == 48
    assert images[30].pixel_sha256 == pixel_digest(np.flipud(fx.example4d()[:, :, 6, 1].T))

    grey = (fx.to_uint16(fx.example4d()[:, :, :4, 0]) >> 8).astype(np.uint8)
    rgb = np.zeros(grey.shape, dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    rgb["R"], rgb["G"], rgb["B"] = grey, grey // 2, grey // 3
    record, images = read(fx.write_nifti(tmp_path / "rgb.nii", data=rgb, flag=None))
    assert record.error == "" and len(images) == 4
    assert images[0].pixels.shape == (32, 32) and not images[0].blank
    native = np.stack([grey[:, :, 0], grey[:, :, 0] // 2, grey[:, :, 0] // 3], axis=-1)
    assert images[0].pixel_sha256 == pixel_digest(np.flipud(np.swapaxes(native, 0, 1)))


@pytest.mark.parametrize("name", ["series.nii", "series.nii.gz"])
def test_one_nifti_slice_reads_as_read_file_shows_it(tmp_path, name):
    from audits.engine.readers.nifti import read_nifti_slice

    path = fx.write_nifti(tmp_path / name, kind="4d", flag=None)
    stored = tmp_path / "random-name-without-extension"
    stored.write_bytes(path.read_bytes())
    record, images = read_file(stored, name, Preprocessing())
    assert not record.error and len(images) == 48
    for index in (0, 13, 24, 47):  # first volume, then the second
        native = read_nifti_slice(stored, index)
        pixels, _blank = preprocess(native, Preprocessing())
        np.testing.assert_array_equal(pixels, images[index].pixels)
        assert pixel_digest(native) == images[index].pixel_sha256
    assert read_nifti_slice(stored, 48) is None
    assert read_nifti_slice(stored, -1) is None


def test_validation_only_decodes_every_frame_but_preprocesses_none(tmp_path: Path) -> None:
    nifti = fx.write_nifti(tmp_path / "series.nii.gz", "4d", flag=None)
    full, images = read_file(nifti, "series.nii.gz", Preprocessing())
    record, placeholders = read_file(nifti, "series.nii.gz", None)
    assert record == full and record.slices == 48
    assert len(placeholders) == len(images) == 48 and all(image.pixels.size == 0 for image in placeholders)
    truncated = tmp_path / "cut.nii.gz"
    truncated.write_bytes(gzip.compress(gzip.decompress(nifti.read_bytes())[:-5000]))
    assert read_file(truncated, "cut.nii.gz", None)[0].error  # the data is still read to its end


def test_the_declared_budget_is_the_caller_s(tmp_path: Path) -> None:
    nifti = fx.write_nifti(tmp_path / "series.nii.gz", "4d", flag=None)  # 128 x 96 x 24 x 2 int16: 1.1 MiB
    record, images = read_file(nifti, "series.nii.gz", None, readers.ReadLimits(declared_bytes=1024 * 1024))
    assert record.error == (
        "NIfTI header declares 128x96x24x2 voxels x 2 bytes = 1.1 MiB of pixel data, more than the limit of "
        "1 MiB per file; nothing was decompressed"
    )
    assert images == [] and read_file(nifti, "series.nii.gz", None)[0].accepted


class _TimeUp(Exception):
    """Stands in for Celery's SoftTimeLimitExceeded, which the tasks add to PASS_THROUGH."""


@pytest.mark.parametrize("where", ["element", "equipment", "other_ids"])
def test_a_time_limit_during_the_dicom_header_ends_the_read_instead_of_becoming_a_header_value(monkeypatch, where):
    """The header's per-element handlers keep a malformed element from rejecting the file, but
    must let the caller's interruptions through: a time limit swallowed there let an ingest
    over its limit finish as if nothing had happened."""
    from audits.engine.readers import common, dicom

    monkeypatch.setattr(common, "PASS_THROUGH", [_TimeUp])
    ds = pydicom.dcmread(fx.dicom_source("CT_small.dcm"))

    def time_up(*args: object, **kwargs: object) -> object:
        raise _TimeUp

    if where == "element":
        monkeypatch.setattr(pydicom.datadict, "tag_for_keyword", time_up)
    elif where == "equipment":
        monkeypatch.setattr(dicom, "_synthesizing_equipment", time_up)
    else:
        ds.OtherPatientIDsSequence = [pydicom.Dataset()]
        monkeypatch.setattr(pydicom.Dataset, "get", time_up)
    with pytest.raises(_TimeUp):
        dicom.dicom_header(ds)
    # Without the interruption a malformed element is still only noted.
    monkeypatch.setattr(common, "PASS_THROUGH", [])
    header = dicom.dicom_header(ds)
    assert isinstance(header, dict)
