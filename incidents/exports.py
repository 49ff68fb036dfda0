"""What the exports write, made safe for the programs that open them.

CSV: a spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` as a formula (and tab or
carriage return let one hide behind whitespace), so such a text cell gets a leading `'`, which
spreadsheets show as text and never evaluate (OWASP "CSV injection"). Numbers are written as
numbers: -3.5 is data, not a formula.
"""
from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_row(values) -> list:
    return [csv_cell(v) for v in values]
