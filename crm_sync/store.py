"""Storing validated records: set-based, idempotent writes keyed by (source, external id).

A batch is staged into a temporary table (`crm_sync.staging`), then written with at most
two statements: an INSERT of the staged rows not stored yet, and an UPDATE of the stored
ones where something changed, so `updated_at` moves only when something did and
re-reading stored rows updates nothing. A batch none of whose keys are stored (every
batch of a first import) is one plain INSERT, with no conflict to look for row by row.
Orders find their customer with a join; a batch of orders naming stored ones is first
matched into a table of each order's customer and what the stored order was (which the
purchase facts follow: `crm_sync.facts.follow_order_changes`). An order naming a
customer the source does not have is handed back to be rejected (a typo in a customer id
must not invent a customer), unless the sync creates customers: then the customer is
created bare (a "stub").
Inserted/updated/unchanged are counted exactly and the same way on SQLite and
PostgreSQL. One sync per source runs at a time (`crm_sync.run_lock`): no other writer
stores a key of the source between the count of stored keys and the INSERT. Nothing here
commits.
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
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import UtcDateTime, dialect_insert
from core.frames import fill_temporary_from
from crm_sync.facts import is_purchase
from crm_sync.models import Customer, Money, Order
from crm_sync.raw import jsonable_records
from crm_sync.records import Rejection
from crm_sync.staging import (
    CUSTOMERS_STAGE,
    ORDERS_MATCHED,
    ORDERS_STAGE,
    stage,
    staged_time,
)

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
    # The batch named stored orders and was matched first (`ORDERS_MATCHED`): the purchase
    # facts can follow its changes (`crm_sync.facts.follow_order_changes`).
    matched: bool
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
    )
    existing = await _existing(session, CUSTOMERS, CUSTOMERS_STAGE, source)
    return await _write(
        session, CUSTOMERS, rows, CUSTOMER_FIELDS, staged=len(records), existing=existing
    )


async def store_orders(
    session: AsyncSession,
    *,
    source: str,
    records: pd.DataFrame,
    now: datetime,
    create_customers: bool = False,
) -> OrderWrites:
    """Insert new orders and update changed ones (a new status, a refund) in place.

    A batch naming stored orders is matched first, in one pass over the indexes
    (`ORDERS_MATCHED`: each order's customer, and what a stored order was), and written
    from there; a batch of new orders only (every batch of a first import) is written
    straight from the stage. An order naming a customer `source` does not have is not
    stored but handed back as a rejection, unless `create_customers`, which creates that
    customer bare.
    """
    if records.empty:
        return OrderWrites(WriteCounts(), False, [])
    dialect = session.get_bind().dialect.name
    await stage(session, ORDERS_STAGE, records)
    stubs = await _stub_customers(session, source=source, now=now) if create_customers else 0
    stamps = (_stamp(now).label("created_at"), _stamp(now).label("updated_at"))
    found = _Found()
    matched = await _names_stored_orders(session, source=source)
    if matched:
        found = await _match(session, source=source, dialect=dialect)
        match = ORDERS_MATCHED.c
        rows = select(
            literal(source).label("source"),
            match.external_id,
            *(match[name] for name in ORDER_FIELDS),
            *stamps,
        ).where(match.customer_id.is_not(None))
    else:
        rows = (
            select(
                literal(source).label("source"),
                ORDERS_STAGE.c.external_id,
                Customer.id.label("customer_id"),
                *_staged_values(dialect),
                *stamps,
            )
            .select_from(ORDERS_STAGE)
            .join(Customer, _their_customer(source))
        )
    counts = await _write(
        session,
        ORDERS,
        rows,
        ORDER_FIELDS,
        staged=len(records) - found.without_customer,
        existing=found.stored,
    )
    without_customer = []
    if counts.inserted + found.stored < len(records):  # the join found no customer for some
        without_customer = await _without_customer(session, source=source)
    counts.stub_customers = stubs
    rejected = records["external_id"].isin(without_customer)
    if "refund" in records:
        counts.refunds = int(records["refund"][~rejected].sum())
    return OrderWrites(counts, matched, _rejections(records[rejected], WITHOUT_CUSTOMER))


@dataclass(frozen=True, slots=True)
class _Found:
    """What the source holds of a staged batch of orders."""

    stored: int = 0  # orders stored already, naming a customer the source has
    without_customer: int = 0  # orders naming a customer the source does not have


async def _names_stored_orders(session: AsyncSession, *, source: str) -> bool:
    """Whether any staged order is stored already: asked so, the database stops at the
    first one, where a batch of a first import has none."""
    staged = ORDERS_STAGE.c
    stored = and_(Order.source == source, Order.external_id == staged.external_id)
    return bool(await session.scalar(select(exists().select_from(ORDERS_STAGE).where(stored))))


async def _match(session: AsyncSession, *, source: str, dialect: str) -> _Found:
    """Match each staged order, in one pass, to its customer and to the order stored under
    its id, into `ORDERS_MATCHED` (selected in its columns' order); count what was found
    there."""
    staged = ORDERS_STAGE.c
    stored = and_(Order.source == source, Order.external_id == staged.external_id)
    matches = (
        select(
            staged.external_id,
            Customer.id,
            *_staged_values(dialect),
            Order.id.is_not(None),
            Order.customer_id,
            Order.ordered_at,
            Order.amount,
            is_purchase(),
        )
        .select_from(ORDERS_STAGE)
        .outerjoin(Customer, _their_customer(source))
        .outerjoin(Order, stored)
    )
    await fill_temporary_from(session, ORDERS_MATCHED, matches)
    match = ORDERS_MATCHED.c
    known = match.customer_id.is_not(None)
    counts = select(
        func.count(case((and_(match.stored.is_(True), known), 1))),
        func.count(case((~known, 1))),
    )
    row = (await session.execute(counts)).one()
    return _Found(stored=int(row[0]), without_customer=int(row[1]))


def _staged_values(dialect: str) -> list[ColumnElement[Any]]:
    """A staged order's values but its id and customer, as the orders table stores them
    (`ORDER_FIELDS[1:]`, in order)."""
    staged = ORDERS_STAGE.c
    amount = cast(staged.amount, Money) if dialect == "postgresql" else staged.amount
    converted = {
        "ordered_at": staged_time(staged.ordered_at, dialect).label("ordered_at"),
        "amount": amount.label("amount"),
    }
    return [converted.get(name, staged[name]) for name in ORDER_FIELDS[1:]]


async def _without_customer(session: AsyncSession, *, source: str) -> list[str]:
    """The staged orders naming a customer `source` does not have: their ids."""
    staged = ORDERS_STAGE.c
    unknown = ~exists().where(_their_customer(source))
    return list((await session.scalars(select(staged.external_id).where(unknown))).all())


def _their_customer(source: str) -> ColumnElement[bool]:
    """A staged order's customer: the one of `source` with the external id it names."""
    return and_(
        Customer.source == source, Customer.external_id == ORDERS_STAGE.c.customer_external_id
    )


async def _stub_customers(session: AsyncSession, *, source: str, now: datetime) -> int:
    """Create a bare customer for every staged order's customer not stored yet."""
    staged = ORDERS_STAGE.c
    named = (
        select(staged.customer_external_id)
        .distinct()
        .where(~exists().where(_their_customer(source)))
        .subquery()
    )
    missing = select(
        literal(source),
        named.c.customer_external_id,
        literal({}, JSON),
        _stamp(now),
        _stamp(now),
    ).where(named.c.customer_external_id.is_not(None))  # SQLite's upsert-after-SELECT rule
    statement = dialect_insert(session, CUSTOMERS).from_select(
        ["source", "external_id", "attributes", "created_at", "updated_at"], missing
    )
    result = await session.execute(statement.on_conflict_do_nothing(index_elements=list(KEY)))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def _existing(session: AsyncSession, table: Table, staged: Table, source: str) -> int:
    """How many staged rows are stored already.

    Whether any is, first: asked so, PostgreSQL looks each staged key up in the unique
    index and stops at the first one stored, where a count would read the whole table
    to join it, batch after batch of a first import that stores none.
    """
    stored = exists().where(table.c.source == source, table.c.external_id == staged.c.external_id)
    if not await session.scalar(select(exists().select_from(staged).where(stored))):
        return 0
    count = await session.scalar(select(func.count()).select_from(staged).where(stored))
    return int(count or 0)


async def _write(
    session: AsyncSession,
    table: Table,
    rows: Select[Any],
    fields: tuple[str, ...],
    *,
    staged: int,
    existing: int,
) -> WriteCounts:
    """Write `rows` (`staged` of them, `existing` of which `table` holds) into `table`:
    INSERT the new ones; UPDATE `fields` and `updated_at` of the stored ones where one of
    `fields` differs. Counted as written: a row `rows` leaves out is in no count."""
    incoming = rows.subquery("incoming")
    stored = and_(*(table.c[name] == incoming.c[name] for name in KEY))
    updated = 0
    if existing:
        dialect = session.get_bind().dialect.name
        changed = [_differs(table.c[name], incoming.c[name], dialect=dialect) for name in fields]
        result = await session.execute(
            update(table)
            .where(stored, or_(*changed))
            .values({name: incoming.c[name] for name in (*fields, "updated_at")})
        )
        updated = int(result.rowcount)  # type: ignore[attr-defined]
    inserted = 0
    if staged > existing:
        new = select(incoming)
        if existing:  # else no key is stored: nothing to leave out
            new = new.where(~exists().where(stored))
        columns = [column.name for column in rows.selected_columns]
        result = await session.execute(insert(table).from_select(columns, new))
        inserted = int(result.rowcount)  # type: ignore[attr-defined]
    return WriteCounts(inserted=inserted, updated=updated, unchanged=existing - updated)


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
