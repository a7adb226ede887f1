"""Reading one image set for the audit: its counting units and the metadata row of each file."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from audits.engine.representation.common import clean_value
from audits.engine.representation.normalise import attribute_key
from audits.engine.types import ImageSet


def _norm_path(name: str) -> str:
    name = name.replace("\\", "/").strip()
    while name.startswith("./"):
        name = name[2:]
    return name.lstrip("/")


@dataclass
class _Side:
    """One set as seen by this audit: its counting units and matched metadata rows."""

    role: str  # "synthetic" or "reference"
    unit: str  # "images", "files" or "metadata rows"
    weights: dict[str, int]  # file name -> number of images
    labels: dict[str, str]  # image label -> file name
    rows: dict[str, dict[str, str]] = field(default_factory=dict)  # file -> attribute key -> value
    columns: dict[str, str] = field(default_factory=dict)  # attribute key -> name as written
    value_map: dict[str, dict[str, str]] = field(default_factory=dict)  # the researcher's mapping
    n_metadata_rows: int = 0
    n_rows_unmatched: int = 0
    n_files_without_row: int = 0
    n_images_without_row: int = 0
    n_blank_images: int = 0
    has_values: bool = False  # some metadata row holds a non-empty value

    @property
    def n_images(self) -> int:
        return sum(self.weights.values())

    @property
    def label(self) -> str:
        return "synthetic" if self.role == "synthetic" else "reference"


def _side(image_set: ImageSet, role: str) -> _Side:
    metadata = {_norm_path(str(k)): v for k, v in (image_set.metadata or {}).items() if isinstance(v, Mapping)}
    if image_set.images:
        unit = "images"
        weights = dict(Counter(image.file for image in image_set.images))
        labels = {image.label: image.file for image in image_set.images}
    elif image_set.files:
        unit = "files"
        weights = {f.name: max(1, f.slices) for f in image_set.files if f.accepted}
        labels = {name: name for name in weights}
    else:
        unit = "metadata rows"
        weights = dict.fromkeys(metadata, 1)
        labels = {name: name for name in weights}
    side = _Side(role=role, unit=unit, weights=weights, labels=labels, n_metadata_rows=len(metadata))
    side.value_map = {
        str(attribute): {str(k): str(v) for k, v in entries.items()}
        for attribute, entries in (getattr(image_set, "value_map", None) or {}).items()
        if isinstance(entries, Mapping)
    }
    side.n_blank_images = sum(1 for image in image_set.images if image.blank)
    side.has_values = any(clean_value(value) for row in metadata.values() for value in row.values())

    for row in metadata.values():
        for column in row:
            name = str(column).strip()
            if name:
                side.columns.setdefault(attribute_key(name), name)

    by_basename: dict[str, list[str]] = {}
    for key in metadata:
        by_basename.setdefault(key.rsplit("/", 1)[-1], []).append(key)
    used: set[str] = set()
    for file in weights:
        key = _norm_path(file)
        if key not in metadata:
            candidates = by_basename.get(key.rsplit("/", 1)[-1], [])
            key = candidates[0] if len(candidates) == 1 else ""
        if not key:
            side.n_files_without_row += 1
            side.n_images_without_row += weights[file]
            continue
        used.add(key)
        side.rows[file] = {
            attribute_key(str(column)): clean_value(value)
            for column, value in metadata[key].items()
            if str(column).strip()
        }
    side.n_rows_unmatched = len(set(metadata) - used)
    return side


def _values(side: _Side, key: str) -> tuple[Counter[str], int]:
    """(spelling as written -> images, images with no value at all) for one attribute."""
    counts: Counter[str] = Counter()
    missing = 0
    for file, weight in side.weights.items():
        value = side.rows.get(file, {}).get(key, "")
        if value:
            counts[value] += weight
        else:
            missing += weight
    return counts, missing
