"""Privacy (PHI) audit: identifiers of real patients left in synthetic DICOM files.

Every synthetic DICOM header (FileRecord.header, as the DICOM reader collected it) is compared
with every real set given: the reference (training) set and, when uploaded, the held-out set.
The attributes compared, in families whose members are compared with one another (a real
PatientID copied into OtherPatientIDs is still that patient's ID):

- patient name: PatientName, OtherPatientNames;
- patient ID: PatientID, every value of OtherPatientIDs, every PatientID in OtherPatientIDsSequence;
- birth date: PatientBirthDate;
- exam date: StudyDate, SeriesDate, AcquisitionDate, ContentDate, the date of AcquisitionDateTime;
- exam time: StudyTime, SeriesTime, AcquisitionTime, ContentTime, the time of AcquisitionDateTime;
- accession number; institution name; institution address; patient address; referring physician;
- UID: Study, Series, SOP Instance and Frame of Reference UIDs.

Values are compared after normalisation: person names by their DICOM components (each
alphabetic, ideographic or phonetic group, its words case-folded and taken in any order, so
"Doe^John", "DOE JOHN" and "John Doe" are one name); IDs and accession numbers case-folded
with spaces and punctuation dropped ("123-45 678" is "12345678"); dates as calendar dates
("20240312", "2024.03.12", "2024-03-12" are one date); times to the second, whatever their
fractional part or colons ("101500", "10:15:00.000" are one time; a time without seconds is
taken at :00); UIDs exactly.

Placeholders are never identifying: an empty value, "^", and values made only of filler
(placeholder words such as SYNTHETIC, ANONYMOUS, ANONYMIZED, UNKNOWN, NONE, N/A; single
letters; zeros-only or one-character-repeated tokens such as 0000 or XXX), dates before 1901
or after 2199 (19000101 is the usual blanked birth date), midnight 000000 as a time, DICOM's own
public UIDs (1.2.840.10008.*). A placeholder word followed by a number ("ANON^0001",
"SYNTHETIC-17") is a pseudonym: alone it is not flagged, but if a real file carries the very
same pseudonym it is a match, because it links the synthetic file to that real record.

Status:
- fail: any value of any family above occurs in a real file (reference or held-out).
  Dates fail on their own: a real exam or birth date is the real patient's even though a
  single date can coincide by chance between large sets, so each flag names the real file
  and the reviewer can check it; placeholders never match. A time of day fails when the
  synthetic file has no date of its own for it, or when its date and time are a real file's
  pair. PatientIdentityRemoved = YES hides nothing: a file that declares it is checked all
  the same.
- warn: a synthetic file keeps a non-placeholder patient name, patient ID, birth date,
  patient address, accession number or referring physician that matches no real file (a
  pseudonym or a leak from a set that was not uploaded: the audit cannot tell); or it has a
  real exam's time of day with a date of its own that is not that exam's (86,400 seconds in
  a day: with thousands of real exams, a generated time matches one by chance in a few
  percent of files, so only the date and time together are a real exam's moment). An
  unmatched institution name does not warn: it may be the generating lab's.
- pass otherwise.

Each flag names the attribute, the synthetic file, the real set and the real file with the
same value, never the value: the report must not spread the PHI it found.
"""

from __future__ import annotations

import datetime
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from . import ENGINE_VERSION
from .inputs import set_inputs
from .schema import Setting
from .types import FLAGGED_LIMIT, AuditResult, FileRecord, ImageSet, Status, not_computable

AUDIT = "privacy"


@dataclass(frozen=True)
class Family:
    """Attributes whose values are compared with one another, and how they are normalised."""

    kind: str  # "name", "id", "text", "date", "time" or "uid"
    attributes: tuple[str, ...]
    warn_unmatched: bool  # a non-placeholder value found in no real file warns


EXAM_DATES = ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate", "AcquisitionDateTime")
EXAM_TIMES = ("StudyTime", "SeriesTime", "AcquisitionTime", "ContentTime", "AcquisitionDateTime")
UID_ATTRIBUTES = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID")

