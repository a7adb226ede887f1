"""Read uploaded image files into an `ImageSet`: recognise by content, validate, decode, preprocess.

Formats: DICOM (Part 10 files, 'DICM' at offset 128; uncompressed, RLE, JPEG lossless,
JPEG-LS and JPEG 2000 transfer syntaxes), NIfTI-1 and NIfTI-2 single files (.nii, or the
same gzip-compressed), and PNG. The file name is never trusted: a file is what its bytes
say it is. Every size the header declares is checked against fixed limits before any pixel
is decoded, so a hostile header cannot make the reader allocate gigabytes. A file that
fails any check comes back as a `FileRecord` whose `error` says why, with no images; the
readers never raise for bad input.

Each accepted file contributes one `Image` per 2-D slice or frame: multi-frame DICOM gives
one per frame, a 3-D NIfTI one per slice along its third axis, a 4-D NIfTI one per slice of
every volume (index = volume * slices + slice).

Modules: `sniff` (what the bytes are), `common` (limits, refusal, shared helpers), one
reader per format (`dicom`, `nifti`, `png`) and `sets` (`read_file`, `read_set`,
`read_folder`, `images_from_arrays`).
"""

from .common import (
    MAX_FILE_BYTES,
    MAX_FRAMES,
    MAX_NIFTI_DIM,
    MAX_NIFTI_VOXELS,
    MAX_PNG_PIXELS,
    MAX_SIDE,
    MAX_SIDECAR_BYTES,
    MAX_TEXT_CHARS,
    MAX_TOTAL_PIXELS,
    MAX_WARNINGS,
    NOT_AN_IMAGE,
    ReadLimits,
    Rejected,
)
from .dicom import DICOM_HEADER_KEYWORDS, NATIVE_TRANSFER_SYNTAXES, dicom_header
from .nifti import NIFTI_DATATYPES, NIFTI_EXTENSION_NAMES
from .png import digital_source_type_from_xmp
from .sets import MAX_REASON_CHARS, images_from_arrays, read_file, read_folder, read_set
from .sniff import GZIP_MAGIC, PNG_SIGNATURE, file_sha256, sniff_format

__all__ = [
    "DICOM_HEADER_KEYWORDS",
    "GZIP_MAGIC",
    "MAX_FILE_BYTES",
    "MAX_FRAMES",
    "MAX_NIFTI_DIM",
    "MAX_NIFTI_VOXELS",
    "MAX_PNG_PIXELS",
    "MAX_REASON_CHARS",
    "MAX_SIDE",
    "MAX_SIDECAR_BYTES",
    "MAX_TEXT_CHARS",
    "MAX_TOTAL_PIXELS",
    "MAX_WARNINGS",
    "NATIVE_TRANSFER_SYNTAXES",
    "NIFTI_DATATYPES",
    "NIFTI_EXTENSION_NAMES",
    "NOT_AN_IMAGE",
    "PNG_SIGNATURE",
    "ReadLimits",
    "Rejected",
    "dicom_header",
    "digital_source_type_from_xmp",
    "file_sha256",
    "images_from_arrays",
    "read_file",
    "read_folder",
    "read_set",
    "sniff_format",
]
