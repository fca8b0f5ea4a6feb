"""The delivery funnel of a campaign's runs, per run x target x variant: statuses and
reads in grouped queries (never a loop over deliveries), what recipients did added up
from broadcasts.reports.outcomes.

Columns of `funnel_frame`: `run_id`, `target_id`, `variant_id`, then counts —
`targeted` (every planned delivery), `excluded` and `excluded:<reason>`, `sent`, `failed`,
`blocked` (at send time), `unknown`, `pending` (queued or being sent), `cancelled`,
`read` (inferred, see core.inferred_reads), `clicked` (deliveries with a tracked-link click),
`clicks` (all clicks), `replied` and `churned` (a message, resp. an unsubscribe, block or
deactivation, from the recipient within 48 hours of the send).
"""

from datetime import datetime

import pandas as pd
from sqlalchemy import Select, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.models import Delivery, DeliveryStatus, Run
from broadcasts.reports.outcomes import Outcomes
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
    row = (
        await session.execute(
            select(func.min(Delivery.sent_at), func.max(Delivery.sent_at)).where(
                Delivery.run_id.in_(runs), Delivery.status == DeliveryStatus.SENT
            )
        )
    ).one()
    first, last = row
    return None if first is None or last is None else (first, last)


async def funnel_frame(
    session: AsyncSession, runs: Select[int], *, outcomes: Outcomes
) -> pd.DataFrame:
    """Counts per run x target x variant of the deliveries of `runs` (see module doc)."""
    frame = await _statuses(session, runs)
    if frame.empty:
        return pd.DataFrame(columns=[*KEY, *COUNT_COLUMNS], dtype="int64")
    frame = frame.merge(await _reads(session, runs), on=KEY, how="left")
    frame = frame.merge(_clicks(outcomes.clicks), on=KEY, how="left")
    frame = frame.merge(_after_send(outcomes.after_send), on=KEY, how="left")
    for column in COUNT_COLUMNS:
        if column not in frame:
            frame[column] = 0
    counts = [column for column in frame.columns if column not in KEY]
    frame[counts] = frame[counts].fillna(0).astype("int64")
    return frame.sort_values(KEY).reset_index(drop=True)


async def _statuses(session: AsyncSession, runs: Select[int]) -> pd.DataFrame:
    rows = await session.execute(
        select(*_KEY_COLUMNS, Delivery.status, Delivery.reason, func.count())
        .where(Delivery.run_id.in_(runs))
        .group_by(*_KEY_COLUMNS, Delivery.status, Delivery.reason)
    )
    raw = pd.DataFrame.from_records(
        rows.all(), columns=[*KEY, "status", "reason", "count"], coerce_float=False
    )
    if raw.empty:
        return raw
    raw["column"] = raw["status"].map(STATUS_COLUMNS)
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
    return frame.reset_index()


async def _reads(session: AsyncSession, runs: Select[int]) -> pd.DataFrame:
    sign_of_reading = exists().where(
        Event.subscriber_id == Delivery.subscriber_id,
        Event.occurred_at >= Delivery.sent_at,
        Event.type.in_([kind.value for kind in SIGNS_OF_READING]),
    )
    rows = await session.execute(
        select(*_KEY_COLUMNS, func.count())
        .where(
            Delivery.run_id.in_(runs),
            Delivery.status == DeliveryStatus.SENT,
            sign_of_reading,
        )
        .group_by(*_KEY_COLUMNS)
    )
    return pd.DataFrame.from_records(rows.all(), columns=[*KEY, "read"])


def _clicks(clicks: pd.DataFrame) -> pd.DataFrame:
    if clicks.empty:
        return pd.DataFrame(columns=[*KEY, "clicked", "clicks"])
    grouped = clicks.groupby(KEY)["clicks"]
    return pd.DataFrame({"clicked": grouped.count(), "clicks": grouped.sum()}).reset_index()


def _after_send(events: pd.DataFrame) -> pd.DataFrame:
    if events.empty:
        return pd.DataFrame(columns=[*KEY, "replied", "churned"])
    table = events.pivot_table(
        index=KEY, columns="kind", values="delivery_id", aggfunc="count", fill_value=0
    )
    table.columns.name = None
    return table.reset_index()
