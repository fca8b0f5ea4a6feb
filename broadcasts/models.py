"""What broadcasts are made of. Tracked links come first (the subscriber journey needs
them); campaigns, variants, runs and deliveries join them here."""

from datetime import datetime

from sqlalchemy import JSON, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, BigIntId


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
