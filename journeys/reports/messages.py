"""What a journey's messages did, per send step: counted by the campaign reports' own
funnel (broadcasts.reports), since a journey's messages are deliveries of its versions'
hidden campaigns, in the runs `JourneyRun` names (journeys.messages).

Per step, in messages (each entry gets a step's message at most once, so also entries):
`sent`, `unsent` (failed, blocked at send time, unknown, excluded or cancelled),
`pending` (queued or being sent), `read` (inferred, core.inferred_reads), `clicked`
(messages with a tracked-link click), `replied` (a message from the recipient within
48 hours), and the orders attributed to them, last touch within the attribution window
as for campaigns (broadcasts.reports.attribution): `orders` and `revenue`.

A delivery's step is its target's: the hidden campaign labels each target `STEP/LABEL`.
"""

from dataclasses import dataclass, fields
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.models import CampaignTarget
from broadcasts.reports.attribution import conversions_frame
from broadcasts.reports.funnel import KEY, funnel_frame, sent_span
from broadcasts.reports.outcomes import delivery_outcomes
from journeys.models import JourneyRun, JourneyVersion

UNSENT = ("failed", "blocked", "unknown", "excluded", "cancelled")


@dataclass(frozen=True, slots=True)
class StepMessages:
    sent: int = 0
    unsent: int = 0
    pending: int = 0
    read: int = 0
    clicked: int = 0
    replied: int = 0
    orders: int = 0
    revenue: float = 0.0


@dataclass(frozen=True, slots=True)
class Messages:
    by_step: dict[str, StepMessages]
    currencies: tuple[str, ...]  # of the attributed orders; revenue mixes them if several
    window_open: bool  # orders may still be attributed to the latest messages


def journey_runs(journey_id: int) -> Select[int]:
    """The campaign runs every version's send steps went out in."""
    runs: Select[int] = (
        select(JourneyRun.run_id)
        .join(JourneyVersion, JourneyVersion.id == JourneyRun.version_id)
        .where(JourneyVersion.journey_id == journey_id)
    )
    return runs


async def step_messages(
    session: AsyncSession, *, journey_id: int, window: timedelta, now: datetime
) -> Messages:
    runs = journey_runs(journey_id)
    span = await sent_span(session, runs)
    outcomes = await delivery_outcomes(session, runs, span=span, window=window, now=now)
    frame = await funnel_frame(session, runs, outcomes=outcomes)
    if frame.empty:
        return Messages({}, (), window_open=False)
    orders = conversions_frame(outcomes.orders).rename(columns={"conversions": "orders"})
    frame = frame.merge(orders, on=KEY, how="left")
    frame["step"] = frame["target_id"].map(await _steps_of_targets(session, journey_id))
    frame["unsent"] = frame.reindex(columns=list(UNSENT), fill_value=0).sum(axis=1)
    columns = [item.name for item in fields(StepMessages)]
    totals = frame.reindex(columns=["step", *columns]).fillna(0).groupby("step").sum()
    by_step = {
        str(step): StepMessages(
            **{name: int(row[name]) for name in columns if name != "revenue"},
            revenue=round(float(row["revenue"]), 2),
        )
        for step, row in totals.to_dict("index").items()
    }
    currencies = set(outcomes.orders.get("currency", pd.Series(dtype=str)).dropna())
    return Messages(
        by_step,
        tuple(sorted(str(code) for code in currencies)),
        window_open=span is not None and now < span[1] + window,
    )


async def _steps_of_targets(session: AsyncSession, journey_id: int) -> "pd.Series[str]":
    """The step of each hidden campaign target of the journey's versions, by target id."""
    rows = await session.execute(
        select(CampaignTarget.id, CampaignTarget.label)
        .join(JourneyVersion, JourneyVersion.campaign_id == CampaignTarget.campaign_id)
        .where(JourneyVersion.journey_id == journey_id)
    )
    labels = dict(rows.all())
    return pd.Series({target: label.split("/", 1)[0] for target, label in labels.items()})
