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
claims again). That rests on Telegram posting one chat's updates one at a time, each once
the one before was answered, which is only once it is stored: an update posted while an
earlier one of its user's is still on its way to another process (never by Telegram)
could be claimed before it.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Index,
    Table,
    bindparam,
    delete,
    exists,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import Clock
from core.db import Base, upsert
from core.grouped_calls import GroupedCalls
from core.id_lists import among, id_list
from core.ids import BIGINT

# Updates in one claim at most. Each claim and its mark-handled cost a fixed ~2 ms of a bot
# process's CPU, and the updates of one claim are handled together, so their Redis and
# database calls share round trips: 300 takes 12-21 % less CPU per update than 100. The
# cost of more: a process that dies holds its claim until the lease runs out, and while a
# claim is handled no other process takes the later updates of its users.
CLAIM_BATCH = 300
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


# The statements each claim and each batch run: Core on the table, built once (a statement
# built per call costs more in Python than the database takes to run it).
_TABLE = cast("Table", InboundUpdate.__table__)
_COLUMNS = _TABLE.c
_HELD = _TABLE.alias("held")
_CLAIMABLE = (
    select(_COLUMNS.update_id, _COLUMNS.payload)
    .where(
        _COLUMNS.handled_at.is_(None),
        _COLUMNS.claimed_at.is_(None) | (_COLUMNS.claimed_at < bindparam("stale")),
        ~exists().where(  # none of a user one of whose updates a live claim holds
            _HELD.c.user_id == _COLUMNS.user_id,
            _HELD.c.handled_at.is_(None),
            _HELD.c.claimed_at >= bindparam("stale"),
        ),
    )
    .order_by(_COLUMNS.update_id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_CLAIM = (
    update(_TABLE)
    .where(among(_COLUMNS.update_id, id_list("ids")))
    .values(claimed_at=bindparam("now"))
)
_RELEASE = (
    update(_TABLE)
    .where(among(_COLUMNS.update_id, id_list("ids")), _COLUMNS.handled_at.is_(None))
    .values(claimed_at=None)
)
_MARK_HANDLED = (
    update(_TABLE)
    .where(among(_COLUMNS.update_id, id_list("ids")))
    .values(handled_at=bindparam("now"), payload={}, user_id=None)
)


async def claim(session: AsyncSession, *, now: datetime, limit: int = CLAIM_BATCH) -> list[Claimed]:
    """Claim (committed) up to `limit` unhandled updates nobody else holds, oldest first,
    but none of a user one of whose updates a claim holds (its lease not run out).

    On PostgreSQL claims take turns (a transaction-level advisory lock), so each sees what
    the one before it claimed: two at once could otherwise each take one of a user's."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text(f"SELECT pg_advisory_xact_lock({CLAIM_LOCK})"))
    rows = await session.execute(_CLAIMABLE, {"stale": now - CLAIM_LEASE, "limit": limit})
    claimed = [Claimed(*row) for row in rows]
    if claimed:
        await session.execute(_CLAIM, {"ids": [item.update_id for item in claimed], "now": now})
    await session.commit()
    return claimed


async def mark_handled(session: AsyncSession, update_ids: list[int], *, now: datetime) -> None:
    """Mark updates handled and empty them (committed): what a user sent, and who sent it,
    are needed only to handle it in order, and the id alone recognises a re-post."""
    await session.execute(_MARK_HANDLED, {"ids": update_ids, "now": now})
    await session.commit()


async def release(session: AsyncSession, update_ids: list[int]) -> None:
    """Give up claims on updates not handled (committed): a process that stops leaves them
    to the next claim at once, not after the lease."""
    await session.execute(_RELEASE, {"ids": update_ids})
    await session.commit()


async def prune(session: AsyncSession, *, now: datetime) -> int:
    """Forget updates handled more than a day ago; how many were removed."""
    result = await session.execute(
        delete(InboundUpdate).where(InboundUpdate.handled_at < now - KEEP_HANDLED)
    )
    await session.commit()
    return int(result.rowcount)  # type: ignore[attr-defined]
