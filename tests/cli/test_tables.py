"""Tables fit the terminal: at 80 and 120 columns no header or value is cut (rich alone
squeezed the funnel to `r… t… v…`), columns that do not fit go on in a further table that
repeats the key columns, and every table the CLI and the demo print is built that way."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.reports import campaign_report
from cli.report import print_campaign_report
from cli.tables import LONGEST_WORD, FittedTable
from tests.broadcasts.reports.scenario import T0, build

ROOT = Path(__file__).parent.parent.parent
FUNNEL = (
    "run", "target", "variant", "targeted", "excluded", "sent", "failed", "blocked",
    "unknown", "read", "clicked", "CTR", "unsub/block 48h", "conversions", "revenue",
    "rev/sent",
)  # fmt: skip
ROWS = (
    ("1", "spanish_speakers", "a", "1", "0", "1", "0", "0", "0", "0", "0 (0)", "0.0%", "0",
     "1", "49.90", "49.90"),
    ("1", "default", "b", "4", "1 unsubscribed", "3", "0", "0", "0", "0", "2 (3)", "66.7%",
     "0", "1", "120.00", "40.00"),
)  # fmt: skip


def printed(renderable: object, width: int) -> list[str]:
    console = Console(width=width, record=True)
    console.print(renderable)
    return console.export_text().splitlines()


def words(lines: list[str]) -> set[str]:
    """Every word printed, table borders taken out."""
    return set(re.sub(r"[│┃┏┓┗┛┡┩└┘├┤┼╇╋━─┳┻┬┴]", " ", "\n".join(lines)).split())


def funnel() -> FittedTable:
    table = FittedTable(*FUNNEL, key=3, title="Funnel")
    for row in ROWS:
        table.add_row(*row)
    table.add_section()
    table.add_row("total", "", "", "5", "1 unsubscribed", "4")
    return table


@pytest.mark.parametrize("width", [80, 120])
def test_no_header_or_value_is_cut_at_a_narrow_width(width: int) -> None:
    lines = printed(funnel(), width)
    assert all(len(line) <= width for line in lines)
    assert not any("…" in line for line in lines)
    every_word = {word for cell in (*FUNNEL, *ROWS[0], *ROWS[1]) for word in cell.split()}
    assert every_word <= words(lines)


@pytest.mark.parametrize("width", [80, 120])
def test_columns_that_do_not_fit_go_on_below_with_the_key_columns(width: int) -> None:
    lines = printed(funnel(), width)
    headers = [line for line in lines if line.startswith("┃")]
    parts = [line for line in headers if "run" in line.split("┃")[1]]
    assert len(parts) > 1  # wrapped, not squeezed
    for header in parts:
        assert [cell.strip() for cell in header.split("┃")[1:4]] == ["run", "target", "variant"]
    assert sum("Funnel (continued)" in line for line in lines) == len(parts) - 1
    assert sum(line.count("spanish_speakers") for line in lines) == len(parts)


def test_a_wide_terminal_prints_one_table() -> None:
    lines = printed(funnel(), 250)
    assert not any("continued" in line for line in lines)
    assert "conversions" in lines[2]


def test_a_word_longer_than_a_column_folds_whole() -> None:
    url = "https://shop.example/autumn/" + "x" * 60
    assert len(url) > LONGEST_WORD
    table = FittedTable("target", "message", "sent")
    table.add_row("spanish_speakers", f"Hola {url}", "1")
    lines = printed(table, 80)
    assert all(len(line) <= 80 for line in lines)
    assert not any("…" in line for line in lines)
    assert not any("continued" in line for line in lines)  # no column pushed below by it
    folded = "".join(cells[2].strip() for cells in (line.split("│") for line in lines[3:-1]))
    assert url in folded


def test_the_caption_is_a_line_under_the_tables() -> None:
    caption = "subscribers matched to a customer: 3 of 6 (50.0%)"
    table = FittedTable("source", "customers", "orders", "last run", caption=caption)
    table.add_row("shop", "60", "181", "#1 succeeded 2026-12-03 15:48")
    lines = printed(table, 60)
    assert lines[-1].strip() == caption


def test_rows_may_not_have_more_cells_than_columns() -> None:
    table = FittedTable("a", "b")
    with pytest.raises(ValueError, match="3 cells for 2 columns"):
        table.add_row("1", "2", "3")
    with pytest.raises(ValueError, match="key"):
        FittedTable("a", "b", key=3)


@pytest.mark.parametrize("width", [80, 120])
async def test_the_campaign_funnel_reads_whole_at_80_and_120_columns(
    session: AsyncSession, width: int
) -> None:
    scenario = await build(session)
    report = await campaign_report(
        session, campaign_id=scenario.campaign_id, now=T0 + timedelta(days=30)
    )
    console = Console(width=width, record=True)
    print_campaign_report(console, report)
    lines = console.export_text().splitlines()
    assert all(len(line) <= width for line in lines)
    assert not any("…" in line for line in lines)
    assert {"targeted", "conversions", "unsub/block", "rev/sent", "spanish"} <= words(lines)


def test_every_table_the_cli_and_the_demo_print_fits_the_terminal() -> None:
    """A rich Table built directly would squeeze its columns again: cli/tables.py is the
    one place that builds them."""
    direct = [
        str(path.relative_to(ROOT))
        for folder in ("cli", "demo")
        for path in sorted((ROOT / folder).glob("*.py"))
        if path.name != "tables.py" and "rich.table" in path.read_text(encoding="utf-8")
    ]
    assert direct == [], f"use cli.tables.FittedTable instead of rich's Table in {direct}"
