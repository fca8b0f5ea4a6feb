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

One query picks each candidate order's last touch (a correlated subquery per order, not
per delivery); the window is applied to the result, vectorised.
"""

from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.models import Campaign, Delivery, DeliveryStatus, Run
from crm_sync.models import Customer, Order

ATTRIBUTED_COLUMNS = [
    "order_id",
    "amount",
    "currency",
    "ordered_at",
    "delivery_id",
    "run_id",
    "target_id",
    "variant_id",
    "subscriber_id",
    "sent_at",
]


def _last_touch() -> Select[int]:
    touch = Delivery.__table__.alias("touch")
    touch_run = Run.__table__.alias("touch_run")
    touch_campaign = Campaign.__table__.alias("touch_campaign")
    return (
        select(touch.c.id)
        .join(touch_run, touch_run.c.id == touch.c.run_id)
        .join(touch_campaign, touch_campaign.c.id == touch_run.c.campaign_id)
        .where(
            touch.c.subscriber_id == Customer.subscriber_id,
            touch.c.status == DeliveryStatus.SENT,
            touch.c.sent_at <= Order.ordered_at,
            or_(
                Order.utm_campaign.is_(None),
                Order.utm_campaign == "",
                touch_campaign.c.name == Order.utm_campaign,
            ),
        )
        .order_by(touch.c.sent_at.desc(), touch.c.id.desc())
        .limit(1)
    )


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
    first_sent, last_sent = span
    recipients = select(Delivery.subscriber_id).where(
        Delivery.run_id.in_(runs), Delivery.status == DeliveryStatus.SENT
    )
    touch_id = _last_touch().correlate(Order, Customer).scalar_subquery()
    candidates = (
        select(
            Order.id.label("order_id"),
            Order.amount,
            Order.currency,
            Order.ordered_at,
            touch_id.label("delivery_id"),
        )
        .join(Customer, Customer.id == Order.customer_id)
        .where(
            Order.counts_as_purchase.is_(True),
            Customer.subscriber_id.in_(recipients),
            Order.ordered_at >= first_sent,
            Order.ordered_at <= min(now, last_sent + window),
        )
        .subquery()
    )
    rows = await session.execute(
        select(
            candidates,
            Delivery.run_id,
            Delivery.target_id,
            Delivery.variant_id,
            Delivery.subscriber_id,
            Delivery.sent_at,
        )
        .join(Delivery, Delivery.id == candidates.c.delivery_id)
        .where(Delivery.run_id.in_(runs))
    )
    orders = pd.DataFrame.from_records(rows.all(), columns=ATTRIBUTED_COLUMNS)
    if orders.empty:
        return orders
    elapsed = pd.to_datetime(orders["ordered_at"], utc=True) - pd.to_datetime(
        orders["sent_at"], utc=True
    )
    inside = orders[elapsed <= window].reset_index(drop=True)
    return inside.astype({"amount": "float64"})


def conversions_frame(orders: pd.DataFrame) -> pd.DataFrame:
    """Per run x target x variant: `conversions` (orders), `converted` (recipients with
    at least one) and `revenue` (their sum)."""
    key = ["run_id", "target_id", "variant_id"]
    if orders.empty:
        return pd.DataFrame(columns=[*key, "conversions", "converted", "revenue"])
    grouped = orders.groupby(key)
    return pd.DataFrame(
        {
            "conversions": grouped["order_id"].count(),
            "converted": grouped["delivery_id"].nunique(),
            "revenue": grouped["amount"].sum(),
        }
    ).reset_index()
