"""Per-image summaries from which the fidelity audit computes everything its intensity step needs.

A chunk task calls `chunk_summary(images, params)` on the images it read; the merge
concatenates the chunks' summaries of one set in image order (`concat_summaries`) and passes
them to `fidelity.run(..., summaries=(synthetic, reference))` instead of pixels. The audit
computed from the pixels builds the same summaries first and then runs the same code, so
both paths give identical results by construction.

Per usable (non-blank) image, in the order given, a summary holds (n rows):

- `labels`, `files` (str), `shapes` (n, 2): what the flagged list and the inputs name;
- `units` (str), `has_native` (bool): what the choice of the intensity scale looks at;
- `relative_hist`: the image's counts on the relative [0, 1] scale, INTENSITY_BINS bins, as a
  sparse row (`relative_hist_indptr` (n + 1), `relative_hist_bins`, `relative_hist_counts`);
- `relative_stats` (n, 3): mean, standard deviation and foreground share of the relative pixels;
- `relative_sample`, `native_sample` (n, SAMPLE_PER_IMAGE) float32 and `sample_count` (n,):
  the values of the relative and native pixels at the same SAMPLE_PER_IMAGE positions, fixed
  by the seed and the image's pixel digest (so they do not depend on how the set was chunked);
  NaN beyond `sample_count` and where the image kept no native values;
- `window` (n, 2), `window_hist` (sparse, QUANTITATIVE_BINS bins), `window_stats` (n, 3): the
  same histogram and statistics of the native values through the quantitative window, when the
  window is known before the data are (HU, or both window settings given); NaN window
  otherwise. A window drawn from the data's percentiles (another unit, no window given)
  cannot be known by a chunk: `run` then needs the pixels (`SummaryWindowError`).

and `n_blank` (1,): the blank images the chunk dropped. Memory: about 2 KiB per image for the
samples plus up to 1 KiB per histogram row (64 x 64 images), whatever the pixel size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

from audits.engine.fidelity.intensity import INTENSITY_BINS, QUANTITATIVE_BINS
from audits.engine.fidelity.params import resolve_params
from audits.engine.types import Image

SAMPLE_PER_IMAGE = 256  # pixels per image in the KS D pool (1/16 of a 64 x 64 image)
_POSITION_STREAM = 11  # beside sampling._STREAMS: the per-image sample positions
_HIST_KEYS = ("indptr", "bins", "counts")
_ROW_KEYS = (
    "labels",
    "files",
    "shapes",
    "units",
    "has_native",
    "relative_stats",
    "relative_sample",
    "native_sample",
    "sample_count",
    "window",
    "window_stats",
)
SAMPLE_KEYS = ("relative_sample", "native_sample")  # (n, SAMPLE_PER_IMAGE) float32
# What a merge may leave in the chunk artifacts (`StoredRows`, joined as `PartedRows`): the per-image
# samples and histogram entries, about 3 KiB per image (4 KiB and more with windowed histograms).
STORED_KEYS = (
    *SAMPLE_KEYS,
    *(f"{name}_{key}" for name in ("relative_hist", "window_hist") for key in ("bins", "counts")),
)
SUMMARY_KEYS = (
    *_ROW_KEYS,
    *(f"{name}_{key}" for name in ("relative_hist", "window_hist") for key in _HIST_KEYS),
    "n_blank",
)


class SummaryWindowError(ValueError):
    """The summaries lack the windowed histogram the chosen quantitative window needs."""


def known_window(unit: str, p: dict[str, Any]) -> tuple[float, float] | None:
    """The quantitative window (low, width) an image of `unit` is compared through, when the settings fix
    it before any data is seen (scale.choose_scale's rule); None when it comes from the data or the
    comparison is relative."""
    from audits.engine.fidelity.scale import HU_WINDOW

    setting = p["intensity_scale"]
    if setting == "relative":
        return None
    if p["window_low"] is not None and p["window_width"] is not None:
        return float(p["window_low"]), float(p["window_width"])
    if setting != "hu" and unit != "HU":
        return None
    low = float(p["window_low"]) if p["window_low"] is not None else HU_WINDOW[0]
    high = HU_WINDOW[0] + HU_WINDOW[1]
    return low, float(p["window_width"]) if p["window_width"] is not None else high - low


def on_window(values: np.ndarray, low: float, width: float) -> np.ndarray:
    """Native values through the window onto [0, 1], in float32 (as IntensityScale.on_window)."""
    return np.clip((values - np.float32(low)) / np.float32(width), 0.0, 1.0).astype(np.float32)


def image_stats(pixels: np.ndarray, foreground_threshold: float) -> tuple[float, float, float]:
    return float(pixels.mean()), float(pixels.std()), float(np.mean(pixels > foreground_threshold))


def sample_positions(n_pixels: int, digest: str, seed: int, size: int = SAMPLE_PER_IMAGE) -> np.ndarray:
    """min(size, n_pixels) distinct flat positions: a seeded permutation of the pixel grid, read from an
    offset the image's digest fixes, so each image has its own positions, whoever reads it."""
    order = _permutation(n_pixels, seed)
    start = int(digest[:12], 16) % n_pixels if digest else 0
    return order[(start + np.arange(min(size, n_pixels))) % n_pixels]


_PERMUTATIONS: dict[tuple[int, int], np.ndarray] = {}


def _permutation(n_pixels: int, seed: int) -> np.ndarray:
    key = (n_pixels, seed)
    if key not in _PERMUTATIONS:
        if len(_PERMUTATIONS) > 32:
            _PERMUTATIONS.clear()
        _PERMUTATIONS[key] = np.random.default_rng([seed, _POSITION_STREAM]).permutation(n_pixels)
    return _PERMUTATIONS[key]


def _sparse_rows(pixels: list[np.ndarray], bins: int, block: int = 64) -> dict[str, np.ndarray]:
    """Each image's histogram on [0, 1] (values outside clipped) as one sparse row; `block` images counted by
    one bincount at a time (the same bin of each value as `intensity.image_histograms` computes)."""
    indptr = np.zeros(len(pixels) + 1, dtype=np.int64)
    bin_parts, count_parts = [], []
    for start in range(0, len(pixels), block):
        part = pixels[start : start + block]
        sizes = np.array([values.size for values in part], dtype=np.int64)
        # Each image's bins in its own dtype (as image_histograms), counted together.
        index = np.concatenate(
            [np.minimum((np.clip(values.ravel(), 0.0, 1.0) * bins).astype(np.intp), bins - 1) for values in part]
        )
        index += np.repeat(np.arange(len(part)) * bins, sizes)
        counts = np.bincount(index, minlength=len(part) * bins).reshape(len(part), bins)
        rows, occupied = np.nonzero(counts)
        bin_parts.append(occupied.astype(np.uint16))
        count_parts.append(counts[rows, occupied].astype(np.uint32))
        indptr[start + 1 : start + len(part) + 1] = indptr[start] + np.cumsum(np.bincount(rows, minlength=len(part)))
    return {
        "indptr": indptr,
        "bins": np.concatenate(bin_parts) if bin_parts else np.zeros(0, np.uint16),
        "counts": np.concatenate(count_parts) if count_parts else np.zeros(0, np.uint32),
    }


def chunk_summary(
    images: list[Image], params: dict[str, Any] | None = None, file_units: dict[str, str] | None = None
) -> dict[str, np.ndarray]:
    """The summary (module docstring) of `images`' usable ones, in their order; blank ones are counted.

    `params` are the run's fidelity parameters (the seed, the foreground threshold and the window
    settings matter); `file_units` names the unit of a file whose reader gave none (a NIfTI's
    BIDS sidecar: `scale.sidecar_units`).
    """
    p = resolve_params(params)
    file_units = file_units or {}
    seed, threshold = int(p["seed"]), float(p["foreground_threshold"])
    usable = [image for image in images if not image.blank]
    n = len(usable)
    out: dict[str, Any] = {
        "labels": np.array([image.label for image in usable], dtype=str),
        "files": np.array([image.file for image in usable], dtype=str),
        "shapes": np.array([image.pixels.shape for image in usable], dtype=np.int64).reshape(n, 2),
        "units": np.array([image.unit or file_units.get(image.file, "") for image in usable], dtype=str),
        "has_native": np.array([image.native is not None for image in usable], dtype=bool),
        "relative_stats": np.array([image_stats(image.pixels, threshold) for image in usable]).reshape(n, 3),
        "relative_sample": np.full((n, SAMPLE_PER_IMAGE), np.nan, dtype=np.float32),
        "native_sample": np.full((n, SAMPLE_PER_IMAGE), np.nan, dtype=np.float32),
        "sample_count": np.zeros(n, dtype=np.int64),
        "n_blank": np.array([len(images) - n], dtype=np.int64),
    }
    for row, image in enumerate(usable):
        positions = sample_positions(image.pixels.size, image.pixel_sha256, seed)
        out["sample_count"][row] = len(positions)
        out["relative_sample"][row, : len(positions)] = image.pixels.ravel()[positions]
        if image.native is not None:
            out["native_sample"][row, : len(positions)] = image.native.ravel()[positions]
    for key, array in _sparse_rows([image.pixels for image in usable], INTENSITY_BINS).items():
        out[f"relative_hist_{key}"] = array
    windows = [
        known_window(str(unit), p) if image.native is not None else None
        for unit, image in zip(out["units"], usable, strict=True)
    ]
    out.update(_window_part(usable, windows, threshold))
    return out


def with_window(
    summary: dict[str, np.ndarray], images: list[Image], window: tuple[float, float], params: dict[str, Any]
) -> dict[str, np.ndarray]:
    """`summary` of `images` with its windowed part computed for `window` (the pixels at hand: any window)."""
    usable = [image for image in images if not image.blank]
    p = resolve_params(params)
    windows: list[tuple[float, float] | None] = [window if image.native is not None else None for image in usable]
    return {**summary, **_window_part(usable, windows, float(p["foreground_threshold"]))}


def _window_part(
    usable: list[Image], windows: list[tuple[float, float] | None], threshold: float
) -> dict[str, np.ndarray]:
    n = len(usable)
    out = {"window": np.full((n, 2), np.nan), "window_stats": np.full((n, 3), np.nan)}
    windowed = []
    for row, (image, window) in enumerate(zip(usable, windows, strict=True)):
        if window is None or image.native is None:
            windowed.append(np.zeros(0, np.float32))
            continue
        values = on_window(image.native, *window)
        out["window"][row] = window
        out["window_stats"][row] = image_stats(values, threshold)
        windowed.append(values)
    for key, array in _sparse_rows(windowed, QUANTITATIVE_BINS).items():
        out[f"window_hist_{key}"] = array
    return out


def window_matches(summary: dict[str, np.ndarray], low: float, width: float) -> bool:
    """Whether every row's windowed part was computed through the window (low, width)."""
    window = summary["window"]
    return bool(len(window) == 0 or ((window[:, 0] == low) & (window[:, 1] == width)).all())


def concat_summaries(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One set's summary from its chunks' summaries, in the chunks' order (the images' order).

    A part's per-image samples may be `StoredRows` (left in the chunk's artifact): the joined
    samples are then `PartedRows`, read a part at a time. Histogram bins and counts are kept in
    the narrowest unsigned type that holds them (the same integers: readers convert them).
    """
    missing = [key for part in parts for key in SUMMARY_KEYS if key not in part]
    if missing:
        raise ValueError(f"a fidelity summary lacks {sorted(set(missing))}")
    if not parts:
        return chunk_summary([])
    out: dict[str, Any] = {key: _joined([part[key] for part in parts], key) for key in _ROW_KEYS}
    out["n_blank"] = np.array([sum(int(part["n_blank"][0]) for part in parts)], dtype=np.int64)
    for name in ("relative_hist", "window_hist"):
        offsets = np.cumsum([0] + [int(part[f"{name}_indptr"][-1]) for part in parts])
        out[f"{name}_indptr"] = np.concatenate(
            [[0]] + [part[f"{name}_indptr"][1:] + offset for part, offset in zip(parts, offsets, strict=False)]
        ).astype(np.int64)
        for key in ("bins", "counts"):
            out[f"{name}_{key}"] = _joined([part[f"{name}_{key}"] for part in parts], f"{name}_{key}")
    return out


def _joined(values: list[Any], key: str) -> Any:
    if any(isinstance(value, StoredRows) for value in values):
        return PartedRows(values, SAMPLE_PER_IMAGE if key in SAMPLE_KEYS else None)
    joined = np.concatenate(values)
    return narrowest(joined) if key.endswith(("_bins", "_counts")) else joined


def stored_part(part: dict[str, Any], key: str, load: Callable[[], np.ndarray]) -> StoredRows:
    """The `key` array (one of STORED_KEYS) of one chunk's summary `part`, left in storage: `load` reads it."""
    if key in SAMPLE_KEYS:
        return StoredRows(len(part["labels"]), load)
    name = key.rsplit("_", 1)[0]
    return StoredRows(int(part[f"{name}_indptr"][-1]), load)


