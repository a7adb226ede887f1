"""Side inputs of an audit: metadata CSVs, subgroup values from DICOM headers, generation manifests.

Also `set_inputs`, the standard description of an image set for `AuditResult.inputs`.
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

from .types import ImageSet

FILE_COLUMNS = ("file", "filename", "file_name", "name", "path")
MANIFEST_REQUIRED = ("generator", "version", "seed")
MAX_ROWS = 1_000_000

AGE_BANDS = ((0, 18, "0-17"), (18, 40, "18-39"), (40, 60, "40-59"), (60, 80, "60-79"), (80, 1000, "80+"))
"""Age bands in years, [low, high): the default banding of PatientAge and of numeric age columns."""


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


# --------------------------------------------------------------------------- DICOM headers


def age_band(years: float) -> str:
    for low, high, label in AGE_BANDS:
        if low <= years < high:
            return label
    return ""


_DICOM_AGE = re.compile(r"^\s*(\d{1,3})\s*([DWMY]?)\s*$", re.I)


def dicom_age_years(value: str) -> float | None:
    """PatientAge (AS: nnnD, nnnW, nnnM or nnnY) in years, or None when it does not parse."""
    match = _DICOM_AGE.match(value or "")
    if not match:
        return None
    number = int(match.group(1))
    unit = (match.group(2) or "Y").upper()
    return number / {"D": 365.25, "W": 52.1775, "M": 12.0, "Y": 1.0}[unit]


def _header_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "\\".join(str(item) for item in value).strip()
    return str(value).strip()


def metadata_from_headers(image_set: ImageSet) -> dict[str, dict[str, str]]:
    """The set's metadata with sex, age_band, site and scanner filled from DICOM headers.

    Values already in `image_set.metadata` (from a CSV) win; a header only fills an attribute
    the file lacks. sex is M, F or O from PatientSex; age_band comes from PatientAge ('045Y'
    gives '40-59', see AGE_BANDS); site is InstitutionName; scanner is Manufacturer followed by
    ManufacturerModelName. Returns a new mapping; the set is not changed.
    """
    merged = {name: dict(values) for name, values in image_set.metadata.items()}
    for record in image_set.files:
        if not record.accepted or record.format != "dicom":
            continue
        header = record.header
        derived: dict[str, str] = {}
        sex = _header_text(header.get("PatientSex")).upper()
        if sex in ("M", "F", "O"):
            derived["sex"] = sex
        years = dicom_age_years(_header_text(header.get("PatientAge")))
        if years is not None:
            band = age_band(years)
            if band:
                derived["age_band"] = band
        site = _header_text(header.get("InstitutionName"))
        if site:
            derived["site"] = site
        scanner = " ".join(
            part for part in (_header_text(header.get(k)) for k in ("Manufacturer", "ManufacturerModelName")) if part
        )
        if scanner:
            derived["scanner"] = scanner
        if not derived:
            continue
        values = merged.setdefault(record.name, {})
        for attribute, value in derived.items():
            if not values.get(attribute):
                values[attribute] = value
    return merged


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
            entries.append(_manifest_entry(raw, f"entry {position}"))
        return entries

    header, rows = _read_csv(text, "manifest CSV")
    if _file_column(header) is None:
        raise ValueError(f"manifest CSV, line 1: no file column (one of {', '.join(FILE_COLUMNS)})")
    return [_manifest_entry(dict(zip(header, cells, strict=True)), f"line {line}") for line, cells in rows]
