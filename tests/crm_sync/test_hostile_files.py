"""Files an import meets in the wild: not what their name says, not UTF-8, workbooks of many
sheets, huge fields, a header twice in two casings, blank lines. Each fails in one sentence
saying what to do, or imports with what it left out said; `--source` follows the rule of a
connector's name."""

import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import openpyxl  # type: ignore[import-untyped]
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from cli.crm import app
from crm_sync.connectors import Batch, Cursor, FilesConnector, SourceError
from crm_sync.fields import Stream
from crm_sync.models import Customer, RejectedRow
from crm_sync.worker import SyncSummary, run_sync
from tests.cli.conftest import invoke
from tests.crm_sync.shop import CUSTOMER_HEADER, RULES, customers_by_id, orders_by_id, write_csv
from tests.crm_sync.test_hostile_values import rejections

SAVE_AS = 'save it as "CSV UTF-8" or as XLSX and import that'


async def imported(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    customers: Path | None = None,
    orders: Path | None = None,
    chunk_rows: int = 100_000,
) -> SyncSummary:
    connector = FilesConnector(
        name="shop", customers=customers, orders=orders, rules=RULES, chunk_rows=chunk_rows
    )
    return await run_sync(sessionmaker=sessionmaker, connector=connector, create_customers=True)


def workbook(path: Path, *sheets: tuple[str, list[tuple[object, ...]]]) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets:
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def fake_workbook(path: Path) -> Path:
    path.write_text("customer_id,name\nc1,Ann\n", encoding="utf-8")
    return path


def truncated_workbook(path: Path) -> Path:
    workbook(path, ("Customers", [("customer_id", "name"), ("c1", "Ann")]))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def zip_without_a_workbook(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "customer_id,name\n")
    return path


@pytest.mark.parametrize(
    "make", [fake_workbook, truncated_workbook, zip_without_a_workbook], ids=lambda f: f.__name__
)
async def test_a_file_named_xlsx_that_is_no_workbook_fails_in_one_sentence(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    tmp_path: Path,
    make: object,
) -> None:
    path = make(tmp_path / "customers.xlsx")  # type: ignore[operator]

    summary = await imported(sessionmaker, customers=path)

    assert summary.status == "failed"
    assert summary.error == (
        f"cannot read {path}: not an XLSX workbook, or a damaged one; {SAVE_AS}"
    )
    assert await session.scalar(select(func.count()).select_from(Customer)) == 0


async def test_a_workbook_damaged_past_its_first_rows_fails_in_one_sentence(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    rows: list[tuple[object, ...]] = [("customer_id", "name")]
    rows += [(f"c{n}", f"Customer {n} " * 20) for n in range(3000)]
    path = workbook(tmp_path / "customers.xlsx", ("Customers", rows))
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        sheet = archive.getinfo("xl/worksheets/sheet1.xml")
    start = sheet.header_offset + 30 + len(sheet.filename) + len(sheet.extra)
    for at in range(start + 2000, start + 2100):  # inside the sheet's compressed rows
        data[at] ^= 0x55
    path.write_bytes(bytes(data))

    summary = await imported(sessionmaker, customers=path)

    assert summary.status == "failed"
    assert summary.error == (
        f"cannot read {path}: not an XLSX workbook, or a damaged one; {SAVE_AS}"
    )


async def test_only_the_first_sheet_is_imported_and_the_others_holding_data_are_named(
    runner: CliRunner, session: AsyncSession, tmp_path: Path
) -> None:
    path = workbook(
        tmp_path / "customers.xlsx",
        ("Customers", [("customer_id", "name"), ("c1", "Ann")]),
        ("Wholesale", [("customer_id", "name"), ("c2", "Bob")]),
        ("Empty", []),
        ("Notes", [(None, None), (None, "see c3")]),
    )

    result = await invoke(runner, app, "import", "--customers", str(path), "--source", "shop")

    assert result.exit_code == 0, result.output
    assert (
        "customers: sheets not imported: Wholesale, Notes (only the first sheet of a workbook "
        "is read)" in result.stdout
    )
    assert sorted(await customers_by_id(session)) == ["c1"]


def test_the_import_help_says_only_the_first_sheet_is_read(runner: CliRunner) -> None:
    result = runner.invoke(app, ["import", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.stdout.replace("│", " ").split())
    assert "of an XLSX workbook only the first sheet is read" in text


async def test_a_field_over_128_kib_after_an_overlong_line_imports(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, tmp_path: Path
) -> None:
    note = "x" * 200_000
    path = tmp_path / "customers.csv"
    path.write_text(
        f"customer_id,name,note\nc1,Ann,short\nc2,Bob,a,b\nc3,Cy,{note}\n", encoding="utf-8"
    )

    summary = await imported(sessionmaker, customers=path)

    assert summary.status == "succeeded", summary.error
    assert (summary.streams["customers"].inserted, summary.streams["customers"].rejected) == (2, 1)
    assert sorted(await customers_by_id(session)) == ["c1", "c3"]
    (rejected,) = (await session.scalars(select(RejectedRow))).all()
    assert (rejected.row_number, rejected.external_id, rejected.reason) == (
        3,
        "c2",
        "4 fields where the header has 3: a value holding ',' must be in double quotes",
    )


async def test_of_one_header_in_two_casings_the_first_is_read(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, tmp_path: Path
) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(
        "customer_id,email,Email\nc1,first@example.com,second@example.com\n", encoding="utf-8"
    )

    summary = await imported(sessionmaker, customers=path)

    assert summary.status == "succeeded", summary.error
    assert (await customers_by_id(session))["c1"].email == "first@example.com"
    assert summary.streams["customers"].ignored_columns == ["Email"]


def latin1_csv(path: Path) -> tuple[Path, int]:
    path.write_bytes("customer_id,name\nc1,Ann\nc2,José\n".encode("latin-1"))
    return path, 3


def xlsx_named_csv(path: Path) -> tuple[Path, int]:
    workbook(path.with_suffix(".xlsx"), ("Customers", [("customer_id", "name"), ("c1", "Ann")]))
    data = path.with_suffix(".xlsx").read_bytes()
    path.write_bytes(data)
    # A zip's header holds its save time and checksums, which may hold a newline byte
    # before the first byte that is not UTF-8: the line is where that byte falls.
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        return path, data.count(b"\n", 0, error.start) + 1
    raise AssertionError("a zip file is never UTF-8 text")


def xls_workbook(path: Path) -> tuple[Path, int]:
    path = path.with_suffix(".xls")
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))  # an OLE2 header
    return path, 1


