"""Purchase facts per customer, derived from the orders that count as purchases, and per
subscriber, summed over the customers linked to them.

Orders count, total and average spend, first and last order date; refunds, cancellations
and amounts <= 0 are left out. Set-based statements on both databases; refreshing a
customer's facts refreshes its subscriber's sums too. Nothing here commits.

Two ways to bring them up to date: recomputed from the customers' orders
(`refresh_facts_since`, `refresh_facts`), or moved by a batch of changed orders from what
each was and is (`follow_order_changes`), which reads at most a customer's first and last
purchase of their other orders and so costs the same however long their history.
"""

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Select,
    Subquery,
    and_,
    case,
    cast,
    delete,
    exists,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import FromClause
from sqlalchemy.sql.elements import SQLColumnExpression

from core.db import UtcDateTime, dialect_insert
from core.id_lists import among
from crm_sync.models import Customer, Order, SubscriberPurchases
from crm_sync.staging import ORDERS_MATCHED


async def refresh_facts_since(session: AsyncSession, *, source: str, since: datetime) -> None:
    """Refresh every customer of `source` with an order stored at or after `since`.

    When most of the source's orders were stored since then (a first import, a full
    resync), all its customers are refreshed in one pass over its orders: cheaper than
    looking each touched customer's orders up, and the result is the same.
    """
    of_source = Order.source == source
    stored_since = await session.scalar(
        select(func.count()).where(of_source, Order.updated_at >= since)
    )
    if not stored_since:
        return
    # Whether the source holds at most twice as many: counted no further than that, so a
    # small sync into a large table does not count all of it.
    at_most = select(literal(1)).where(of_source).limit(stored_since * 2 + 1).subquery()
    stored = await session.scalar(select(func.count()).select_from(at_most))
    if stored_since * 2 >= (stored or 0):
        await _refresh_source(session, source)
        return
    touched = select(Order.customer_id).where(of_source, Order.updated_at >= since)
    await _refresh_chosen(session, touched, synchronize=False)


async def refresh_facts(session: AsyncSession, *, customer_ids: Iterable[int]) -> None:
    """Refresh the given customers."""
    chosen = _chosen(customer_ids)
    if chosen is not None:
        await _refresh_chosen(session, chosen)


async def follow_order_changes(session: AsyncSession) -> None:
    """Bring the facts up to date with a batch of orders just written from `ORDERS_MATCHED`
    (`crm_sync.store`), from what each order was when matched and what it is now, reading
    no more of the customers' other orders than a first or last purchase.

    An order that counts as a purchase as it did (same customer, date and amount), or
    that counted neither then nor now, changes nothing. Else what it counted for is taken
    from its customer then and what it counts for added to its customer now: counts and
    sums by their differences, first and last order dates widened by the dates added. A
    customer losing a purchase on their first or last order date (so also one losing
    their last purchase) has those two dates read from their purchases instead: which
    order is first or last now, only the orders know, and the index of each customer's
    orders by date finds them without reading the rest. One UPDATE writes every changed
    customer; their subscribers' sums follow.
    """
    changes = _order_changes()
    removes = changes.c.removed_first.is_not(None)
    reaches_edge = and_(
        removes,
        or_(
            Customer.first_order_at.is_(None),
            Customer.last_order_at.is_(None),
            changes.c.removed_first <= Customer.first_order_at,
            changes.c.removed_last >= Customer.last_order_at,
        ),
    )
    their_purchases = and_(Order.customer_id == Customer.id, is_purchase())
    totals = select(
        Customer.id.label("customer_id"),
        (Customer.orders_count + changes.c.orders).label("orders"),
        func.round(Customer.total_spent + changes.c.spent, 2).label("spent"),
        case(
            (
                reaches_edge,
                select(func.min(Order.ordered_at)).where(their_purchases).scalar_subquery(),
            ),
            else_=_widened(Customer.first_order_at, changes.c.added_first, earlier=True),
        ).label("first_at"),
        case(
            (
                reaches_edge,
                select(func.max(Order.ordered_at)).where(their_purchases).scalar_subquery(),
            ),
            else_=_widened(Customer.last_order_at, changes.c.added_last, earlier=False),
        ).label("last_at"),
    ).join(changes, Customer.id == changes.c.customer_id)
    await _write_totals(session, totals.subquery("totals"), synchronize=False)
    await _refresh_their_subscribers(session, Customer.id.in_(select(changes.c.customer_id)))


