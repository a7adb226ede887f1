"""Side inputs of an audit: metadata CSVs, subgroup values from DICOM headers, generation manifests.

Also `set_inputs`, the standard description of an image set for `AuditResult.inputs`.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

# The one age banding, re-exported for the demo data.
from .representation.continuous import AGE_BANDS as AGE_BANDS
from .representation.continuous import age_band as age_band
from .representation.continuous import parse_age
from .representation.normalise import attribute_key, fold, tidy
from .types import ImageSet

FILE_COLUMNS = ("file", "filename", "file_name", "name", "path")
MANIFEST_REQUIRED = ("generator", "version", "seed")
MAX_ROWS = 1_000_000


def normalise_name(name: str) -> str:
    """File names as the readers write them: forward slashes, no leading './' or '/'."""
    cleaned = name.strip().replace("\\", "/")
    while cleaned.startswith("./"):
        cleaned = cleaned[2:]
    return cleaned.lstrip("/")


def set_inputs(image_set: ImageSet, prefix: str | None = None) -> dict[str, Any]:
    """Counts and digest of a set, keys prefixed with its role (or `prefix`)."""
    role = prefix or image_set.role
    accepted = [f for f in image_set.files if f.accepted]
    return {
        f"n_{role}_files": len(image_set.files),
        f"n_{role}_accepted": len(accepted),
        f"n_{role}_rejected": len(image_set.files) - len(accepted),
        f"n_{role}_images": len(image_set.images),
        f"n_{role}_blank": sum(1 for image in image_set.images if image.blank),
        f"{role}_digest": image_set.digest(),
    }


# --------------------------------------------------------------------------- CSV


def _dialect(text: str) -> str:
    first = text.split("\n", 1)[0]
    if "," in first:
        return ","
    for delimiter in (";", "\t"):
        if delimiter in first:
            return delimiter
    return ","


def _read_csv(text: str, what: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """(header, [(line number, cells)]) with blank rows skipped; ValueError naming the line."""
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise ValueError(f"{what} is empty")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_dialect(text), strict=True)
    rows: list[tuple[int, list[str]]] = []
    line = 1
    try:
        for cells in reader:
            if cells and any(cell.strip() for cell in cells):
                rows.append((line, [cell.strip() for cell in cells]))
                if len(rows) > MAX_ROWS + 1:
                    raise ValueError(f"{what} has more than {MAX_ROWS} rows")
            line = reader.line_num + 1
    except csv.Error as exc:
        raise ValueError(f"{what}, line {reader.line_num}: {exc}") from exc
    if not rows:
        raise ValueError(f"{what} is empty")
    header_line, header = rows[0]
    for position, column in enumerate(header, start=1):
        if not column:
            raise ValueError(f"{what}, line {header_line}: column {position} has no name")
    lowered = [column.lower() for column in header]
    duplicates = sorted({column for column in lowered if lowered.count(column) > 1})
    if duplicates:
        raise ValueError(f"{what}, line {header_line}: duplicate column {duplicates[0]!r}")
    for number, cells in rows[1:]:
        if len(cells) != len(header):
            raise ValueError(f"{what}, line {number}: expected {len(header)} fields, got {len(cells)}")
    return header, rows[1:]


def _file_column(header: list[str]) -> int | None:
    lowered = [column.lower() for column in header]
    for candidate in FILE_COLUMNS:
        if candidate in lowered:
            return lowered.index(candidate)
    return None


def parse_metadata_csv(text: str) -> tuple[dict[str, dict[str, str]], list[str]]:
    """A per-file metadata CSV: {file name: {attribute: value}} and warnings.

    The file name is the column called file, filename, file_name, name or path (any case),
    else the first column; the other columns are attributes (empty cells are left out). A
    duplicate row keeps the first one; a row with an empty file name is skipped; both give a
    warning. A malformed CSV raises ValueError naming the line.
    """
    header, rows = _read_csv(text, "metadata CSV")
    key = _file_column(header)
    key = 0 if key is None else key
    if len(header) < 2:
        raise ValueError("metadata CSV, line 1: needs a file-name column and at least one attribute column")
    attributes = [(position, column) for position, column in enumerate(header) if position != key]
    mapping: dict[str, dict[str, str]] = {}
    first_line: dict[str, int] = {}
    warnings: list[str] = []
    for line, cells in rows:
        name = normalise_name(cells[key])
        if not name:
            warnings.append(f"line {line}: empty file name, row skipped")
            continue
        if name in mapping:
            warnings.append(f"line {line}: duplicate row for {name!r} (first on line {first_line[name]}), ignored")
            continue
        first_line[name] = line
        mapping[name] = {column: cells[position] for position, column in attributes if cells[position]}
    return mapping, warnings


# --------------------------------------------------------------------------- subgroup value mapping

VALUE_MAP_COLUMNS = {
    "attribute": ("attribute", "column"),
    "value": ("value", "spelling", "original", "from"),
    "group": ("group", "to", "maps_to", "category"),
}
VALUE_MAP_MAX_ROWS = 10_000


def parse_value_map(text: str) -> dict[str, dict[str, str]]:
    """A researcher's subgroup mapping CSV: {attribute: {spelling: group}}.

    Columns (any case, any order): attribute (or column), value (or spelling, original, from)
    and group (or to, maps_to, category); one row per spelling, e.g. `sex,W,F` or
    `site,St Mary's,St Mary's Hospital`. An empty group counts the spelling as missing. Each
    spelling is matched whatever its case and spacing, so two rows for one attribute whose
    spellings differ only so must agree. Raises ValueError naming the line for a malformed file.
    """
    header, rows = _read_csv(text, "value mapping CSV")
    lowered = [column.strip().lower() for column in header]
    positions: dict[str, int] = {}
    for role, accepted in VALUE_MAP_COLUMNS.items():
        found = [lowered.index(name) for name in accepted if name in lowered]
        if not found:
            raise ValueError(
                f"value mapping CSV, line 1: no {role!r} column (the header needs attribute, value and group)"
            )
        positions[role] = found[0]
    extra = [header[i] for i in range(len(header)) if i not in positions.values()]
    if extra:
        raise ValueError(f"value mapping CSV, line 1: unexpected column {extra[0]!r} (only attribute, value, group)")
    if len(rows) > VALUE_MAP_MAX_ROWS:
        raise ValueError(f"value mapping CSV has more than {VALUE_MAP_MAX_ROWS} rows")
    mapping: dict[str, dict[str, str]] = {}
    seen: dict[tuple[str, str], tuple[int, str]] = {}
    names: dict[str, str] = {}
    for line, cells in rows:
        attribute, value, group = (cells[positions[role]].strip() for role in ("attribute", "value", "group"))
        if not attribute:
            raise ValueError(f"value mapping CSV, line {line}: the attribute is empty")
        if not value:
            raise ValueError(f"value mapping CSV, line {line}: the value is empty (an empty value is missing already)")
        key = (attribute_key(attribute), fold(value))
        if key in seen:
            first_line, first_group = seen[key]
            if fold(first_group) != fold(group):
                raise ValueError(
                    f"value mapping CSV, line {line}: {attribute} {value!r} is mapped to {first_group!r} on line "
                    f"{first_line} and to {group!r} here"
                )
            continue
        seen[key] = (line, group)
        name = names.setdefault(key[0], attribute)
        mapping.setdefault(name, {})[tidy(value)] = tidy(group)
    return mapping


# --------------------------------------------------------------------------- DICOM headers


def dicom_age_years(value: str) -> float | None:
    """PatientAge (AS: nnnD, nnnW, nnnM or nnnY) in years, or None when it does not parse."""
    return parse_age(value or "")


def _header_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "\\".join(str(item) for item in value).strip()
    return str(value).strip()


# Header-derived attribute -> the other column names (as attribute keys) that mean the same thing:
# a CSV column with any of them, in any capitalisation or spacing, wins over the header.
HEADER_ATTRIBUTE_ALIASES: dict[str, frozenset[str]] = {
    "sex": frozenset({"sex", "patient_sex", "gender", "patient_gender"}),
    "age": frozenset({"age", "patient_age", "age_years", "age_band", "age_group", "age_bin", "age_range"}),
    "site": frozenset({"site", "institution", "institution_name", "hospital", "centre", "center"}),
    "scanner": frozenset({"scanner", "manufacturer", "scanner_model", "manufacturer_model_name", "device"}),
}


def metadata_from_headers(image_set: ImageSet) -> dict[str, dict[str, str]]:
    """The set's metadata with sex, age, site and scanner filled from DICOM headers.

    Values already in `image_set.metadata` (from a CSV) always win: a header only fills an
    attribute the file's row lacks, and a CSV column counts as that attribute whatever its
    capitalisation or spacing ("Sex", "SEX", "Patient Sex") or its usual alias
    (HEADER_ATTRIBUTE_ALIASES: gender for sex, age_band for age...). sex is PatientSex (M, F
    or O); age is PatientAge as written ('045Y': the representation audit reads DICOM ages and
    bins them like any other age); site is InstitutionName; scanner is Manufacturer followed by
    ManufacturerModelName. Returns a new mapping; the set is not changed. This is the one
    merge of CSV and headers, for the worker and the command line alike.
    """
    merged = {name: dict(values) for name, values in image_set.metadata.items()}
    for record in image_set.files:
        if not record.accepted or record.format != "dicom":
            continue
        derived = _header_attributes(record.header)
        if not derived:
            continue
        values = merged.setdefault(record.name, {})
        given = {attribute_key(str(column)) for column, value in values.items() if str(value).strip()}
        for attribute, value in derived.items():
            if not given & HEADER_ATTRIBUTE_ALIASES[attribute]:
                values[attribute] = value
    return merged


def _header_attributes(header: dict[str, Any]) -> dict[str, str]:
    derived: dict[str, str] = {}
    sex = _header_text(header.get("PatientSex")).upper()
    if sex in ("M", "F", "O"):
        derived["sex"] = sex
    age = _header_text(header.get("PatientAge"))
    if dicom_age_years(age) is not None:
        derived["age"] = age
    site = _header_text(header.get("InstitutionName"))
    if site:
        derived["site"] = site
    scanner = " ".join(
        part for part in (_header_text(header.get(k)) for k in ("Manufacturer", "ManufacturerModelName")) if part
    )
    if scanner:
        derived["scanner"] = scanner
    return derived


# --------------------------------------------------------------------------- manifests


def _manifest_entry(raw: dict[str, Any], where: str) -> dict[str, Any]:
    lowered = {str(key).strip().lower(): key for key in raw}
    file_key = next((lowered[c] for c in FILE_COLUMNS if c in lowered), None)
    if file_key is None:
        raise ValueError(f"manifest {where}: no 'file' field")
    value = raw[file_key]
    if not isinstance(value, str):
        raise ValueError(f"manifest {where}: 'file' must be a string, got {type(value).__name__}")
    name = normalise_name(value)
    if not name:
        raise ValueError(f"manifest {where}: empty file name")
    entry: dict[str, Any] = {}
    for key, item in raw.items():
        if key == file_key:
            continue
        clean = str(key).strip()
        entry[
            clean.lower() if clean.lower() in (*MANIFEST_REQUIRED, "synthetic", "provenance", "source") else clean
        ] = item
    entry["file"] = name
    entry["_row"] = where
    return entry


def _unstorable(value: Any) -> bool:
    """A NUL or a lone surrogate in a string or key, at any depth: JSON escapes can write both, and
    neither UTF-8 nor PostgreSQL text holds them (a manifest's names are kept in the set's notes)."""
    if isinstance(value, str):
        return "\x00" in value or any("\ud800" <= ch <= "\udfff" for ch in value)
    if isinstance(value, dict):
        return any(_unstorable(key) or _unstorable(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_unstorable(item) for item in value)
    return False


def parse_manifest(text: str, filename: str) -> list[dict[str, Any]]:
    """Entries of a generation manifest, CSV or JSON ({"images": [...]} or a list of objects).

    Each entry has 'file' (normalised like the readers' names), the other keys as given
    (generator, version, seed and provenance keys lower-cased) and '_row' ("line 3" or
    "entry 2") for messages. JSON is chosen by a .json name or content starting with { or [.
    Malformed input raises ValueError with a message naming the line or entry.
    """
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise ValueError("manifest is empty")
    is_json = filename.lower().endswith(".json") or text.lstrip()[:1] in ("{", "[")
    if is_json:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"manifest JSON does not parse: line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
        except RecursionError as exc:
            raise ValueError("manifest JSON is nested too deeply") from exc
        if isinstance(data, dict):
            if "images" not in data:
                raise ValueError("manifest JSON object has no 'images' list")
            data = data["images"]
        if not isinstance(data, list):
            raise ValueError("manifest JSON must be a list of entries or an object with an 'images' list")
        if len(data) > MAX_ROWS:
            raise ValueError(f"manifest has more than {MAX_ROWS} entries")
        entries = []
        for position, raw in enumerate(data, start=1):
            if not isinstance(raw, dict):
                raise ValueError(f"manifest entry {position} is not an object")
            if _unstorable(raw):
                raise ValueError(
                    f"manifest entry {position} holds a NUL character or an unpaired surrogate (\\u0000,"
                    " \\ud800-\\udfff), which a file name or note cannot hold: write it as plain UTF-8 text"
                )
            entries.append(_manifest_entry(raw, f"entry {position}"))
        return entries

    header, rows = _read_csv(text, "manifest CSV")
    if _file_column(header) is None:
        raise ValueError(f"manifest CSV, line 1: no file column (one of {', '.join(FILE_COLUMNS)})")
    return [_manifest_entry(dict(zip(header, cells, strict=True)), f"line {line}") for line, cells in rows]
