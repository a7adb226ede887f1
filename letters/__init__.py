"""The record of a decision (issue 11): the PDF decision letter, its verification page, and the
round's JSON and checklist CSV exports."""