def narrowest(values: np.ndarray) -> np.ndarray:
    """Unsigned integers in the smallest of uint8, uint16 and their own type that holds them all."""
    top = int(values.max()) if values.size else 0
    for dtype in (np.uint8, np.uint16):
        if np.dtype(dtype).itemsize < values.dtype.itemsize and top <= np.iinfo(dtype).max:
            return values.astype(dtype)
    return values


@dataclass(frozen=True)
class StoredRows:
    """One chunk's rows of a per-image array left where they are stored; `load` reads them."""

    rows: int
    load: Callable[[], np.ndarray]


class PartedRows:
    """Rows (n, columns), or entries (n,) when `columns` is None, joined from parts without being held
    together: each part is an array or `StoredRows`, and a read loads only the parts it touches, one
    at a time. The merge keeps the KS samples and the histogram entries so (STORED_KEYS).

    Indexing as numpy's for what the samples are read with: `rows[r]` (whole rows) and `rows[r, c]`
    (one value per pair), r and c integer arrays; `pieces()` gives each part in turn."""

    def __init__(self, parts: list[Any], columns: int | None = None) -> None:
        self.parts = parts
        sizes = [part.rows if isinstance(part, StoredRows) else len(part) for part in parts]
        self.offsets = np.cumsum([0, *sizes])
        self.shape: tuple[int, ...] = (int(self.offsets[-1]),) if columns is None else (int(self.offsets[-1]), columns)

    def __len__(self) -> int:
        return self.shape[0]

    def pieces(self) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, the part's rows) for each part, in order, each loaded as it comes."""
        for offset, part in zip(self.offsets, self.parts, strict=False):
            yield int(offset), part.load() if isinstance(part, StoredRows) else part

    def __getitem__(self, key: Any) -> np.ndarray:
        rows, columns = key if isinstance(key, tuple) else (key, None)
        rows = np.asarray(rows, dtype=np.int64)
        columns = None if columns is None else np.broadcast_to(np.asarray(columns, dtype=np.int64), rows.shape)
        part_of = np.searchsorted(self.offsets, rows, side="right") - 1
        out: np.ndarray | None = None
        for index in np.unique(part_of):
            mine, offset, part = part_of == index, int(self.offsets[index]), self.parts[int(index)]
            values = part.load() if isinstance(part, StoredRows) else part
            if out is None:  # in the stored type (float32 samples)
                out = np.empty(rows.shape if columns is not None else (*rows.shape, *values.shape[1:]), values.dtype)
            local = rows[mine] - offset
            out[mine] = values[local] if columns is None else values[local, columns[mine]]
        return np.empty((0, *self.shape[1:]), np.float32) if out is None else out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        values = np.concatenate([values for _offset, values in self.pieces()])
        return values if dtype is None else values.astype(dtype)


