"""Lift from the holdout: did messaging a segment make more of it buy?

Per target, in people (broadcasts.reports.people): the share of the people messaged who
bought against the share of the holdout (planned, then kept back on purpose) who bought.
A person converts when they place a counted order within the attribution window after a
reference time: a send, for the messaged; the start of a run that held them out, for the
holdout (when they would have been messaged). Any counted order counts here, whatever it
is attributed to: lift measures what the message added, not who gets the credit.

A recurring campaign's lift is given for all its runs together, each person once (who
was held out in one run and messaged in another counts as messaged), and, when it ran
more than once, for each run on its own.

The interval is Newcombe's hybrid score interval for the difference of the two rates
(broadcasts.reports.stats), 95 % unless asked otherwise. The p-value is the z-test's, or
Fisher's exact test's when an expected count is below 5 (broadcasts.reports.significance);
each Lift names its test.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import Select, case, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.models import Delivery, Run
from broadcasts.reports.people import (
    HELD_OUT,
    MESSAGED,
    Reach,
    count_people,
    messaged_by,
    scope_name,
)
from broadcasts.reports.significance import Significance, compare_rates
from broadcasts.reports.stats import CONFIDENCE, Interval, difference_interval, rate
from crm_sync.models import Customer, Order

_GROUP = ["target_id", "messaged"]


@dataclass(frozen=True, slots=True)
class Lift:
    target: str  # the target's label
    run_id: int | None  # None: every run together, each person once
    messaged: int  # people
    messaged_converted: int
    holdout: int
    holdout_converted: int
    confidence: float
    difference: Interval | None  # messaged rate - holdout rate; None without both groups
    significance: Significance | None  # of the difference; None without both groups

    @property
    def scope(self) -> str:
        return scope_name(self.run_id)

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
    def significant(self) -> bool | None:
        """Whether the test finds the rates different at 1 - `confidence` (0.05);
        None without both groups."""
        if self.significance is None:
            return None
        return self.significance.p_value < 1 - self.confidence

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
    reach: Reach,
    labels: Mapping[int, str],
    window: timedelta,
    now: datetime,
    confidence: float = CONFIDENCE,
) -> list[Lift]:
    """Per target that has a holdout, in target id order: all runs together, then, if
    there were several, each run (in run order). `reach` counts the people of `runs`;
    `labels` names the targets by id."""
    if reach.by_run.empty or reach.by_run["messaged"].all():
        return []
    converted = await _converted(session, runs, window=window, now=now)
    control = converted["messaged"] | ~converted["messaged_by_campaign"]
    total = count_people(converted[control], _GROUP)
    lifts = _lifts(reach.total, total, None, labels, confidence)
    if len(reach.run_ids) < 2:
        return lifts
    for run_id in reach.run_ids:
        hits = count_people(converted[converted["run_id"] == run_id], _GROUP)
        lifts += _lifts(reach.of_run(run_id), hits, run_id, labels, confidence)
    return lifts


def _lifts(
    sizes: pd.DataFrame,
    converted: pd.DataFrame,
    run_id: int | None,
    labels: Mapping[int, str],
    confidence: float,
) -> list[Lift]:
    """One Lift per target of `sizes` with a holdout."""
    people = _by_group(sizes)
    hits = _by_group(converted).reindex(index=people.index, fill_value=0)
    lifts = []
    for target_id in people.index[people[False] > 0]:
        holdout, messaged = (int(count) for count in people.loc[target_id])
        held_hits, messaged_hits = (int(count) for count in hits.loc[target_id])
        difference: Interval | None = None
        significance: Significance | None = None
        if messaged:
            difference = difference_interval(
                messaged_hits, messaged, held_hits, holdout, confidence=confidence
            )
            significance = compare_rates(messaged_hits, messaged, held_hits, holdout)
        lift = Lift(
            labels[int(target_id)], run_id, messaged, messaged_hits, holdout, held_hits,
            confidence, difference, significance,
        )  # fmt: skip
        lifts.append(lift)
    return lifts


def _by_group(counts: pd.DataFrame) -> pd.DataFrame:
    """People per target (the index) and group (columns: False the holdout, True the
    messaged)."""
    if counts.empty:
        return pd.DataFrame(columns=[False, True], dtype="int64")
    table = counts.groupby(_GROUP)["people"].sum().unstack(fill_value=0)
    return table.reindex(columns=[False, True], fill_value=0)


async def _converted(
    session: AsyncSession, runs: Select[int], *, window: timedelta, now: datetime
) -> pd.DataFrame:
    """The (delivery, order) pairs where a messaged or held-out person placed a counted
    order within the window: `run_id`, `target_id`, `subscriber_id`, `messaged` and
    `messaged_by_campaign` (in any run, any target)."""
    columns = ["run_id", "target_id", "subscriber_id", "messaged", "messaged_by_campaign"]
    reference = func.coalesce(Delivery.sent_at, Run.started_at)
    rows = await session.execute(
        select(
            Delivery.run_id,
            Delivery.target_id,
            Delivery.subscriber_id,
            MESSAGED,
            case((MESSAGED, true()), else_=messaged_by(runs)),
            reference,
            Order.ordered_at,
        )
        .join(Run, Run.id == Delivery.run_id)
        .join(Customer, Customer.subscriber_id == Delivery.subscriber_id)
        .join(Order, Order.customer_id == Customer.id)
        .where(
            Delivery.run_id.in_(runs),
            or_(MESSAGED, HELD_OUT),
            Order.counts_as_purchase.is_(True),
            Order.ordered_at >= reference,
            Order.ordered_at <= now,
        )
    )
    orders = pd.DataFrame.from_records(rows.all(), columns=[*columns, "reference", "ordered_at"])
    elapsed = pd.to_datetime(orders["ordered_at"], utc=True) - pd.to_datetime(
        orders["reference"], utc=True
    )
    inside = orders[elapsed <= window]
    return inside.reindex(columns=columns).astype({"messaged": bool, "messaged_by_campaign": bool})
