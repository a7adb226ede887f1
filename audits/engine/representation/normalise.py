"""From the spellings in the metadata to the subgroups people mean.

Every value is resolved to a group (or to *missing*) before anything is counted, in this order:

1. The researcher's own mapping (`ImageSet.value_map`, attribute -> {spelling -> group}),
   matched on the folded spelling (below). An empty group means "count as missing". A set's
   own mapping wins over the other set's for the set's own values; either set's mapping also
   applies to the other set's spellings it names.
2. Missing markers: "", "NA", "N/A", "NaN", "null", "-", "?" (any case) are missing.
3. Sex (a column named sex, gender, PatientSex...): DICOM codes and English words.
   F = f, female, woman, women, girl; M = m, male, man, men, boy; O = o, other, intersex,
   diverse, non-binary. Missing = u, unknown, unspecified, not known (DICOM leaves
   PatientSex empty when unknown). Other spellings stay groups of their own.
4. Age (see continuous.parse_age): numbers of years, DICOM AS ("045Y", "006M", "010W",
   "003D") and the same with words ("45 years", "6 months") all become years, binned in
   one banding (continuous.AGE_BANDS).
5. Everything else is folded: Unicode NFKC, dashes unified, runs of white space collapsed,
   case folded. Spellings that fold alike are one group, shown by the most frequent original
   spelling over both sets (ties: the first in sort order), or by the researcher's spelling
   of the group when their mapping names it.

A mapping's group is itself resolved by rules 3 and 5 ("Female" joins F), except that a group
the built-in rules would call missing ("unknown") stays a group of its own: the researcher
asked for it.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from audits.engine.representation.common import name_tokens
from audits.engine.representation.continuous import age_band, parse_age

MISSING_MARKERS = frozenset({"", "na", "n/a", "nan", "null", "-", "?", "n.a."})

SEX_GROUPS: dict[str, str | None] = {
    **dict.fromkeys(("f", "female", "females", "woman", "women", "girl", "fem"), "F"),
    **dict.fromkeys(("m", "male", "males", "man", "men", "boy"), "M"),
    **dict.fromkeys(("o", "other", "others", "intersex", "diverse", "non-binary", "nonbinary"), "O"),
    **dict.fromkeys(("u", "unknown", "unk", "unspecified", "not specified", "not known", "not stated"), None),
}

_SEX_TOKENS = frozenset({"sex", "gender"})

_DASHES = re.compile(r"[\u2010-\u2015\u2212\ufe58\ufe63\uff0d]")
_SPACE_AROUND_DASH = re.compile(r"\s*-\s*")
_SPACES = re.compile(r"\s+")

# How a spelling became its group, in words for the page.
RULE_MAPPING = "your mapping"
RULE_MISSING = "missing marker"
RULE_SEX = "sex synonym"
RULE_AGE = "age in years"
RULE_NOT_AGE = "not an age"
RULE_FOLD = "case and spacing"
RULE_SAME = "as written"


def fold(value: str) -> str:
    """The comparison form of a spelling: NFKC, one kind of dash, single spaces, case folded."""
    text = unicodedata.normalize("NFKC", value)
    text = _DASHES.sub("-", text)
    text = _SPACES.sub(" ", text).strip()
    text = _SPACE_AROUND_DASH.sub("-", text)
    return text.casefold()


def tidy(value: str) -> str:
    """A spelling as shown: NFKC, single spaces, stripped (case kept)."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", value)).strip()


# Column names that mean the same attribute (as name tokens joined by "_").
_SAME_ATTRIBUTE = {
    **dict.fromkeys(("patient_sex", "gender", "patient_gender"), "sex"),
    **dict.fromkeys(("patient_age", "age_years", "age_in_years"), "age"),
}


def attribute_key(name: str) -> str:
    """The key two column names share when they name one attribute: "PatientSex" = "patient_sex"
    = "Sex" = "gender"; "PatientAge" = "age_years" = "Age" (an age band column stays apart)."""
    tokens = name_tokens(name)
    key = "_".join(tokens) if tokens else name.strip().casefold()
    return _SAME_ATTRIBUTE.get(key, key)


def is_sex_attribute(name: str) -> bool:
    return bool(set(name_tokens(name)) & _SEX_TOKENS)


