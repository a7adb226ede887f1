"""Privacy (PHI) audit: identifiers of real patients left in synthetic DICOM files.

Every synthetic DICOM header (FileRecord.header, as the DICOM reader collected it) is compared
with every real set given: the reference (training) set and, when uploaded, the held-out set.
The attributes compared, in families whose members are compared with one another (a real
PatientID copied into OtherPatientIDs is still that patient's ID):

- patient name: PatientName, OtherPatientNames;
- patient ID: PatientID, every value of OtherPatientIDs, every PatientID in OtherPatientIDsSequence;
- birth date: PatientBirthDate;
- exam date: StudyDate, SeriesDate, AcquisitionDate, ContentDate, the date of AcquisitionDateTime;
- exam time: StudyTime, SeriesTime, AcquisitionTime, ContentTime, the time of AcquisitionDateTime;
- accession number; institution name; institution address; patient address; referring physician;
- UID: Study, Series, SOP Instance and Frame of Reference UIDs.

Values are compared after normalisation: person names by their DICOM components (each
alphabetic, ideographic or phonetic group, its words case-folded and taken in any order, so
"Doe^John", "DOE JOHN" and "John Doe" are one name); IDs and accession numbers case-folded
with spaces and punctuation dropped ("123-45 678" is "12345678"); dates as calendar dates
("20240312", "2024.03.12", "2024-03-12" are one date); times to the second, whatever their
fractional part or colons ("101500", "10:15:00.000" are one time; a time without seconds is
taken at :00); UIDs exactly.

Placeholders are never identifying and never compared: an empty value, "^", and values made
only of placeholder words (SYNTHETIC, ANONYMOUS, ANONYMIZED, UNKNOWN, NONE, N/A, REMOVED...),
generic words alone (PATIENT, PHANTOM, TEST), initials, zeros-only or one-character-repeated
tokens (000000, XXX); dates before 1901 or after 2199 (19000101 is the usual blanked birth
date); midnight 000000 as a time; DICOM's own public UIDs (1.2.840.10008.*). Pseudonyms and
stand-ins are compared but never flagged alone: a placeholder or generic word with a number
("ANON^0001", "SYNTHETIC-17", "Patient^007"), a generic word with initials ("Test^S R"), and
stand-in person names ("Doe^John", "Lastname^Firstname"); a real file carrying the very same
value is a match, because shared test data uses such names for its patients and a pseudonym
links the synthetic file to that real record.

Status:
- fail: any value of any family above occurs in a real file (reference or held-out), as the
  issue asks; placeholders never match. Dates and times fail on their own. A lone date or time
  can coincide by chance between large sets (measured: with 2,000 files in each of the
  reference and held-out sets, dates drawn at random over 14 years, 57 % of random synthetic
  dates meet a real one, and a random time to the second meets a real time on another day in
  4 % of files), so each flag names the real
  file, and a time of day found in a file dated another day than the real exam says so in its
  flag and in `n_times_on_other_days`. A generator should write no real-looking dates and
  times at all. PatientIdentityRemoved = YES hides nothing: a file that declares it is
  checked all the same.
- warn: a synthetic file keeps a non-placeholder patient name, patient ID, birth date,
  patient address, accession number or referring physician that matches no real file (a
  pseudonym or a leak from a set that was not uploaded: the audit cannot tell). An
  unmatched institution name does not warn: it may be the generating lab's.
- pass otherwise.

Each flag names the attribute, the synthetic file, the real set and the real file with the
same value, never the value: the report must not spread the PHI it found.

Modules: `normalise` (families, placeholders, comparable values), `matching` (the index of
each real set, the matches), `audit` (metrics, flags, status, THRESHOLDS and METRIC_LABELS).
"""

from .audit import AUDIT, DEFAULT_PARAMS, METRIC_LABELS, SET_LABELS, THRESHOLDS, resolve_params, run
from .matching import Match, find_matches, identity_removed, shared_identifiers
from .normalise import ATTRIBUTES, FAMILIES, PLACEHOLDER_WORDS, Family, Value, placeholder_words, values

__all__ = [
    "ATTRIBUTES",
    "AUDIT",
    "DEFAULT_PARAMS",
    "FAMILIES",
    "METRIC_LABELS",
    "PLACEHOLDER_WORDS",
    "SET_LABELS",
    "THRESHOLDS",
    "Family",
    "Match",
    "Value",
    "find_matches",
    "identity_removed",
    "placeholder_words",
    "resolve_params",
    "run",
    "shared_identifiers",
    "values",
]