FAMILIES: dict[str, Family] = {
    "patient name": Family("name", ("PatientName", "OtherPatientNames"), True),
    "patient ID": Family("id", ("PatientID", "OtherPatientIDs", "OtherPatientIDsSequence"), True),
    "birth date": Family("date", ("PatientBirthDate",), True),
    "exam date": Family("date", EXAM_DATES, False),
    "exam time": Family("time", EXAM_TIMES, False),
    "accession number": Family("id", ("AccessionNumber",), True),
    # A site's name alone is no patient's: unmatched, it may be the generator's own lab.
    "institution": Family("text", ("InstitutionName",), False),
    "institution address": Family("text", ("InstitutionAddress",), False),
    "patient address": Family("text", ("PatientAddress",), True),
    "referring physician": Family("name", ("ReferringPhysicianName",), True),
    "UID": Family("uid", UID_ATTRIBUTES, False),
}
ATTRIBUTES = tuple(dict.fromkeys(a for family in FAMILIES.values() for a in family.attributes))

# Words that name no one: a value made only of these (and of letters, zeros, XXX) is a placeholder.
_PLACEHOLDER_TEXT = """
anonymous anonymized anonymised anonymize anonymise anon anonym unknown unk none null nil na removed
redacted deidentified deidentify identified deid de blank empty missing unspecified not specified no
noname name withheld hidden masked private confidential patient pat subject test phantom synthetic
synth syn synthesized synthesised synthesis generated simulated simulation artificial fake dummy
sample demo default image case study series scan other
"""
PLACEHOLDER_WORDS = frozenset(_PLACEHOLDER_TEXT.split())
STANDARD_UID_ROOT = "1.2.840.10008."  # DICOM's own public UIDs (classes, syntaxes): shared by all
DATE_RANGE = (datetime.date(1901, 1, 1), datetime.date(2199, 12, 31))

DEFAULT_PARAMS: dict[str, Any] = {"placeholders": []}

# The one parameter, extra placeholder words, is a list of words: schema.Setting has no list
# kind, and no number decides this audit (any real identifier in a synthetic file fails), so
# nothing here is a threshold for the form. `placeholders` is a compute setting.
THRESHOLDS: dict[str, Setting] = {}

METRIC_LABELS: dict[str, str] = {
    "n_dicom_files": "synthetic DICOM files checked",
    "n_reference_dicom_files": "real training (reference) DICOM files compared",
    "n_holdout_dicom_files": "real held-out DICOM files compared",
    "n_shared_identifiers": "identifiers of real files found in synthetic files",
    "n_files_sharing_identifiers": "synthetic files carrying an identifier of a real file",
    "n_files_sharing_with_reference": "synthetic files carrying an identifier of a training file",
    "n_files_sharing_with_holdout": "synthetic files carrying an identifier of a held-out file",
    "shared_by_attribute": "synthetic files with a real file's value, per attribute",
    "shared_by_set": "identifiers found, per real set",
    "n_files_with_identifying_attributes": "synthetic files keeping a name, ID or birth date found in no real file",
    "identifying_attributes_present": "synthetic files with a non-placeholder value, per attribute",
    "n_placeholder_values": "placeholder values (SYNTHETIC, ANONYMOUS, empty...) ignored",
    "n_patient_identity_removed_yes": "files declaring Patient Identity Removed = YES (checked all the same)",
    "n_flagged_total": "flags raised",
}

SET_LABELS = {"reference": "reference", "holdout": "held-out"}


@dataclass(frozen=True)
class Value:
    key: str  # the normalised value; never reported
    warnable: bool  # False for a numbered placeholder ("ANON^0001"): compared, but not flagged alone


def resolve_params(params: dict[str, Any] | None) -> dict[str, Any]:
    """DEFAULT_PARAMS updated with `params`; ValueError naming the problem on a bad value."""
    given = dict(params or {})
    unknown = sorted(set(given) - set(DEFAULT_PARAMS))
    if unknown:
        raise ValueError(f"unknown privacy parameter(s): {', '.join(unknown)}")
    words = given.get("placeholders", [])
    if not isinstance(words, list | tuple) or not all(isinstance(word, str) for word in words):
        raise ValueError(f"privacy parameter placeholders must be a list of words, got {words!r}")
    return {**DEFAULT_PARAMS, "placeholders": [word.strip() for word in words if word.strip()]}


