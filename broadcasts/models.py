"""What broadcasts are made of: tracked links, campaigns with their ordered targets and
message variants, runs (one per send of a campaign), the outbox of deliveries and the
heartbeats of the senders working through it."""

import enum
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from broadcasts.crontab import CRON_LENGTH
from core.db import Base, BigIntId, text_enum
from core.zones import zone_or_none


class Link(Base):
    """A target URL as one campaign/variant uses it; tokens in messages point here."""

    __tablename__ = "links"
    __table_args__ = (UniqueConstraint("campaign", "content", "url"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    campaign: Mapped[str] = mapped_column(String(255), default="")  # utm_campaign
    content: Mapped[str] = mapped_column(String(255), default="")  # utm_content: segment/variant
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)  # interests a click signals
    created_at: Mapped[datetime]


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    PAUSED = "paused"
    DONE = "done"
    CANCELLED = "cancelled"
    MISSED = "missed"  # its time passed while segbot was down, beyond the grace period


class Goal(enum.StrEnum):
    CLICKS = "clicks"
    CONVERSIONS = "conversions"
    REPLIES = "replies"


class ScheduleKind(enum.StrEnum):
    MANUAL = "manual"  # only `segbot campaign send-now`
    NOW = "now"  # as soon as the scheduler sees it
    AT = "at"  # once, at `run_at`
    CRON = "cron"  # every occurrence of `cron` in `timezone` is a new run
    LOCAL = "local"  # once, on a day at `local_time` in each subscriber's own timezone
    BEST_HOUR = "best_hour"  # once, on a day at each target's best hour, their own timezone


class RunStatus(enum.StrEnum):
    SENDING = "sending"
    PAUSED = "paused"
    DONE = "done"
    CANCELLED = "cancelled"
    MISSED = "missed"


class DeliveryStatus(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"  # claimed by a sender; `attempted_at` once its request may have left
    SENT = "sent"
    FAILED = "failed"
    BLOCKED = "blocked"  # the subscriber blocked the bot or deleted their account
    UNKNOWN = "unknown"  # may or may not have arrived: never resent automatically
    EXCLUDED = "excluded"  # planned but never to be sent; `reason` says why
    CANCELLED = "cancelled"  # still queued when the run was cancelled


class Exclusion(enum.StrEnum):
    UNSUBSCRIBED = "unsubscribed"
    BLOCKED = "blocked"
    DEACTIVATED = "deactivated"
    HOLDOUT = "holdout"  # the control group, kept for lift
    CAPPED = "capped"  # the frequency cap was reached


class CampaignKind(enum.StrEnum):
    BROADCAST = "broadcast"
    # A journey version's messages (journeys/): sent through the outbox like a broadcast's,
    # never listed, scheduled or reported as a campaign.
    JOURNEY = "journey"


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)  # also its utm_campaign
    kind: Mapped[CampaignKind] = mapped_column(
        text_enum(CampaignKind),
        default=CampaignKind.BROADCAST,
        server_default=CampaignKind.BROADCAST.value,
    )
    goal: Mapped[Goal] = mapped_column(text_enum(Goal))
    status: Mapped[CampaignStatus] = mapped_column(text_enum(CampaignStatus), index=True)
    holdout_percent: Mapped[int] = mapped_column(SmallInteger, default=0)
    cap_messages: Mapped[int] = mapped_column(SmallInteger, default=1)
    cap_hours: Mapped[int] = mapped_column(Integer, default=24)
    quiet_start: Mapped[str | None] = mapped_column(String(5))  # "HH:MM", subscriber's time
    quiet_end: Mapped[str | None] = mapped_column(String(5))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")  # when theirs is unknown
    language: Mapped[str] = mapped_column(String(16), default="en")  # when theirs has no text
    unsubscribe_button: Mapped[bool] = mapped_column(Boolean, default=False)
    paid_broadcast: Mapped[bool] = mapped_column(Boolean, default=False)
    stars_budget: Mapped[int | None] = mapped_column(Integer)
    schedule_kind: Mapped[ScheduleKind] = mapped_column(text_enum(ScheduleKind))
    schedule_timezone: Mapped[str] = mapped_column(String(64), default="UTC")  # of cron, at
    run_at: Mapped[datetime | None]  # AT; LOCAL, BEST_HOUR: the day's midnight (schedule_day)
    cron: Mapped[str | None] = mapped_column(String(CRON_LENGTH))
    local_time: Mapped[str | None] = mapped_column(String(5))  # LOCAL: "HH:MM"
    grace_minutes: Mapped[int] = mapped_column(Integer, default=60)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    last_fired_at: Mapped[datetime | None]  # the schedule's latest occurrence handled

    targets: Mapped[list["CampaignTarget"]] = relationship(
        back_populates="campaign",
        cascade="all, delete-orphan",
        order_by="CampaignTarget.position",
        lazy="selectin",
    )

    @property
    def schedule_day(self) -> date | None:
        """The day a LOCAL or BEST_HOUR schedule sends on (see `schedule_day`)."""
        return schedule_day(self.schedule_kind, self.run_at, self.schedule_timezone)


def schedule_day(kind: ScheduleKind, run_at: datetime | None, timezone: str) -> date | None:
    """The day a LOCAL or BEST_HOUR schedule sends on: `run_at` is its midnight in the
    schedule's `timezone` (its run starts earlier, where that day comes first)."""
    if run_at is None or kind not in (ScheduleKind.LOCAL, ScheduleKind.BEST_HOUR):
        return None
    return run_at.astimezone(zone_or_none(timezone) or UTC).date()


class CampaignTarget(Base):
    """One entry of a campaign's ordered audience: a saved segment, a one-off rule, or
    (neither) the default for whoever no earlier target took."""

    __tablename__ = "campaign_targets"
    __table_args__ = (UniqueConstraint("campaign_id", "position"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(SmallInteger)
    label: Mapped[str] = mapped_column(String(64))  # in utm_content: label/variant
    segment: Mapped[str | None] = mapped_column(String(64))
    rule_text: Mapped[str | None] = mapped_column(Text)

    campaign: Mapped[Campaign] = relationship(back_populates="targets")
    variants: Mapped[list["Variant"]] = relationship(
        back_populates="target",
        cascade="all, delete-orphan",
        order_by="Variant.position",
        lazy="selectin",
    )

    @property
    def is_default(self) -> bool:
        return self.segment is None and self.rule_text is None


class Variant(Base):
    """A message for one target (broadcasts.message_content reads and writes it): HTML
    text, one media item with an HTML caption, or an album; per-language texts; buttons
    in rows; how it shows."""

    __tablename__ = "campaign_variants"
    __table_args__ = (UniqueConstraint("target_id", "name"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    target_id: Mapped[int] = mapped_column(
        ForeignKey("campaign_targets.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(SmallInteger)
    name: Mapped[str] = mapped_column(String(32))
    split_percent: Mapped[int] = mapped_column(SmallInteger)
    kind: Mapped[str] = mapped_column(String(16), default="text")  # text, photo, ..., album
    # A Jinja2 template: the text, or the caption, in the campaign's language...
    body: Mapped[str] = mapped_column(Text)
    translations: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # ...and others
    # Each item: {"kind", "ref" (URL, file_id or absolute path), "local", "sha256"}.
    media: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # Rows of buttons: {"text", "texts" (other languages'), and one of "url", "data",
    # "copy_text", "web_app"}.
    buttons: Mapped[list[list[dict[str, Any]]]] = mapped_column(JSON, default=list)
    link_preview: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    protect_content: Mapped[bool] = mapped_column(Boolean, default=False)
    effect_id: Mapped[str | None] = mapped_column(String(32))

    target: Mapped[CampaignTarget] = relationship(back_populates="variants")


class Run(Base):
    """One send of a campaign: its deliveries were planned when it started."""

    __tablename__ = "campaign_runs"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[RunStatus] = mapped_column(text_enum(RunStatus), index=True)
    scheduled_for: Mapped[datetime]
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    stars_spent: Mapped[int] = mapped_column(Integer, default=0)


class Delivery(Base):
    """One subscriber's message in one run: the outbox row the sender works through."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("run_id", "subscriber_id"),
        Index("ix_deliveries_run_status", "run_id", "status"),
        Index("ix_deliveries_subscriber_claimed", "subscriber_id", "claimed_at"),
        # The claims in progress, by sender: what settling after a crash looks through.
        Index(
            "ix_deliveries_in_flight",
            "claimed_by",
            sqlite_where=text("status = 'sending'"),
            postgresql_where=text("status = 'sending'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("campaign_runs.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    target_id: Mapped[int] = mapped_column(
        ForeignKey("campaign_targets.id", ondelete="CASCADE"), index=True
    )
    variant_id: Mapped[int] = mapped_column(
        ForeignKey("campaign_variants.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[DeliveryStatus] = mapped_column(text_enum(DeliveryStatus))
    reason: Mapped[str | None] = mapped_column(String(32))  # why excluded or failed
    not_before: Mapped[datetime | None]  # quiet hours or a local-time schedule
    claimed_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(32))  # the sender's id, while sending
    # Committed before the request is handed over: from then on it may have arrived. A
    # claim without it never left and may go back to the queue.
    attempted_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)


class UploadedFile(Base):
    """A file this bot has uploaded, by content: the file id the platform gave it, so it
    is sent by id from then on, by every sender, after any restart."""

    __tablename__ = "uploaded_files"
    __table_args__ = (UniqueConstraint("sha256", "kind"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # photo, video, ... (an id is per kind)
    file_id: Mapped[str] = mapped_column(Text)
    uploaded_at: Mapped[datetime]


class SenderBeat(Base):
    """A running sender's heartbeat: its claims are live while `beat_at` is recent."""

    __tablename__ = "broadcast_senders"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    beat_at: Mapped[datetime]
