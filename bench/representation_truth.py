"""Representation audit: subgroup shares against the truth under messy spellings, its cost, and the
false-warning rate and power of the per-subgroup copy-rate test. Offline, seeded, no files.

    .venv/bin/python -m bench.representation_truth [--sizes 200 2000 20000] [--seeds 20]

Per size N (synthetic = real = N images, one per file) and seed:
- every image gets a true sex (F 45 %, M 45 %, O 10 %; the real set F/M 50/50), age (uniform
  1-95 years) and scanner (two makes), each written in a randomly chosen spelling (F, female,
  " FEMALE ", woman, F.; 45, 045Y, 45 years, 45.0, 540M; SIEMENS, siemens , ...);
- "share error" is the largest |share - true share| over every sex group and age band of
  both sets (the acceptance bound is 0.02);
- "null warns" is the share of seeds where a copy rate of 12 % spread evenly over the groups
  makes the sex copy-rate gap warn (it should not);
- "power" is the share of seeds where 48 % of one group (a quarter of the images, nothing
  elsewhere: 12 % overall) is found.
"""

from __future__ import annotations

import argparse
import random
import time
from collections import Counter

import numpy as np

from audits.engine import representation
from audits.engine.types import FileRecord, Image, ImageSet

SEX = {
    "F": ["F", "female", "Female", " FEMALE ", "woman", "f", "Woman", "F."],
    "M": ["M", "male", "Male", "man", "m ", "MALE", "Men"],
    "O": ["O", "other", "Other"],
}
AGE = ["{a}", "{a:03d}Y", "{a} years", "{a}.0", "{m:03d}M"]
SCANNER = {"siemens": ["SIEMENS", "Siemens", "siemens "], "ge": ["GE MEDICAL SYSTEMS", "ge medical systems"]}


def image_set(role: str, rows: dict[str, dict[str, str]]) -> ImageSet:
    files = [FileRecord(name=name, sha256=name, format="dicom", width=2, height=2, slices=1) for name in rows]
    pixels = np.zeros((2, 2), np.float32)
    images = [Image(file=name, index=0, pixels=pixels, pixel_sha256=name, blank=False) for name in rows]
    return ImageSet(role=role, files=files, images=images, metadata=rows)


def messy(role: str, n: int, sex_shares: dict[str, float], rng: random.Random) -> tuple[ImageSet, Counter[str]]:
    rows: dict[str, dict[str, str]] = {}
    truth: Counter[str] = Counter()
    for i in range(n):
        sex = rng.choices(list(sex_shares), weights=list(sex_shares.values()))[0]
        age = rng.randint(1, 95)
        truth[f"sex:{sex}"] += 1
        truth[f"age:{representation.age_band(age)}"] += 1
        rows[f"{role}/{i:06d}.dcm"] = {
            "sex": rng.choice(SEX[sex]),
            "Age": rng.choice(AGE).format(a=age, m=12 * age),
            "scanner": rng.choice(SCANNER[rng.choice(list(SCANNER))]),
        }
    return image_set(role, rows), truth


def share_error(result, truth: dict[str, Counter[str]], n: int) -> float:
    sex = result.metrics["attributes"]["sex"]
    bands = result.metrics["attributes"]["Age"]["bands"]
    worst = 0.0
    for prefix, table in (("sex", sex), ("age", bands)):
        for side, key in (("synthetic", "synth_prop"), ("reference", "real_prop")):
            shares = dict(zip(table["categories"], table[key], strict=True))
            groups = {k.split(":", 1)[1] for k in truth[side] if k.startswith(prefix)} | set(shares)
            for group in groups:
                worst = max(worst, abs(shares.get(group, 0.0) - truth[side][f"{prefix}:{group}"] / n))
    return worst


def copy_warns(n: int, rng: random.Random, planted: bool) -> bool:
    if planted:
        groups = ["F" if i < n // 4 else "M" for i in range(n)]
        copied = [g == "F" and rng.random() < 0.48 for g in groups]
    else:
        groups = [rng.choices("FMO", weights=[0.45, 0.45, 0.1])[0] for _ in range(n)]
        copied = [rng.random() < 0.12 for _ in range(n)]
    rows = {f"s/{i:06d}.dcm": {"sex": g} for i, g in enumerate(groups)}
    synthetic, reference = image_set("synthetic", rows), image_set("reference", rows)
    flags = {image.label: flag for image, flag in zip(synthetic.images, copied, strict=True)}
    result = representation.run(synthetic, reference, per_image={"copy": flags})
    return bool(result.metrics["subgroup_gaps"]["sex"]["groups_copied_more"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 2000, 20000])
    parser.add_argument("--seeds", type=int, default=20)
    args = parser.parse_args()
    print("| N | share error (max over seeds) | groups | age kind | seconds per run | null warns | power |")
    print("|---|---|---|---|---|---|---|")
    for n in args.sizes:
        errors, seconds = [], []
        for seed in range(args.seeds):
            rng = random.Random(seed)
            synthetic, synthetic_truth = messy("synthetic", n, {"F": 0.45, "M": 0.45, "O": 0.1}, rng)
            reference, reference_truth = messy("reference", n, {"F": 0.5, "M": 0.5}, rng)
            started = time.perf_counter()
            result = representation.run(synthetic, reference)
            seconds.append(time.perf_counter() - started)
            errors.append(share_error(result, {"synthetic": synthetic_truth, "reference": reference_truth}, n))
        groups = result.metrics["attributes"]["sex"]["categories"]
        kind = result.metrics["attributes"]["Age"]["kind"]
        null = sum(copy_warns(n, random.Random(1000 + s), planted=False) for s in range(args.seeds)) / args.seeds
        power = sum(copy_warns(n, random.Random(2000 + s), planted=True) for s in range(args.seeds)) / args.seeds
        print(
            f"| {n} | {max(errors):.3g} | {'/'.join(groups)} | {kind} | {np.median(seconds):.3f} | {null:.2f} | {power:.2f} |"
        )


if __name__ == "__main__":
    main()
