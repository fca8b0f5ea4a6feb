"""The delivery funnel of a campaign's runs, per run x target x variant, in a few grouped
queries (never a loop over deliveries).

Columns of `funnel_frame`: `run_id`, `target_id`, `variant_id`, then counts —
`targeted` (every planned delivery), `excluded` and `excluded:<reason>`, `sent`, `failed`,
`blocked` (at send time), `unknown`, `pending` (queued or being sent), `cancelled`,
`read` (inferred, see core.inferred_reads), `clicked` (deliveries with a tracked-link click),
`clicks` (all clicks), `replied` and `churned` (a message, resp. an unsubscribe, block or
deactivation, from the recipient within 48 hours of the send).
"""

from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import Select, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.models import Delivery, DeliveryStatus, Run
from core.inferred_reads import SIGNS_OF_READING
from core.models import Event, EventType

KEY = ["run_id", "target_id", "variant_id"]
AFTER_SEND = timedelta(hours=48)  # the window of `replied` and `churned`
CHURN_EVENTS = (EventType.UNSUBSCRIBED, EventType.BLOCKED, EventType.DEACTIVATED)
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
    session: AsyncSession, runs: Select[int], *, last_sent: datetime | None
) -> pd.DataFrame:
    """Counts per run x target x variant of the deliveries of `runs` (see module doc)."""
    frame = await _statuses(session, runs)
    if frame.empty:
        return pd.DataFrame(columns=[*KEY, *COUNT_COLUMNS], dtype="int64")
    frame = frame.merge(await _reads(session, runs), on=KEY, how="left")
    frame = frame.merge(await _clicks(session, runs), on=KEY, how="left")
    if last_sent is not None:
        frame = frame.merge(await _after_send(session, runs, last_sent), on=KEY, how="left")
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


async def _clicks(session: AsyncSession, runs: Select[int]) -> pd.DataFrame:
    rows = await session.execute(
        select(*_KEY_COLUMNS, func.count(func.distinct(Event.delivery_id)), func.count())
        .select_from(Event)
        .join(Delivery, Delivery.id == Event.delivery_id)
        .where(Event.type == EventType.LINK_CLICK.value, Delivery.run_id.in_(runs))
        .group_by(*_KEY_COLUMNS)
    )
    return pd.DataFrame.from_records(rows.all(), columns=[*KEY, "clicked", "clicks"])


async def _after_send(
    session: AsyncSession, runs: Select[int], last_sent: datetime
) -> pd.DataFrame:
    """`replied` and `churned`: the recipient's events in the 48 h after each send."""
    kinds = [EventType.MESSAGE.value, *(kind.value for kind in CHURN_EVENTS)]
    rows = await session.execute(
        select(Delivery.id, *_KEY_COLUMNS, Delivery.sent_at, Event.type, Event.occurred_at)
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
        rows.all(), columns=["delivery_id", *KEY, "sent_at", "type", "occurred_at"]
    )
    if events.empty:
        return pd.DataFrame(columns=[*KEY, "replied", "churned"])
    elapsed = pd.to_datetime(events["occurred_at"], utc=True) - pd.to_datetime(
        events["sent_at"], utc=True
    )
    recent = events[elapsed <= AFTER_SEND].assign(
        kind=lambda rows: (
            rows["type"].eq(EventType.MESSAGE.value).map({True: "replied", False: "churned"})
        )
    )
    table = recent.drop_duplicates(["delivery_id", "kind"]).pivot_table(
        index=KEY, columns="kind", values="delivery_id", aggfunc="count", fill_value=0
    )
    table.columns.name = None
    return table.reset_index()
