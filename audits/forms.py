from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.template.defaultfilters import filesizeformat

from audits.enums import SetRole
from audits.services.uploads import SIDE_FILE_MAX_BYTES
from reviews.forms import MultipleFileField

ACCEPTED_IMAGES = (
    "DICOM (uncompressed, RLE, JPEG lossless / JPEG-LS, JPEG 2000), NIfTI (.nii, .nii.gz), PNG, "
    "or zip / tar archives of them (.zip, .tar, .tar.gz, .tgz, .tar.bz2, .tar.xz)"
)


# What the file picker offers and the browser lets through (static/js/upload.js); the server
# still checks every file by its content. A DICOM file often has no extension or a numeric one
# (a UID), so only a name ending in another word is refused before upload.
IMAGE_EXTENSIONS = (".dcm", ".dicom", ".ima", ".nii", ".nii.gz", ".png", ".json")
ARCHIVE_EXTENSIONS = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
SIDE_FILE_EXTENSIONS = {"metadata": (".csv", ".txt"), "value_map": (".csv", ".txt"), "manifest": (".csv", ".json")}


def _loose_file_limit() -> int:
    """Image files and archives one upload may carry: settings.IMAGESET_UPLOAD_MAX_LOOSE_FILES, and
    never more than Django parses from one request (DATA_UPLOAD_MAX_NUMBER_FILES) less the
    metadata CSV, the mapping and the manifest."""
    parsed = settings.DATA_UPLOAD_MAX_NUMBER_FILES
    limit = int(settings.IMAGESET_UPLOAD_MAX_LOOSE_FILES)
    return max(1, min(limit, int(parsed) - 3) if parsed is not None else limit)


def upload_limits() -> dict[str, object]:
    """The limits the upload page states and its script checks before sending a byte."""
    return {
        "max_files": _loose_file_limit(),
        "max_file_bytes": int(settings.IMAGE_UPLOAD_MAX_BYTES),
        # The images of one upload share one file's allowance (settings.REQUEST_LIMITS).
        "max_total_bytes": int(settings.IMAGE_UPLOAD_MAX_BYTES),
        "side_file_bytes": SIDE_FILE_MAX_BYTES,
    }


def too_many_files_message() -> str:
    limit = _loose_file_limit()
    return (
        f"Too many files: one upload carries at most {limit} image files or archives (and the metadata CSV, the "
        "mapping and the manifest). Nothing was uploaded, and the current sets are as they were. For more than "
        f"{limit} files, put the images in one zip or tar archive and upload that instead."
    )


class ImageSetUploadForm(forms.Form):
    role = forms.ChoiceField(
        label="Set",
        choices=SetRole.choices,
        initial=SetRole.SYNTHETIC,
        help_text="A new upload replaces the current set of this kind; the old one stays in the history.",
    )
    # The metaclass moves declared fields off the class, so this does not shadow BaseForm.files at runtime.
    files = MultipleFileField(  # type: ignore[assignment]
        label="Images",
        required=True,
        help_text=(
            f"{ACCEPTED_IMAGES}. Every file is checked by its content; files that are not valid images are "
            f"listed with the reason and left out of the audits. Up to {_loose_file_limit()} files per upload: "
            "put larger sets in an archive."
        ),
    )
    metadata = forms.FileField(
        label="Metadata CSV",
        required=False,
        allow_empty_file=True,
        help_text=(
            "Optional. One row per image file: a column “file” with the file's name in the set, and columns "
            f"such as sex, age, site or scanner. UTF-8, at most {filesizeformat(SIDE_FILE_MAX_BYTES)}."
        ),
    )
    value_map = forms.FileField(
        label="Subgroup value mapping",
        required=False,
        allow_empty_file=True,
        help_text=(
            "Optional. A CSV with the columns attribute, value and group, one row per spelling, e.g. "
            "“sex,W,F” or “site,St Marys,St Mary's Hospital”; an empty group counts the spelling as missing. "
            "The representation audit already merges case, spacing, the usual sex spellings (F, female, woman…) "
            "and ages (45, 045Y, 45 years); use this for the rest. It applies to both sets' values, this set's "
            f"entries first. UTF-8, at most {filesizeformat(SIDE_FILE_MAX_BYTES)}."
        ),
    )
    manifest = forms.FileField(
        label="Generation manifest",
        required=False,
        allow_empty_file=True,
        help_text=(
            "Synthetic set only, optional. CSV or JSON listing each synthetic file with its generator, version "
            f"and seed. At most {filesizeformat(SIDE_FILE_MAX_BYTES)}."
        ),
    )

    def __init__(self, *args: Any, rejected_uploads: list[tuple[str, str, int]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rejected_uploads = rejected_uploads or []
        # Read by static/js/upload.js, which refuses other names before anything is sent.
        self.fields["files"].widget.attrs["data-extensions"] = " ".join(IMAGE_EXTENSIONS + ARCHIVE_EXTENSIONS)
        for name, extensions in SIDE_FILE_EXTENSIONS.items():
            self.fields[name].widget.attrs["data-extensions"] = " ".join(extensions)

    def _too_large(self, field: str) -> list[str]:
        """Files the upload handler skipped while streaming because they passed the per-file cap."""
        return [
            f"“{name}” is larger than the limit of {filesizeformat(limit)} per file and was not uploaded."
            for field_name, name, limit in self.rejected_uploads
            if field_name == field or (field == "files" and field_name not in self.fields)
        ]

    def clean_files(self) -> list[UploadedFile]:
        too_large = self._too_large("files")
        if too_large:
            raise ValidationError(too_large)
        files: list[UploadedFile] = self.cleaned_data.get("files") or []
        if not files:
            raise ValidationError("Choose at least one image file or archive.")
        if len(files) > _loose_file_limit():
            raise ValidationError(f"{len(files)} files were chosen. {too_many_files_message()}")
        total = sum(upload.size or 0 for upload in files)
        if total > settings.IMAGE_UPLOAD_MAX_BYTES:
            raise ValidationError(
                f"The images come to {filesizeformat(total)}; one upload may carry at most "
                f"{filesizeformat(settings.IMAGE_UPLOAD_MAX_BYTES)}. Nothing was uploaded: upload the set in an "
                "archive of at most that size."
            )
        return files

    def clean_metadata(self) -> UploadedFile | None:
        too_large = self._too_large("metadata")
        if too_large:
            raise ValidationError(too_large)
        metadata: UploadedFile | None = self.cleaned_data.get("metadata")
        return metadata

    def clean_value_map(self) -> UploadedFile | None:
        too_large = self._too_large("value_map")
        if too_large:
            raise ValidationError(too_large)
        value_map: UploadedFile | None = self.cleaned_data.get("value_map")
        return value_map

    def clean_manifest(self) -> UploadedFile | None:
        too_large = self._too_large("manifest")
        if too_large:
            raise ValidationError(too_large)
        manifest: UploadedFile | None = self.cleaned_data.get("manifest")
        return manifest

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("manifest") and data.get("role") != SetRole.SYNTHETIC:
            self.add_error(
                "manifest",
                "A generation manifest belongs to the synthetic set only: remove it or choose the synthetic set.",
            )
        return data