def placeholder_words(extra: Iterable[str] = ()) -> frozenset[str]:
    """The built-in placeholder words and the extra ones, as the tokens `_tokens` produces."""
    return PLACEHOLDER_WORDS | {token for word in extra for token in _tokens(word)}


# --------------------------------------------------------------------------- normalisation


def _tokens(text: str) -> list[str]:
    """Runs of letters and runs of digits, case-folded: "CT1^Doe" gives ["ct", "1", "doe"]."""
    return re.findall(r"[^\W\d_]+|\d+", text.casefold())


def _classify(tokens: list[str], words: frozenset[str]) -> bool | None:
    """None for a placeholder; False for a numbered placeholder; True for an identifying value."""

    def filler(token: str) -> bool:  # a placeholder word, a letter, zeros, XXX or 999
        return (
            token in words
            or (not token.isdigit() and len(token) == 1)
            or not token.strip("0")
            or (len(token) >= 3 and len(set(token)) == 1)
        )

    if all(filler(token) for token in tokens):
        return None
    letters = [token for token in tokens if not token.isdigit()]
    numbered = letters and all(filler(token) for token in letters) and any(token in words for token in letters)
    return not numbered


def _texts(raw: Any) -> list[str]:
    """The values of a header entry: one per value of a multi-valued element."""
    if raw is None:
        return []
    if isinstance(raw, list):
        return [text for item in raw for text in _texts(item)]
    return [part for part in str(raw).split("\\")]


def _worded(kind: str, text: str, words: frozenset[str]) -> Iterator[Value]:
    groups = text.split("=") if kind == "name" else [text]  # PN: alphabetic=ideographic=phonetic
    for group in groups:
        tokens = _tokens(group)
        warnable = _classify(tokens, words)
        if warnable is None:
            continue
        if kind == "name":
            key = " ".join(sorted(tokens))  # components in any order: Doe^John is John Doe
        elif kind == "id":
            key = "".join(tokens)  # separators are formatting: 123-45 678 is 12345678
        else:
            key = " ".join(tokens)
        yield Value(key, warnable)


def _date(digits: str) -> str:
    try:
        day = datetime.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return digits if digits.strip("0") else ""  # not a calendar date: compared as written
    return day.isoformat() if DATE_RANGE[0] <= day <= DATE_RANGE[1] else ""


def _time(digits: str) -> str:
    digits = (digits + "0000")[:6]  # 10 is 10:00:00, 1015 is 10:15:00
    hours, minutes, seconds = int(digits[:2]), int(digits[2:4]), int(digits[4:6])
    if hours > 23 or minutes > 59 or seconds > 60 or digits == "000000":
        return ""  # not a time of day, or midnight: the usual blanked time
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}"


def _moment(kind: str, attribute: str, text: str) -> str:
    """A date or a time of day, from DA, TM or DT text; "" when absent or a placeholder."""
    text = text.strip()
    if attribute == "AcquisitionDateTime":  # DT: YYYYMMDDHHMMSS.FFFFFF&ZZXX
        digits = re.sub(r"\D", "", re.split(r"[.+\-]", text, maxsplit=1)[0])
        if kind == "date":
            return _date(digits[:8]) if len(digits) >= 8 else ""  # a year alone is not a date
        return _time(digits[8:14]) if len(digits) > 8 else ""
    if kind == "date":
        digits = re.sub(r"\D", "", text)  # 2024.03.12 (old DICOM) and 2024-03-12 are 20240312
        if len(digits) < 8:
            return ""  # a year or a month alone is too common to point to anyone
        return _date(digits) if len(digits) == 8 else digits.strip("0") and digits
    digits = re.sub(r"\D", "", text.split(".")[0])  # the fraction is formatting: 101500.000 is 101500
    return _time(digits) if digits else ""


