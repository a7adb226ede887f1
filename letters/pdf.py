"""Rendering the decision letter to PDF with WeasyPrint, offline.

The letter's HTML holds user text (titles, statements, comments), escaped by the template; the
URL fetcher below refuses every URL all the same, so no text can make the server fetch anything
(no SSRF, no file:// reads): the stylesheet is inline and the fonts are the system's.
"""

from __future__ import annotations

from typing import Any


class LetterUnavailable(RuntimeError):
    """WeasyPrint or its system libraries (pango) are missing on this machine."""


def _weasyprint() -> Any:
    # Importing WeasyPrint sets Pillow's process-wide LOAD_TRUNCATED_IMAGES to True, which would
    # make the audits accept truncated image files read later in the same process (a web process
    # that rendered a letter reads images for thumbnails and ingests). The letter embeds no image,
    # so Pillow's setting is put back as it was.
    from PIL import ImageFile

    truncated = ImageFile.LOAD_TRUNCATED_IMAGES
    try:
        import weasyprint
    except (ImportError, OSError) as error:  # OSError: the pango libraries are not installed
        raise LetterUnavailable(
            "The PDF letter cannot be produced on this server: its PDF renderer (WeasyPrint with pango) "
            "is not installed. The round's JSON and CSV exports are still available."
        ) from error
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = truncated
    return weasyprint


def render_pdf(html: str) -> bytes:
    weasyprint = _weasyprint()
    from weasyprint.urls import URLFetcher

    class RefuseEveryURL(URLFetcher):  # type: ignore[misc]
        def fetch(self, url: str, headers: Any = None) -> Any:
            raise ValueError(f"the letter fetches no external resource ({url[:80]})")

    document = weasyprint.HTML(string=html, base_url=None, url_fetcher=RefuseEveryURL())
    return bytes(document.write_pdf())
