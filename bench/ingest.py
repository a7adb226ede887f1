"""Ingestion in the worker (audits.services.ingest): time of a 200-file set, memory of the refusals.

    .venv/bin/python -m bench.ingest [--files 200]

Runs the same service the `audits.ingest_set` task calls, in this process, on a throwaway
SQLite database and private storage (config.settings.test). Measures:

- the ingest time of a set of real DICOM files (pydicom's CT_small, 128x128, and the same CT
  tiled to 512x512, the size of a clinical slice), uploaded as one zip;
- the peak memory of refusing a 1,100-member zip bomb (1.3 MB expanding to 1.07 GiB) and a
  1 MB .nii.gz whose header declares a 1 GiB volume (with the gigabyte of zeros behind it):
  the kernel's RSS high-water mark (VmHWM, reset before each case) above the RSS before it,
  and tracemalloc's peak of Python allocations.

Nothing here is imported by the app or the tests.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MiB = 1024 * 1024


def _status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _measure(action: Callable[[], Any], *, traced: bool = True) -> tuple[Any, float, float, float]:
    """(result, seconds, peak RSS above the RSS before in MiB, tracemalloc peak in MiB).

    tracemalloc slows Python several times over: timed cases run without it (traced 0)."""
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM is now the peak of what follows
    before = _status_mib("VmRSS")
    if traced:
        tracemalloc.start()
    started = time.perf_counter()
    result = action()
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] if traced else 0
    tracemalloc.stop()
    return result, seconds, _status_mib("VmHWM") - before, peak / MiB


def _dicom_zip(count: int, side: int) -> bytes:
    import numpy as np
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.uid import generate_uid

    source = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    pixels = source.pixel_array
    tiled = np.tile(pixels, (side // pixels.shape[0], side // pixels.shape[1]))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for index in range(count):
            ds = source.copy()
            ds.SOPInstanceUID = generate_uid()
            ds.Rows, ds.Columns = tiled.shape
            ds.PixelData = np.roll(tiled, index, axis=1).astype(pixels.dtype).tobytes()
            out = io.BytesIO()
            ds.save_as(out, enforce_file_format=True)
            archive.writestr(f"ct/slice-{index:04d}.dcm", out.getvalue())
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=200)
    args = parser.parse_args(argv)

    storage = tempfile.mkdtemp(prefix="misyn-bench-ingest-")
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "PRIVATE_STORAGE_ROOT": storage,
            "MISYN_TEST_RUN": f"bench-ingest-{os.getpid()}",
        }
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    connection.creation.create_test_db(verbosity=0)
    try:
        _run(args, SimpleUploadedFile)
    finally:
        connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)


def _run(args: argparse.Namespace, upload: Any) -> None:
    from audits.services.ingest import image_set_ingest
    from audits.services.uploads import image_set_upload
    from reviews.services.catalogue import catalogue_load
    from tests.audits.test_archives import many_member_zip
    from tests.audits.test_ingest import gzip_of_zeros, nifti_header
    from tests.factories import ProjectFactory, ResearcherFactory

    version, _ = catalogue_load()
    owner = ResearcherFactory()
    project = ProjectFactory(owner=owner, guideline_version=version)

    def ingest(name: str, data: bytes) -> Any:
        staged = image_set_upload(actor=owner, project=project, role="synthetic", files=[upload(name, data)])
        return lambda: image_set_ingest(image_set_id=staged.pk)

    print(f"{'case':44} {'seconds':>8} {'RSS peak +MiB':>14} {'traced MiB':>11}  outcome")
    for side in (128, 512):
        data = _dicom_zip(args.files, side)
        image_set, seconds, rss, traced = _measure(ingest(f"ct-{side}.zip", data), traced=False)
        label = f"{args.files} DICOM {side}x{side} ({len(data) / MiB:.1f} MiB zip)"
        outcome = f"{image_set.status}, {image_set.n_accepted} accepted, {args.files / seconds:.0f} files/s"
        print(f"{label:44} {seconds:8.2f} {rss:14.1f} {traced:11.1f}  {outcome}")
    bomb = many_member_zip(1100, MiB - 1)
    image_set, seconds, rss, traced = _measure(ingest("slices.zip", bomb))
    label = f"zip bomb, 1,100 members ({len(bomb) / MiB:.2f} MiB -> 1.07 GiB)"
    print(f"{label:44} {seconds:8.2f} {rss:14.1f} {traced:11.1f}  {image_set.status}: {image_set.message[:60]}…")
    lying = gzip_of_zeros(nifti_header((1024, 1024, 256)), 1024 * MiB)
    image_set, seconds, rss, traced = _measure(ingest("volume.nii.gz", lying))
    label = f".nii.gz declaring 1 GiB ({len(lying) / MiB:.2f} MiB)"
    error = image_set.files.get().error
    print(f"{label:44} {seconds:8.2f} {rss:14.1f} {traced:11.1f}  file rejected: {error[:60]}…")
    longer = gzip_of_zeros(nifti_header((64, 64, 1)), 1024 * MiB)
    image_set, seconds, rss, traced = _measure(ingest("slice.nii.gz", longer))
    label = ".nii.gz stream 1 GiB longer than declared"
    error = image_set.files.get().error
    print(f"{label:44} {seconds:8.2f} {rss:14.1f} {traced:11.1f}  file rejected: {error[:60]}…")


if __name__ == "__main__":
    main()