def values(kind: str, attribute: str, raw: Any, words: frozenset[str]) -> list[Value]:
    """The comparable values of one header entry; placeholders and empty values give none."""
    found: list[Value] = []
    for text in _texts(raw):
        if text.startswith("<unreadable:"):  # the reader's note on a malformed element, not a value
            continue
        if kind in ("date", "time"):
            key = _moment(kind, attribute, text)
            if key:
                found.append(Value(key, True))
        elif kind == "uid":
            uid = text.strip().rstrip("\0 ")
            if uid.strip("0.") and not uid.startswith(STANDARD_UID_ROOT):
                found.append(Value(uid, True))
        else:
            found.extend(_worded(kind, text, words))
    return found


# --------------------------------------------------------------------------- comparison


def _dicom(image_set: ImageSet | None) -> list[FileRecord]:
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


def _keys(name: str, attribute: str, header: dict[str, Any], words: frozenset[str]) -> list[Value]:
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
                for value in _keys(name, attribute, record.header, words):
                    index[name].setdefault(value.key, (record.name, attribute))
    return index


def _hit(name: str, found: list[Value], index: dict[str, tuple[str, str]]) -> tuple[tuple[str, str] | None, str]:
    """The first real (file, attribute) with one of `found`, and the level: "fail", or "warn"
    for a time of day that a real file has on another day than the synthetic file's own."""
    if name == "exam time" and any("@" in v.key for v in found):
        paired = next((index[v.key] for v in found if "@" in v.key and v.key in index), None)
        if paired is not None:
            return paired, "fail"
        return next((index[v.key] for v in found if v.key in index), None), "warn"
    return next((index[v.key] for v in found if v.key in index), None), "fail"


@dataclass(frozen=True)
class Match:
    file: str
    attribute: str
    real_set: str  # "reference" or "holdout"
    real_file: str
    real_attribute: str
    level: str  # "fail"; "warn" for a time of day found in a real file on another day


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
                found = _keys(name, attribute, record.header, words)
                matched = False
                for role, index in indexes.items():
                    hit, level = _hit(name, found, index[name])
                    if hit is not None:
                        matched = True
                        matches.append(Match(record.name, attribute, role, hit[0], hit[1], level))
                if family.warn_unmatched and not matched and any(v.warnable for v in found):
                    unmatched.setdefault(record.name, []).append(attribute)
    return matches, unmatched


def shared_identifiers(
    synthetic: ImageSet, reference: ImageSet | None, placeholders: Iterable[str] = ()
) -> list[tuple[str, str, str]]:
    """(synthetic file, attribute, real file with the same value) for every identifier shared
    with `reference` at fail level; the disclosure audit's view of `find_matches`."""
    words = placeholder_words(placeholders)
    matches, _unmatched = find_matches(_dicom(synthetic), {"reference": _dicom(reference)}, words)
    return [(m.file, m.attribute, m.real_file) for m in matches if m.level == "fail"]


# --------------------------------------------------------------------------- the audit


def _interleaved(matches: list[Match]) -> list[Match]:
    """Matches ordered so that the first flags cover every attribute: the first match of each
    attribute, then the second of each, and so on (the flagged list is capped)."""
    rank: dict[str, int] = {}
    keyed = []
    for match in matches:
        rank[match.attribute] = rank.get(match.attribute, -1) + 1
        keyed.append(((rank[match.attribute], ATTRIBUTES.index(match.attribute)), match))
    return [match for _key, match in sorted(keyed, key=lambda item: item[0])]


def _match_flag(match: Match) -> dict[str, Any]:
    where = f"{SET_LABELS[match.real_set]} file {match.real_file}"
    if match.level == "warn":
        reason = f"{match.attribute} is a time of day of {match.real_attribute} in {where}, on another day"
    elif match.real_attribute == match.attribute:
        reason = f"{match.attribute} is the same as in {where}"
    else:
        reason = f"{match.attribute} holds the {match.real_attribute} of {where}"
    return {
        "file": match.file,
        "attribute": match.attribute,
        "real_set": SET_LABELS[match.real_set],
        "real_file": match.real_file,
        "level": match.level,
        "reason": reason,
    }


