"""Memorization audit: cost of the transform search against the floor, and its error rates.

    .venv/bin/python -m bench.memorization_truth                 # sizes 200 and 2000, 20 seeds
    .venv/bin/python -m bench.memorization_truth --sizes 200 --seeds 5
    .venv/bin/python -m bench.memorization_truth --data mni --step 3   # MNI slices (pip install --no-deps -r bench/requirements.txt)

Cost: N synthetic, M reference and M held-out images of 64 x 64 (smooth random fields in a
disc, as bench/data.py makes them), the audit with the transform search on and off, against
the floor of one float32 matrix product S.R^T (what any nearest-neighbour copy search must do).

Error rates, on real EPI slices (nibabel's example4d, first time point, axial) and pydicom's CT
and MR: per seed, the slices are split at random into training, held-out and a "synthetic"
sample of real slices never trained on (a clean set: it must pass), and the same sample with
copies of training slices planted under each transform (flips, rotations, crops to 70-95 %,
blur, windowing, JPEG, noise, shifts): the share found and the share of novel images flagged.
"""

from __future__ import annotations

import argparse
import io
import time
from collections import defaultdict

import numpy as np
from PIL import Image as PILImage
from scipy import ndimage
from skimage.transform import resize
from threadpoolctl import threadpool_limits

from audits.engine import memorization as mem
from audits.engine.preprocess import Preprocessing, pixel_digest, preprocess
from audits.engine.types import FileRecord, Image, ImageSet

P = Preprocessing()


def _image(native: np.ndarray, name: str) -> Image | None:
    pixels, blank = preprocess(native, P)
    if blank:
        return None
    return Image(file=name, index=0, pixels=pixels, pixel_sha256=pixel_digest(native), blank=False)


def _set(role: str, images: list[Image]) -> ImageSet:
    files = [FileRecord(name=i.file, sha256=i.pixel_sha256, format="png") for i in images]
    return ImageSet(role=role, files=files, images=images)


def _fields(count: int, seed: int, size: int = 96) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    disc = np.clip((size * 0.45 - np.hypot(yy - size / 2, xx - size / 2)) / 4, 0, 1)
    return [ndimage.gaussian_filter(rng.normal(size=(size, size)), 3.0) * disc + disc for _ in range(count)]


def cost(n: int) -> dict[str, float]:
    synthetic = [_image(f, f"s{i}") for i, f in enumerate(_fields(n, 1))]
    reference = [_image(f, f"r{i}") for i, f in enumerate(_fields(n, 2))]
    holdout = [_image(f, f"h{i}") for i, f in enumerate(_fields(n, 3))]
    sets = [
        _set(r, [i for i in x if i is not None])
        for r, x in zip(("s", "r", "h"), (synthetic, reference, holdout), strict=True)
    ]
    out: dict[str, float] = {}
    with threadpool_limits(1):
        s = np.stack([i.pixels.reshape(-1) for i in sets[0].images])
        r = np.stack([i.pixels.reshape(-1) for i in sets[1].images])
        started = time.perf_counter()
        for start in range(0, len(s), 2048):
            _ = s[start : start + 2048] @ r.T
        out["floor"] = (time.perf_counter() - started) * 2  # synthetic and baseline queries
        for search in (False, True):
            started = time.perf_counter()
            result = mem.run(*sets, {"search_transforms": search})
            out["on" if search else "off"] = time.perf_counter() - started
            if search:
                out.update({f"step {k}": v for k, v in result.timings.items()})
    return out


def _epi_pool() -> list[tuple[str, np.ndarray]]:
    import os

    import nibabel
    import pydicom
    from pydicom.data import get_testdata_file

    path = os.path.join(os.path.dirname(nibabel.__file__), "tests", "data", "example4d.nii.gz")
    volume = np.asarray(nibabel.load(path).dataobj)
    # one time point: the second is the same anatomy again, a copy in all but noise, and a split
    # that put one in training and the other in the held-out set would make the null a copy score
    pool = [(f"z{z:02d}", volume[:, :, z, 0]) for z in range(24)]
    for name in ("CT_small.dcm", "MR_small.dcm"):
        pool.append((name, pydicom.dcmread(get_testdata_file(name, download=False)).pixel_array))
    return pool


def _mni_pool(step: int) -> list[tuple[str, np.ndarray]]:
    """Slices every `step` mm in three orientations of nilearn's MNI152 T1, GM and WM maps (no nilearn import)."""
    import importlib.util
    import os

    import nibabel

    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("--data mni needs nilearn's data files: pip install --no-deps -r bench/requirements.txt")
    folder = os.path.join(spec.submodule_search_locations[0], "datasets", "data")
    pool = []
    for kind in ("t1", "gm", "wm"):
        volume = np.asarray(
            nibabel.load(os.path.join(folder, f"mni_icbm152_{kind}_tal_nlin_sym_09a_converted.nii.gz")).dataobj
        )
        for axis in range(3):
            for k in range(0, volume.shape[axis], step):
                plane = np.take(volume, k, axis=axis).astype(np.float64)
                if np.count_nonzero(plane > plane.max() * 0.1) > 0.05 * plane.size:  # anatomy, not an edge slice
                    pool.append((f"{kind}-{axis}-{k:03d}", plane))
    return pool


