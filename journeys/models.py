"""What journeys are made of: the journey and its versions, one enrolment per person per
entry, the step log, the runs their messages go out in, admin notices, and the positions
of the feeds that trigger them.

The step log is what reports count from: one row per enrolment per step that happened
(`JourneyStep`, unique on both, written in the transaction that did the step), with the
delivery a send step queued. Entered, reached, exited and converted come from
`Enrolment`; sent, read, clicked and replied from the step's delivery and the events that
name it, as for campaigns.
"""

import enum
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, BigIntId, text_enum

STEP_ID_LENGTH = 32
TRIGGER_KEY_LENGTH = 96


class JourneyStatus(enum.StrEnum):
    LIVE = "live"  # people enter and move on
    PAUSED = "paused"  # nobody enters, nobody moves on; goals and /stop still end enrolments
    ARCHIVED = "archived"  # over: everyone inside left (exit reason `archived`)


class EnrolmentStatus(enum.StrEnum):
    ACTIVE = "active"  # inside the journey: `step` is where, `next_due_at` when it happens
    HOLDOUT = "holdout"  # entered, kept out of every step as the control group
    ENDED = "ended"  # left; `exit_reason` says why


class ExitReason(enum.StrEnum):
    COMPLETED = "completed"  # went through the last step
    EXIT = "exit"  # reached an exit step (`step` names it)
    GOAL = "goal"  # converted: the goal happened while inside
    UNSUBSCRIBED = "unsubscribed"
    BLOCKED = "blocked"
    DEACTIVATED = "deactivated"
    ARCHIVED = "archived"  # the journey was archived


