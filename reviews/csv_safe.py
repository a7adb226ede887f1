"""One guard against CSV injection for every export (the board's figures, a round's checklist).

A spreadsheet runs a cell that starts with "=", "+", "-" or "@" as a formula, and one that
starts with a tab, carriage return or line feed after trimming it (OWASP, "CSV Injection"): such a
text cell is written with a leading apostrophe, which spreadsheets show as text. Numbers stay
numbers: csv.writer prints -2.5 as "-2.5", which a spreadsheet reads as a number, not a formula.
"""

from __future__ import annotations

from decimal import Decimal

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")

Cell = str | int | float | Decimal


def csv_cell(value: object) -> Cell:
    """The value as a cell a spreadsheet shows and never runs; None is an empty cell."""
    if value is None:
        return ""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return value
    text = str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text
