"""The audit log: every admin action, who did it, with what, and how it ended.

Written in a session of its own, after the action, so an action that failed and rolled
back is still recorded (with its outcome).
"""

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.models import AuditLog

MAX_TEXT = 200


async def record(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    admin_id: int,
    action: str,
    now: datetime,
    **detail: Any,
) -> None:
    """One entry; text values are cut to MAX_TEXT characters. Commits."""
    cut = {
        key: value[:MAX_TEXT] if isinstance(value, str) else value for key, value in detail.items()
    }
    async with sessionmaker() as session:
        session.add(
            AuditLog(admin_user_id=admin_id, action=action[:64], detail=cut, occurred_at=now)
        )
        await session.commit()


async def recent(session: AsyncSession, *, limit: int) -> list[AuditLog]:
    """The latest `limit` entries, newest first."""
    rows = await session.scalars(
        select(AuditLog).order_by(AuditLog.occurred_at.desc(), AuditLog.id.desc()).limit(limit)
    )
    return list(rows.all())
