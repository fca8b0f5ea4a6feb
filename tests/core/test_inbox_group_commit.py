"""Updates posted at the same time are kept in one shared transaction, each caller answered
only once the transaction holding its update has committed; a failed transaction fails
every caller in it, so nothing is acknowledged that was not kept."""

import asyncio
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from core import inbox
from core.inbox import InboundUpdate
from tests.core.test_inbox import NOW, message


async def kept(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[int, str]:
    async with sessionmaker() as session:
        rows = await session.execute(select(InboundUpdate.update_id, InboundUpdate.payload))
        return {update_id: payload["message"]["text"] for update_id, payload in rows}


async def test_concurrent_updates_share_one_commit_and_each_is_kept_when_answered(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    writer = inbox.GroupCommit(sessionmaker, clock=lambda: NOW)
    await asyncio.gather(*(writer.store(message(number, f"m{number}")) for number in range(50)))
    assert writer.commits == 1
    assert await kept(sessionmaker) == {number: f"m{number}" for number in range(50)}

    await writer.store(message(50, "later"))  # answered: already committed
    assert (await kept(sessionmaker))[50] == "later"
    assert writer.commits == 2


async def test_a_group_larger_than_the_limit_is_split(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    writer = inbox.GroupCommit(sessionmaker, clock=lambda: NOW, limit=4)
    await asyncio.gather(*(writer.store(message(number, "m")) for number in range(10)))
    assert writer.commits == 3
    assert len(await kept(sessionmaker)) == 10


async def test_an_update_posted_twice_in_one_group_is_kept_once_as_first_posted(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    writer = inbox.GroupCommit(sessionmaker, clock=lambda: NOW)
    await asyncio.gather(writer.store(message(7, "first")), writer.store(message(7, "again")))
    assert await kept(sessionmaker) == {7: "first"}
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(InboundUpdate)) == 1


async def test_a_failed_commit_fails_every_update_in_it(tmp_path: Path) -> None:
    unreachable = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'x.db'}")
    writer = inbox.GroupCommit(async_sessionmaker(unreachable), clock=lambda: NOW)
    try:
        outcomes = await asyncio.gather(
            *(writer.store(message(number, "m")) for number in range(3)), return_exceptions=True
        )
    finally:
        await unreachable.dispose()
    assert all(isinstance(outcome, OperationalError) for outcome in outcomes)
    assert writer.commits == 0
