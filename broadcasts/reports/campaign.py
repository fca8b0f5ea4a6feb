"""The campaign report: the funnel per run x target x variant with conversions and
revenue (counted in messages), then lift from the holdout and A/B results per target
(counted in people: all runs together, each person once, and each run when there were
several; broadcasts.reports.people).

Everything is counted in grouped SQL queries and joined in pandas; nothing loops over
deliveries or orders. One pass over the deliveries (broadcasts.reports.tally) gives the
statuses and bounds the rest: the orders attributed, counted per variant and currency
(.attribution), one grouped query each for reads, clicks, replies and leaving (.funnel,
.outcomes), the lift's conversions, counted per target and group (.lift). Within one run
a person has one delivery, so the funnel's counts are people already: the A/B results
and the lift's group sizes reuse them (.people), and only a campaign that ran several
times is counted in people again (the one place orders come back one row each).
"""

from collections import Counter
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.campaigns import UnknownCampaignError
from broadcasts.models import Campaign, CampaignTarget, Goal, Run
from broadcasts.reports.ab import AbResult
from broadcasts.reports.ab_outcomes import ab_results
from broadcasts.reports.config import DEFAULT_ATTRIBUTION_DAYS
from broadcasts.reports.funnel import EXCLUDED_PREFIX, KEY, campaign_runs, funnel_frame
from broadcasts.reports.lift import Lift, holdout_lift
from broadcasts.reports.outcomes import AFTER_SEND, delivery_outcomes
from broadcasts.reports.people import reach
from broadcasts.reports.stats import rate
from broadcasts.reports.tally import tally_deliveries
from core.db import for_audience_queries

DEFAULT_WINDOW = timedelta(days=DEFAULT_ATTRIBUTION_DAYS)


@dataclass(frozen=True, slots=True)
class FunnelCounts:
    """One funnel. `read` is inferred (see core.inferred_reads); `churned` is recipients who
    unsubscribed, blocked the bot or deleted their account within 48 h of the send;
    `conversions` are attributed orders, `converted` the recipients who placed them."""

    targeted: int = 0
    excluded: dict[str, int] = field(default_factory=dict)  # by reason
    sent: int = 0
    failed: int = 0
    blocked: int = 0  # at send time (403)
    unknown: int = 0
    pending: int = 0  # queued or being sent
    cancelled: int = 0
    read: int = 0
    clicked: int = 0  # recipients with at least one click
    clicks: int = 0
    replied: int = 0  # within 48 h
    churned: int = 0
    conversions: int = 0
    converted: int = 0
    revenue: float = 0.0

    @property
    def excluded_total(self) -> int:
        return sum(self.excluded.values())

    @property
    def read_rate(self) -> float | None:
        return rate(self.read, self.sent)

    @property
    def ctr(self) -> float | None:
        """Unique click-through rate: recipients who clicked over messages sent."""
        return rate(self.clicked, self.sent)

    @property
    def conversion_rate(self) -> float | None:
        return rate(self.converted, self.sent)

    @property
    def churn_rate(self) -> float | None:
        return rate(self.churned, self.sent)

    @property
    def revenue_per_sent(self) -> float | None:
        return self.revenue / self.sent if self.sent else None

    def __add__(self, other: "FunnelCounts") -> "FunnelCounts":
        numbers = {
            item.name: getattr(self, item.name) + getattr(other, item.name)
            for item in fields(self)
            if item.name != "excluded"
        }
        return FunnelCounts(
            excluded=dict(Counter(self.excluded) + Counter(other.excluded)), **numbers
        )


@dataclass(frozen=True, slots=True)
class FunnelRow:
    run_id: int
    run_started_at: datetime
    target: str  # the target's label
    audience: str  # the segment's name, "rule: ..." or "everyone else"
    variant: str
    counts: FunnelCounts


