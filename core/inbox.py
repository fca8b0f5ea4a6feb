"""The webhook inbox: every update Telegram posts is stored before it is acknowledged, then
handled from here, so an update is never lost when a bot process dies mid-way.

Several bot processes behind a load balancer share the inbox: each claims a batch of
unhandled updates (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so no two claim the same row),
handles them in `update_id` order, and marks them handled. A claim older than the lease
belongs to a process that died; anyone may take it again (at-least-once: losing an update
is worse than handling one twice). A handled update is emptied at once: its payload (names,
username, phone, message text) and its sender's id are kept only until it is handled. Its id
is kept for a day, so that Telegram re-posting an update it thinks failed is recognised and
ignored, then pruned.

Storing is group-committed (`GroupCommit`): the updates posted while one transaction is being
written wait for the next, which holds them all in one INSERT and one COMMIT; each poster
is answered only once the transaction holding its update has committed (or failed).

Each user's updates are handled in order whichever process takes them: an update is stored
with the user it comes from, and is not claimed while another claim holds one of that
user's (claims take the oldest first, and a process handles what it claimed before it
claims again).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, delete, exists, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, aliased, mapped_column

from core.clock import Clock
from core.db import Base, upsert
from core.grouped_calls import GroupedCalls
from core.id_lists import among
from core.ids import BIGINT

CLAIM_LEASE = timedelta(minutes=2)
CLAIM_LOCK = 0x5E6B07_0003  # an arbitrary 64-bit key (core.leader's ends 1, migrations' 2)
GROUP_LIMIT = 500  # updates in one group commit at most (one INSERT statement)
KEEP_HANDLED = timedelta(days=1)


class InboundUpdate(Base):
    __tablename__ = "inbound_updates"
    __table_args__ = (
        Index("ix_inbound_updates_pending", "handled_at", "update_id"),
        Index("ix_inbound_updates_user", "user_id", "handled_at"),
    )

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    user_id: Mapped[int | None] = mapped_column(BigInteger)  # see `user_of`
    received_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    handled_at: Mapped[datetime | None]


@dataclass(frozen=True, slots=True)
class Claimed:
    update_id: int
    payload: dict[str, Any]


def user_of(payload: dict[str, Any]) -> int | None:
    """The user (or chat) an update comes from, to keep each user's updates in order (None
    when the update does not say, in a form that can be trusted or not)."""
    for key, value in payload.items():
        if key != "update_id" and isinstance(value, dict):
            origin = value.get("from") or value.get("user") or value.get("chat")
            user_id = origin.get("id") if isinstance(origin, dict) else None
            return user_id if type(user_id) is int and user_id in BIGINT else None
    return None


async def store(session: AsyncSession, payload: dict[str, Any], *, now: datetime) -> None:
    """Keep one posted update (committed); one already stored, handled or not, is left be."""
    await store_many(session, [payload], now=now)


async def store_many(
    session: AsyncSession, payloads: Sequence[dict[str, Any]], *, now: datetime
) -> None:
    """Keep posted updates in one transaction (committed); an update already stored, handled
    or not, is left be, and of one posted twice the first is kept."""
    rows: dict[int, dict[str, Any]] = {}
    for payload in payloads:
        rows.setdefault(
            payload["update_id"],
            {
                "update_id": payload["update_id"],
                "payload": payload,
                "user_id": user_of(payload),
                "received_at": now,
            },
        )
    await upsert(session, InboundUpdate, list(rows.values()), key=["update_id"], update=())
    await session.commit()


class GroupCommit:
    """Stores updates for concurrent callers in shared transactions (`core.grouped_calls`).

    Whoever calls while a transaction is being written joins the next one, up to `limit`
    updates each. `store` returns once the transaction holding its update has committed,
    and raises what the transaction raised if it failed, so an update is acknowledged only
    when it is kept. A caller that gives up waiting (its request cancelled) leaves its
    update in the transaction: keeping one twice is harmless.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        clock: Clock,
        limit: int = GROUP_LIMIT,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._transactions = GroupedCalls[dict[str, Any], None](self._write, limit=limit)
        self.commits = 0

    async def store(self, payload: dict[str, Any]) -> None:
        """Keep `payload` (committed) together with whatever else is posted meanwhile."""
        await self._transactions.call(payload)

    async def _write(self, payloads: list[dict[str, Any]]) -> list[None]:
        async with self._sessionmaker() as session:
            await store_many(session, payloads, now=self._clock())
        self.commits += 1
        return [None] * len(payloads)


async def claim(session: AsyncSession, *, now: datetime, limit: int = 100) -> list[Claimed]:
    """Claim (committed) up to `limit` unhandled updates nobody else holds, oldest first,
    but none of a user one of whose updates a claim holds (its lease not run out).

    On PostgreSQL claims take turns (a transaction-level advisory lock), so each sees what
    the one before it claimed: two at once could otherwise each take one of a user's."""
    stale = now - CLAIM_LEASE
    free = or_(InboundUpdate.claimed_at.is_(None), InboundUpdate.claimed_at < stale)
    held = aliased(InboundUpdate)
    user_held = exists().where(
        held.user_id == InboundUpdate.user_id,
        held.handled_at.is_(None),
        held.claimed_at >= stale,
    )
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text(f"SELECT pg_advisory_xact_lock({CLAIM_LOCK})"))
    rows = await session.execute(
        select(InboundUpdate.update_id, InboundUpdate.payload)
        .where(InboundUpdate.handled_at.is_(None), free, ~user_held)
        .order_by(InboundUpdate.update_id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = [Claimed(update_id, payload) for update_id, payload in rows]
    if claimed:
        await session.execute(
            update(InboundUpdate)
            .where(among(InboundUpdate.update_id, [item.update_id for item in claimed]))
            .values(claimed_at=now)
            .execution_options(synchronize_session=False),  # none is loaded as an object
        )
    await session.commit()
    return claimed


async def mark_handled(session: AsyncSession, update_ids: list[int], *, now: datetime) -> None:
    """Mark updates handled and empty them (committed): what a user sent, and who sent it,
    are needed only to handle it in order, and the id alone recognises a re-post."""
    await session.execute(
        update(InboundUpdate)
        .where(among(InboundUpdate.update_id, update_ids))
        .values(handled_at=now, payload={}, user_id=None)
        .execution_options(synchronize_session=False),  # none is loaded as an object
    )
    await session.commit()


async def prune(session: AsyncSession, *, now: datetime) -> int:
    """Forget updates handled more than a day ago; how many were removed."""
    result = await session.execute(
        delete(InboundUpdate).where(InboundUpdate.handled_at < now - KEEP_HANDLED)
    )
    await session.commit()
    return int(result.rowcount)  # type: ignore[attr-defined]
