"""CSV and XLSX imports through the worker: counts, idempotency, resume, rejections (bad
values, lines with more fields than the header, repeated ids, phones and emails left out),
and a read cancelled while its next chunk is being read."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import openpyxl  # type: ignore[import-untyped]
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_sync.config import RecordRules
from crm_sync.connectors import Batch, Cursor, FilesConnector, SourceError
from crm_sync.fields import Stream
from crm_sync.mapping import ColumnMapping
from crm_sync.models import Order, RejectedRow, SyncCursor, SyncRun
from crm_sync.worker import run_sync
from tests.crm_sync.shop import (
    CUSTOMER_HEADER,
    ISO_DATES_ONLY,
    ORDER_HEADER,
    RULES,
    SteppingClock,
    customers_by_id,
    orders_by_id,
    write_csv,
    write_shop_files,
)


def files(customers: Path | None, orders: Path | None, **options: object) -> FilesConnector:
    return FilesConnector(
        name="shop",
        customers=customers,
        orders=orders,
        rules=RULES,
        **options,  # type: ignore[arg-type]
    )


async def test_import_stores_customers_orders_and_purchase_facts(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    shop_files: tuple[Path, Path],
    clock: SteppingClock,
) -> None:
    summary = await run_sync(sessionmaker=sessionmaker, connector=files(*shop_files), clock=clock)

    assert summary.status == "succeeded"
    assert (summary.streams["customers"].inserted, summary.streams["orders"].inserted) == (3, 5)
    customers = await customers_by_id(session)
    ann, bob, cy = customers["c1"], customers["c2"], customers["c3"]
    assert (ann.name, ann.phone, ann.email) == ("Ann", "+34600000001", "ann@example.com")
    assert (ann.orders_count, ann.total_spent, ann.average_order_value) == (2, 150.5, 75.25)
    assert (ann.first_order_at.isoformat(), ann.last_order_at.isoformat()) == (  # type: ignore[union-attr]
        "2026-01-10T10:00:00+00:00",
        "2026-03-10T10:00:00+00:00",
    )
    assert (bob.orders_count, bob.total_spent) == (1, 30.0)  # the refund is left out
    assert (cy.orders_count, cy.total_spent, cy.last_order_at) == (0, 0.0, None)  # amount 0
    run = await session.get(SyncRun, summary.run_id)
    assert run is not None
    assert (run.status, run.read_count, run.inserted_count, run.rejected_count) == (
        "succeeded",
        8,
        8,
        0,
    )


async def test_importing_the_same_files_again_changes_nothing(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    shop_files: tuple[Path, Path],
    clock: SteppingClock,
) -> None:
    await run_sync(sessionmaker=sessionmaker, connector=files(*shop_files), clock=clock)
    before = {key: order.updated_at for key, order in (await orders_by_id(session)).items()}

    again = await run_sync(
        sessionmaker=sessionmaker, connector=files(*shop_files), full=True, clock=clock
    )

    assert again.status == "succeeded"
    assert {s: (c.inserted, c.updated, c.unchanged) for s, c in again.streams.items()} == {
        "customers": (0, 0, 3),
        "orders": (0, 0, 5),
    }
    after = {key: order.updated_at for key, order in (await orders_by_id(session)).items()}
    assert after == before


async def test_an_unchanged_file_is_not_read_again_by_an_incremental_sync(
    sessionmaker: async_sessionmaker[AsyncSession], shop_files: tuple[Path, Path]
) -> None:
    await run_sync(sessionmaker=sessionmaker, connector=files(*shop_files))
    again = await run_sync(sessionmaker=sessionmaker, connector=files(*shop_files))
    assert again.status == "succeeded"
    assert again.total("read") == 0


async def test_a_refund_updates_the_order_in_place_and_the_facts(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    shop_files: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    await run_sync(sessionmaker=sessionmaker, connector=files(*shop_files))
    refund = write_csv(
        tmp_path / "refund.csv",
        ORDER_HEADER,
        [("o2", "c1", "2026-03-10T10:00:00Z", "50.50", "EUR", "refunded")],
    )

    summary = await run_sync(sessionmaker=sessionmaker, connector=files(None, refund))

    assert (summary.streams["orders"].inserted, summary.streams["orders"].updated) == (0, 1)
    orders = await orders_by_id(session)
    assert len(orders) == 5
    assert (orders["o2"].status, orders["o2"].counts_as_purchase) == ("refunded", False)
    ann = (await customers_by_id(session))["c1"]
    assert (ann.orders_count, ann.total_spent, ann.last_order_at.isoformat()) == (  # type: ignore[union-attr]
        1,
        100.0,
        "2026-01-10T10:00:00+00:00",
    )


async def test_bad_rows_are_kept_with_reasons_while_the_rest_import(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, tmp_path: Path
) -> None:
    orders = write_csv(
        tmp_path / "orders.csv",
        ORDER_HEADER,
        [
            ("o1", "c1", "2026-01-10T10:00:00Z", "10", "EUR", "completed"),
            ("", "c1", "2026-01-10T10:00:00Z", "10", "EUR", "completed"),
            ("o3", "c1", "yesterday", "10", "EUR", "completed"),
            ("o4", "c1", "2026-01-10T10:00:00Z", "ten euros", "EUR", "completed"),
            ("o5", "c1", "2026-01-10T10:00:00Z", "10", "E", "completed"),
        ],
    )
    summary = await run_sync(
        sessionmaker=sessionmaker, connector=files(None, orders), create_customers=True
    )

    assert summary.status == "succeeded"
    assert (summary.streams["orders"].inserted, summary.streams["orders"].rejected) == (1, 4)
    rejected = (await session.scalars(select(RejectedRow).order_by(RejectedRow.row_number))).all()
    assert [(r.run_id, r.kind, r.row_number, r.external_id, r.reason) for r in rejected] == [
        (summary.run_id, "orders", 3, None, "missing order id"),
        (summary.run_id, "orders", 4, "o3", ISO_DATES_ONLY),
        (summary.run_id, "orders", 5, "o4", "missing or unparsable amount"),
        (summary.run_id, "orders", 6, "o5", "unknown currency code"),
    ]
    assert rejected[2].raw == {
        "order_id": "o4",
        "customer_id": "c1",
        "ordered_at": "2026-01-10T10:00:00Z",
        "amount": "ten euros",
        "currency": "EUR",
        "status": "completed",
    }


async def test_xlsx_with_a_column_mapping(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, tmp_path: Path
) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Client", "Full name", "Mobile", "Mail"])
    sheet.append([1001, "Ann", 600000001, "ann@example.com"])  # numbers typed by Excel
    sheet.append([1002, "Bob", None, None])
    sheet.append([None, None, None, None])  # a formatted but blank row
    path = tmp_path / "customers.xlsx"
    workbook.save(path)
    mapping = ColumnMapping(customers={"external_id": "Client", "name": "Full name"})

    summary = await run_sync(
        sessionmaker=sessionmaker, connector=files(path, None, mapping=mapping)
    )

    assert summary.status == "succeeded", summary.error
    assert (summary.streams["customers"].inserted, summary.total("rejected")) == (2, 0)
    customers = await customers_by_id(session)
    assert (customers["1001"].name, customers["1001"].phone) == ("Ann", "+34600000001")


async def test_a_file_without_a_required_column_fails_the_run_and_keeps_the_cursor(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, tmp_path: Path
) -> None:
    orders = write_csv(tmp_path / "orders.csv", ("order_id", "customer_id"), [("o1", "c1")])

    summary = await run_sync(sessionmaker=sessionmaker, connector=files(None, orders))

    assert summary.status == "failed"
    assert summary.error is not None
    assert "no column for ordered_at, amount" in summary.error
    run = await session.get(SyncRun, summary.run_id)
    assert run is not None
    assert (run.status, run.error, run.finished_at is not None) == ("failed", summary.error, True)
    assert await session.scalar(select(func.count()).select_from(SyncCursor)) == 0


class CrashAfter:
    """The files connector, failing after `batches` batches of orders: a worker crash."""

    def __init__(self, inner: FilesConnector, batches: int) -> None:
        self.inner, self.left = inner, batches
        self.name, self.streams, self.check = inner.name, inner.streams, inner.check

    async def batches(self, stream: Stream, cursor: Cursor | None) -> AsyncIterator[Batch]:
        async for batch in self.inner.batches(stream, cursor):
            if (
                stream == "orders"
                and batch.records is not None
                and not batch.cursor.get("complete")
            ):
                if self.left == 0:
                    raise SourceError("the disk went away")
                self.left -= 1
            yield batch


async def test_a_crash_mid_import_resumes_without_loss_or_double_counting(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, tmp_path: Path
) -> None:
    rows = [
        (f"o{i}", f"c{i % 7}", "2026-01-10T10:00:00Z", "10", "EUR", "completed")
        for i in range(1, 101)
    ]
    orders = write_csv(tmp_path / "orders.csv", ORDER_HEADER, rows)
    connector = files(None, orders, chunk_rows=30)

    crashed = await run_sync(
        sessionmaker=sessionmaker, connector=CrashAfter(connector, 2), create_customers=True
    )
    assert crashed.status == "failed"
    assert crashed.streams["orders"].inserted == 60  # two batches stored before the crash
    cursor = await session.scalar(select(SyncCursor.value))
    assert cursor is not None
    assert (cursor["rows_done"], cursor["complete"]) == (60, False)

    resumed = await run_sync(sessionmaker=sessionmaker, connector=connector, create_customers=True)
    assert resumed.status == "succeeded"
    assert (resumed.streams["orders"].read, resumed.streams["orders"].inserted) == (40, 40)
    assert await session.scalar(select(func.count()).select_from(Order)) == 100
    customers = await customers_by_id(session)
    assert sum(customer.orders_count for customer in customers.values()) == 100
    assert sum(customer.total_spent for customer in customers.values()) == 1000.0


async def test_naive_dates_follow_the_connector_time_zone(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, tmp_path: Path
) -> None:
    orders = write_csv(
        tmp_path / "orders.csv",
        ORDER_HEADER,
        [("o1", "c1", "2026-07-01 12:00", "10", "EUR", "completed")],
    )
    connector = FilesConnector(
        name="shop", customers=None, orders=orders, rules=RecordRules(timezone="Europe/Madrid")
    )
    await run_sync(sessionmaker=sessionmaker, connector=connector, create_customers=True)
    assert (await orders_by_id(session))["o1"].ordered_at.isoformat() == "2026-07-01T10:00:00+00:00"


OVERLONG_ORDERS = """order_id,customer_id,ordered_at,amount,currency,status
o1,c1,2026-01-10T10:00:00Z,10,EUR,completed
o2,c1,2026-01-10T10:00:00Z,"1,50",EUR,completed
o3,c1,2026-01-10T10:00:00Z,1,50,EUR,completed

