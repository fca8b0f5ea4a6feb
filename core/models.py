"""The audience: subscribers, their tags, the event log, admins and the audit log."""

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, BigIntId, text_enum


class SubscriberStatus(enum.StrEnum):
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"  # said /stop or pressed "Unsubscribe"
    BLOCKED = "blocked"  # blocked the bot (my_chat_member or a 403 on send)
    DEACTIVATED = "deactivated"  # Telegram account deleted (403 "user is deactivated")


class EventType(enum.StrEnum):
    """Kinds of event segbot logs: the vocabulary segments, the ladder and reports share.

    Stored as text, so a new kind needs no migration.
    """

    # Membership of the audience
    SUBSCRIBED = "subscribed"
    START = "start"  # /start from someone already subscribed: another touch
    UNSUBSCRIBED = "unsubscribed"
    BLOCKED = "blocked"
    UNBLOCKED = "unblocked"
    DEACTIVATED = "deactivated"
    FORGOTTEN = "forgotten"  # personal data erased on request
    # What a subscriber did in chat
    MESSAGE = "message"  # a reply: any text or media the subscriber sent
    COMMAND = "command"
    BUTTON = "button"  # an inline button pressed (payload: data, delivery)
    REACTION = "reaction"
    CONTACT_SHARED = "contact_shared"
    EMAIL_SHARED = "email_shared"
    QUIZ_ANSWER = "quiz_answer"
    # What a subscriber did with a broadcast
    LINK_CLICK = "link_click"  # a tracked link followed (payload: tags)
    READ = "read"  # inferred: the first sign a delivered message was seen
    # What segbot concluded
    STAGE_CHANGED = "stage_changed"
    SEGMENT_ENTERED = "segment_entered"
    SEGMENT_LEFT = "segment_left"


class AdminRole(enum.StrEnum):
    OWNER = "owner"
    MARKETER = "marketer"
    OPERATOR = "operator"
    VIEWER = "viewer"


class Subscriber(Base):
    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    telegram_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    first_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))
    username: Mapped[str | None] = mapped_column(String(64), index=True)
    language_code: Mapped[str | None] = mapped_column(String(16))
    phone: Mapped[str | None] = mapped_column(String(32), index=True)  # E.164
    email: Mapped[str | None] = mapped_column(String(320), index=True)  # trimmed, lower-case
    status: Mapped[SubscriberStatus] = mapped_column(
        text_enum(SubscriberStatus), default=SubscriberStatus.ACTIVE, index=True
    )
    subscribed_at: Mapped[datetime]
    unsubscribed_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime]
    # First touch: where this subscriber first came from. Every later touch is an Event.
    source: Mapped[str | None] = mapped_column(String(64), index=True)
    utm_source: Mapped[str | None] = mapped_column(String(255))
    utm_medium: Mapped[str | None] = mapped_column(String(255))
    utm_campaign: Mapped[str | None] = mapped_column(String(255))
    utm_content: Mapped[str | None] = mapped_column(String(255))
    referrer: Mapped[str | None] = mapped_column(String(64))
    country: Mapped[str | None] = mapped_column(String(64))
    region: Mapped[str | None] = mapped_column(String(128))
    city: Mapped[str | None] = mapped_column(String(128))
    timezone: Mapped[str | None] = mapped_column(String(64))  # IANA name, e.g. Europe/Madrid
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    tags: Mapped[list["SubscriberTag"]] = relationship(
        back_populates="subscriber", cascade="all, delete-orphan", lazy="selectin"
    )


class SubscriberTag(Base):
    """One tag on one subscriber; a table of its own so segment rules can index and join it."""

    __tablename__ = "subscriber_tags"

    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    added_at: Mapped[datetime]

    subscriber: Mapped[Subscriber] = relationship(back_populates="tags")


class Event(Base):
    """Something a subscriber did or that happened to them; the raw material of segments."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_subscriber_timeline", "subscriber_id", "occurred_at"),
        # Covers "who did this within a window": audience rules read the ids from the
        # index alone, never visiting the table.
        Index("ix_events_type_time_subscriber", "type", "occurred_at", "subscriber_id"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime]
    campaign_id: Mapped[int | None] = mapped_column(BigInteger)
    delivery_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Admin(Base):
    __tablename__ = "admins"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    role: Mapped[AdminRole] = mapped_column(text_enum(AdminRole))
    added_by: Mapped[int | None] = mapped_column(BigInteger)
    added_at: Mapped[datetime]


class ConsoleLink(Base):
    """A one-time sign-in link to the console for a desktop browser: the link carries
    `nonce` (signed), never who it is for; used once, before `expires_at`.

    Used, it is the record of the browser session it started: `session_digest` is the
    SHA-256 of that session's cookie (the cookie itself, a credential, is not kept), and
    `signed_out_at` ends the session, so a copy of the cookie stops working with it."""

    __tablename__ = "console_links"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    admin_user_id: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    session_digest: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)
    signed_out_at: Mapped[datetime | None]


class AuditLog(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    admin_user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    occurred_at: Mapped[datetime] = mapped_column(index=True)