@dataclass(frozen=True, slots=True)
class CampaignReport:
    campaign_id: int
    campaign: str  # its name, also its utm_campaign
    goal: Goal
    generated_at: datetime
    window: timedelta  # attribution window
    window_open: bool  # orders may still come for the latest sends
    runs: int
    rows: tuple[FunnelRow, ...]  # run, then target position, then variant position
    # In people: every run together (run_id None) first, then each run if there were several
    lift: tuple[Lift, ...]  # per target with a holdout
    ab: tuple[AbResult, ...]  # per target with two variants or more
    currencies: tuple[str, ...]  # of the attributed orders; revenue mixes them if several
    after_send: timedelta = AFTER_SEND  # the window of `replied` and `churned`

    @property
    def totals(self) -> FunnelCounts:
        return sum((row.counts for row in self.rows), FunnelCounts())


async def campaign_report(
    session: AsyncSession, *, campaign_id: int, now: datetime, window: timedelta | None = None
) -> CampaignReport:
    """The report of every run of a campaign as of `now`; conversions within `window`
    (default 7 days, segbot.yaml `reports.attribution_days`) after a delivery."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    window = DEFAULT_WINDOW if window is None else window
    if window <= timedelta(0):
        raise ValueError(f"the attribution window must be positive, got {window}")
    campaign = await session.get(Campaign, campaign_id)
    if campaign is None:
        raise UnknownCampaignError(f"no campaign with id {campaign_id}")
    runs = campaign_runs(campaign_id)
    await for_audience_queries(session)  # hash joins over a whole campaign stay in memory
    tally = await tally_deliveries(session, runs)
    span = tally.span
    outcomes = await delivery_outcomes(
        session, runs, span=span, window=window, now=now, ids=tally.ids, fetch_orders=False
    )
    frame = await funnel_frame(session, runs, outcomes=outcomes, tally=tally)
    conversions, currencies = await outcomes.conversions(session)
    if span is not None:
        frame = frame.merge(conversions, on=KEY, how="left")
    labels = {target.id: target.label for target in campaign.targets}
    started: dict[int, datetime] = dict(
        (await session.execute(select(Run.id, Run.started_at).where(Run.id.in_(runs)))).all()
    )
    rows = _rows(campaign, frame, started)
    people = await reach(session, runs, funnel=frame)
    # The lift measures from a send, or from the start of a run that held people out.
    references = [moment for moment in started.values() if moment is not None]
    since = min([*references, *(span[:1] if span else [])], default=None)
    lift = await holdout_lift(
        session, runs, reach=people, labels=labels, window=window, now=now, since=since
    )
    return CampaignReport(
        campaign_id=campaign.id,
        campaign=campaign.name,
        goal=campaign.goal,
        generated_at=now,
        window=window,
        window_open=span is not None and now < span[1] + window,
        runs=int(frame["run_id"].nunique()),
        rows=rows,
        lift=tuple(lift),
        ab=await ab_results(session, campaign, people, outcomes, frame),
        currencies=currencies,
    )


def _rows(
    campaign: Campaign, frame: pd.DataFrame, started: dict[int, datetime]
) -> tuple[FunnelRow, ...]:
    targets = {target.id: target for target in campaign.targets}
    variants = {variant.id: variant for target in campaign.targets for variant in target.variants}
    reasons = [column for column in frame.columns if column.startswith(EXCLUDED_PREFIX)]
    numbers = [item.name for item in fields(FunnelCounts) if item.name != "excluded"]
    records = frame.reindex(columns=[*KEY, *numbers, *reasons]).fillna(0).to_dict("records")
    placed = []
    for record in records:  # one per run x target x variant, not per delivery
        run_id, target, variant = (
            int(record["run_id"]),
            targets[int(record["target_id"])],
            variants[int(record["variant_id"])],
        )
        counts = FunnelCounts(
            excluded={
                reason.removeprefix(EXCLUDED_PREFIX): int(record[reason])
                for reason in reasons
                if record[reason]
            },
            revenue=round(float(record["revenue"]), 2),
            **{name: int(record[name]) for name in numbers if name != "revenue"},
        )
        row = FunnelRow(
            run_id, started[run_id], target.label, _audience(target), variant.name, counts
        )
        placed.append(((run_id, target.position, variant.position), row))
    return tuple(row for _, row in sorted(placed, key=lambda item: item[0]))


def _audience(target: CampaignTarget) -> str:
    if target.segment is not None:
        return target.segment
    if target.rule_text is not None:
        return f"rule: {target.rule_text}"
    return "everyone else"
