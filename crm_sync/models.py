"""Customers and orders as the CRM knows them, keyed by (source, external id)."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, BigIntId


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


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        Index("ix_orders_customer_time", "customer_id", "ordered_at"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(128))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    ordered_at: Mapped[datetime] = mapped_column(index=True)
    # Money as float: analytics sums it in pandas; SQLite has no decimal type anyway.
    amount: Mapped[float] = mapped_column(Numeric(14, 2, asdecimal=False))
    currency: Mapped[str | None] = mapped_column(String(3))
    status: Mapped[str | None] = mapped_column(String(32))
    utm_campaign: Mapped[str | None] = mapped_column(String(255))  # for attribution
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
