"""Which CRM orders a campaign earned: last-touch attribution within a window.

An order is a conversion of a delivery when
- the order counts as a purchase (refunds, cancellations and zero amounts never do:
  `Order.counts_as_purchase`, kept by the CRM sync),
- its customer is matched to the delivery's subscriber,
- the delivery was sent at or before the order, at most `window` before it, and
- it is the last such touch: the latest delivery sent to that subscriber before the
  order, by any campaign. When the CRM gives the order a UTM campaign, only deliveries of
  the campaign with that name compete (the order's own UTM takes precedence); an order
  whose UTM names no segbot campaign came from elsewhere and is nobody's conversion here.

One query ranks each candidate order's touches (the deliveries to its subscriber, by
any campaign) and keeps its last one if it is ours and within the window. The report
counts the result in the database (`conversion_counts`, a few rows per variant); the
orders themselves come back only where people are counted across runs.
"""

from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import Select, Subquery, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.models import Campaign, Delivery, DeliveryStatus, Run
from broadcasts.reports.windows import within
from core.frames import read_frame
from crm_sync.models import Customer, Order

ATTRIBUTED_COLUMNS = [
    "order_id",
    "amount",
    "currency",
    "delivery_id",
    "run_id",
    "target_id",
    "variant_id",
    "subscriber_id",
]
KEY = ["run_id", "target_id", "variant_id"]
CONVERSION_COLUMNS = [*KEY, "currency", "conversions", "converted", "revenue"]


async def attributed_orders(
    session: AsyncSession,
    runs: Select[int],
    *,
    span: tuple[datetime, datetime],
    window: timedelta,
    now: datetime,
) -> pd.DataFrame:
    """The orders attributed to deliveries of `runs` (sent between `span`), one row each
    (ATTRIBUTED_COLUMNS); orders after `now` are not looked at."""
    attributed = _attributed(session, runs, span=span, window=window, now=now)
    statement = select(*(attributed.c[column] for column in ATTRIBUTED_COLUMNS))
    orders = await read_frame(session, statement, ATTRIBUTED_COLUMNS)
    return orders.astype({"amount": "float64"})


async def conversion_counts(
    session: AsyncSession,
    runs: Select[int],
    *,
    span: tuple[datetime, datetime],
    window: timedelta,
    now: datetime,
) -> pd.DataFrame:
    """What `attributed_orders` would give, counted in the database per run x target x
    variant x currency (CONVERSION_COLUMNS): `conversions` (orders), `converted`
    (deliveries, each counted with its first order only, so the currencies of a key add
    up) and `revenue`."""
    attributed = _attributed(session, runs, span=span, window=window, now=now)
    first_order = func.row_number().over(
        partition_by=attributed.c.delivery_id, order_by=attributed.c.order_id
    )
    ranked = select(attributed, first_order.label("nth")).subquery("ranked")
    key = [ranked.c[column] for column in (*KEY, "currency")]
    statement = select(
        *key,
        func.count(),
        func.sum(case((ranked.c.nth == 1, 1), else_=0)),
        func.sum(ranked.c.amount),
    ).group_by(*key)
    counts = await read_frame(session, statement, CONVERSION_COLUMNS)
    return counts.astype({"revenue": "float64"})


def _attributed(
    session: AsyncSession,
    runs: Select[int],
    *,
    span: tuple[datetime, datetime],
    window: timedelta,
    now: datetime,
) -> Subquery:
    """The orders attributed to deliveries of `runs`: each order's last touch, when it
    is one of theirs and within `window`."""
    first_sent, last_sent = span
    touch = _touches(first_sent=first_sent, until=min(now, last_sent + window))
    last = select(touch).where(touch.c.rank == 1).subquery("last_touch")
    dialect = session.get_bind().dialect.name
    return (
        select(last)
        .where(
            last.c.run_id.in_(runs),
            within(last.c.ordered_at, last.c.sent_at, window, dialect=dialect),
        )
        .subquery("attributed")
    )


def _touches(*, first_sent: datetime, until: datetime) -> Subquery:
    """Every touch of every counted order placed between `first_sent` and `until`: the
    deliveries sent to its customer's subscriber at or before it (by a campaign its UTM
    allows), ranked latest first (`rank` 1 is the last touch)."""
    touch_campaign = Campaign.__table__.alias("touch_campaign")
    latest_first = func.row_number().over(
        partition_by=Order.id, order_by=(Delivery.sent_at.desc(), Delivery.id.desc())
    )
    return (
        select(
            Order.id.label("order_id"),
            Order.amount,
            Order.currency,
            Order.ordered_at,
            Delivery.id.label("delivery_id"),
            Delivery.run_id,
            Delivery.target_id,
            Delivery.variant_id,
            Delivery.subscriber_id,
            Delivery.sent_at,
            latest_first.label("rank"),
        )
        .select_from(Order)
        .join(Customer, Customer.id == Order.customer_id)
        .join(Delivery, Delivery.subscriber_id == Customer.subscriber_id)
        .join(Run, Run.id == Delivery.run_id)
        .join(touch_campaign, touch_campaign.c.id == Run.campaign_id)
        .where(
            Order.counts_as_purchase.is_(True),
            Order.ordered_at >= first_sent,
            Order.ordered_at <= until,
            Delivery.status == DeliveryStatus.SENT,
            Delivery.sent_at <= Order.ordered_at,
            or_(
                Order.utm_campaign.is_(None),
                Order.utm_campaign == "",
                touch_campaign.c.name == Order.utm_campaign,
            ),
        )
        .subquery("touch")
    )


def conversions_frame(orders: pd.DataFrame) -> pd.DataFrame:
    """Per run x target x variant: `conversions` (orders), `converted` (recipients with
    at least one) and `revenue` (their sum), from the rows of `attributed_orders`."""
    if orders.empty:
        return pd.DataFrame(columns=[*KEY, "conversions", "converted", "revenue"])
    grouped = orders.groupby(KEY)
    return pd.DataFrame(
        {
            "conversions": grouped["order_id"].count(),
            "converted": grouped["delivery_id"].nunique(),
            "revenue": grouped["amount"].sum(),
        }
    ).reset_index()


def summed_conversions(counts: pd.DataFrame) -> pd.DataFrame:
    """`conversions_frame` from the counts of `conversion_counts`: their currencies
    added up."""
    columns = ["conversions", "converted", "revenue"]
    if counts.empty:
        return pd.DataFrame(columns=[*KEY, *columns])
    return counts.groupby(KEY)[columns].sum().reset_index()