class HistogramRows:
    """Per-image histogram rows (n, bins) of a summary, kept in its compact sparse arrays (3 to 6 bytes
    per occupied bin), or left in the chunk artifacts (`PartedRows`, read a part at a time);
    `group_sums` converts a block of rows at a time to float64, so sums over groups of images never
    hold a float64 copy of every row. The counts are integers, so the sums are exact in any order:
    the same values as one sparse product over all rows, whatever the blocks and parts."""

    BLOCK = 512  # rows converted at a time: about 2 MiB of float64 rows and indices

    def __init__(self, summary: dict[str, Any], name: str, bins: int) -> None:
        self.indptr = summary[f"{name}_indptr"]
        self.bins = summary[f"{name}_bins"]
        self.counts = summary[f"{name}_counts"]
        self.shape = (len(self.indptr) - 1, bins)

    def _entries(self) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """(first entry, bins, counts) of each part of the entries: one in memory, or each stored part."""
        if isinstance(self.bins, PartedRows) and isinstance(self.counts, PartedRows):
            for (first, bins), (_first, counts) in zip(self.bins.pieces(), self.counts.pieces(), strict=True):
                yield first, bins, counts
        else:
            yield 0, np.asarray(self.bins), np.asarray(self.counts)

    def group_sums(self, weights: np.ndarray) -> np.ndarray:
        """weights (groups, n) @ rows (n, bins), in float64."""
        bins = self.shape[1]
        out = np.zeros((weights.shape[0], bins), dtype=np.float64)
        for first, part_bins, part_counts in self._entries():
            # the rows whose entries lie in this part (an empty row on its edge adds nothing either way)
            first_row = int(np.searchsorted(self.indptr, first, side="left"))
            end_row = int(np.searchsorted(self.indptr, first + len(part_bins), side="right")) - 1
            for start in range(first_row, end_row, self.BLOCK):
                stop = min(start + self.BLOCK, end_row)
                low, high = int(self.indptr[start]), int(self.indptr[stop])
                block = sparse.csr_matrix(
                    (
                        part_counts[low - first : high - first].astype(np.float64),
                        part_bins[low - first : high - first].astype(np.int64),
                        self.indptr[start : stop + 1] - low,
                    ),
                    shape=(stop - start, bins),
                )
                out += np.asarray((block.T @ weights[:, start:stop].T).T, dtype=np.float64)
        return out

    def sum(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The counts (bins,) of all rows, or of the given rows, in float64."""
        weights = np.zeros((1, self.shape[0]), dtype=np.float64)
        weights[0, slice(None) if rows is None else rows] = 1.0
        return self.group_sums(weights)[0]


def histogram_rows(summary: dict[str, np.ndarray], name: str, bins: int) -> HistogramRows:
    """The per-image histogram rows `name` ("relative_hist" or "window_hist") of a summary."""
    return HistogramRows(summary, name, bins)


def pooled_sample(summary: dict[str, Any], key: str, rows: np.ndarray | None = None) -> np.ndarray:
    """The per-image samples `key` of the given rows (all by default), pooled in row order, as float64."""
    samples, counts = summary[key], summary["sample_count"]
    if rows is not None:
        samples, counts = samples[rows], counts[rows]
    keep = np.arange(samples.shape[1])[None, :] < counts[:, None]
    return np.asarray(samples)[keep].astype(np.float64)


def capped_sample(
    summary: dict[str, np.ndarray], key: str, n: int, rng: np.random.Generator, rows: np.ndarray | None = None
) -> np.ndarray:
    """`capped(pooled_sample(summary, key, rows), n, rng)`, the same values from the same draw, without
    making the whole pool first (8 bytes per pooled value): only the n drawn values are gathered."""
    counts = summary["sample_count"] if rows is None else summary["sample_count"][rows]
    total = int(counts.sum())
    if total <= n:
        return pooled_sample(summary, key, rows)
    flat = np.sort(rng.choice(total, size=n, replace=False))
    ends = np.cumsum(counts)
    row = np.searchsorted(ends, flat, side="right")
    column = flat - (ends[row] - counts[row])
    source = row if rows is None else np.asarray(rows)[row]
    return summary[key][source, column].astype(np.float64)


def capped(values: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """`values`, or n of them drawn without replacement (in their order) when there are more."""
    if len(values) <= n:
        return values
    return values[np.sort(rng.choice(len(values), size=n, replace=False))]
