"""Manifest audit and manifest parsing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from audits.engine import ENGINE_VERSION, manifest
from audits.engine.inputs import parse_manifest
from audits.engine.preprocess import Preprocessing
from audits.engine.readers import images_from_arrays
from audits.engine.types import FLAGGED_LIMIT, ImageSet, Status

P = Preprocessing(size=8)


def image_set(n: int, folder: str = "") -> ImageSet:
    arrays = [np.random.default_rng(i).random((8, 8)) for i in range(n)]
    return images_from_arrays("synthetic", arrays, [f"{folder}img{i:03d}.png" for i in range(n)], P)


def entries(n: int, **extra: object) -> list[dict]:
    return [{"file": f"img{i:03d}.png", "generator": "ddpm", "version": "1.2", "seed": i, **extra} for i in range(n)]


def test_complete_manifest_passes() -> None:
    result = manifest.run(image_set(20), entries(20))
    assert result.status == Status.PASS, result.summary
    m = result.metrics
    assert (m["n_files"], m["n_listed"], m["coverage"], m["complete_coverage"]) == (20, 20, 1.0, 1.0)
    assert result.charts == {
        "coverage": {"listed": 20, "unlisted": 0, "incomplete": 0},
        "by_generator": [{"generator": "ddpm", "version": "1.2", "files": 20}],
    }
    assert m["mixing_ratio_real"] is None and m["provenance_declared"] is False
    assert result.code_version == ENGINE_VERSION and result.params == {"pass_coverage": 1.0, "warn_coverage": 0.95}
    json.dumps(result.as_dict())


def test_seed_zero_counts_as_present() -> None:
    listed = entries(2)
    listed[0]["seed"] = 0
    assert manifest.run(image_set(2), listed).status == Status.PASS


def test_one_unlisted_in_twenty_warns_two_fail() -> None:
    result = manifest.run(image_set(20), entries(19))
    assert result.metrics["coverage"] == 0.95 and result.status == Status.WARN
    assert result.flagged == [{"file": "img019.png", "reason": "not listed in the manifest"}]
    result = manifest.run(image_set(20), entries(18))
    assert result.status == Status.FAIL
    assert result.charts["coverage"] == {"listed": 18, "unlisted": 2, "incomplete": 0}


def test_missing_fields_are_counted_per_field() -> None:
    listed = entries(10)
    listed[0]["seed"] = None
    listed[1]["version"] = ""
    listed[2].pop("generator")
    listed[2].pop("seed")
    result = manifest.run(image_set(10), listed)
    m = result.metrics
    assert m["missing_by_field"] == {"generator": 1, "version": 1, "seed": 2}
    assert m["n_incomplete"] == 3 and m["n_listed"] == 10 and m["complete_coverage"] == 0.7
    assert result.status == Status.FAIL
    assert result.charts["coverage"] == {"listed": 7, "unlisted": 0, "incomplete": 3}
    assert {"generator": "(missing)", "version": "1.2", "files": 1} in result.charts["by_generator"]
    assert result.flagged[2]["reason"] == "manifest entry lacks generator, seed"


def test_duplicates_and_stray_entries_warn() -> None:
    text = (
        "file,generator,version,seed\n"
        + "".join(f"img{i:03d}.png,ddpm,1.2,{i}\n" for i in range(5))
        + "img000.png,ddpm,1.2,0\nimg001.png,ddpm,1.2,999\nelsewhere.png,g,1,1\n"
    )
    result = manifest.run(image_set(5), parse_manifest(text, "m.csv"))
    m = result.metrics
    assert (m["n_duplicate_entries"], m["n_conflicting_duplicates"], m["n_entries_not_in_set"]) == (2, 1, 1)
    assert result.status == Status.WARN
    assert result.flagged == [
        {"file": "img000.png", "entry": "line 7", "reason": "duplicate of the entry on line 2"},
        {"file": "img001.png", "entry": "line 8", "reason": "conflicting duplicate of the entry on line 3"},
        {"file": "elsewhere.png", "entry": "line 9", "reason": "names a file not in the set"},
    ]
    unnumbered = manifest.run(image_set(1), entries(1) * 2)
    assert unnumbered.flagged[0]["reason"] == "duplicate entry for this file"


def test_base_name_matching_and_mixing_ratio() -> None:
    listed = entries(6)
    for entry in listed[:2]:
        entry.update(source="real", generator="", version="", seed="")
    for entry in listed[2:]:
        entry["source"] = "synthetic"
    result = manifest.run(image_set(6, folder="upload/"), listed)
    m = result.metrics
    assert m["n_matched_by_basename"] == 6
    assert (m["n_declared_real"], m["n_declared_synthetic"]) == (2, 4)
    assert m["mixing_ratio_real"] == pytest.approx(1 / 3)
    assert result.status == Status.PASS  # real files need no generator, version or seed
    assert "real share 33%" in result.summary


def test_synthetic_flag_column() -> None:
    listed = entries(4)
    listed[0]["synthetic"] = False
    listed[1]["synthetic"] = "yes"
    result = manifest.run(image_set(4), listed)
    assert result.metrics["n_declared_real"] == 1 and result.metrics["n_provenance_unknown"] == 2


def test_flagged_is_capped() -> None:
    result = manifest.run(image_set(80), [])
    assert result.status == Status.FAIL
    assert len(result.flagged) == FLAGGED_LIMIT and result.metrics["n_flagged_total"] == 80


def test_not_computable() -> None:
    result = manifest.run(image_set(3), None)
    assert result.status == Status.NOT_COMPUTABLE
    assert result.needed == "a generation manifest (CSV or JSON) with file, generator, version, seed"
    empty = manifest.run(image_set(0), entries(2))
    assert empty.status == Status.NOT_COMPUTABLE


# --------------------------------------------------------------------------- parse_manifest


def test_parse_csv_manifest() -> None:
    text = "\ufeffFile,Generator,version,seed,prompt\n./a/x.png,ddpm,1.0,7,brain\r\nb.png,ddpm,1.0,,\n"
    parsed = parse_manifest(text, "manifest.csv")
    assert parsed == [
        {"generator": "ddpm", "version": "1.0", "seed": "7", "prompt": "brain", "file": "a/x.png", "_row": "line 2"},
        {"generator": "ddpm", "version": "1.0", "seed": "", "prompt": "", "file": "b.png", "_row": "line 3"},
    ]


def test_parse_json_manifests() -> None:
    images = [{"file": "a.png", "generator": "g", "version": "1", "seed": 3, "extra": {"cfg": 2}}]
    wrapped = parse_manifest(json.dumps({"images": images}), "m.json")
    plain = parse_manifest(json.dumps(images), "manifest.txt")
    assert wrapped == plain
    assert wrapped[0]["seed"] == 3 and wrapped[0]["extra"] == {"cfg": 2} and wrapped[0]["_row"] == "entry 1"


@pytest.mark.parametrize(
    ("text", "filename", "message"),
    [
        ("", "m.csv", "manifest is empty"),
        ("{bad json", "m.json", "manifest JSON does not parse: line 1, column 2"),
        ('{"files": []}', "m.json", "no 'images' list"),
        ('"a string"', "m.json", "must be a list"),
        ('[{"file": "a"}, 3]', "m.json", "manifest entry 2 is not an object"),
        ('[{"generator": "g"}]', "m.json", "manifest entry 1: no 'file' field"),
        ('[{"file": 5}]', "m.json", "'file' must be a string"),
        ('[{"file": "  "}]', "m.json", "manifest entry 1: empty file name"),
        ("generator,seed\ng,1\n", "m.csv", "no file column"),
        ("file,seed\na.png,1,2\n", "m.csv", "line 2: expected 2 fields, got 3"),
        ("file,seed\n,1\n", "m.csv", "line 2: empty file name"),
        ('file,seed\n"a.png,1\n', "m.csv", "manifest CSV"),
    ],
)
def test_parse_manifest_errors(text: str, filename: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_manifest(text, filename)
