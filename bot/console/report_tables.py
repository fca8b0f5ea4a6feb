"""What the reports pages draw, as plain values for the templates: tables of counts
(`Table`, drawn by templates/reports_table.html) and labelled figures (`Fact`), with the
number formats every report page shares. The numbers are the domain reports'; this only
chooses which to show and writes them out."""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Fact:
    label: str
    value: str


@dataclass(frozen=True, slots=True)
class Column:
    key: str  # the domain's name for the count (`data-field` in the page)
    label: str
    numeric: bool = True  # False: words, which may wrap


@dataclass(frozen=True, slots=True)
class Row:
    label: str
    note: str  # a second, smaller line under the label; empty for none
    cells: Mapping[str, str]  # by column key


@dataclass(frozen=True, slots=True)
class Table:
    name: str  # `data-table` in the page
    title: str
    key: str  # the heading of the label column
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    total: Row | None


def table(
    name: str,
    title: str,
    key: str,
    columns: Iterable[tuple[Column, Callable[[T], str]]],
    rows: Iterable[tuple[str, str, T]],
    total: T | None = None,
) -> Table:
    """A table whose columns are (column, cell of an item) and rows (label, note, item);
    `total`, when given, is the item of the total line."""
    fields = tuple(columns)

    def row(label: str, note: str, item: T) -> Row:
        return Row(label, note, {column.key: cell(item) for column, cell in fields})

    return Table(
        name,
        title,
        key,
        tuple(column for column, _ in fields),
        tuple(row(*each) for each in rows),
        None if total is None else row("total", "", total),
    )


def count(value: int) -> str:
    return f"{value:,}"


def money(value: float) -> str:
    return f"{value:,.2f}"


def share(value: float | None) -> str:
    """A fraction as a percentage; `-` when there is none (nothing to divide by)."""
    return "-" if value is None else f"{value:.1%}"
