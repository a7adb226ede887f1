"""reviews.csv_safe.csv_cell, the one CSV-injection guard of the board export and the round's
checklist export (both exports' own tests check that their cells go through it)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from reviews.csv_safe import csv_cell


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("=1+1", "'=1+1", id="equals"),
        pytest.param("+1 555 0100", "'+1 555 0100", id="plus"),
        pytest.param("-2+3", "'-2+3", id="minus-text"),
        pytest.param("@SUM(A1:A9)", "'@SUM(A1:A9)", id="at"),
        pytest.param("\tcmd", "'\tcmd", id="tab"),
        pytest.param("\r=1+1", "'\r=1+1", id="carriage-return"),
        pytest.param("\n=HYPERLINK(1)", "'\n=HYPERLINK(1)", id="line-feed"),
        pytest.param("Approved", "Approved", id="plain"),
        pytest.param("a=b", "a=b", id="equals-inside"),
        pytest.param("", "", id="empty"),
        pytest.param(None, "", id="none"),
        pytest.param(3, 3, id="number"),
        pytest.param(-2.5, -2.5, id="negative-number"),
        pytest.param(Decimal("-1.5"), Decimal("-1.5"), id="negative-decimal"),
        pytest.param(True, "True", id="bool-as-text"),
    ],
)
def test_a_cell_is_never_a_formula(value, expected):
    assert csv_cell(value) == expected


def test_a_spreadsheet_reads_negative_numbers_as_numbers_and_formulas_as_text():
    out = io.StringIO()
    csv.writer(out).writerow([csv_cell(-2.5), csv_cell("=cmd|' /C calc'!A0"), csv_cell("\n@x")])
    assert next(csv.reader(io.StringIO(out.getvalue()))) == ["-2.5", "'=cmd|' /C calc'!A0", "'\n@x"]
