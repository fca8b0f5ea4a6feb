"""Bot processes sharing the webhook inbox handle each user's updates in order: an update
is not claimed while a claim holds an earlier update of its user, whoever claims; a claim
whose lease ran out holds nobody back; updates that name no user are claimed as before; a
handled update keeps no trace of its user."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import inbox
from core.inbox import InboundUpdate

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
ARYA, BRAN = 7_000_333, 7_000_444


def pressed(update_id: int, user_id: int) -> dict[str, Any]:
    person = {"id": user_id, "is_bot": False, "first_name": "User"}
    return {
        "update_id": update_id,
        "callback_query": {"id": str(update_id), "from": person, "chat_instance": "1", "data": "x"},
    }


async def claimed_ids(session: AsyncSession, *, limit: int = 100, at: datetime = NOW) -> list[int]:
    return [item.update_id for item in await inbox.claim(session, now=at, limit=limit)]


async def test_a_users_later_update_waits_while_an_earlier_one_is_claimed(
    session: AsyncSession,
) -> None:
    for update_id, user in ((1, ARYA), (2, BRAN), (3, ARYA)):
        await inbox.store(session, pressed(update_id, user), now=NOW)
    assert await claimed_ids(session, limit=1) == [1]  # one process takes Arya's first
    assert await claimed_ids(session) == [2]  # another: Bran's, not Arya's second
    await inbox.mark_handled(session, [1], now=NOW)
    assert await claimed_ids(session) == [3]


async def test_a_handled_update_no_longer_names_its_user(session: AsyncSession) -> None:
    await inbox.store(session, pressed(1, ARYA), now=NOW)
    assert await session.scalar(select(InboundUpdate.user_id)) == ARYA
    await inbox.mark_handled(session, await claimed_ids(session), now=NOW)
    session.expire_all()
    assert await session.scalar(select(InboundUpdate.user_id)) is None


async def test_a_claim_whose_lease_ran_out_holds_nobody_back(session: AsyncSession) -> None:
    for update_id in (1, 2):
        await inbox.store(session, pressed(update_id, ARYA), now=NOW)
    assert await claimed_ids(session, limit=1) == [1]  # its process dies
    later = NOW + inbox.CLAIM_LEASE + timedelta(seconds=1)
    assert await claimed_ids(session, at=later) == [1, 2]  # taken again, in order


async def test_updates_that_name_no_user_are_claimed_as_before(session: AsyncSession) -> None:
    for update_id in (1, 2):
        await inbox.store(session, {"update_id": update_id, "poll": {"id": "p"}}, now=NOW)
    assert await claimed_ids(session, limit=1) == [1]
    assert await claimed_ids(session, limit=1) == [2]


@pytest.mark.parametrize("user_id", [2**63, -(2**63) - 1])
async def test_a_user_id_no_bigint_holds_is_stored_as_naming_nobody(
    session: AsyncSession, user_id: int
) -> None:
    await inbox.store(session, pressed(1, user_id), now=NOW)
    assert await claimed_ids(session) == [1]


async def test_two_claims_at_once_never_split_a_users_updates(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        if session.get_bind().dialect.name != "postgresql":
            pytest.skip("one process claims at a time on SQLite")
        for update_id in (1, 2):
            await inbox.store(session, pressed(update_id, ARYA), now=NOW)

    async def one_claim() -> list[int]:
        async with sessionmaker() as session:
            return await claimed_ids(session, limit=1)

    for _ in range(5):
        results = sorted(await asyncio.gather(one_claim(), one_claim()))
        assert results == [[], [1]]  # never [1] and [2] at once
        async with sessionmaker() as session:  # as if the claim's process had died long ago
            await session.execute(update(InboundUpdate).values(claimed_at=None))
            await session.commit()
