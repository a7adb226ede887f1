"""Normalisation of identifying DICOM values: families of attributes, placeholders, comparable keys.

See the package docstring (audits.engine.privacy) for the rules; `values` is the one entry point.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any


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

# Words that say the value was removed or made up: with only these, letters, zeros and XXX, a
# value is a placeholder (SYNTHETIC, ANONYMOUS^PATIENT, N/A, 000000), never compared.
_PLACEHOLDER_TEXT = """
anonymous anonymized anonymised anonymize anonymise anon anonym unknown unk none null nil na removed
redacted deidentified deidentify identified deid de blank empty missing unspecified not specified no
noname name withheld hidden masked private confidential synthetic synth syn synthesized synthesised
synthesis generated simulated simulation artificial fake dummy default
"""
PLACEHOLDER_WORDS = frozenset(_PLACEHOLDER_TEXT.split())
# Generic words of test and teaching data: alone (PATIENT, PHANTOM) a placeholder; with initials
# (Test^S R) or a number (Patient^007) a pseudonym: compared with the real sets, never flagged alone.
_GENERIC_TEXT = "patient pat subject test phantom sample demo image case study series scan other volunteer control"
GENERIC_WORDS = frozenset(_GENERIC_TEXT.split())
# Stand-in person names (Doe^John, Citizen^Jan, Lastname^Firstname): real test data uses them for
# its patients, so they are compared with the real sets, but alone in a synthetic file never flagged.
_STAND_IN_TEXT = "doe john jane roe citizen lastname firstname last first middle mid given family surname pre"
STAND_IN_NAMES = frozenset(_STAND_IN_TEXT.split())
STANDARD_UID_ROOT = "1.2.840.10008."  # DICOM's own public UIDs (classes, syntaxes): shared by all
DATE_RANGE = (datetime.date(1901, 1, 1), datetime.date(2199, 12, 31))


@dataclass(frozen=True)
class Value:
    key: str  # the normalised value; never reported
    warnable: bool  # False for a numbered placeholder ("ANON^0001"): compared, but not flagged alone


def placeholder_words(extra: Iterable[str] = ()) -> frozenset[str]:
    """The built-in placeholder words and the extra ones, as the tokens `_tokens` produces."""
    return PLACEHOLDER_WORDS | {token for word in extra for token in _tokens(word)}


# --------------------------------------------------------------------------- normalisation


def _tokens(text: str) -> list[str]:
    """Runs of letters and runs of digits, case-folded: "CT1^Doe" gives ["ct", "1", "doe"]."""
    return re.findall(r"[^\W\d_]+|\d+", text.casefold())


def _classify(tokens: list[str], words: frozenset[str]) -> bool | None:
    """None for a placeholder (never compared); False for a pseudonym or stand-in (compared, not
    flagged alone); True for an identifying value (compared, and flagged alone as a warning).

    Tokens sort into numbers (not zeros), real words, initials (one letter), placeholder words
    (`words`), generic words and stand-in names; zeros and XXX-like runs count for nothing.
    """
    numbers = [t for t in tokens if t.isdigit() and t.strip("0") and not (len(t) >= 3 and len(set(t)) == 1)]
    letters = [t for t in tokens if not t.isdigit() and not (len(t) >= 3 and len(set(t)) == 1)]
    initials = [t for t in letters if len(t) == 1]
    known = words | GENERIC_WORDS | STAND_IN_NAMES
    real_words = [t for t in letters if len(t) > 1 and t not in known]
    generic = [t for t in letters if t in GENERIC_WORDS]
    stand_ins = [t for t in letters if t in STAND_IN_NAMES]
    if real_words:
        return True  # a word that is no placeholder: a name, a site, an ID such as 1CT1
    if numbers:
        return not (generic or stand_ins or any(t in words for t in letters))  # ANON^0042 is a pseudonym
    if stand_ins or (generic and initials):
        return False
    return None


def header_texts(raw: Any) -> list[str]:
    """The values of a header entry: one per value of a multi-valued element."""
    if raw is None:
        return []
    if isinstance(raw, list):
        return [text for item in raw for text in header_texts(item)]
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
    for text in header_texts(raw):
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