class NoticeStatus(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"  # claimed: if the process stops now, it becomes unknown
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"  # may or may not have reached the admins: never resent


class Journey(Base):
    __tablename__ = "journeys"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    name: Mapped[str] = mapped_column(String(48), unique=True)
    status: Mapped[JourneyStatus] = mapped_column(text_enum(JourneyStatus))
    version: Mapped[int] = mapped_column(Integer)  # the latest: whom new entries follow
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # Date and inactivity triggers have been checked up to here (journeys.periodic).
    checked_at: Mapped[datetime]


class JourneyVersion(Base):
    """One saved definition of a journey. Its send steps' messages are the targets and
    variants of a hidden campaign of its own (`CampaignKind.JOURNEY`)."""

    __tablename__ = "journey_versions"
    __table_args__ = (UniqueConstraint("journey_id", "version"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    journey_id: Mapped[int] = mapped_column(ForeignKey("journeys.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)  # journeys.spec.JourneySpec, as JSON
    source: Mapped[str] = mapped_column(Text)  # the YAML as the marketer wrote it
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]


class Enrolment(Base):
    """One person's one entry into a journey (their `entry`-th)."""

    __tablename__ = "journey_enrolments"
    __table_args__ = (
        UniqueConstraint("journey_id", "subscriber_id", "entry"),
        # The same trigger (an event, an order, a date) never enrols anyone twice.
        UniqueConstraint("journey_id", "subscriber_id", "trigger_key"),
        # Inside a journey at most once at a time.
        Index(
            "ix_journey_enrolments_inside",
            "journey_id",
            "subscriber_id",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
        # What the runner looks through: each journey's enrolments inside, by when they
        # are due (per journey, so a paused journey's are never read past).
        Index(
            "ix_journey_enrolments_due",
            "journey_id",
            "next_due_at",
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    journey_id: Mapped[int] = mapped_column(ForeignKey("journeys.id", ondelete="CASCADE"))
    version_id: Mapped[int] = mapped_column(
        ForeignKey("journey_versions.id", ondelete="CASCADE"), index=True
    )
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    entry: Mapped[int] = mapped_column(Integer)  # 1 for a person's first entry, then 2, ...
    trigger_key: Mapped[str] = mapped_column(String(TRIGGER_KEY_LENGTH))
    status: Mapped[EnrolmentStatus] = mapped_column(text_enum(EnrolmentStatus))
    step: Mapped[str | None] = mapped_column(String(STEP_ID_LENGTH))  # the next to happen
    step_since: Mapped[datetime]  # when the person reached `step`: waits count from it
    next_due_at: Mapped[datetime | None]
    waiting_for: Mapped[str | None] = mapped_column(String(16))  # a wait_for step's event
    entered_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    exit_reason: Mapped[ExitReason | None] = mapped_column(text_enum(ExitReason))
    converted_at: Mapped[datetime | None]  # the goal, within its window of entering


# The tables themselves, for statements run with many parameter sets (executemany).
ENROLMENTS = cast("Table", Enrolment.__table__)


def ending(reason: ExitReason, now: datetime) -> dict[str, Any]:
    """The values that end an enrolment (for an UPDATE of those still inside)."""
    return {
        "status": EnrolmentStatus.ENDED,
        "exit_reason": reason,
        "ended_at": now,
        "next_due_at": None,
        "waiting_for": None,
    }


class JourneyStep(Base):
    """The step log: a step that happened to an enrolment, once (written with the step's
    effects in one transaction). `outcome`: sent, skipped (no message for them), yes/no
    (a branch or a wait for an event), done (anything else).

    Written a row per person per step, so it keeps one foreign key (its enrolment, whose
    deletion takes it along): `journey_id` and `version_id` are its enrolment's, copied for
    reports; `delivery_id` is the delivery a send step queued (deliveries are never
    deleted while their journey version exists)."""

    __tablename__ = "journey_steps"
    __table_args__ = (
        UniqueConstraint("enrolment_id", "step"),
        Index("ix_journey_steps_journey_step", "journey_id", "step"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    enrolment_id: Mapped[int] = mapped_column(
        ForeignKey("journey_enrolments.id", ondelete="CASCADE")
    )
    journey_id: Mapped[int] = mapped_column(BigInteger)
    version_id: Mapped[int] = mapped_column(BigInteger)
    step: Mapped[str] = mapped_column(String(STEP_ID_LENGTH))
    outcome: Mapped[str] = mapped_column(String(16))
    happened_at: Mapped[datetime]
    delivery_id: Mapped[int | None] = mapped_column(BigInteger)


class JourneyRun(Base):
    """The run a send step's messages to people on their `entry`-th entry go out in: a
    delivery is unique per run and person, so each (step, entry) needs a run of its own."""

    __tablename__ = "journey_runs"

    version_id: Mapped[int] = mapped_column(
        ForeignKey("journey_versions.id", ondelete="CASCADE"), primary_key=True
    )
    step: Mapped[str] = mapped_column(String(STEP_ID_LENGTH), primary_key=True)
    entry: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    run_id: Mapped[int] = mapped_column(
        ForeignKey("campaign_runs.id", ondelete="CASCADE"), unique=True
    )


class Notice(Base):
    """A `notify` step's message to the admins: an outbox of its own, sent at most once."""

    __tablename__ = "journey_notices"
    __table_args__ = (UniqueConstraint("enrolment_id", "step"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    enrolment_id: Mapped[int] = mapped_column(
        ForeignKey("journey_enrolments.id", ondelete="CASCADE")
    )
    version_id: Mapped[int] = mapped_column(ForeignKey("journey_versions.id", ondelete="CASCADE"))
    step: Mapped[str] = mapped_column(String(STEP_ID_LENGTH))
    status: Mapped[NoticeStatus] = mapped_column(text_enum(NoticeStatus), index=True)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class FeedPosition(Base):
    """How far a trigger feed has read its table: every row up to `position` is handled."""

    __tablename__ = "journey_feeds"

    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]


class RfmSeen(Base):
    """The RFM segment journeys last saw each customer in: a rescore that moves them to
    another is an RFM trigger (journeys.periodic)."""

    __tablename__ = "journey_rfm_seen"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    segment: Mapped[str] = mapped_column(String(32))


STEPS = cast("Table", JourneyStep.__table__)
