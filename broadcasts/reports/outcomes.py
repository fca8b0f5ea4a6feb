"""What recipients did after a message, one row per delivery that led to it: a click on
a tracked link, a reply or leaving within 48 hours, an attributed order.

The funnel adds these rows up per run x target x variant; the A/B results count the
people behind them (broadcasts.reports.people). Fetched once per report, in a few
queries: only deliveries that led somewhere come back, never every delivery.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.models import Delivery, DeliveryStatus
from broadcasts.reports.attribution import ATTRIBUTED_COLUMNS, attributed_orders
from core.models import Event, EventType

AFTER_SEND = timedelta(hours=48)  # the window of `replied` and `churned`
CHURN_EVENTS = (EventType.UNSUBSCRIBED, EventType.BLOCKED, EventType.DEACTIVATED)
DELIVERY_COLUMNS = ["delivery_id", "run_id", "target_id", "variant_id", "subscriber_id"]
REPLIED, CHURNED, CLICKED, CONVERTED = "replied", "churned", "clicked", "converted"
_DELIVERY = (
    Delivery.id,
    Delivery.run_id,
    Delivery.target_id,
    Delivery.variant_id,
    Delivery.subscriber_id,
)


@dataclass(frozen=True, slots=True)
class Outcomes:
    """Per delivery (DELIVERY_COLUMNS, then): `clicks` has the number of clicks on it;
    `after_send` a `kind`, replied or churned (each at most once per delivery); `orders`
    the orders attributed to it (broadcasts.reports.attribution.ATTRIBUTED_COLUMNS)."""

    clicks: pd.DataFrame
    after_send: pd.DataFrame
    orders: pd.DataFrame

    def of(self, metric: str) -> pd.DataFrame:
        """The deliveries whose recipient clicked, replied or converted (DELIVERY_COLUMNS)."""
        rows = {
            CLICKED: self.clicks,
            REPLIED: self.after_send[self.after_send["kind"] == REPLIED],
            CONVERTED: self.orders,
        }[metric]
        return rows.reindex(columns=DELIVERY_COLUMNS).drop_duplicates("delivery_id")


async def delivery_outcomes(
    session: AsyncSession,
    runs: Select[int],
    *,
    span: tuple[datetime, datetime] | None,
    window: timedelta,
    now: datetime,
) -> Outcomes:
    """The Outcomes of `runs`, whose first and last sends were `span` (None: none yet);
    orders attributed within `window`, up to `now`."""
    if span is None:
        nothing = pd.DataFrame(columns=DELIVERY_COLUMNS)
        return Outcomes(
            nothing.assign(clicks=0),
            nothing.assign(kind=""),
            pd.DataFrame(columns=ATTRIBUTED_COLUMNS),
        )
    return Outcomes(
        await clicks(session, runs),
        await after_send(session, runs, last_sent=span[1]),
        await attributed_orders(session, runs, span=span, window=window, now=now),
    )


async def clicks(session: AsyncSession, runs: Select[int]) -> pd.DataFrame:
    """Every delivery of `runs` with a tracked-link click, and how many clicks it got."""
    rows = await session.execute(
        select(*_DELIVERY, func.count())
        .select_from(Event)
        .join(Delivery, Delivery.id == Event.delivery_id)
        .where(Event.type == EventType.LINK_CLICK.value, Delivery.run_id.in_(runs))
        .group_by(*_DELIVERY)
    )
    return pd.DataFrame.from_records(rows.all(), columns=[*DELIVERY_COLUMNS, "clicks"])


async def after_send(
    session: AsyncSession, runs: Select[int], *, last_sent: datetime
) -> pd.DataFrame:
    """The recipients' replies and leaving (unsubscribe, block, deactivation) in the 48 h
    after each send (the last one at `last_sent`): one row per delivery and kind."""
    columns = [*DELIVERY_COLUMNS, "kind"]
    kinds = [EventType.MESSAGE.value, *(kind.value for kind in CHURN_EVENTS)]
    rows = await session.execute(
        select(*_DELIVERY, Delivery.sent_at, Event.type, Event.occurred_at)
        .join(Event, Event.subscriber_id == Delivery.subscriber_id)
        .where(
            Delivery.run_id.in_(runs),
            Delivery.status == DeliveryStatus.SENT,
            Event.type.in_(kinds),
            Event.occurred_at >= Delivery.sent_at,
            Event.occurred_at <= last_sent + AFTER_SEND,
        )
    )
    events = pd.DataFrame.from_records(
        rows.all(), columns=[*DELIVERY_COLUMNS, "sent_at", "type", "occurred_at"]
    )
    if events.empty:
        return pd.DataFrame(columns=columns)
    elapsed = pd.to_datetime(events["occurred_at"], utc=True) - pd.to_datetime(
        events["sent_at"], utc=True
    )
    recent = events[elapsed <= AFTER_SEND]
    kind = recent["type"].eq(EventType.MESSAGE.value).map({True: REPLIED, False: CHURNED})
    return (
        recent.assign(kind=kind)
        .drop_duplicates(["delivery_id", "kind"])
        .reindex(columns=columns)
        .reset_index(drop=True)
    )
