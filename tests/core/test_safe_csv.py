"""Every CSV segbot writes is safe to open in a spreadsheet: text that would start a formula
gets a leading quote, numbers stay numbers (OWASP's advice on CSV injection)."""

import csv
import io
from datetime import date
from decimal import Decimal
from pathlib import Path

import pandas as pd

from core.safe_csv import SafeCsvWriter, write_csv, write_frame

HOSTILE = ['=HYPERLINK("http://evil.example","Refund")', "+1+1", "-2-3", "@SUM(A1)", "\t=1", "\r=1"]


def read(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def read_file(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.reader(file))


def test_text_that_would_start_a_formula_is_quoted_and_numbers_stay_numbers() -> None:
    out = io.StringIO()
    writer = SafeCsvWriter(out)
    writer.writerow(["name", "amount"])
    writer.writerows([[text, -12] for text in HOSTILE])
    writer.writerows([["Ann = admin", -80.5], ["C-1", Decimal("-80.00")], [None, 0]])
    writer.writerow(["Ann\r=cmd", 1])  # a carriage return inside a cell does not end the row
    rows = read(out.getvalue())
    assert rows[0] == ["name", "amount"]
    assert [row[0] for row in rows[1:7]] == ["'" + text for text in HOSTILE]
    assert [row[1] for row in rows[1:7]] == ["-12"] * 6  # a negative amount is a number
    assert rows[7:] == [["Ann = admin", "-80.5"], ["C-1", "-80.00"], ["", "0"], ["Ann\r=cmd", "1"]]


def test_a_file_of_rows(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    write_csv(path, ["order_id", "amount"], [["-1", Decimal("-5.50")]])
    assert read_file(path) == [["order_id", "amount"], ["'-1", "-5.50"]]


def test_a_frame_is_made_safe_column_by_column(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "external_id": [*HOSTILE, "C-7", None],
            "monetary": [-1.5, 2.0, -3.25, 4.0, 5.0, 6.0, -7.0, 8.0],
            "r": [-1, 2, 3, 4, 5, 1, 2, 3],
            "as_of": [date(2026, 11, 2)] * 8,
        }
    )
    path = tmp_path / "rfm.csv"
    write_frame(frame, path)
    rows = read_file(path)
    assert rows[0] == ["external_id", "monetary", "r", "as_of"]
    assert [row[0] for row in rows[1:]] == ["'" + text for text in HOSTILE] + ["C-7", ""]
    assert [row[1] for row in rows[1:4]] == ["-1.5", "2.0", "-3.25"]
    assert rows[1][2:] == ["-1", "2026-11-02"]
    assert frame["external_id"].iloc[0] == HOSTILE[0]  # the caller's frame is left as it was
