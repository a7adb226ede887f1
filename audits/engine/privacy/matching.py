"""Comparison of synthetic headers with the real sets' headers: one index per real set and family."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..types import FileRecord, ImageSet
from .normalise import FAMILIES, Value, placeholder_words, values


def dicom_records(image_set: ImageSet | None) -> list[FileRecord]:
    if image_set is None:
        return []
    return sorted(
        (record for record in image_set.files if record.accepted and record.format == "dicom"),
        key=lambda record: record.name,
    )


def identity_removed(record: FileRecord) -> bool:
    return str(record.header.get("PatientIdentityRemoved") or "").strip().upper() == "YES"


Index = dict[str, dict[str, tuple[str, str]]]  # family -> value -> (first real file, its attribute)

# The date each time is paired with: a time of day is a real exam's moment only on that exam's day.
TIME_DATES = {
    "StudyTime": "StudyDate",
    "SeriesTime": "SeriesDate",
    "AcquisitionTime": "AcquisitionDate",
    "ContentTime": "ContentDate",
    "AcquisitionDateTime": "AcquisitionDateTime",
}


def comparable_values(name: str, attribute: str, header: dict[str, Any], words: frozenset[str]) -> list[Value]:
    """The comparable values of `attribute` as a member of family `name`; a time of day also
    gives "time@date" when its file carries the paired date."""
    family = FAMILIES[name]
    found = values(family.kind, attribute, header.get(attribute), words)
    if name != "exam time" or not found:
        return found
    day = values("date", TIME_DATES[attribute], header.get(TIME_DATES[attribute]), words)
    return found + [Value(f"{v.key}@{day[0].key}", True) for v in found] if day else found


def _index(records: list[FileRecord], words: frozenset[str]) -> Index:
    index: Index = {name: {} for name in FAMILIES}
    for record in records:
        for name, family in FAMILIES.items():
            for attribute in family.attributes:
                for value in comparable_values(name, attribute, record.header, words):
                    index[name].setdefault(value.key, (record.name, attribute))
    return index


def _hit(name: str, found: list[Value], index: dict[str, tuple[str, str]]) -> tuple[tuple[str, str] | None, bool]:
    """The first real (file, attribute) with one of `found`, and whether it is a time of day that
    the real file has on another day than the synthetic file's own date (the real exam's day first)."""
    if name == "exam time" and any("@" in v.key for v in found):
        paired = next((index[v.key] for v in found if "@" in v.key and v.key in index), None)
        if paired is not None:
            return paired, False
        return next((index[v.key] for v in found if v.key in index), None), True
    return next((index[v.key] for v in found if v.key in index), None), False


@dataclass(frozen=True)
class Match:
    file: str
    attribute: str
    real_set: str  # "reference" or "holdout"
    real_file: str
    real_attribute: str
    other_day: bool  # a time of day of a real exam, in a file dated another day: maybe a coincidence


def find_matches(
    synthetic: list[FileRecord], real: dict[str, list[FileRecord]], words: frozenset[str]
) -> tuple[list[Match], dict[str, list[str]]]:
    """Every (synthetic file, attribute, real set) whose value occurs in that real set, and per
    synthetic file the attributes holding a non-placeholder value that no real file has."""
    indexes = {role: _index(records, words) for role, records in real.items()}
    matches: list[Match] = []
    unmatched: dict[str, list[str]] = {}
    for record in synthetic:
        for name, family in FAMILIES.items():
            for attribute in family.attributes:
                found = comparable_values(name, attribute, record.header, words)
                matched = False
                for role, index in indexes.items():
                    hit, other_day = _hit(name, found, index[name])
                    if hit is not None:
                        matched = True
                        matches.append(Match(record.name, attribute, role, hit[0], hit[1], other_day))
                if family.warn_unmatched and not matched and any(v.warnable for v in found):
                    unmatched.setdefault(record.name, []).append(attribute)
    return matches, unmatched


def shared_identifiers(
    synthetic: ImageSet, reference: ImageSet | None, placeholders: Iterable[str] = ()
) -> list[tuple[str, str, str]]:
    """(synthetic file, attribute, real file with the same value) for every identifier shared
    with `reference`; the disclosure audit's view of `find_matches`."""
    words = placeholder_words(placeholders)
    matches, _unmatched = find_matches(dicom_records(synthetic), {"reference": dicom_records(reference)}, words)
    return [(m.file, m.attribute, m.real_file) for m in matches]