def _placeholders(records: list[FileRecord], words: frozenset[str]) -> int:
    """Header entries with text that normalises to nothing (SYNTHETIC, ANONYMOUS, ^, 19000101...)."""
    count = 0
    for record in records:
        for name, family in FAMILIES.items():
            for attribute in family.attributes:
                texts = [text for text in _texts(record.header.get(attribute)) if text.strip()]
                if texts and not _keys(name, attribute, record.header, words):
                    count += 1
    return count


def _files_per_attribute(matches: list[Match]) -> dict[str, int]:
    """Synthetic files with a real file's value (in either set), per attribute, in ATTRIBUTES order."""
    files: dict[str, set[str]] = {}
    for m in matches:
        files.setdefault(m.attribute, set()).add(m.file)
    return {attribute: len(files[attribute]) for attribute in ATTRIBUTES if attribute in files}


def _by_attribute(synthetic: list[FileRecord], failing: list[Match], words: frozenset[str]) -> list[dict[str, Any]]:
    """Per attribute: synthetic files with a non-placeholder value, and with a real file's value per set."""
    files: dict[tuple[str, str], set[str]] = {}
    for m in failing:
        files.setdefault((m.real_set, m.attribute), set()).add(m.file)
    rows: dict[str, dict[str, Any]] = {}
    for family in FAMILIES.values():
        for attribute in family.attributes:
            if attribute in rows:
                continue
            present = sum(1 for r in synthetic if values(family.kind, attribute, r.header.get(attribute), words))
            rows[attribute] = {"attribute": attribute, "present": present} | {
                f"shared_with_{role}": len(files.get((role, attribute), ())) for role in SET_LABELS
            }
    return list(rows.values())


def run(
    synthetic: ImageSet,
    reference: ImageSet | None,
    params: dict[str, Any] | None = None,
    holdout: ImageSet | None = None,
) -> AuditResult:
    """Compare every synthetic DICOM header with every real set given (reference, held-out)."""
    started = time.perf_counter()
    effective = resolve_params(params)
    words = placeholder_words(effective["placeholders"])
    inputs = set_inputs(synthetic)
    real_sets = {role: s for role, s in (("reference", reference), ("holdout", holdout)) if s is not None}
    for role, image_set in real_sets.items():
        inputs.update(set_inputs(image_set, role))
    synthetic_dicom = _dicom(synthetic)
    real = {role: _dicom(image_set) for role, image_set in real_sets.items()}
    inputs["n_synthetic_dicom"] = len(synthetic_dicom)
    for role, records in real.items():
        inputs[f"n_{role}_dicom"] = len(records)
    if not synthetic_dicom:
        return not_computable(
            AUDIT,
            "no DICOM files: header privacy checks apply to DICOM only",
            "synthetic files in DICOM format (PNG and NIfTI carry no patient attributes to check)",
            inputs=inputs,
            params=effective,
            code_version=ENGINE_VERSION,
            timings={"total": time.perf_counter() - started},
        )

    matches, unmatched = find_matches(synthetic_dicom, {r: recs for r, recs in real.items() if recs}, words)
    failing = [m for m in matches if m.level == "fail"]
    coincidences = [m for m in matches if m.level == "warn"]
    failing_files = {m.file for m in failing}
    flagged = [_match_flag(m) for m in _interleaved(failing) + _interleaved(coincidences)]
    for file, attributes in sorted(unmatched.items()):
        flagged.append(
            {
                "file": file,
                "attribute": ", ".join(attributes),
                "real_set": "",
                "real_file": "",
                "level": "warn",
                "reason": "identifying value(s) kept that match no real file: a pseudonym, or a leak from a set "
                "that was not uploaded",
            }
        )
    n_removed = sum(1 for record in synthetic_dicom if identity_removed(record))
    by_attribute = _by_attribute(synthetic_dicom, failing, words)
    metrics: dict[str, Any] = {
        "n_dicom_files": len(synthetic_dicom),
        "n_reference_dicom_files": len(real.get("reference", [])),
        "n_holdout_dicom_files": len(real.get("holdout", [])),
        "n_shared_identifiers": len(failing),
        "n_files_sharing_identifiers": len(failing_files),
        "n_files_sharing_with_reference": len({m.file for m in failing if m.real_set == "reference"}),
        "n_files_sharing_with_holdout": len({m.file for m in failing if m.real_set == "holdout"}),
        "shared_by_attribute": _files_per_attribute(failing),
        "shared_by_set": {SET_LABELS[role]: sum(1 for m in failing if m.real_set == role) for role in real},
        "n_times_on_other_days": len(coincidences),
        "n_files_with_identifying_attributes": len(unmatched),
        "identifying_attributes_present": {row["attribute"]: row["present"] for row in by_attribute if row["present"]},
        "n_placeholder_values": _placeholders(synthetic_dicom, words),
        "n_patient_identity_removed_yes": n_removed,
        "n_flagged_total": len(flagged),
    }
    status, summary = _verdict(metrics, real)
    return AuditResult(
        audit=AUDIT,
        status=status,
        summary=summary,
        metrics=metrics,
        thresholds={
            "n_shared_identifiers": {"warn": None, "fail": 0, "direction": "above"},
            "n_files_with_identifying_attributes": {"warn": 0, "fail": None, "direction": "above"},
            "n_times_on_other_days": {"warn": 0, "fail": None, "direction": "above"},
        },
        flagged=flagged[:FLAGGED_LIMIT],
        charts={"by_attribute": by_attribute},
        caveats=_caveats(synthetic, real, n_removed),
        inputs=inputs,
        params=effective,
        code_version=ENGINE_VERSION,
        timings={"total": time.perf_counter() - started},
    )


