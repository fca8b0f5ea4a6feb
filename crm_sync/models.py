"""Customers and orders as the CRM knows them, keyed by (source, external id), and the
bookkeeping of the sync: runs, rejected rows, cursors and identity conflicts."""

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, BigIntId

# Money as float: analytics sums it in pandas; SQLite has no decimal type anyway.
Money = Numeric(14, 2, asdecimal=False)
# Sums of orders' money: room for 100,000 orders at crm_sync.records.MAX_AMOUNT. SQLite
# stores any number in any numeric column and keeps the type declared before: declaring
# another would rebuild the customers table, whose drop deletes every order (cascade).
MoneySum = Numeric(18, 2, asdecimal=False).with_variant(Money, "sqlite")


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (UniqueConstraint("source", "external_id"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    source: Mapped[str] = mapped_column(String(64))  # the connector's name
    external_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(32), index=True)  # E.164
    email: Mapped[str | None] = mapped_column(String(320), index=True)  # trimmed, lower-case
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL"), index=True
    )
    matched_by: Mapped[str | None] = mapped_column(String(16))  # deep_link, phone or email
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # Purchase facts, derived from the orders that count as purchases (no refunds, no
    # cancellations, amount > 0) and kept current by the sync.
    orders_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    total_spent: Mapped[float] = mapped_column(MoneySum, default=0.0, server_default=text("0"))
    average_order_value: Mapped[float | None] = mapped_column(Money)
    first_order_at: Mapped[datetime | None]
    last_order_at: Mapped[datetime | None] = mapped_column(index=True)


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        Index("ix_orders_customer_time", "customer_id", "ordered_at"),
        # The sync refreshes purchase facts for customers whose orders it wrote since a time.
        Index("ix_orders_source_updated", "source", "updated_at"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(128))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    ordered_at: Mapped[datetime] = mapped_column(index=True)
    amount: Mapped[float] = mapped_column(Money)
    currency: Mapped[str | None] = mapped_column(String(3))
    status: Mapped[str | None] = mapped_column(String(32))
    utm_campaign: Mapped[str | None] = mapped_column(String(255))  # for attribution
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    quantity: Mapped[int | None] = mapped_column(Integer)
    # False for refunds, cancellations and amounts <= 0: left out of the purchase facts.
    counts_as_purchase: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class SubscriberPurchases(Base):
    """Purchase facts per subscriber, summed over every customer linked to them: what
    audience rules ask (`buyer`, `orders`, `spent`, `avg_check`, `last_purchase`), one
    row per subscriber in a table the planner keeps statistics on (summing customers per
    subscriber inside every audience query left it guessing, and its plans with it).

    Kept by `crm_sync.facts` whenever a customer's facts or links change; a subscriber
    with no linked customer has no row.
    """

    __tablename__ = "subscriber_purchases"

    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    customers: Mapped[int] = mapped_column(Integer)
    orders_count: Mapped[int] = mapped_column(Integer)
    total_spent: Mapped[float] = mapped_column(MoneySum)
    last_order_at: Mapped[datetime | None]


class SyncRun(Base):
    """One run of one connector: what it read, wrote and rejected, and where it got to."""

    __tablename__ = "sync_runs"
    __table_args__ = (
        # At most one running run per connector, across every process sharing the database.
        Index(
            "uq_sync_runs_one_running",
            "connector",
            unique=True,
            sqlite_where=text("status = 'running'"),
            postgresql_where=text("status = 'running'"),
        ),
        Index("ix_sync_runs_connector_started", "connector", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    connector: Mapped[str] = mapped_column(String(64))
    trigger: Mapped[str] = mapped_column(String(16))  # schedule, manual or import
    status: Mapped[str] = mapped_column(String(16))  # running, succeeded, failed, abandoned
    started_at: Mapped[datetime]
    # The last batch stored: progress to show. Whether the run is alive is its connector's
    # lock's to say (crm_sync.run_lock), not this time's.
    heartbeat_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    read_count: Mapped[int] = mapped_column(Integer, default=0)
    inserted_count: Mapped[int] = mapped_column(Integer, default=0)
    updated_count: Mapped[int] = mapped_column(Integer, default=0)
    unchanged_count: Mapped[int] = mapped_column(Integer, default=0)
    rejected_count: Mapped[int] = mapped_column(Integer, default=0)
    # Counts per stream ({"customers": {...}, "orders": {...}}) and cursors per stream.
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    cursor_before: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    cursor_after: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)


class RejectedRow(Base):
    """A record that failed validation: kept as read, with the reason, for a person to fix.
    With `field`, the record was stored and only that value was left out of it."""

    __tablename__ = "rejected_rows"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("sync_runs.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # customers or orders
    row_number: Mapped[int | None] = mapped_column(BigInteger)  # line in a file, else position
    external_id: Mapped[str | None] = mapped_column(String(128))
    raw: Mapped[dict[str, Any]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(String(255))
    field: Mapped[str | None] = mapped_column(String(32))  # phone or email


class SyncCursor(Base):
    """Where a connector's stream got to; written in the same transaction as its batch."""

    __tablename__ = "sync_cursors"

    connector: Mapped[str] = mapped_column(String(64), primary_key=True)
    stream: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime]


class IdentityConflict(Base):
    """A phone or email that points at more than one customer of one source, or at more
    than one subscriber: reported for a person to resolve, never guessed."""

    __tablename__ = "identity_conflicts"
    __table_args__ = (UniqueConstraint("kind", "value", "source"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # phone or email
    value: Mapped[str] = mapped_column(String(320))
    source: Mapped[str] = mapped_column(String(64))
    customer_ids: Mapped[list[int]] = mapped_column(JSON)
    subscriber_ids: Mapped[list[int]] = mapped_column(JSON)
    detected_at: Mapped[datetime]
