"""What recipients did after a message, per delivery that led to it: a click on a tracked
link, a reply or leaving within 48 hours, an attributed order.

Clicks, replies and leaving stay in the database as per-delivery subqueries
(`Outcomes.clicks`, `Outcomes.after_send`) that the funnel counts per run x target x
variant (broadcasts.reports.funnel), so a million deliveries come back as a few counts.
The attributed orders are fetched one row each, unless the caller has them counted in
the database (`Outcomes.conversions`); the deliveries behind one kind of outcome are
fetched when the A/B results of several runs count their people (`Outcomes.deliveries_of`).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, Select, Subquery, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import SQLColumnExpression

from broadcasts.models import Delivery, DeliveryStatus
from broadcasts.reports.attribution import (
    ATTRIBUTED_COLUMNS,
    CONVERSION_COLUMNS,
    attributed_orders,
    conversion_counts,
    summed_conversions,
)
from broadcasts.reports.windows import within
from core.frames import read_frame
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
    """The outcomes of the deliveries of `runs`, whose first and last sends were `span`
    (None: nothing sent yet) and whose ids lie between `ids` (None: not known, so every
    click is looked at), on the session's `dialect`; orders attributed within `window`,
    up to `now`. `fetched_orders` holds those orders when fetched up front
    (broadcasts.reports.attribution.ATTRIBUTED_COLUMNS), else None."""

    runs: Select[int]
    span: tuple[datetime, datetime] | None
    ids: tuple[int, int] | None
    dialect: str
    window: timedelta
    now: datetime
    fetched_orders: pd.DataFrame | None

    @property
    def orders(self) -> pd.DataFrame:
        """The attributed orders, one row each; `delivery_outcomes` fetched them."""
        if self.fetched_orders is None:
            raise ValueError("the attributed orders were counted, not fetched")
        return self.fetched_orders

    async def conversions(self, session: AsyncSession) -> tuple[pd.DataFrame, tuple[str, ...]]:
        """The attributed orders counted in the database: per run x target x variant
        (broadcasts.reports.attribution.conversions_frame), and their currencies."""
        if self.span is None:
            return summed_conversions(pd.DataFrame(columns=CONVERSION_COLUMNS)), ()
        counts = await conversion_counts(
            session, self.runs, span=self.span, window=self.window, now=self.now
        )
        currencies = sorted(str(code) for code in counts["currency"].dropna().unique())
        return summed_conversions(counts), tuple(currencies)

    def clicks(self) -> Subquery:
        """Every sent delivery of the runs with a tracked-link click (DELIVERY_COLUMNS),
        and how many clicks it got (`clicks`)."""
        return (
            self._click_events(Delivery.id.label("delivery_id"), *_DELIVERY[1:], func.count())
            .group_by(*_DELIVERY)
            .subquery("clicked")
        )

    def click_counts(self) -> Select[*tuple[Any, ...]]:
        """Per run x target x variant: sent deliveries clicked, and their clicks."""
        key = (Delivery.run_id, Delivery.target_id, Delivery.variant_id)
        clicked = func.count(Event.delivery_id.distinct())
        return self._click_events(*key, clicked, func.count()).group_by(*key)

    def _click_events(self, *columns: SQLColumnExpression[Any]) -> Select[*tuple[Any, ...]]:
        """`columns` of each tracked-link click on a sent delivery of the runs. A message
        whose send is unknown (or still under way) may have arrived and been clicked, but
        only messages sent are counted: the clicked are among them, so CTR stays a share."""
        near = [] if self.ids is None else [Event.delivery_id.between(*self.ids)]
        return (
            select(*columns)
            .select_from(Event)
            .join(Delivery, Delivery.id == Event.delivery_id)
            .where(
                Event.type == EventType.LINK_CLICK.value,
                *near,
                Delivery.run_id.in_(self.runs),
                Delivery.status == DeliveryStatus.SENT,
            )
        )

    def after_send(self) -> Subquery:
        """Every sent delivery of the runs whose recipient replied or left (unsubscribed,
        blocked the bot, deleted their account) within 48 h of the send
        (DELIVERY_COLUMNS), with `replied` and `churned`, 1 or 0."""
        kinds = [EventType.MESSAGE.value, *(kind.value for kind in CHURN_EVENTS)]
        replied = Event.type == EventType.MESSAGE.value
        return (
            select(
                Delivery.id.label("delivery_id"),
                *_DELIVERY[1:],
                func.max(case((replied, 1), else_=0)).label(REPLIED),
                func.max(case((replied, 0), else_=1)).label(CHURNED),
            )
            .join(Event, Event.subscriber_id == Delivery.subscriber_id)
            .where(
                Delivery.run_id.in_(self.runs),
                Delivery.status == DeliveryStatus.SENT,
                Event.type.in_(kinds),
                Event.occurred_at >= Delivery.sent_at,
                *self._within_sends(),
                within(Event.occurred_at, Delivery.sent_at, AFTER_SEND, dialect=self.dialect),
            )
            .group_by(*_DELIVERY)
            .subquery("after_send")
        )

    def _within_sends(self) -> list[ColumnElement[bool]]:
        """Hold for every event in some send's window: bounds, in one index range, the
        events the windows are looked for in."""
        if self.span is None:
            return []
        first_sent, last_sent = self.span
        return [Event.occurred_at >= first_sent, Event.occurred_at <= last_sent + AFTER_SEND]

    async def deliveries_of(self, session: AsyncSession, metric: str) -> pd.DataFrame:
        """The deliveries whose recipient clicked, replied or converted (DELIVERY_COLUMNS)."""
        if self.span is None:
            return pd.DataFrame(columns=DELIVERY_COLUMNS)
        if metric == CONVERTED:
            orders = self.fetched_orders
            if orders is None:
                orders = await attributed_orders(
                    session, self.runs, span=self.span, window=self.window, now=self.now
                )
            return orders.reindex(columns=DELIVERY_COLUMNS).drop_duplicates("delivery_id")
        led = self.clicks() if metric == CLICKED else self.after_send()
        chosen = select(*(led.c[column] for column in DELIVERY_COLUMNS))
        if metric == REPLIED:
            chosen = chosen.where(led.c[REPLIED] == 1)
        return await read_frame(session, chosen, DELIVERY_COLUMNS)


async def delivery_outcomes(
    session: AsyncSession,
    runs: Select[int],
    *,
    span: tuple[datetime, datetime] | None,
    window: timedelta,
    now: datetime,
    ids: tuple[int, int] | None = None,
    fetch_orders: bool = True,
) -> Outcomes:
    """The Outcomes of `runs`, whose first and last sends were `span` (None: none yet)
    and whose delivery ids lie between `ids` (when known); orders attributed within
    `window`, up to `now`, fetched unless `fetch_orders` is False (then the caller counts
    them with `Outcomes.conversions`)."""
    dialect = session.get_bind().dialect.name
    orders: pd.DataFrame | None = None
    if span is None:
        orders = pd.DataFrame(columns=ATTRIBUTED_COLUMNS)
    elif fetch_orders:
        orders = await attributed_orders(session, runs, span=span, window=window, now=now)
    return Outcomes(runs, span, ids, dialect, window, now, orders)
