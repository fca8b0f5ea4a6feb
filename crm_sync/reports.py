"""What `segbot crm status` and `segbot crm rejected` show: runs, counts, match rates;
and how many customers are linked to a subscriber, which tells why a segment asking about
customers can count none."""

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from sqlalchemy import distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from core.models import Subscriber
from crm_sync.models import Customer, IdentityConflict, Order, RejectedRow, SyncRun


@dataclass(frozen=True, slots=True)
class SourceStatus:
    source: str
    customers: int
    orders: int
    linked: int
    linked_by: dict[str, int]  # deep_link, phone, email
    conflicts: int
    last_run: SyncRun | None

    @property
    def match_rate(self) -> float:
        return self.linked / self.customers if self.customers else 0.0


@dataclass(frozen=True, slots=True)
class CrmStatus:
    sources: list[SourceStatus] = field(default_factory=list)
    subscribers: int = 0
    matched_subscribers: int = 0  # subscribers linked to at least one customer

    @property
    def subscriber_match_rate(self) -> float:
        return self.matched_subscribers / self.subscribers if self.subscribers else 0.0


async def crm_status(session: AsyncSession) -> CrmStatus:
    customers = await _count_by(session, Customer.source)
    orders = await _count_by(session, Order.source)
    conflicts = await _count_by(session, IdentityConflict.source)
    linked_by: dict[str, dict[str, int]] = {}
    rows = await session.execute(
        select(Customer.source, Customer.matched_by, func.count())
        .where(Customer.subscriber_id.is_not(None))
        .group_by(Customer.source, Customer.matched_by)
    )
    for source, method, count in rows:
        linked_by.setdefault(source, {})[str(method)] = int(count)
    latest = (
        select(SyncRun.connector, func.max(SyncRun.id).label("id"))
        .group_by(SyncRun.connector)
        .subquery()
    )
    runs = {
        run.connector: run
        for run in await session.scalars(select(SyncRun).join(latest, SyncRun.id == latest.c.id))
    }
    sources = [
        SourceStatus(
            source=name,
            customers=customers.get(name, 0),
            orders=orders.get(name, 0),
            linked=sum(linked_by.get(name, {}).values()),
            linked_by=linked_by.get(name, {}),
            conflicts=conflicts.get(name, 0),
            last_run=runs.get(name),
        )
        for name in sorted(set(customers) | set(runs))
    ]
    subscribers = await session.scalar(select(func.count()).select_from(Subscriber))
    matched = await session.scalar(
        select(func.count(distinct(Customer.subscriber_id))).where(
            Customer.subscriber_id.is_not(None)
        )
    )
    return CrmStatus(
        sources=sources, subscribers=subscribers or 0, matched_subscribers=matched or 0
    )


@dataclass(frozen=True, slots=True)
class Rejections:
    """What one run left out: whole rows, and values left out of rows it stored."""

    run: SyncRun
    rows: list[RejectedRow]  # the first ones, in reading order
    rows_rejected: int
    values_left_out: int


async def rejected_rows(
    session: AsyncSession, *, run_id: int | None = None, limit: int = 100
) -> Rejections | None:
    """The rejections of run `run_id` (else of the latest run that rejected anything):
    up to `limit` of them in reading order, and how many of each kind it made in all.
    None when there is no such run."""
    if run_id is None:
        latest = select(func.max(RejectedRow.run_id)).scalar_subquery()
        run = await session.scalar(select(SyncRun).where(SyncRun.id == latest))
    else:
        run = await session.get(SyncRun, run_id)
    if run is None:
        return None
    rows = await session.scalars(
        select(RejectedRow)
        .where(RejectedRow.run_id == run.id)
        .order_by(RejectedRow.kind, RejectedRow.row_number, RejectedRow.id)
        .limit(limit)
    )
    counted = await session.execute(
        select(RejectedRow.field.is_(None), func.count())
        .where(RejectedRow.run_id == run.id)
        .group_by(RejectedRow.field.is_(None))
    )
    whole = {bool(is_row): int(count) for is_row, count in counted.all()}
    return Rejections(run, list(rows), whole.get(True, 0), whole.get(False, 0))


async def _count_by(session: AsyncSession, column: InstrumentedAttribute[str]) -> dict[str, int]:
    rows = await session.execute(select(column, func.count()).group_by(column))
    return {str(value): int(count) for value, count in rows}


# How a customer comes to count in segments: said under a count `CustomerLinks` explains.
HOW_CUSTOMERS_LINK = (
    "Segments count subscribers; a customer counts once linked to one: by opening their "
    "link (segbot links customer ID), or by sharing a phone or email the CRM has."
)


@dataclass(frozen=True, slots=True)
class CustomerLinks:
    """CRM customers, and how many of them are linked to a subscriber. Segments count
    subscribers: customers not linked to one are in no segment, whatever they bought."""

    customers: int
    linked: int

    def none_counted(self) -> str | None:
        """`0 subscribers (50 customers, 0 linked to a subscriber)`; None without customers."""
        if not self.customers:
            return None
        customers = "1 customer" if self.customers == 1 else f"{self.customers} customers"
        return f"0 subscribers ({customers}, {self.linked} linked to a subscriber)"


async def customer_links(session: AsyncSession) -> CustomerLinks:
    linked = func.count(Customer.subscriber_id)  # counts the non-null ones
    row = (await session.execute(select(func.count(), linked).select_from(Customer))).one()
    return CustomerLinks(customers=int(row[0]), linked=int(row[1]))


async def why_empty(
    session: AsyncSession, sizes: Mapping[str, int | None], *, asking: Collection[str]
) -> dict[str, str]:
    """For each segment of `sizes` (name: subscribers) that counts none while its rule asks
    about customers (its name is in `asking`) and there are customers: why, as
    `0 subscribers (50 customers, 0 linked to a subscriber)`."""
    empty = [name for name, size in sizes.items() if size == 0 and name in asking]
    if not empty:
        return {}
    why = (await customer_links(session)).none_counted()
    return dict.fromkeys(empty, why) if why else {}


async def rejection_reasons(
    session: AsyncSession, *, run_id: int, limit: int = 3
) -> list[tuple[str, str, int]]:
    """The reasons run `run_id` rejected whole rows for, most frequent first:
    (kind, reason, rows)."""
    rows = await session.execute(
        select(RejectedRow.kind, RejectedRow.reason, func.count().label("rows"))
        .where(RejectedRow.run_id == run_id, RejectedRow.field.is_(None))
        .group_by(RejectedRow.kind, RejectedRow.reason)
        .order_by(func.count().desc(), RejectedRow.kind, RejectedRow.reason)
        .limit(limit)
    )
    return [(str(kind), str(reason), int(count)) for kind, reason, count in rows]