o4,c2,2026-01-11T10:00:00Z,20,EUR,completed
o5,c2,2026-01-12T10:00:00Z,"30",EUR,"completed
and packed"
"""


@pytest.mark.parametrize("chunk_rows", [2, 1000], ids=["in-a-later-chunk", "in-the-first-chunk"])
async def test_a_line_with_more_fields_than_the_header_is_rejected_and_the_rest_import(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    tmp_path: Path,
    chunk_rows: int,
) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(OVERLONG_ORDERS, encoding="utf-8")

    summary = await run_sync(
        sessionmaker=sessionmaker,
        connector=files(None, path, chunk_rows=chunk_rows),
        create_customers=True,
    )

    assert summary.status == "succeeded", summary.error
    assert (summary.streams["orders"].inserted, summary.streams["orders"].rejected) == (4, 1)
    orders = await orders_by_id(session)
    assert sorted(orders) == ["o1", "o2", "o4", "o5"]
    assert (orders["o2"].amount, orders["o5"].status) == (1.5, "completed\nand packed")
    (rejected,) = (await session.scalars(select(RejectedRow))).all()
    assert (rejected.row_number, rejected.external_id, rejected.field, rejected.reason) == (
        4,
        "o3",
        None,
        "7 fields where the header has 6: a value holding ',' must be in double quotes",
    )
    assert rejected.raw == {
        "order_id": "o3",
        "customer_id": "c1",
        "ordered_at": "2026-01-10T10:00:00Z",
        "amount": "1",
        "currency": "50",
        "status": "EUR",
        "(fields past the header)": ["completed"],
    }


async def test_an_id_repeated_in_a_file_keeps_its_first_row_and_names_it(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, tmp_path: Path
) -> None:
    customers = write_csv(
        tmp_path / "customers.csv",
        CUSTOMER_HEADER,
        [
            ("c1", "Ann", "", ""),
            ("c2", "Bob", "", ""),
            ("c3", "Cy", "", ""),
            ("c1", "Ann Other", "", ""),
            ("c2", "Bob", "", ""),
        ],
    )

    summary = await run_sync(
        sessionmaker=sessionmaker, connector=files(customers, None, chunk_rows=2)
    )

    assert (summary.streams["customers"].inserted, summary.streams["customers"].rejected) == (3, 2)
    assert (await customers_by_id(session))["c1"].name == "Ann"
    rejected = (await session.scalars(select(RejectedRow).order_by(RejectedRow.row_number))).all()
    assert [(r.row_number, r.external_id, r.reason) for r in rejected] == [
        (5, "c1", "same customer id as row 2, which is kept"),
        (6, "c2", "same customer id as row 3, which is kept"),
    ]


@pytest.mark.parametrize("chunk_rows", [2, 1000], ids=["in-a-later-chunk", "in-the-first-chunk"])
async def test_a_repeat_of_an_order_naming_no_such_customer_says_that_one_is_rejected_too(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    tmp_path: Path,
    chunk_rows: int,
) -> None:
    customers, _ = write_shop_files(tmp_path)
    orders = write_csv(
        tmp_path / "orders.csv",
        ORDER_HEADER,
        [
            ("o1", "c9", "2026-01-10T10:00:00Z", "100", "EUR", "completed"),
            ("o2", "c1", "2026-01-11T10:00:00Z", "20", "EUR", "completed"),
            ("o1", "c1", "2026-01-10T10:00:00Z", "100", "EUR", "completed"),
        ],
    )

    await run_sync(
        sessionmaker=sessionmaker, connector=files(customers, orders, chunk_rows=chunk_rows)
    )

    assert sorted(await orders_by_id(session)) == ["o2"]
    rejected = (
        await session.scalars(
            select(RejectedRow).where(RejectedRow.kind == "orders").order_by(RejectedRow.row_number)
        )
    ).all()
    no_customer = "no such customer in this source: import the customers first"
    assert [(r.row_number, r.external_id) for r in rejected] == [(2, "o1"), (4, "o1")]
    assert rejected[0].reason.startswith(no_customer)
    assert rejected[1].reason.startswith(
        "same order id as row 2, which is rejected too: " + no_customer
    )


async def test_a_phone_or_email_that_is_not_one_is_left_out_and_listed(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, tmp_path: Path
) -> None:
    customers = write_csv(
        tmp_path / "customers.csv",
        CUSTOMER_HEADER,
        [("c1", "Ann", "call me", "ann@example"), ("c2", "Bob", "600000002", "bob@example.com")],
    )

    summary = await run_sync(sessionmaker=sessionmaker, connector=files(customers, None))

    counts = summary.streams["customers"]
    assert (counts.inserted, counts.rejected, counts.fields_dropped) == (2, 0, 2)
    ann = (await customers_by_id(session))["c1"]
    assert (ann.name, ann.phone, ann.email) == ("Ann", None, None)
    rejected = (await session.scalars(select(RejectedRow).order_by(RejectedRow.field))).all()
    assert [(r.row_number, r.external_id, r.field, r.reason) for r in rejected] == [
        (2, "c1", "email", "email left out: not an email address"),
        (2, "c1", "phone", "phone left out: not a phone number"),
    ]
    assert rejected[0].raw == {
        "customer_id": "c1",
        "name": "Ann",
        "phone": "call me",
        "email": "ann@example",
    }
    run = await session.get(SyncRun, summary.run_id)
    assert run is not None
    assert (run.rejected_count, run.details["customers"]["fields_dropped"]) == (0, 2)


async def test_a_read_cancelled_while_the_next_chunk_is_read_ends_as_cancelled(
    tmp_path: Path,
) -> None:
    """Ctrl-C lands while a thread reads the next chunk: the reader waits for the thread
    before closing the file (closing it under the thread failed: "generator already
    executing")."""
    rows = [(f"c{n}", f"Name {n}", "", f"u{n}@example.com") for n in range(40_000)]
    customers = write_csv(tmp_path / "customers.csv", CUSTOMER_HEADER, rows)
    connector = files(customers, None, chunk_rows=20_000)
    await connector.check()
    reading = connector.batches("customers", None)
    await anext(reading)  # the second chunk is being read in a thread from now on

    waiting = asyncio.ensure_future(anext(reading))
    await asyncio.sleep(0)
    waiting.cancel()

    with pytest.raises(asyncio.CancelledError):
        await waiting
