"""A shop's CRM data as the CRM sync tests write and read it: CSV files of its customers
and orders, a clock that moves, the rows the sync stored. The fixtures are in conftest.py."""

import asyncio
import csv
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Subscriber
from crm_sync.config import RecordRules
from crm_sync.connectors import Batch, Cursor, FilesConnector
from crm_sync.fields import Stream
from crm_sync.models import Customer, Order

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
RULES = RecordRules(default_region="ES")


class SteppingClock:
    """A clock that moves one second each time it is read, from T0."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)
    return path


# Why an order date that is not ISO 8601 is rejected when no date format is configured.
ISO_DATES_ONLY = (
    "order date is not ISO 8601 (2025-12-31, 2025-12-31T14:30); for 31/12/2025 "
    'set dayfirst: true or date_format: "%d/%m/%Y"'
)
CUSTOMER_HEADER = ("customer_id", "name", "phone", "email")
ORDER_HEADER = ("order_id", "customer_id", "ordered_at", "amount", "currency", "status")


def write_shop_files(folder: Path) -> tuple[Path, Path]:
    """A small shop into `folder`: three customers, five orders (one refunded)."""
    customers = write_csv(
        folder / "customers.csv",
        CUSTOMER_HEADER,
        [
            ("c1", "Ann", "+34 600 000 001", "Ann@Example.com"),
            ("c2", "Bob", "600000002", "bob@example.com"),
            ("c3", "Cy", "", ""),
        ],
    )
    orders = write_csv(
        folder / "orders.csv",
        ORDER_HEADER,
        [
            ("o1", "c1", "2026-01-10T10:00:00Z", "100.00", "EUR", "completed"),
            ("o2", "c1", "2026-03-10T10:00:00Z", "50.50", "EUR", "completed"),
            ("o3", "c2", "2026-02-01T12:00:00Z", "30", "EUR", "completed"),
            ("o4", "c2", "2026-02-05T12:00:00Z", "30", "EUR", "refunded"),
            ("o5", "c3", "2026-04-01T08:00:00Z", "0", "EUR", "completed"),
        ],
    )
    return customers, orders


SubscriberFactory = Callable[..., Subscriber]


async def customers_by_id(session: AsyncSession, source: str = "shop") -> dict[str, Customer]:
    rows = await session.scalars(
        select(Customer).where(Customer.source == source).execution_options(populate_existing=True)
    )
    return {customer.external_id: customer for customer in rows}


async def orders_by_id(session: AsyncSession, source: str = "shop") -> dict[str, Order]:
    rows = await session.scalars(
        select(Order).where(Order.source == source).execution_options(populate_existing=True)
    )
    return {order.external_id: order for order in rows}


def selling(folder: Path, sold: int) -> FilesConnector:
    """A shop of 20 customers whose orders file holds the first `sold` of 125 orders (a
    later call rewrites it): a sync that grows the tables by much, or by little."""
    customers = write_csv(
        folder / "customers.csv",
        CUSTOMER_HEADER,
        [(f"c{n}", f"Customer {n}", "", "") for n in range(20)],
    )
    orders = [
        (f"o{n}", f"c{n % 20}", "2026-01-10T10:00:00Z", "10", "EUR", "completed")
        for n in range(sold)
    ]
    sales = write_csv(folder / "orders.csv", ORDER_HEADER, orders)
    return FilesConnector(name="shop", customers=customers, orders=sales, rules=RULES)


class HangsAfterOneBatch:
    """A files connector whose source stops answering after its first batch: `hanging`
    is set (and `on_hang` called) once the worker asks for more, having stored it."""

    def __init__(self, inner: FilesConnector, *, on_hang: Callable[[], None] = lambda: None):
        self.name, self.streams, self.check = inner.name, inner.streams, inner.check
        self._inner, self._on_hang = inner, on_hang
        self.hanging = asyncio.Event()

    async def batches(self, stream: Stream, cursor: Cursor | None) -> AsyncIterator[Batch]:
        async for batch in self._inner.batches(stream, cursor):
            yield batch
            self.hanging.set()
            self._on_hang()
            await asyncio.Event().wait()
