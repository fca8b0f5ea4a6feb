"""Lift from the holdout: did messaging a segment make more of it buy?

Per target, across the campaign's runs: the conversion rate of those messaged (deliveries
sent) against that of the holdout (planned, then kept back on purpose). A member converts
when they place a counted order within the attribution window after the reference time:
the send for the messaged, the run's start for the holdout (when they would have been
messaged). Any counted order counts here, whatever it is attributed to: lift measures
what the message added, not who gets the credit.

The interval is Newcombe's hybrid score interval for the difference of the two rates
(broadcasts.reports.stats), 95 % unless asked otherwise.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.models import Delivery, DeliveryStatus, Exclusion, Run
from broadcasts.reports.stats import CONFIDENCE, Interval, difference_interval, rate
from crm_sync.models import Customer, Order

_MESSAGED = Delivery.status == DeliveryStatus.SENT
_HELD_OUT = and_(Delivery.status == DeliveryStatus.EXCLUDED, Delivery.reason == Exclusion.HOLDOUT)


@dataclass(frozen=True, slots=True)
class Lift:
    target: str  # the target's label
    messaged: int
    messaged_converted: int
    holdout: int
    holdout_converted: int
    confidence: float
    difference: Interval | None  # messaged rate - holdout rate; None without both groups

    @property
    def messaged_rate(self) -> float | None:
        return rate(self.messaged_converted, self.messaged)

    @property
    def holdout_rate(self) -> float | None:
        return rate(self.holdout_converted, self.holdout)

    @property
    def absolute_lift(self) -> float | None:
        """Messaged rate minus holdout rate (a fraction; x100 for percentage points)."""
        if self.messaged_rate is None or self.holdout_rate is None:
            return None
        return self.messaged_rate - self.holdout_rate

    @property
    def relative_lift(self) -> float | None:
        """How much higher the messaged rate is, relative to the holdout's; None when the
        holdout rate is 0 or unknown."""
        if self.messaged_rate is None or not self.holdout_rate:
            return None
        return self.messaged_rate / self.holdout_rate - 1


async def holdout_lift(
    session: AsyncSession,
    runs: Select[int],
    *,
    labels: Mapping[int, str],
    window: timedelta,
    now: datetime,
    confidence: float = CONFIDENCE,
) -> list[Lift]:
    """One Lift per target that has a holdout, in target id order; `labels` names the
    targets by id."""
    groups = await session.execute(
        select(Delivery.target_id, _MESSAGED, func.count())
        .where(Delivery.run_id.in_(runs), or_(_MESSAGED, _HELD_OUT))
        .group_by(Delivery.target_id, _MESSAGED)
    )
    sizes = pd.DataFrame.from_records(groups.all(), columns=["target_id", "messaged", "members"])
    if sizes.empty or not (~sizes["messaged"].astype(bool)).any():
        return []
    converted = await _converted(session, runs, window=window, now=now)
    table = sizes.astype({"messaged": bool}).merge(
        converted, on=["target_id", "messaged"], how="left"
    )
    table["converted"] = table["converted"].fillna(0).astype("int64")
    wide = table.pivot_table(
        index="target_id", columns="messaged", values=["members", "converted"], fill_value=0
    )
    lifts = []
    for target_id in wide.index[wide[("members", False)] > 0]:
        counts = wide.loc[target_id]
        messaged, holdout = int(counts[("members", True)]), int(counts[("members", False)])
        hits, held_hits = int(counts[("converted", True)]), int(counts[("converted", False)])
        difference = (
            difference_interval(hits, messaged, held_hits, holdout, confidence=confidence)
            if messaged
            else None
        )
        lifts.append(
            Lift(labels[int(target_id)], messaged, hits, holdout, held_hits, confidence, difference)
        )
    return lifts


async def _converted(
    session: AsyncSession, runs: Select[int], *, window: timedelta, now: datetime
) -> pd.DataFrame:
    """Per target and group (messaged or not): members with a counted order in the window."""
    reference = func.coalesce(Delivery.sent_at, Run.started_at)
    rows = await session.execute(
        select(Delivery.id, Delivery.target_id, _MESSAGED, reference, Order.ordered_at)
        .join(Run, Run.id == Delivery.run_id)
        .join(Customer, Customer.subscriber_id == Delivery.subscriber_id)
        .join(Order, Order.customer_id == Customer.id)
        .where(
            Delivery.run_id.in_(runs),
            or_(_MESSAGED, _HELD_OUT),
            Order.counts_as_purchase.is_(True),
            Order.ordered_at >= reference,
            Order.ordered_at <= now,
        )
    )
    orders = pd.DataFrame.from_records(
        rows.all(), columns=["delivery_id", "target_id", "messaged", "reference", "ordered_at"]
    )
    if orders.empty:
        return pd.DataFrame(columns=["target_id", "messaged", "converted"])
    elapsed = pd.to_datetime(orders["ordered_at"], utc=True) - pd.to_datetime(
        orders["reference"], utc=True
    )
    inside = orders[elapsed <= window].astype({"messaged": bool})
    return (
        inside.groupby(["target_id", "messaged"])["delivery_id"]
        .nunique()
        .rename("converted")
        .reset_index()
    )