def _transform(x: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if kind in ("flip_lr", "flip_ud"):
        return x[:, ::-1] if kind == "flip_lr" else x[::-1]
    if kind.startswith("rot"):
        return np.rot90(x, {"rot90": 1, "rot180": 2, "rot270": 3}[kind])
    if kind == "crop":
        c = rng.uniform(0.7, 0.95)
        h, w = x.shape
        ch, cw = round(h * c), round(w * c)
        top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        return resize(x[top : top + ch, left : left + cw], (h, w), order=1, anti_aliasing=True, preserve_range=True)
    if kind == "blur":
        return ndimage.gaussian_filter(x, 1.0)
    if kind == "window":
        low, high = np.percentile(x, [5, 95])
        return np.clip(x, low, high)
    if kind == "jpeg":
        u = np.round(255 * (x - x.min()) / max(np.ptp(x), 1e-9)).astype(np.uint8)
        buffer = io.BytesIO()
        PILImage.fromarray(u).save(buffer, format="JPEG", quality=50)
        return np.asarray(PILImage.open(io.BytesIO(buffer.getvalue())), dtype=np.float64)
    if kind == "noise":
        return x + rng.normal(0, 0.02 * np.ptp(x), x.shape)
    if kind == "shift":
        return ndimage.shift(x, (rng.integers(-3, 4), rng.integers(-3, 4)), order=1, mode="nearest")
    raise ValueError(kind)


KINDS = ("flip_lr", "flip_ud", "rot90", "rot180", "rot270", "crop", "blur", "window", "jpeg", "noise", "shift")


def errors(seeds: int, data: str = "epi", step: int = 3) -> dict[str, object]:
    pool = _epi_pool() if data == "epi" else _mni_pool(step)
    clean_pass, clean_flagged, novel_flagged = 0, [], []
    found: dict[str, list[bool]] = defaultdict(list)
    loo_found: list[bool] = []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(pool))
        third = len(pool) // 3
        parts = [order[:third], order[third : 2 * third], order[2 * third :]]
        make = lambda rows, tag: [i for i in (_image(pool[r][1], f"{tag}/{pool[r][0]}") for r in rows) if i]  # noqa: E731
        train, holdout, novel = make(parts[0], "r"), make(parts[1], "h"), make(parts[2], "s")
        clean = mem.run(_set("synthetic", novel), _set("reference", train), _set("holdout", holdout), {"seed": seed})
        clean_pass += str(clean.status) == "pass"
        clean_flagged.append(clean.metrics["frac_probable_copies"])
        copies, kinds = [], []
        for kind in KINDS:
            source = pool[parts[0][rng.integers(len(parts[0]))]]
            image = _image(_transform(source[1], kind, rng), f"copy-{kind}/{source[0]}")
            if image is not None:
                copies.append(image)
                kinds.append(kind)
        planted = mem.run(
            _set("synthetic", novel + copies), _set("reference", train), _set("holdout", holdout), {"seed": seed}
        )
        flags = {row["label"]: row["copy"] for row in planted.charts["per_image"]}
        novel_flagged.append(float(np.mean([flags[i.label] for i in novel])))
        for kind, image in zip(kinds, copies, strict=True):
            found[kind].append(flags[image.label])
        loo = mem.run(_set("synthetic", novel + copies), _set("reference", train), None, {"seed": seed})
        loo_flags = {row["label"]: row["copy"] for row in loo.charts["per_image"]}
        loo_found.extend(loo_flags[i.label] for i in copies)
    return {
        "clean_pass": f"{clean_pass} of {seeds}",
        "clean_flagged_mean": float(np.mean(clean_flagged)),
        "novel_flagged_mean": float(np.mean(novel_flagged)),
        "found": {kind: float(np.mean(v)) for kind, v in found.items()},
        "found_all": float(np.mean([x for v in found.values() for x in v])),
        "found_leave_one_out": float(np.mean(loo_found)),
        "images_per_set": len(pool) // 3,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[200, 2000])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--data", choices=("epi", "mni"), default="epi")
    parser.add_argument("--step", type=int, default=3, help="mm between MNI slices (--data mni)")
    args = parser.parse_args()
    with threadpool_limits(1):
        print(f"error rates on real {args.data} slices:", errors(args.seeds, args.data, args.step))
    for n in args.sizes:
        figures = cost(n)
        print(
            f"N = M = H = {n}: floor {figures['floor']:.3f} s, audit without transforms {figures['off']:.2f} s,"
            f" with {figures['on']:.2f} s ({figures['on'] / figures['floor']:.0f}x the floor);",
            {k: round(v, 2) for k, v in figures.items() if k.startswith("step")},
        )


if __name__ == "__main__":
    main()