@dataclass
class Resolution:
    """What one spelling of one attribute became."""

    spelling: str  # tidied original spelling
    key: str | None  # group key (folded, or the sex code); None = missing
    display: str | None  # the researcher's spelling of the group, when their mapping names it
    rule: str
    counts: dict[str, int] = field(default_factory=dict)  # side label -> images


def user_maps(
    own: Mapping[str, Mapping[str, str]], other: Mapping[str, Mapping[str, str]]
) -> dict[str, dict[str, str]]:
    """attribute key -> {folded spelling -> group}: the other set's entries, overridden by the own set's."""
    merged: dict[str, dict[str, str]] = {}
    for source in (other, own):
        for attribute, entries in source.items():
            target = merged.setdefault(attribute_key(str(attribute)), {})
            for spelling, group in entries.items():
                target[fold(str(spelling))] = tidy(str(group))
    return merged


def map_conflicts(
    first: Mapping[str, Mapping[str, str]], second: Mapping[str, Mapping[str, str]]
) -> list[tuple[str, str, str, str]]:
    """(attribute, spelling, group in first, group in second) where the two sets' mappings disagree."""
    a, b = user_maps(first, {}), user_maps(second, {})
    out = []
    for attribute in sorted(set(a) & set(b)):
        for spelling in sorted(set(a[attribute]) & set(b[attribute])):
            if fold(a[attribute][spelling]) != fold(b[attribute][spelling]):
                out.append((attribute, spelling, a[attribute][spelling], b[attribute][spelling]))
    return out


def builtin_key(spelling: str, sex: bool) -> tuple[str | None, str]:
    """(group key or None for missing, rule) by rules 2, 3 and 5 of the module docstring."""
    folded = fold(spelling)
    if folded in MISSING_MARKERS:
        return None, RULE_MISSING
    bare = folded.strip(" .'\"")  # "F.", "'male'"
    if sex and bare in SEX_GROUPS:
        return SEX_GROUPS[bare], RULE_SEX
    return folded, RULE_SAME if folded == spelling else RULE_FOLD


def resolve_categorical(spelling: str, sex: bool, mapping: Mapping[str, str]) -> Resolution:
    """One spelling of a categorical attribute, the researcher's mapping first."""
    tidied = tidy(spelling)
    mapped = mapping.get(fold(tidied))
    if mapped is not None:
        if not mapped:
            return Resolution(tidied, None, None, RULE_MAPPING)
        key, _rule = builtin_key(mapped, sex)
        if key is None:  # the researcher named a group the built-in rules call missing
            key = fold(mapped)
        return Resolution(tidied, key, mapped if key == fold(mapped) else None, RULE_MAPPING)
    key, rule = builtin_key(tidied, sex)
    return Resolution(tidied, key, None, rule)


def display_names(resolutions: list[Resolution]) -> dict[str, str]:
    """group key -> the form shown: a sex code as is, the researcher's spelling, else the most
    frequent original spelling (ties: the first in sort order)."""
    votes: dict[str, Counter[str]] = {}
    chosen: dict[str, str] = {}
    for resolution in resolutions:
        if resolution.key is None:
            continue
        if resolution.display:
            chosen.setdefault(resolution.key, resolution.display)
        votes.setdefault(resolution.key, Counter())[resolution.spelling] += sum(resolution.counts.values())
    names: dict[str, str] = {}
    for key, counter in votes.items():
        if key in chosen:
            names[key] = chosen[key]
        elif key in ("F", "M", "O") and key not in {fold(s) for s in counter}:
            names[key] = key
        else:
            names[key] = min(counter, key=lambda s: (-counter[s], s))
    # Two keys must never share a shown name.
    seen: dict[str, str] = {}
    for key in sorted(names):
        if names[key] in seen:
            names[key] = f"{names[key]} ({key})"
        seen[names[key]] = key
    return names


def resolve_age(spelling: str, mapping: Mapping[str, str]) -> tuple[float | None, Resolution]:
    """(age in years or None, resolution) of one spelling of an age attribute; its group is its band."""
    tidied = tidy(spelling)
    mapped = mapping.get(fold(tidied))
    value, rule = (mapped, RULE_MAPPING) if mapped is not None else (tidied, RULE_AGE)
    if fold(value) in MISSING_MARKERS:
        return None, Resolution(tidied, None, None, RULE_MAPPING if mapped is not None else RULE_MISSING)
    years = parse_age(value)
    if years is None:
        return None, Resolution(tidied, None, None, RULE_NOT_AGE)
    return years, Resolution(tidied, age_band(years), None, rule)
