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
from sqlalchemy import Select, Subquery, and_, case, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.models import Delivery, Run
from broadcasts.reports.people import (
    HELD_OUT,
    MESSAGED,
    Reach,
    messaged_by,
    scope_name,
)
from broadcasts.reports.significance import Significance, compare_rates
from broadcasts.reports.stats import CONFIDENCE, Interval, difference_interval, rate
from broadcasts.reports.windows import within
from core.frames import read_frame
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
    since: datetime | None,
    confidence: float = CONFIDENCE,
) -> list[Lift]:
    """Per target that has a holdout, in target id order: all runs together, then, if
    there were several, each run (in run order). `reach` counts the people of `runs`;
    `labels` names the targets by id; `since` is the earliest reference time (a send or
    a run's start), None when there is none."""
    if reach.by_run.empty or reach.by_run["messaged"].all():
        return []
    several = len(reach.run_ids) > 1
    converted = await _converted(
        session, runs, window=window, since=since, now=now, several=several
    )
    total = converted.drop(columns="people").rename(columns={"people_in_total": "people"})
    lifts = _lifts(reach.total, total, None, labels, confidence)
    if not several:
        return lifts
    for run_id in reach.run_ids:
        hits = converted[converted["run_id"] == run_id]
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
    session: AsyncSession,
    runs: Select[int],
    *,
    window: timedelta,
    since: datetime | None,
    now: datetime,
    several: bool,
) -> pd.DataFrame:
    """The messaged and held-out people who placed a counted order within the window, by
    `now`, counted in the database per run, target and group (`run_id`, `target_id`,
    `messaged`): `people` in that run, `people_in_total` those of them counted for all
    runs together (each person once per target and group, and the held-out only if no
    run messaged them: broadcasts.reports.people). Unless there were `several` runs
    (messaging or holding out anyone), whoever the one run held out was messaged by
    none. No reference time comes before `since`."""
    hits = _hits(session, runs, window=window, since=since, now=now, several=several)
    first = func.row_number().over(
        partition_by=(hits.c.target_id, hits.c.subscriber_id, hits.c.messaged),
        order_by=hits.c.run_id,
    )
    ranked = select(hits, first.label("nth")).subquery("ranked")
    counted = and_(ranked.c.nth == 1, or_(ranked.c.messaged, ~ranked.c.by_campaign))
    key = (ranked.c.run_id, ranked.c.target_id, ranked.c.messaged)
    statement = select(*key, func.count(), func.sum(case((counted, 1), else_=0))).group_by(*key)
    columns = ["run_id", "target_id", "messaged", "people", "people_in_total"]
    converted = await read_frame(session, statement, columns)
    return converted.astype({"messaged": bool})


def _hits(
    session: AsyncSession,
    runs: Select[int],
    *,
    window: timedelta,
    since: datetime | None,
    now: datetime,
    several: bool,
) -> Subquery:
    """The deliveries to a messaged or held-out person who placed a counted order within
    the window, each once however many orders: `run_id`, `target_id`, `subscriber_id`,
    `messaged` and `by_campaign` (messaged in any run, any target)."""
    reference = func.coalesce(Delivery.sent_at, Run.started_at)
    by_campaign = case((MESSAGED, true()), else_=messaged_by(runs)) if several else MESSAGED
    dialect = session.get_bind().dialect.name
    return (
        select(
            Delivery.run_id,
            Delivery.target_id,
            Delivery.subscriber_id,
            MESSAGED.label("messaged"),
            by_campaign.label("by_campaign"),
        )
        .distinct()
        .join(Run, Run.id == Delivery.run_id)
        .join(Customer, Customer.subscriber_id == Delivery.subscriber_id)
        .join(Order, Order.customer_id == Customer.id)
        .where(
            Delivery.run_id.in_(runs),
            or_(MESSAGED, HELD_OUT),
            Order.counts_as_purchase.is_(True),
            Order.ordered_at >= reference,
            Order.ordered_at <= now,
            *([] if since is None else [Order.ordered_at >= since]),
            within(Order.ordered_at, reference, window, dialect=dialect),
        )
        .subquery("hits")
    )