@pytest.mark.parametrize(
    "make", [latin1_csv, xlsx_named_csv, xls_workbook], ids=lambda f: f.__name__
)
async def test_a_file_that_is_not_utf8_fails_naming_the_line_and_what_to_do(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    tmp_path: Path,
    make: object,
) -> None:
    path, line = make(tmp_path / "customers.csv")  # type: ignore[operator]

    summary = await imported(sessionmaker, customers=path)

    assert summary.status == "failed"
    assert summary.error == f"cannot read {path}: line {line} is not UTF-8 text; {SAVE_AS}"
    assert await session.scalar(select(func.count()).select_from(Customer)) == 0


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ("", "String should have at least 1 character"),
        ("s" * 65, "String should have at most 64 characters"),
        ("my shop", "String should match pattern '^[A-Za-z0-9_.-]+$'"),
    ],
    ids=["empty", "too-long", "a-space"],
)
def test_a_source_name_follows_the_rule_of_a_connector_name(
    runner: CliRunner, tmp_path: Path, source: str, why: str
) -> None:
    path = tmp_path / "customers.csv"
    path.write_text("customer_id,name\nc1,Ann\n", encoding="utf-8")

    result = runner.invoke(app, ["import", "--customers", str(path), "--source", source])

    assert result.exit_code == 2
    assert result.stderr == f"error: --source {source!r}: {why}\n"


