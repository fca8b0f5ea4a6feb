"""The ladder of awareness: each subscriber's stage from the evidence in segbot.yaml.

Stage = the highest stage with evidence within the last `window_days` (evidence dated
after now, such as a mistyped order date, is not evidence yet), one stage lower for every
full `step_down_after_days` of silence (since the later of their last update and that
evidence). The database finds the evidence (one UNION ALL query); pandas picks stages;
only changes are written, each with a `stage_changed` event.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    func,
    insert,
    literal,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import analyze, upsert
from core.frames import read_frame
from core.models import Event, EventType, Subscriber, SubscriberTag
from crm_sync.models import Customer, Order
from segments.config import Evidence, LadderConfig
from segments.levels import STAGES
from segments.models import LadderStage
from segments.rules.sql_json import json_array_has, json_text

Rows = Select[Any, Any, Any]  # (subscriber_id, stage, at)


@dataclass(frozen=True, slots=True)
class LadderRefresh:
    changed: int  # subscribers whose stage changed
    stages: dict[str, int]  # subscribers per stage after the refresh, unaware included


@dataclass(frozen=True, slots=True)
class StageCount:
    stage: str
    subscribers: int
    buyers: int  # of them, customers with a counted order ("customers on top")


def evidence_query(config: LadderConfig, *, since: datetime, until: datetime) -> Rows:
    """(subscriber_id, stage, at): every piece of configured evidence from `since` to
    `until` (evidence dated later, such as a mistyped order date, is not evidence yet)."""
    window = (since, until)
    parts = [
        part for stage, item in config.stage_evidence() for part in _evidence(stage, item, window)
    ]
    if not parts:
        return _rows(0, Subscriber.id, Subscriber.subscribed_at, window).where(literal(False))
    return select(union_all(*parts).subquery())


def _evidence(stage: int, item: Evidence, window: tuple[datetime, datetime]) -> list[Rows]:
    if item.tag is not None:
        tagged = _rows(stage, SubscriberTag.subscriber_id, SubscriberTag.added_at, window)
        return [tagged.where(SubscriberTag.tag == item.tag)]
    if item.crm == "order":
        return _order_evidence(stage, window)
    if item.crm is not None:
        created = _rows(stage, Customer.subscriber_id, Customer.created_at, window)
        return [created.where(Customer.subscriber_id.is_not(None))]
    kind, condition = _event_evidence(item)
    happened = _rows(stage, Event.subscriber_id, Event.occurred_at, window)
    return [happened.where(Event.type.in_(kind), condition)]


def _order_evidence(stage: int, window: tuple[datetime, datetime]) -> list[Rows]:
    """Customers' last counted orders (their purchase facts); for a customer whose last
    one is dated after the window, their counted orders within it."""
    linked = Customer.subscriber_id.is_not(None)
    last = _rows(stage, Customer.subscriber_id, Customer.last_order_at, window).where(linked)
    earlier = (
        _rows(stage, Customer.subscriber_id, Order.ordered_at, window)
        .join(Order, Order.customer_id == Customer.id)
        .where(
            linked,
            Customer.last_order_at > window[1],
            Order.counts_as_purchase.is_(True),
            Order.amount > 0,
        )
    )
    return [last, earlier]


def _event_evidence(item: Evidence) -> tuple[list[str], ColumnElement[bool]]:
    if item.link_tag is not None:
        return [EventType.LINK_CLICK], json_array_has(Event.payload, "tags", item.link_tag)
    if item.quiz is not None:
        question, _, answer = item.quiz.partition("=")
        return [EventType.QUIZ_ANSWER], and_(
            json_text(Event.payload, "question") == question,
            json_array_has(Event.payload, "answers", answer),
        )
    if item.start_source is not None:
        source = json_text(Event.payload, "source") == item.start_source
        return [EventType.SUBSCRIBED, EventType.START], source
    return [EventType.BUTTON], json_text(Event.payload, "data") == item.button


def _rows(stage: int, subscriber: Any, at: Any, window: tuple[datetime, datetime]) -> Rows:
    since, until = window
    return select(
        subscriber.label("subscriber_id"), literal(stage).label("stage"), at.label("at")
    ).where(at >= since, at <= until)


async def refresh_ladder(
    session: AsyncSession, *, now: datetime, config: LadderConfig
) -> LadderRefresh:
    """Restage every subscriber with evidence or a stored stage; commits."""
    since = now - timedelta(days=config.window_days)
    found = evidence_query(config, since=since, until=now).subquery()
    best = (
        select(found.c.subscriber_id, found.c.stage, func.max(found.c.at), Subscriber.last_seen_at)
        .join(Subscriber, Subscriber.id == found.c.subscriber_id)
        .group_by(found.c.subscriber_id, found.c.stage, Subscriber.last_seen_at)
    )
    evidence = await read_frame(session, best, ["subscriber_id", "evidence", "at", "last_seen_at"])
    stored = await read_frame(
        session,
        select(LadderStage.subscriber_id, LadderStage.stage, Subscriber.last_seen_at).join(
            Subscriber, Subscriber.id == LadderStage.subscriber_id
        ),
        ["subscriber_id", "stored", "last_seen_at"],
    )
    top = (
        evidence.sort_values(["subscriber_id", "evidence"], ascending=[True, False])
        .drop_duplicates("subscriber_id")
        .merge(stored, on="subscriber_id", how="outer", suffixes=("", "_stored"))
    )
    top["last_seen_at"] = top["last_seen_at"].fillna(top.pop("last_seen_at_stored"))
    staged = _stages(top, now, config)
    changed = staged[staged["stage"] != staged["stored"].fillna(0)]
    await _record(session, changed, now)
    if len(changed):
        await analyze(session, LadderStage.__tablename__)
    await session.commit()
    return LadderRefresh(
        len(changed), {row.stage: row.subscribers for row in await ladder(session)}
    )


def _stages(frame: pd.DataFrame, now: datetime, config: LadderConfig) -> pd.DataFrame:
    evidenced = frame["evidence"].fillna(0).astype("int64")
    heard = pd.concat(
        [pd.to_datetime(frame["last_seen_at"], utc=True), pd.to_datetime(frame["at"], utc=True)],
        axis=1,
    ).max(axis=1)
    steps = np.zeros(len(frame), dtype="int64")
    if config.step_down_after_days is not None:
        silence = (pd.Timestamp(now) - heard).dt.days // config.step_down_after_days
        steps = silence.fillna(0).clip(lower=0).to_numpy(dtype="int64")
    return frame.assign(stage=np.maximum(evidenced.to_numpy() - steps, 0), stepped=steps > 0)


async def _record(session: AsyncSession, changed: pd.DataFrame, now: datetime) -> None:
    if changed.empty:
        return
    at = pd.to_datetime(changed["at"], utc=True)
    rows = [
        {
            "subscriber_id": int(subscriber_id),
            "stage": int(stage),
            "evidence_at": evidence_at.to_pydatetime() if pd.notna(evidence_at) else now,
            "changed_at": now,
        }
        for subscriber_id, stage, evidence_at in zip(
            changed["subscriber_id"], changed["stage"], at, strict=True
        )
    ]
    await upsert(session, LadderStage, rows, key=["subscriber_id"])
    events = [
        {
            "subscriber_id": int(subscriber_id),
            "type": EventType.STAGE_CHANGED.value,
            "occurred_at": now,
            "payload": {
                "from": STAGES[int(0 if pd.isna(old) else old)],
                "to": STAGES[int(new)],
                "stepped_down": bool(stepped),
            },
        }
        for subscriber_id, old, new, stepped in zip(
            changed["subscriber_id"],
            changed["stored"],
            changed["stage"],
            changed["stepped"],
            strict=True,
        )
    ]
    await session.execute(insert(Event), events)


async def ladder(session: AsyncSession) -> list[StageCount]:
    """Subscribers and buyers per stage, unaware first (no stored stage is unaware)."""
    stage = func.coalesce(LadderStage.stage, 0)
    buyers = (
        select(func.coalesce(func.sum(Customer.orders_count), 0))
        .where(Customer.subscriber_id == Subscriber.id)
        .scalar_subquery()
    )
    rows = await session.execute(
        select(stage, func.count(), func.sum(case((buyers > 0, 1), else_=0)))
        .select_from(Subscriber)
        .outerjoin(LadderStage, LadderStage.subscriber_id == Subscriber.id)
        .group_by(stage)
    )
    counts = {int(number): (int(total), int(paying or 0)) for number, total, paying in rows}
    return [StageCount(name, *counts.get(number, (0, 0))) for number, name in enumerate(STAGES)]