def _verdict(metrics: dict[str, Any], real: dict[str, list[FileRecord]]) -> tuple[Status, str]:
    n = metrics["n_dicom_files"]
    if metrics["n_shared_identifiers"]:
        per_set = ", ".join(
            f"{count} with the {label} set" for label, count in metrics["shared_by_set"].items() if count
        )
        return Status.FAIL, (
            f"{metrics['n_files_sharing_identifiers']} of {n} synthetic DICOM files carry identifiers of real files "
            f"({metrics['n_shared_identifiers']} matches: {per_set})."
        )
    problems = []
    if metrics["n_files_with_identifying_attributes"]:
        problems.append(
            f"{metrics['n_files_with_identifying_attributes']} of {n} synthetic DICOM files keep identifying values "
            "found in no real file"
        )
    if metrics["n_times_on_other_days"]:
        problems.append(f"{metrics['n_times_on_other_days']} times of day of real exams recur on other days")
    if problems:
        return Status.WARN, "; ".join(problems) + "."
    compared = " and ".join(f"the {SET_LABELS[role]} set" for role, records in real.items() if records)
    against = f" against {compared}" if compared else ""
    return Status.PASS, f"No identifier of a real file{against} in {n} synthetic DICOM files."


def _caveats(synthetic: ImageSet, real: dict[str, list[FileRecord]], n_removed: int) -> list[str]:
    caveats = []
    for role, records in real.items():
        if not records:
            caveats.append(f"the {SET_LABELS[role]} set has no DICOM files: its identifiers were not compared")
    if not real.get("reference"):
        caveats.append(
            "no real DICOM headers to compare with: only identifying values left in synthetic files were checked"
        )
    if "holdout" not in real:
        caveats.append("no held-out set was uploaded: identifiers were compared with the reference set only")
    non_dicom = sum(1 for r in synthetic.files if r.accepted and r.format != "dicom")
    if non_dicom:
        caveats.append(f"{non_dicom} non-DICOM synthetic files carry no patient attributes and were not checked")
    if n_removed:
        caveats.append(
            f"{n_removed} synthetic files declare PatientIdentityRemoved = YES: the declaration hides nothing, "
            "their values were compared all the same"
        )
    return caveats
