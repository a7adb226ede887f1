"""Rendering a letter must not loosen how the audits read images in the same process."""

from __future__ import annotations

from pathlib import Path

from PIL import ImageFile

from audits.engine.preprocess import Preprocessing
from audits.engine.readers import read_file
from letters.pdf import LetterUnavailable, render_pdf
from tests.audits import images as fx
from tests.conftest import require


def test_a_rendered_letter_leaves_truncated_images_refused(tmp_path: Path) -> None:
    """WeasyPrint sets Pillow's LOAD_TRUNCATED_IMAGES when imported; letters.pdf puts it back,
    or a web process that rendered a letter would then accept a corrupt PNG as an image."""
    try:
        pdf = render_pdf("<p>A letter</p>")
    except LetterUnavailable:
        require(False, "WeasyPrint or pango is not installed")
    assert pdf.startswith(b"%PDF")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    path = fx.write_corrupt_png(tmp_path / "corrupt.png")
    record, images = read_file(path, path.name, Preprocessing())
    assert images == [] and "PNG does not decode" in record.error
