"""One row of facts per subscriber, for clustering and lookalikes: the database aggregates
(a handful of GROUP BY queries), pandas joins and shapes; nothing loops per subscriber.

Feature groups (`GROUPS`; a marketer's description may pick some, `describe.py`):
- rfm: `recency frequency monetary` (the best linked customer's RFM scores 1-5, 0 without
  one) and `buyer` (1 with a counted order);
- engagement: `reads clicks replies reactions presses`, events per week over the window
  (`window_days`, or since they subscribed when later), and `tenure`, days subscribed;
- hours: `night morning afternoon evening`, the share of their engagement in each quarter
  of the day (0-6, 6-12, 12-18, 18-24) in their own time zone when known, else UTC, with
  `HOUR_PRIOR` events spread like the audience's added: one or two events say little
  about someone's day (alone they would make 100 % shares, a fake cluster per quarter),
  and no events means the audience's usual mix;
- ladder: `stage`, 0 (unaware) to 4 (most aware);
- demographics: `lang gender age_band income education` (text, "unknown" when missing) and
  `age` (years, NaN when unknown);
- geography: `country city`;
- content: `clicked:TAG`, 1 when they clicked a tracked link with that tag;
- interests: `tag:TAG`, 1 when they carry the tag (quiz answers and others).
Tags held by fewer than `MIN_TAG_SHARE` of the audience are left out, at most `MAX_TAGS` of
each kind. Membership tags of generated segments (`segment:<id>`) never count.
"""

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import (
    BigInteger,
    Float,
    Integer,
    String,
    case,
    cast,
    func,
    literal,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

from core.frames import read_frame
from core.models import Event, EventType, Subscriber, SubscriberTag
from crm_sync.models import Customer
from segments.models import LadderStage, RfmScore
from segments.rfm.scoring import DEFAULT_SEGMENT_MAP
from segments.rules import Rule
from segments.rules.compiler import condition
from segments.rules.sql_json import json_number, json_text
from segments.saved import saved_rules

MEMBERSHIP_TAG = "segment:"  # prefix of the tags that hold generated segments' members
MAX_TAGS = 20
MIN_TAG_SHARE = 0.01
ENGAGEMENT = {
    "reads": EventType.READ,
    "clicks": EventType.LINK_CLICK,
    "replies": EventType.MESSAGE,
    "reactions": EventType.REACTION,
    "presses": EventType.BUTTON,
}
HOURS = ("night", "morning", "afternoon", "evening")
HOUR_PRIOR = 4  # pseudo-events, spread like the audience's, in everyone's hour shares
PACKED, HOUR_BITS = 4, 16  # a subscriber's events per hour of day, up to 65,535 in the window
RFM = ("recency", "frequency", "monetary", "buyer")
DEMOGRAPHICS = ("lang", "gender", "age_band", "income", "education")
GEOGRAPHY = ("country", "city")
ATTRIBUTES = ("age_band", "gender", "income", "education")
UNKNOWN = "unknown"
GROUP_NAMES = (
    "rfm", "engagement", "hours", "ladder", "demographics", "geography", "content", "interests",
)  # fmt: skip


@dataclass(frozen=True)
class Features:
    """`frame` is indexed by subscriber id, ascending; each column is in one group and is
    numeric, categorical (text, "unknown" when missing) or binary (0/1)."""

    frame: pd.DataFrame
    groups: dict[str, tuple[str, ...]]
    categorical: frozenset[str] = field(default_factory=frozenset)
    binary: frozenset[str] = field(default_factory=frozenset)

    @property
    def columns(self) -> list[str]:
        return [column for columns in self.groups.values() for column in columns]

    @property
    def numeric(self) -> list[str]:
        return [c for c in self.columns if c not in self.categorical and c not in self.binary]

    def only(self, groups: Iterable[str]) -> "Features":
        """These features limited to `groups` (the frame keeps every column)."""
        chosen = {name: self.groups[name] for name in groups if self.groups.get(name)}
        return Features(self.frame, chosen, self.categorical, self.binary)

    def rows(self, ids: Collection[int]) -> "Features":
        """The same features for the subscribers `ids` only."""
        frame = self.frame[self.frame.index.isin(list(ids))]
        return Features(frame, self.groups, self.categorical, self.binary)


async def build_features(
    session: AsyncSession,
    *,
    now: datetime,
    window_days: int,
    audience: Rule | None = None,
    rfm_segments: Collection[str] = DEFAULT_SEGMENT_MAP.names,
) -> Features:
    """The features of every subscriber `audience` selects at `now` (everyone if None)."""
    people = await _people(session, now, audience, rfm_segments)
    ids = people.index
    rfm = (await _rfm(session)).reindex(ids, fill_value=0)
    engagement, hours = await _engagement(session, now, window_days, people)
    clicked = _binary(await _clicked_tags(session), ids, "clicked:")
    tagged = _binary(await _tags(session), ids, "tag:")
    frame = pd.concat([people, rfm, engagement, hours, clicked, tagged], axis=1)
    return Features(
        frame=frame,
        groups={
            "rfm": RFM,
            "engagement": (*ENGAGEMENT, "tenure"),
            "hours": HOURS,
            "ladder": ("stage",),
            "demographics": (*DEMOGRAPHICS, "age"),
            "geography": GEOGRAPHY,
            "content": tuple(clicked.columns),
            "interests": tuple(tagged.columns),
        },
        categorical=frozenset(DEMOGRAPHICS + GEOGRAPHY),
        binary=frozenset([*clicked.columns, *tagged.columns]),
    )


async def _people(
    session: AsyncSession, now: datetime, audience: Rule | None, rfm_segments: Collection[str]
) -> pd.DataFrame:
    statement = select(
        Subscriber.id,
        Subscriber.language_code,
        Subscriber.country,
        Subscriber.city,
        Subscriber.timezone,
        _days_since(Subscriber.subscribed_at, now, session.get_bind().dialect.name),
        json_number(Subscriber.attributes, "age"),
        *(json_text(Subscriber.attributes, key) for key in ATTRIBUTES),
        func.coalesce(LadderStage.stage, 0),
    ).outerjoin(LadderStage, LadderStage.subscriber_id == Subscriber.id)
    if audience is not None:
        rules = await saved_rules(session, rfm_segments=rfm_segments)
        statement = statement.where(condition(audience, now=now, segments=rules))
    names = ["id", "lang", "country", "city", "timezone", "tenure", "age", *ATTRIBUTES, "stage"]
    frame = (await read_frame(session, statement.order_by(Subscriber.id), names)).set_index("id")
    for column in DEMOGRAPHICS + GEOGRAPHY:
        frame[column] = frame[column].fillna(UNKNOWN).astype("str").astype("category")
    frame["age"] = pd.to_numeric(frame["age"], errors="coerce").astype("float64")
    frame["stage"] = frame["stage"].astype("int64")
    frame["tenure"] = frame.pop("tenure").astype("float64").clip(lower=0)
    return frame


def _days_since(
    moment: InstrumentedAttribute[datetime], now: datetime, dialect: str
) -> ColumnElement[float]:
    """Days (fractional) from `moment` to `now`, computed by the database: no timestamps
    cross into Python."""
    at = literal(now, moment.type)
    if dialect == "postgresql":
        return cast(func.extract("epoch", at - moment) / 86_400, Float)
    return cast(func.julianday(at) - func.julianday(moment), Float)


async def _rfm(session: AsyncSession) -> pd.DataFrame:
    statement = (
        select(
            Customer.subscriber_id,
            func.max(RfmScore.r),
            func.max(RfmScore.f),
            func.max(RfmScore.m),
            func.max(case((Customer.orders_count > 0, 1), else_=0)),
        )
        .outerjoin(RfmScore, RfmScore.customer_id == Customer.id)
        .where(Customer.subscriber_id.is_not(None))
        .group_by(Customer.subscriber_id)
    )
    frame = (await read_frame(session, statement, ["id", *RFM])).set_index("id")
    return frame.fillna(0).astype("int64")


async def _engagement(
    session: AsyncSession, now: datetime, window_days: int, people: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Events per week of each kind, and the shares of engagement per quarter of the day."""
    since = now - timedelta(days=window_days)
    hour = _utc_hour(session.get_bind().dialect.name)
    recent = (
        select(Event.subscriber_id, Event.type, hour.label("hour"))
        .where(
            Event.type.in_([kind.value for kind in ENGAGEMENT.values()]),
            Event.occurred_at >= since,
            Event.occurred_at <= now,
        )
        .subquery()
    )
    kinds = [
        func.sum(case((recent.c.type == kind.value, 1), else_=0)) for kind in ENGAGEMENT.values()
    ]
    # Hour counts packed HOUR_BITS apiece, PACKED hours per sum: 6 sums instead of 24.
    packed = [
        cast(
            func.sum(case((recent.c.hour // PACKED == group, _bit(recent.c.hour)), else_=0)),
            BigInteger,
        )
        for group in range(24 // PACKED)
    ]
    statement = select(recent.c.subscriber_id, *kinds, *packed).group_by(recent.c.subscriber_id)
    counts = (
        await read_frame(session, statement, ["id", *ENGAGEMENT, *range(24 // PACKED)])
    ).set_index("id")
    packs = counts[list(range(24 // PACKED))].to_numpy("int64")
    shifts = np.arange(PACKED, dtype=np.int64) * HOUR_BITS
    by_hour = ((packs[:, :, None] >> shifts) & (2**HOUR_BITS - 1)).reshape(len(counts), 24)
    counts = pd.concat(
        [counts[list(ENGAGEMENT)], pd.DataFrame(by_hour, index=counts.index)], axis=1
    )
    counts = counts.reindex(people.index, fill_value=0)
    weeks = (people["tenure"].clip(upper=window_days) / 7).clip(lower=1)
    rates = counts[list(ENGAGEMENT)].astype("float64").div(weeks, axis=0)
    return rates, _day_quarters(counts[list(range(24))].to_numpy("float64"), people, now)


def _bit(hour: ColumnElement[int]) -> ColumnElement[int]:
    """1 << (HOUR_BITS * (hour % PACKED)): where this hour is counted in its packed sum."""
    return literal(1, BigInteger).op("<<")((hour % PACKED) * HOUR_BITS)


def _utc_hour(dialect: str) -> ColumnElement[int]:
    if dialect == "postgresql":
        return cast(func.extract("hour", func.timezone("UTC", Event.occurred_at)), Integer)
    # SQLite holds UTC times as 'YYYY-MM-DD HH:MM:SS.ffffff' text (SQLAlchemy's format, which
    # rules already compare as text): the hour is characters 12-13. strftime() parses the
    # whole date first, a third of this query's time over millions of events.
    return cast(func.substr(Event.occurred_at, 12, 2), Integer)


def _day_quarters(
    by_utc_hour: np.ndarray[Any, Any], people: pd.DataFrame, now: datetime
) -> pd.DataFrame:
    """Counts by UTC hour -> shares by quarter of the local day (whole-hour offsets)."""
    local = by_utc_hour.copy()
    zones = people["timezone"].fillna("")
    for zone in zones.unique():
        shift = _utc_offset_hours(str(zone), now)
        if shift:
            rows = (zones == zone).to_numpy()
            local[rows] = np.roll(by_utc_hour[rows], shift, axis=1)
    quarters = local.reshape(len(local), 4, 6).sum(axis=2)
    overall = quarters.sum(axis=0)
    usual = overall / overall.sum() if overall.sum() > 0 else np.full(4, 0.25)
    shares = (quarters + HOUR_PRIOR * usual) / (quarters.sum(axis=1, keepdims=True) + HOUR_PRIOR)
    return pd.DataFrame(shares, index=people.index, columns=list(HOURS))


def _utc_offset_hours(zone: str, now: datetime) -> int:
    """The zone's offset from UTC at `now`, rounded to whole hours; 0 for an unknown zone."""
    if not zone:
        return 0
    try:
        offset = now.astimezone(ZoneInfo(zone)).utcoffset()
    except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        return 0
    return round(offset.total_seconds() / 3600) if offset is not None else 0


# Grouped by tag first: grouped by subscriber first, SQLite reads every event through
# ix_events_subscriber_timeline to skip a sort, instead of only the clicks (2.5x slower).
_CLICKED_TAGS = {
    "sqlite": """
        SELECT e.subscriber_id, tag.value FROM events AS e, json_each(e.payload, '$.tags') AS tag
        WHERE e.type = :kind AND json_type(e.payload, '$.tags') = 'array'
          AND tag.type = 'text'
        GROUP BY tag.value, e.subscriber_id""",
    "postgresql": """
        SELECT e.subscriber_id, tag.value #>> '{}' FROM events AS e
        CROSS JOIN LATERAL json_array_elements(CASE WHEN json_typeof(e.payload -> 'tags')
            = 'array' THEN e.payload -> 'tags' ELSE '[]'::json END) AS tag(value)
        WHERE e.type = :kind AND json_typeof(tag.value) = 'string'
        GROUP BY e.subscriber_id, tag.value #>> '{}'""",
}


async def _clicked_tags(session: AsyncSession) -> pd.DataFrame:
    """(id, tag): each tag of a tracked link each subscriber clicked, once."""
    statement = text(_CLICKED_TAGS[session.get_bind().dialect.name]).columns(
        subscriber_id=Integer, value=String
    )
    kind = statement.bindparams(kind=EventType.LINK_CLICK.value)
    return await read_frame(session, kind, ["id", "tag"])


async def _tags(session: AsyncSession) -> pd.DataFrame:
    statement = select(SubscriberTag.subscriber_id, SubscriberTag.tag).where(
        SubscriberTag.tag.not_like(f"{MEMBERSHIP_TAG}%")
    )
    return await read_frame(session, statement, ["id", "tag"])


def _binary(pairs: pd.DataFrame, ids: pd.Index, prefix: str) -> pd.DataFrame:
    """0/1 columns `prefix + tag` for the most common tags among `ids`."""
    pairs = pairs[pairs["id"].isin(ids)]
    holders = pairs["tag"].value_counts()
    least = max(2, int(np.ceil(MIN_TAG_SHARE * len(ids))))
    common = holders[holders >= least].index
    kept = sorted(common, key=lambda tag: (-int(holders[tag]), tag))[:MAX_TAGS]
    pairs = pairs[pairs["tag"].isin(kept)]
    rows = ids.get_indexer(pd.Index(pairs["id"]))
    columns = pd.Index(kept).get_indexer(pd.Index(pairs["tag"]))
    matrix = np.zeros((len(ids), len(kept)), dtype="float32")
    matrix[rows, columns] = 1.0
    return pd.DataFrame(matrix, index=ids, columns=[prefix + tag for tag in kept])
