"""Deterministic benchmark image sets: smooth random fields written as files, with planted copies.

`build(folder, n_synthetic, n_real)` writes, from fixed seeds:

- real/real_00000.dcm ...: M uncompressed 16-bit DICOM files (explicit VR little endian),
  128 x 128, each an independent smooth random field (white noise low-pass filtered in the
  Fourier domain) inside a soft-edged disc, on a zero background, like a head on a scan;
- synthetic/synth_00000.png ...: N 16-bit grey PNG files labelled with the IPTC
  DigitalSourceType trainedAlgorithmicMedia (XMP); every 10th is an uncompressed DICOM
  with SyntheticData YES instead, so both readers are exercised;
- about 1 % of the synthetic images (at least 5) are planted copies of real images (the
  first exact, the others with 2 % Gaussian noise), listed in the returned `planted`;
- metadata CSVs (sex, site) for both sets and a generation manifest for the synthetic set,
  so every audit of the suite runs.

Nothing here imports Django or the app: the files are what an uploader would send.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from audits.demo import synthesizing_equipment

SIZE = 128
CUTOFF = 0.05  # low-pass: Gaussian spectrum with this standard deviation, in cycles per pixel
BATCH = 256
COPY_SHARE = 0.01
MIN_COPIES = 5
COPY_NOISE = 0.02
DICOM_EVERY = 10  # every 10th synthetic file is a DICOM, the rest PNG
TRAINED = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
UID_ROOT = "1.2.826.0.1.3680043.8.498."


def _disc(size: int) -> np.ndarray:
    """A soft-edged disc filling most of the frame: the 'body' of each image."""
    centre = (size - 1) / 2
    y, x = np.mgrid[:size, :size]
    radius = np.hypot(y - centre, x - centre) / (0.45 * size)
    return np.clip((1.0 - radius) * 8.0, 0.0, 1.0)


def smooth_fields(count: int, seed: int, size: int = SIZE) -> Iterator[np.ndarray]:
    """`count` int16 images (size x size) of independent smooth random fields, values 0..~1000."""
    rng = np.random.default_rng(seed)
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    spectrum = np.exp(-(fy**2 + fx**2) / (2 * CUTOFF**2))
    disc = _disc(size)
    for start in range(0, count, BATCH):
        noise = rng.standard_normal((min(BATCH, count - start), size, size))
        fields = np.fft.irfft2(np.fft.rfft2(noise) * spectrum, s=(size, size))
        fields -= fields.mean(axis=(1, 2), keepdims=True)
        fields /= fields.std(axis=(1, 2), keepdims=True)
        images = (500.0 + 150.0 * fields) * disc
        yield from np.clip(np.round(images), 0, 32767).astype(np.int16)


def _uid(*parts: object) -> str:
    from pydicom.uid import generate_uid

    return str(generate_uid(UID_ROOT, entropy_srcs=["misyn-bench", *map(str, parts)]))


def write_dicom(path: Path, pixels: np.ndarray, *, uid: str, synthetic: bool) -> None:
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import UID, ExplicitVRLittleEndian, MRImageStorage

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = UID(uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = uid
    ds.StudyInstanceUID = _uid("study", uid)
    ds.SeriesInstanceUID = _uid("series", uid)
    ds.Modality = "MR"
    ds.PatientName = ""
    ds.PatientID = ""
    if synthetic:
        ds.SyntheticData = "YES"
        ds.ContributingEquipmentSequence = [synthesizing_equipment("MISyn bench")]
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.PixelData = np.ascontiguousarray(pixels.astype("<i2")).tobytes()
    ds.save_as(path, enforce_file_format=True)


def _xmp() -> str:
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">'
        f'<rdf:Description rdf:about="" Iptc4xmpExt:DigitalSourceType="{TRAINED}"/></rdf:RDF></x:xmpmeta>'
    )


def write_png(path: Path, pixels: np.ndarray) -> None:
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", _xmp())
    Image.fromarray(np.clip(pixels, 0, 65535).astype(np.uint16)).save(path, format="PNG", pnginfo=info)


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def build(folder: Path, n_synthetic: int, n_real: int, seed: int = 0) -> dict[str, Any]:
    """Write the benchmark sets under `folder`; return their paths and the planted copies.

    Keys: real, synthetic (folders), real_metadata, synthetic_metadata, manifest (CSV files),
    planted ({synthetic file: real file}), n_synthetic, n_real.
    """
    folder = Path(folder)
    real_dir, synthetic_dir = folder / "real", folder / "synthetic"
    real_dir.mkdir(parents=True, exist_ok=True)
    synthetic_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 1])

    real = np.empty((n_real, SIZE, SIZE), np.int16)
    real_rows = []
    for index, pixels in enumerate(smooth_fields(n_real, seed=seed * 2 + 1)):
        real[index] = pixels
        name = f"real_{index:05d}.dcm"
        write_dicom(real_dir / name, pixels, uid=_uid("real", seed, index), synthetic=False)
        real_rows.append([name, "F" if rng.random() < 0.5 else "M", f"site-{rng.integers(3)}"])

    n_copies = min(n_synthetic, n_real, max(MIN_COPIES, round(COPY_SHARE * n_synthetic)))
    copy_at = rng.choice(n_synthetic, size=n_copies, replace=False)
    copy_of = rng.choice(n_real, size=n_copies, replace=False)
    copies = dict(zip(copy_at.tolist(), copy_of.tolist(), strict=True))

    planted: dict[str, str] = {}
    synthetic_rows, manifest_rows = [], []
    for index, pixels in enumerate(smooth_fields(n_synthetic, seed=seed * 2 + 2)):
        if index in copies:
            source = real[copies[index]].astype(np.float64)
            if len(planted):  # the first copy is exact, the others noisy
                scale = float(np.percentile(source, 99.5) - np.percentile(source, 0.5))
                source = source + rng.normal(0.0, COPY_NOISE * scale, source.shape) * (source > 0)
            pixels = np.clip(np.round(source), 0, 32767).astype(np.int16)
        dicom = index % DICOM_EVERY == DICOM_EVERY - 1
        name = f"synth_{index:05d}.{'dcm' if dicom else 'png'}"
        if dicom:
            write_dicom(synthetic_dir / name, pixels, uid=_uid("synthetic", seed, index), synthetic=True)
        else:
            write_png(synthetic_dir / name, pixels)
        if index in copies:
            planted[name] = f"real_{copies[index]:05d}.dcm"
        synthetic_rows.append([name, "F" if rng.random() < 0.5 else "M", f"site-{rng.integers(3)}"])
        manifest_rows.append([name, "bench-generator", "1.0", seed * 1_000_000 + index])

    return {
        "real": real_dir,
        "synthetic": synthetic_dir,
        "real_metadata": _write_csv(folder / "real-metadata.csv", ["file", "sex", "site"], real_rows),
        "synthetic_metadata": _write_csv(folder / "synthetic-metadata.csv", ["file", "sex", "site"], synthetic_rows),
        "manifest": _write_csv(folder / "manifest.csv", ["file", "generator", "version", "seed"], manifest_rows),
        "planted": planted,
        "n_synthetic": n_synthetic,
        "n_real": n_real,
    }
