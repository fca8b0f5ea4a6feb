"""Storing validated records: set-based, idempotent upserts keyed by (source, external id).

A batch is staged into a temporary table (`crm_sync.staging`), then written with one
INSERT ... SELECT ... ON CONFLICT (source, external_id) DO UPDATE ... WHERE something
changed, so `updated_at` moves only when something did and re-reading stored rows updates
nothing. Orders find their customer with a join. An order naming a customer the source
does not have is handed back to be rejected (a typo in a customer id must not invent a
customer), unless the sync creates customers: then the customer is created bare (a
"stub"). Inserted/updated/unchanged are counted exactly and the same way on SQLite and
PostgreSQL. Nothing here commits.
"""

import typing
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import (
    JSON,
    ColumnElement,
    Select,
    Table,
    and_,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import UtcDateTime, dialect_insert
from crm_sync.models import Customer, Money, Order
from crm_sync.raw import jsonable_records
from crm_sync.records import Rejection
from crm_sync.staging import CUSTOMERS_STAGE, ORDERS_STAGE, stage, staged_time

KEY = ("source", "external_id")
CUSTOMERS = typing.cast(Table, Customer.__table__)
ORDERS = typing.cast(Table, Order.__table__)
CUSTOMER_FIELDS = ("name", "phone", "email", "attributes")
_ORDER_FACTS = ("ordered_at", "amount", "currency", "status", "quantity", "utm_campaign")
ORDER_FIELDS = ("customer_id", *_ORDER_FACTS, "counts_as_purchase")
# What a source says of an order: kept with an order rejected after validation.
SOURCE_ORDER_FIELDS = ("customer_external_id", *_ORDER_FACTS)
WITHOUT_CUSTOMER = (
    "no such customer in this source: import the customers first, "
    "or set create_customers: true to create them bare"
)


@dataclass(slots=True)
class WriteCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    stub_customers: int = 0  # customers created because an order named them first
    refunds: int = 0  # orders stored that are refunds (a negative amount or a refund status)


@dataclass(slots=True)
class OrderWrites:
    counts: WriteCounts
    moved_from: set[int]  # customers an order moved away from: their facts need refreshing
    rejected: list[Rejection]  # orders not stored: the source has no such customer


async def store_customers(
    session: AsyncSession, *, source: str, records: pd.DataFrame, now: datetime
) -> WriteCounts:
    """Insert new customers and update changed ones; links and purchase facts are kept."""
    if records.empty:
        return WriteCounts()
    dialect = session.get_bind().dialect.name
    await stage(session, CUSTOMERS_STAGE, records)
    staged = CUSTOMERS_STAGE.c
    existing = await _existing(session, CUSTOMERS, CUSTOMERS_STAGE, source)
    attributes = cast(staged.attributes, JSON) if dialect == "postgresql" else staged.attributes
    rows = select(
        literal(source).label("source"),
        staged.external_id,
        staged.name,
        staged.phone,
        staged.email,
        attributes.label("attributes"),
        _stamp(now).label("created_at"),
        _stamp(now).label("updated_at"),
    ).where(staged.external_id.is_not(None))  # a WHERE: SQLite's upsert-after-SELECT rule
    written = await _upsert(session, CUSTOMERS, rows, CUSTOMER_FIELDS)
    return _counts(len(records), existing, written)


async def store_orders(
    session: AsyncSession,
    *,
    source: str,
    records: pd.DataFrame,
    now: datetime,
    create_customers: bool = False,
) -> OrderWrites:
    """Insert new orders and update changed ones (a new status, a refund) in place.

    An order naming a customer `source` does not have is not stored but handed back as a
    rejection, unless `create_customers`, which creates that customer bare.
    """
    if records.empty:
        return OrderWrites(WriteCounts(), set(), [])
    dialect = session.get_bind().dialect.name
    await stage(session, ORDERS_STAGE, records)
    staged = ORDERS_STAGE.c
    stubs, without_customer = 0, []
    if create_customers:
        stubs = await _stub_customers(session, source=source, now=now)
    else:
        without_customer = await _unstage_without_customer(session, source=source)
    existing = await _existing(session, ORDERS, ORDERS_STAGE, source)
    customer = and_(Customer.source == source, Customer.external_id == staged.customer_external_id)
    moved: set[int] = set()
    if existing:
        stored = Order.source == source, Order.external_id == staged.external_id
        moved_from = (
            select(Order.customer_id)
            .distinct()
            .join(ORDERS_STAGE, and_(*stored))
            .join(Customer, customer)
            .where(Order.customer_id != Customer.id)
        )
        moved = set((await session.scalars(moved_from)).all())
    amount = cast(staged.amount, Money) if dialect == "postgresql" else staged.amount
    rows = (
        select(
            literal(source).label("source"),
            staged.external_id,
            Customer.id.label("customer_id"),
            staged_time(staged.ordered_at, dialect).label("ordered_at"),
            amount.label("amount"),
            staged.currency,
            staged.status,
            staged.quantity,
            staged.utm_campaign,
            staged.counts_as_purchase,
            _stamp(now).label("created_at"),
            _stamp(now).label("updated_at"),
        )
        .select_from(ORDERS_STAGE)
        .join(Customer, customer)
        .where(staged.external_id.is_not(None))  # a WHERE: SQLite's upsert-after-SELECT rule
    )
    written = await _upsert(session, ORDERS, rows, ORDER_FIELDS)
    counts = _counts(len(records) - len(without_customer), existing, written)
    counts.stub_customers = stubs
    rejected = records["external_id"].isin(without_customer)
    if "refund" in records:
        counts.refunds = int(records["refund"][~rejected].sum())
    return OrderWrites(counts, moved, _rejections(records[rejected], WITHOUT_CUSTOMER))


async def _unstage_without_customer(session: AsyncSession, *, source: str) -> list[str]:
    """Take the staged orders whose customer `source` does not have out of the stage;
    their ids."""
    staged = ORDERS_STAGE.c
    unknown = ~exists().where(
        Customer.source == source, Customer.external_id == staged.customer_external_id
    )
    ids = list((await session.scalars(select(staged.external_id).where(unknown))).all())
    if ids:
        await session.execute(ORDERS_STAGE.delete().where(unknown))
    return ids


async def _stub_customers(session: AsyncSession, *, source: str, now: datetime) -> int:
    """Create a bare customer for every staged order's customer not stored yet."""
    staged = ORDERS_STAGE.c
    known = exists().where(
        Customer.source == source, Customer.external_id == staged.customer_external_id
    )
    named = select(staged.customer_external_id).distinct().where(~known).subquery()
    missing = select(
        literal(source),
        named.c.customer_external_id,
        literal({}, JSON),
        _stamp(now),
        _stamp(now),
    ).where(named.c.customer_external_id.is_not(None))  # see _upsert: SQLite needs a WHERE
    statement = dialect_insert(session, CUSTOMERS).from_select(
        ["source", "external_id", "attributes", "created_at", "updated_at"], missing
    )
    result = await session.execute(statement.on_conflict_do_nothing(index_elements=list(KEY)))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def _existing(session: AsyncSession, table: Table, staged: Table, source: str) -> int:
    """How many staged rows are stored already."""
    stored = exists().where(table.c.source == source, table.c.external_id == staged.c.external_id)
    count = await session.scalar(select(func.count()).select_from(staged).where(stored))
    return int(count or 0)


async def _upsert(
    session: AsyncSession, table: Table, rows: Select[Any], fields: tuple[str, ...]
) -> int:
    """INSERT `rows`; on a stored key, UPDATE `fields` where one differs. Rows written."""
    dialect = session.get_bind().dialect.name
    statement = dialect_insert(session, table)
    columns = [column.name for column in rows.selected_columns]
    statement = statement.from_select(columns, rows)
    excluded = statement.excluded
    changed = [_differs(table.c[field], excluded[field], dialect=dialect) for field in fields]
    upserting = statement.on_conflict_do_update(
        index_elements=list(KEY),
        set_={field: excluded[field] for field in (*fields, "updated_at")},
        where=or_(*changed),
    )
    result = await session.execute(upserting)
    return int(result.rowcount)  # type: ignore[attr-defined]


def _differs(
    stored: ColumnElement[object], new: ColumnElement[object], *, dialect: str
) -> ColumnElement[bool]:
    """Null-safe "not equal"; JSON compared as values on PostgreSQL (json has no "=")."""
    if isinstance(stored.type, JSON) and dialect == "postgresql":
        return cast(stored, JSONB).is_distinct_from(cast(new, JSONB))
    return stored.is_distinct_from(new)


def _rejections(records: pd.DataFrame, reason: str) -> list[Rejection]:
    """Validated order records not stored, as rejections holding what they said."""
    fields = [name for name in SOURCE_ORDER_FIELDS if name in records]
    numbers = records.get("row_number", pd.Series(None, index=records.index, dtype=object))
    return [
        Rejection(
            row_number=None if pd.isna(number) else int(number),
            external_id=str(external_id),
            raw={"external_id": str(external_id), **raw},
            reason=reason,
        )
        for external_id, number, raw in zip(
            records["external_id"], numbers, jsonable_records(records[fields]), strict=True
        )
    ]


def _stamp(now: datetime) -> ColumnElement[datetime]:
    return literal(now, UtcDateTime())


def _counts(staged: int, existing: int, written: int) -> WriteCounts:
    """Written rows are the new ones and the changed ones; the rest were unchanged."""
    inserted = staged - existing
    updated = written - inserted
    return WriteCounts(inserted=inserted, updated=updated, unchanged=existing - updated)