def test_a_source_name_of_64_characters_is_kept(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text("customer_id,name\nc1,Ann\n", encoding="utf-8")

    result = runner.invoke(app, ["import", "--customers", str(path), "--source", "s" * 64])

    assert result.exit_code == 0, result.output


BLANK_LINED_ORDERS = """order_id,customer_id,ordered_at,amount
o1,c1,2026-01-10T10:00:00Z,10


o2,c1,yesterday,10
{overlong}
o4,c1,2026-01-11T10:00:00Z,"20"
\t
o5,c1,"tomorrow
or later",30
o6,c1,2026-01-12T10:00:00Z,30
o7,c1,later,30
"""


@pytest.mark.parametrize("chunk_rows", [2, 1000], ids=["chunks-of-2", "one-chunk"])
@pytest.mark.parametrize("overlong", [False, True], ids=["csv", "with-an-overlong-line"])
async def test_rejected_rows_are_numbered_as_a_spreadsheet_shows_them_past_blank_lines(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    tmp_path: Path,
    chunk_rows: int,
    overlong: bool,
) -> None:
    path = tmp_path / "orders.csv"
    line = "o3,c1,2026-01-10T10:00:00Z,1,50" if overlong else "   "
    path.write_text(BLANK_LINED_ORDERS.format(overlong=line), encoding="utf-8")

    summary = await imported(sessionmaker, orders=path, chunk_rows=chunk_rows)

    assert summary.status == "succeeded", summary.error
    assert sorted(await orders_by_id(session)) == ["o1", "o4", "o6"]
    rejected = (await session.scalars(select(RejectedRow).order_by(RejectedRow.row_number))).all()
    numbered = [(row.row_number, row.external_id) for row in rejected]
    assert numbered == [(5, "o2"), *([(6, "o3")] if overlong else []), (9, "o5"), (11, "o7")]


async def test_blank_lines_above_the_header_count_in_the_row_numbers(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, tmp_path: Path
) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(
        "\n  \norder_id;customer_id;ordered_at;amount\n"
        "o1;c1;2026-01-10T10:00:00Z;10\no2;c1;yesterday;10\n",
        encoding="utf-8",
    )

    summary = await imported(sessionmaker, orders=path)

    assert summary.status == "succeeded", summary.error
    assert sorted(await orders_by_id(session)) == ["o1"]
    (rejected,) = (await session.scalars(select(RejectedRow))).all()
    assert (rejected.row_number, rejected.external_id) == (5, "o2")


async def test_commas_inside_the_quoted_names_of_a_semicolon_header_are_no_delimiter(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, tmp_path: Path
) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(
        '"customer_id";"name (last, first, middle)";"email"\n"c1";"Doe, Ann";"ann@example.com"\n',
        encoding="utf-8",
    )

    summary = await imported(sessionmaker, customers=path)

    assert summary.status == "succeeded", summary.error
    assert (await customers_by_id(session))["c1"].email == "ann@example.com"


async def test_a_quote_never_closed_fails_the_file_naming_the_row_it_opens_on(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    path = tmp_path / "customers.csv"
    path.write_text('\ncustomer_id,name\nc1,Ann\nc2,"Bob\nc3,Cy\n', encoding="utf-8")

    summary = await imported(sessionmaker, customers=path)

    assert summary.status == "failed"
    assert summary.error == f"cannot read {path}: a quote opened at row 4 is never closed"


class CrashAfterOneBatch:
    """The files connector, failing after its first batch of orders is stored."""

    def __init__(self, inner: FilesConnector) -> None:
        self.inner = inner
        self.name, self.streams, self.check = inner.name, inner.streams, inner.check

    async def batches(self, stream: Stream, cursor: Cursor | None) -> AsyncIterator[Batch]:
        async for batch in self.inner.batches(stream, cursor):
            yield batch
            raise SourceError("the disk went away")


@pytest.mark.parametrize("chunk_rows_then", [3, 2], ids=["same chunks", "other chunks"])
async def test_an_import_resumed_still_rejects_a_repeat_of_an_id_stored_before_the_stop(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    tmp_path: Path,
    chunk_rows_then: int,
) -> None:
    rows = [(f"c{n}", f"Name {n}", "", "") for n in range(1, 8)] + [("c1", "Later", "", "")]
    path = write_csv(tmp_path / "customers.csv", CUSTOMER_HEADER, rows)

    def connector(chunk_rows: int) -> FilesConnector:
        return FilesConnector(
            name="shop", customers=path, orders=None, rules=RULES, chunk_rows=chunk_rows
        )

    crashed = await run_sync(sessionmaker=sessionmaker, connector=CrashAfterOneBatch(connector(3)))
    assert crashed.status == "failed"
    resumed = await run_sync(sessionmaker=sessionmaker, connector=connector(chunk_rows_then))

    assert resumed.status == "succeeded", resumed.error
    assert (await customers_by_id(session))["c1"].name == "Name 1"
    assert await rejections(session, resumed) == [
        ("customers", 9, "c1", "same customer id as row 2, which is kept")
    ]


async def test_an_import_resumed_past_blank_lines_stores_each_row_once_and_numbers_it(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, tmp_path: Path
) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(BLANK_LINED_ORDERS.format(overlong=""), encoding="utf-8")
    connector = FilesConnector(name="shop", customers=None, orders=path, rules=RULES, chunk_rows=3)

    crashed = await run_sync(
        sessionmaker=sessionmaker,
        connector=CrashAfterOneBatch(connector),
        create_customers=True,
    )
    assert crashed.status == "failed"
    resumed = await run_sync(sessionmaker=sessionmaker, connector=connector, create_customers=True)

    assert resumed.status == "succeeded", resumed.error
    assert sorted(await orders_by_id(session)) == ["o1", "o4", "o6"]
    rejected = (await session.scalars(select(RejectedRow).order_by(RejectedRow.row_number))).all()
    assert [(row.row_number, row.external_id) for row in rejected] == [
        (5, "o2"),
        (9, "o5"),
        (11, "o7"),
    ]