def _chosen(customer_ids: Iterable[int]) -> Select[int] | None:
    """The customers `customer_ids` names, selected by id (the ids one parameter: however
    many, the statement is the same); None for none."""
    ids = sorted(set(customer_ids))
    return select(Customer.id).where(among(Customer.id, ids)) if ids else None


def _order_changes() -> Subquery:
    """Per customer, what the matched orders that changed their purchases add and take
    away: `orders` and `spent` (differences), `added_first` and `added_last` (the dates of
    the purchases added), `removed_first` and `removed_last` (of those taken away)."""
    match = ORDERS_MATCHED.c
    counts_now = is_purchase(ORDERS_MATCHED)
    counted = match.was_purchase.is_(True)
    the_same = and_(
        counted,
        counts_now,
        match.was_customer_id == match.customer_id,
        match.was_ordered_at == match.ordered_at,
        match.was_amount == match.amount,
    )
    # Orders naming no customer the source has were not written: they change nothing.
    changed = and_(match.customer_id.is_not(None), ~the_same)
    no_date = cast(null(), UtcDateTime())
    added = select(
        match.customer_id.label("customer_id"),
        literal(1).label("orders"),
        match.amount.label("spent"),
        match.ordered_at.label("added_at"),
        no_date.label("removed_at"),
    ).where(changed, counts_now)
    taken = select(
        match.was_customer_id, literal(-1), -match.was_amount, no_date, match.was_ordered_at
    ).where(changed, counted)
    both = union_all(added, taken).subquery("contributions")
    return (
        select(
            both.c.customer_id,
            func.sum(both.c.orders).label("orders"),
            func.sum(both.c.spent).label("spent"),
            func.min(both.c.added_at).label("added_first"),
            func.max(both.c.added_at).label("added_last"),
            func.min(both.c.removed_at).label("removed_first"),
            func.max(both.c.removed_at).label("removed_last"),
        )
        .group_by(both.c.customer_id)
        .subquery("changes")
    )


def _widened(
    stored: SQLColumnExpression[datetime | None],
    added: SQLColumnExpression[datetime | None],
    *,
    earlier: bool,
) -> ColumnElement[datetime | None]:
    """The `stored` first (`earlier`) or last date, moved to `added` where that lies
    beyond it; either may be none."""
    beyond = added < stored if earlier else added > stored
    return case((and_(added.is_not(None), or_(stored.is_(None), beyond)), added), else_=stored)


async def refresh_subscriber_purchases(
    session: AsyncSession, *, subscriber_ids: Iterable[int | None] | None = None
) -> None:
    """Bring the per-subscriber sums up to date for `subscriber_ids` (None: everyone),
    as after their links to customers changed."""
    if subscriber_ids is None:
        await _refresh_subscribers(session, None)
        return
    ids = sorted({subscriber for subscriber in subscriber_ids if subscriber is not None})
    if ids:
        await _refresh_subscribers(session, ids)


async def _refresh_chosen(
    session: AsyncSession, ids: Select[int], *, synchronize: bool = True
) -> None:
    """Recompute the facts of the customers whose ids `ids` selects (`_recompute`), and
    their subscribers' sums."""
    await _recompute(session, ids, synchronize=synchronize)
    await _refresh_their_subscribers(session, Customer.id.in_(ids.scalar_subquery()))


async def _recompute(session: AsyncSession, ids: Select[int], *, synchronize: bool) -> None:
    """Recompute the facts of the customers whose ids `ids` selects (once or more each)
    in one statement, their purchases outer-joined: who has none left gets none.
    `synchronize`: bring the session's Customer objects up to date too."""
    customer = ids.distinct().subquery("chosen").c[0]
    purchases = and_(Order.customer_id == customer, is_purchase())
    totals = _purchase_totals(customer).outerjoin(Order, purchases).subquery("totals")
    await _write_totals(session, totals, synchronize=synchronize)


