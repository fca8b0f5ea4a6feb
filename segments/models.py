"""Saved segments with their history and members, RFM scores, ladder stages, activity,
the profiles of generated segments (AI clusters, lookalikes) and personas."""

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, BigIntId, text_enum


class SegmentKind(enum.StrEnum):
    """Who decides a segment's members: its rule, or a generator (segments.ai).

    A generated segment's rule is `tag:"segment:<id>"`, and the generator puts that tag on
    exactly the subscribers it chose, so refreshes, `in segment` and the planner treat it
    like any other segment while its members stay what the generator decided.
    """

    RULE = "rule"  # a marketer's rule
    AI = "ai"  # a cluster found by segments.ai.generate; replaced on every regeneration
    LOOKALIKE = "lookalike"  # the subscribers most similar to a seed segment


MEMBERSHIP_TAG = "segment:"  # prefix of the tags that hold generated segments' members


def membership_tag(segment_id: int) -> str:
    """The tag a generated segment's members carry (its rule is `tag:"<this>"`)."""
    return f"{MEMBERSHIP_TAG}{segment_id}"


class Segment(Base):
    """A saved rule with a name; `version` counts saves, each kept in SegmentVersion."""

    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    rule: Mapped[dict[str, Any]] = mapped_column(JSON)  # segments.rules.to_json
    rule_text: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(64))  # who saved it last
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    refreshed_at: Mapped[datetime | None]  # when membership was last materialised
    size: Mapped[int | None] = mapped_column(Integer)  # members at refreshed_at
    kind: Mapped[SegmentKind] = mapped_column(
        text_enum(SegmentKind), default=SegmentKind.RULE, server_default=SegmentKind.RULE.value
    )


class SegmentVersion(Base):
    __tablename__ = "segment_versions"
    __table_args__ = (UniqueConstraint("segment_id", "version"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    rule: Mapped[dict[str, Any]] = mapped_column(JSON)
    rule_text: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(64))
    saved_at: Mapped[datetime]


class SegmentMember(Base):
    """Materialised membership: who was in the segment at its last refresh, since when.

    Derived data, rebuilt by every refresh, so it carries no foreign keys: checking two
    of them per row was four fifths of the time a refresh took to store a new segment's
    members. What they would guard is kept by the code that changes the tables: deleting
    a segment deletes its members (`saved.delete_segments`), and a refresh drops members
    whose subscriber is gone (subscribers are never deleted, only erased in place).
    """

    __tablename__ = "segment_members"

    segment_id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=False)
    subscriber_id: Mapped[int] = mapped_column(
        BigIntId, primary_key=True, autoincrement=False, index=True
    )
    entered_at: Mapped[datetime]


class SegmentSize(Base):
    """One refresh of one segment: its size and how many entered and left."""

    __tablename__ = "segment_sizes"
    __table_args__ = (Index("ix_segment_sizes_segment_time", "segment_id", "measured_at"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id", ondelete="CASCADE"))
    measured_at: Mapped[datetime]
    size: Mapped[int] = mapped_column(Integer)
    entered: Mapped[int] = mapped_column(Integer)
    left: Mapped[int] = mapped_column(Integer)


class RfmScore(Base):
    """A customer's current RFM score (segments.rfm.scoring), as of the latest `RfmRun`.

    A rescore writes only the rows whose values changed (`changed_at`): what a customer's
    scores mean as of a day lives once, in the rescore, and recency is the days from
    `last_ordered_at` to the run's as-of day (`segments.rfm.store.rfm_table`).
    """

    __tablename__ = "rfm_scores"
    # Half of each page left free: an update that fits on its page, changing no indexed
    # column, leaves the indexes alone (HOT).
    __table_args__ = ({"postgresql_with": {"fillfactor": 50}},)

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    last_ordered_at: Mapped[datetime]  # of the customer's last counted order by the as-of day
    frequency: Mapped[int] = mapped_column(Integer)
    monetary: Mapped[float] = mapped_column(Float)
    r: Mapped[int] = mapped_column(SmallInteger)
    f: Mapped[int] = mapped_column(SmallInteger)
    m: Mapped[int] = mapped_column(SmallInteger)
    segment: Mapped[str] = mapped_column(String(32), index=True)
    changed_at: Mapped[datetime]  # when a rescore last changed any of the above


class RfmRun(Base):
    """One rescore: the day its scores are as of (the latest run's are the stored ones),
    how many customers it scored and how many rows it changed, customers per segment."""

    __tablename__ = "rfm_runs"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    as_of: Mapped[date]
    scored_at: Mapped[datetime] = mapped_column(index=True)
    customers: Mapped[int] = mapped_column(Integer)
    changed: Mapped[int] = mapped_column(Integer)
    segments: Mapped[dict[str, int]] = mapped_column(JSON)


class LadderStage(Base):
    """A subscriber's stage on the ladder of awareness (0-4, segments.levels.STAGES).

    No row means stage 0, unaware.
    """

    __tablename__ = "ladder_stages"

    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    stage: Mapped[int] = mapped_column(SmallInteger, index=True)
    evidence_at: Mapped[datetime]  # the latest evidence of this stage
    changed_at: Mapped[datetime]


class ActivityLevel(Base):
    """A subscriber's activity level (0-4, segments.levels.ACTIVITY_LEVELS) since
    `changed_at`, and the one before; no row means not computed yet."""

    __tablename__ = "activity_levels"

    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    level: Mapped[int] = mapped_column(SmallInteger, index=True)
    previous_level: Mapped[int | None] = mapped_column(SmallInteger)
    changed_at: Mapped[datetime]


class SegmentProfile(Base):
    """What a generator said about the segment it made: an AI cluster's profile (name,
    demographics, geography, interests, behaviours, pain points) or a lookalike's seed."""

    __tablename__ = "segment_profiles"

    segment_id: Mapped[int] = mapped_column(
        ForeignKey("segments.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    profile: Mapped[dict[str, Any]] = mapped_column(JSON)
    generated_at: Mapped[datetime]


class ContentFormat(enum.StrEnum):
    SHORT_VIDEO = "short_video"
    CAROUSEL = "carousel"
    LIVE = "live"
    TEXT = "text"


class Persona(Base):
    """An actionable profile a campaign can target: its audience is its source segment
    (`segment_id`) or its own rule (`rule_text`), exactly one of them."""

    __tablename__ = "personas"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    segment_id: Mapped[int | None] = mapped_column(
        ForeignKey("segments.id", ondelete="SET NULL"), index=True
    )
    source_segment: Mapped[str | None] = mapped_column(String(64))  # its name when chosen
    rule_text: Mapped[str | None] = mapped_column(Text)
    main_problem: Mapped[str] = mapped_column(Text)
    preferred_format: Mapped[ContentFormat] = mapped_column(text_enum(ContentFormat))
    tone: Mapped[str] = mapped_column(String(64))
    best_offer: Mapped[str] = mapped_column(Text)
    example_customer: Mapped[str] = mapped_column(Text)
    narrative: Mapped[str | None] = mapped_column(Text)  # written by the language model
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
