"""What keeping each image in its file's own units (HU for CT) costs: time per image and bytes per image.

    .venv/bin/python -m bench.fidelity_native [N]

Reads N copies of pydicom's real CT slice (128 x 128, 16-bit) and of its 512 x 512 JPEG 2000
head CT through the readers, with and without the native-unit values, and reports the
per-image time of the extra resize, the extra bytes an Image holds and a chunk artifact
stores (compressed as np.savez writes it: not compressed), and the fidelity intensity step in
HU against the relative one on the same sets. Nothing here imports Django.
"""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from pydicom.pixels import apply_modality_lut

from audits.engine import fidelity
from audits.engine.preprocess import Preprocessing, native_values, preprocess
from audits.engine.readers import read_file
from audits.engine.types import Image, ImageSet


def _per_image(source: str, n: int) -> tuple[float, float, list]:
    path = Path(str(get_testdata_file(source, download=False)))
    params = Preprocessing()
    started = time.perf_counter()
    images = [read_file(path, source, params)[1][0] for _ in range(n)]
    read = (time.perf_counter() - started) / n
    ds = pydicom.dcmread(path)
    stored, hu = ds.pixel_array, apply_modality_lut(ds.pixel_array, ds)
    started = time.perf_counter()
    for _ in range(n):
        preprocess(stored, params)
    relative = (time.perf_counter() - started) / n
    started = time.perf_counter()
    for _ in range(n):
        native_values(hu, params)
    extra = (time.perf_counter() - started) / n
    print(
        f"{source}: read_file {1e3 * read:.2f} ms/image, of which relative preprocessing {1e3 * relative:.2f} ms "
        f"and the native-unit values {1e3 * extra:.2f} ms ({100 * extra / read:.0f} % of the read)"
    )
    return read, extra, images


def main(n: int = 200) -> None:
    _per_image("CT_small.dcm", n)
    _, _, images = _per_image("693_J2KI.dcm", max(n // 4, 10))
    image = images[0]
    if image.native is None:
        raise SystemExit("the reader kept no native-unit values")
    print(f"extra memory per image: {image.native.nbytes} bytes (the relative pixels: {image.pixels.nbytes})")
    stack = np.stack([image.native] * 100)
    plain, with_native = io.BytesIO(), io.BytesIO()
    np.savez(plain, pixels=np.stack([image.pixels] * 100))
    np.savez(with_native, pixels=np.stack([image.pixels] * 100), native=stack, units=np.array(["HU"] * 100))
    per = (len(with_native.getvalue()) - len(plain.getvalue())) / 100
    print(f"extra chunk artifact bytes per image: {per:.0f}")
    _intensity_step(image)


def _intensity_step(base: Image) -> None:
    """The fidelity intensity step on n x n copies of a real CT slice with 5 HU of noise each, HU and relative."""
    native = base.native if base.native is not None else base.pixels
    rng = np.random.default_rng(0)
    for n_set in (200, 2000):

        def noisy(role: str, n_set: int = n_set) -> ImageSet:
            images = [
                Image(
                    f"{role}{i}",
                    0,
                    base.pixels,
                    base.pixel_sha256,
                    False,
                    native + rng.normal(0, 5, native.shape).astype(np.float32),
                    "HU",
                )
                for i in range(n_set)
            ]
            return ImageSet(role, [], images)

        syn, ref = noisy("synthetic"), noisy("reference")
        features = (rng.normal(size=(n_set, 35)), rng.normal(size=(n_set, 35)))
        timings = {
            scale: fidelity.run(syn, ref, {"intensity_scale": scale}, features).timings for scale in ("hu", "relative")
        }
        print(
            f"intensity step, {n_set} x {n_set} images: HU {timings['hu']['intensity']:.2f} s "
            f"(of which the W1 nulls {timings['hu'].get('permutations', 0.0):.2f} s), "
            f"relative {timings['relative']['intensity']:.2f} s "
            f"(nulls {timings['relative'].get('permutations', 0.0):.2f} s)"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