async def _refresh_source(session: AsyncSession, source: str) -> None:
    """Recompute the facts of every customer of `source`: in two statements, cheaper for
    a whole source than outer-joined as `_refresh_chosen` does. The session's Customer
    objects are left as they are (the sync's own session holds none, and matching a whole
    source's customers to the session's objects costs seconds at 200,000 of them)."""
    customers = Customer.source == source
    # Customers who no longer have a purchase first: while the customers with purchases
    # still show their old count, those of a first import all show 0 and need no look.
    no_purchases = ~exists().where(Order.customer_id == Customer.id, is_purchase())
    await session.execute(
        update(Customer)
        .where(customers, Customer.orders_count != 0, no_purchases)
        .values(
            orders_count=0,
            total_spent=0,
            average_order_value=None,
            first_order_at=None,
            last_order_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    totals = _purchase_totals(Order.customer_id).where(Order.source == source, is_purchase())
    await _write_totals(session, totals.subquery("totals"), synchronize=False)
    await _refresh_their_subscribers(session, customers)


async def _write_totals(session: AsyncSession, totals: Subquery, *, synchronize: bool) -> None:
    """Set each customer's facts to its row of `totals` (`customer_id`, `orders`, `spent`,
    `first_at`, `last_at`); no orders, no average."""
    orders = totals.c.orders
    await session.execute(
        update(Customer)
        .where(Customer.id == totals.c.customer_id)
        .values(
            orders_count=orders,
            total_spent=totals.c.spent,
            average_order_value=case((orders > 0, func.round(totals.c.spent / orders, 2))),
            first_order_at=totals.c.first_at,
            last_order_at=totals.c.last_at,
        )
        .execution_options(synchronize_session="auto" if synchronize else False)
    )


async def _refresh_their_subscribers(session: AsyncSession, customers: ColumnElement[bool]) -> None:
    """The sums of the subscribers `customers` are linked to, if any is (a first import
    links nobody yet)."""
    linked = Customer.subscriber_id.is_not(None)
    their_subscribers = select(Customer.subscriber_id).distinct().where(customers, linked)
    subscriber_ids = (await session.scalars(their_subscribers)).all()
    await refresh_subscriber_purchases(session, subscriber_ids=subscriber_ids)


async def _refresh_subscribers(session: AsyncSession, subscribers: list[int] | None) -> None:
    """Recompute the sums of `subscribers` (None: everyone) from their customers: rows of
    subscribers no longer linked go, the others are upserted where a sum changed."""
    linked: ColumnElement[bool] = Customer.subscriber_id.is_not(None)
    rollup = SubscriberPurchases.subscriber_id
    still_linked = exists().where(Customer.subscriber_id == rollup)
    if subscribers is None:
        await session.execute(delete(SubscriberPurchases).where(~still_linked))
    else:
        linked = and_(linked, among(Customer.subscriber_id, subscribers))
        await session.execute(
            delete(SubscriberPurchases).where(among(rollup, subscribers), ~still_linked)
        )
    sums = (
        select(
            Customer.subscriber_id,
            func.count(),
            func.sum(Customer.orders_count),
            func.sum(Customer.total_spent),
            func.max(Customer.last_order_at),
        )
        .where(linked)
        .group_by(Customer.subscriber_id)
    )
    columns = ["subscriber_id", "customers", "orders_count", "total_spent", "last_order_at"]
    upsert = dialect_insert(session, SubscriberPurchases).from_select(columns, sums)
    changed = [
        SubscriberPurchases.__table__.c[name].is_distinct_from(upsert.excluded[name])
        for name in columns[1:]
    ]
    await session.execute(
        upsert.on_conflict_do_update(
            index_elements=[rollup],
            set_={name: upsert.excluded[name] for name in columns[1:]},
            where=or_(*changed),
        )
    )


def _purchase_totals(
    customer: SQLColumnExpression[int],
) -> Select[int, int, float, datetime, datetime]:
    """Per `customer`, the facts of the orders the caller joins or filters to purchases:
    `orders`, `spent`, `first_at`, `last_at` (0, 0 and none for a customer outer-joined
    to no purchase)."""
    return select(
        customer.label("customer_id"),
        func.count(Order.id).label("orders"),
        func.coalesce(func.sum(Order.amount), 0).label("spent"),
        func.min(Order.ordered_at).label("first_at"),
        func.max(Order.ordered_at).label("last_at"),
    ).group_by(customer)


def is_purchase(orders: FromClause = Order.__table__) -> ColumnElement[bool]:
    """Whether a row of `orders` (the orders table, or a table with its
    `counts_as_purchase` and `amount`) counts as a purchase. The CRM sync flags refunds,
    cancellations and amounts <= 0 as not purchases; an order written some other way is
    held to the amount too, as RFM holds it."""
    return and_(orders.c.counts_as_purchase.is_(True), orders.c.amount > 0)
