"""The delivery funnel of a campaign's runs, per run x target x variant: the statuses
from the report's one pass over the deliveries (broadcasts.reports.tally), then reads,
clicks, replies and leaving in one grouped query each (what recipients did:
broadcasts.reports.outcomes); only counts come back, never a row per delivery.

Columns of `funnel_frame`: `run_id`, `target_id`, `variant_id`, then counts —
`targeted` (every planned delivery), `excluded` and `excluded:<reason>`, `sent`, `failed`,
`blocked` (at send time), `unknown`, `pending` (queued or being sent), `cancelled`,
`read` (inferred, see core.inferred_reads), `clicked` (sent deliveries with a tracked-link
click), `clicks` (all their clicks), `replied` and `churned` (a message, resp. an
unsubscribe, block or deactivation, from the recipient within 48 hours of the send).
"""

from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, Select, Subquery, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.models import Delivery, DeliveryStatus, Run
from broadcasts.reports.outcomes import CHURNED, REPLIED, Outcomes
from broadcasts.reports.tally import Tally, tally_deliveries
from core.frames import read_frame
from core.inferred_reads import SIGNS_OF_READING
from core.models import Event

KEY = ["run_id", "target_id", "variant_id"]
STATUS_COLUMNS = {
    DeliveryStatus.SENT: "sent",
    DeliveryStatus.FAILED: "failed",
    DeliveryStatus.BLOCKED: "blocked",
    DeliveryStatus.UNKNOWN: "unknown",
    DeliveryStatus.QUEUED: "pending",
    DeliveryStatus.SENDING: "pending",
    DeliveryStatus.CANCELLED: "cancelled",
    DeliveryStatus.EXCLUDED: "excluded",
}
COUNT_COLUMNS = (
    "targeted",
    "excluded",
    "sent",
    "failed",
    "blocked",
    "unknown",
    "pending",
    "cancelled",
    "read",
    "clicked",
    "clicks",
    "replied",
    "churned",
)
EXCLUDED_PREFIX = "excluded:"
_KEY_COLUMNS = (Delivery.run_id, Delivery.target_id, Delivery.variant_id)


def campaign_runs(campaign_id: int) -> Select[int]:
    return select(Run.id).where(Run.campaign_id == campaign_id)


async def sent_span(session: AsyncSession, runs: Select[int]) -> tuple[datetime, datetime] | None:
    """The first and the last send of these runs; None if nothing was sent."""
    return (await tally_deliveries(session, runs)).span


async def funnel_frame(
    session: AsyncSession, runs: Select[int], *, outcomes: Outcomes, tally: Tally | None = None
) -> pd.DataFrame:
    """Counts per run x target x variant of the deliveries of `runs` (see module doc);
    `tally` is theirs when the caller has it already."""
    tally = tally or await tally_deliveries(session, runs)
    if tally.counts.empty:
        return pd.DataFrame(columns=[*KEY, *COUNT_COLUMNS], dtype="int64")
    frame = _by_status(tally.counts)
    if outcomes.span is not None:  # else nothing was read, clicked or replied to
        for statement, columns in _outcome_counts(runs, outcomes, first_sent=outcomes.span[0]):
            counted = await read_frame(session, statement, [*KEY, *columns])
            frame = frame.join(counted.set_index(KEY))
    frame = frame.reset_index()
    for column in COUNT_COLUMNS:
        if column not in frame:
            frame[column] = 0
    counts = [column for column in frame.columns if column not in KEY]
    frame[counts] = frame[counts].fillna(0).astype("int64")
    return frame.sort_values(KEY).reset_index(drop=True)


def _outcome_counts(
    runs: Select[int], outcomes: Outcomes, *, first_sent: datetime
) -> list[tuple[Select[*tuple[Any, ...]], list[str]]]:
    """The grouped queries of what recipients did, per KEY, with their count columns:
    sent deliveries read (a sign of reading from their recipient at or after the send),
    clicked (and their clicks), replied to and left after."""
    sign_of_reading = exists().where(
        Event.subscriber_id == Delivery.subscriber_id,
        Event.type.in_([kind.value for kind in SIGNS_OF_READING]),
        Event.occurred_at >= Delivery.sent_at,
        # Holds whenever the line above does; bounds the events an index range reads.
        Event.occurred_at >= first_sent,
    )
    read = (
        select(*_KEY_COLUMNS, func.count())
        .where(Delivery.run_id.in_(runs), Delivery.status == DeliveryStatus.SENT, sign_of_reading)
        .group_by(*_KEY_COLUMNS)
    )
    after = outcomes.after_send()
    return [
        (read, ["read"]),
        (outcomes.click_counts(), ["clicked", "clicks"]),
        (_per_key(after, func.sum(after.c.replied), func.sum(after.c.churned)), [REPLIED, CHURNED]),
    ]


def _per_key(per_delivery: Subquery, *counts: ColumnElement[int]) -> Select[*tuple[Any, ...]]:
    key = [per_delivery.c[column] for column in KEY]
    return select(*key, *counts).group_by(*key)


def _by_status(counts: pd.DataFrame) -> pd.DataFrame:
    """Deliveries per KEY (the index) in each status column, per exclusion reason, and
    in all (`targeted`)."""
    raw = counts.assign(column=counts["status"].map(STATUS_COLUMNS))
    by_status = raw.pivot_table(
        index=KEY, columns="column", values="count", aggfunc="sum", fill_value=0
    )
    excluded = raw[raw["status"] == DeliveryStatus.EXCLUDED].assign(
        reason=lambda rows: EXCLUDED_PREFIX + rows["reason"].fillna("other")
    )
    by_reason = excluded.pivot_table(
        index=KEY, columns="reason", values="count", aggfunc="sum", fill_value=0
    )
    frame = by_status.join(by_reason, how="left")
    frame["targeted"] = by_status.sum(axis=1)
    frame.columns.name = None
    return frame
