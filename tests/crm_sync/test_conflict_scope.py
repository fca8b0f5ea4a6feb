"""Matching one subscriber reads only the conflicts that concern them, with the same
links and conflicts as before."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Select, select
from sqlalchemy.engine import Result
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_sync.connectors import FilesConnector
from crm_sync.matching import MatchOutcome, match_subscriber
from crm_sync.models import IdentityConflict
from crm_sync.worker import run_sync
from tests.crm_sync.shop import (
    CUSTOMER_HEADER,
    RULES,
    T0,
    SubscriberFactory,
    customers_by_id,
    write_csv,
)


async def conflicted_shop(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    subscriber_factory: SubscriberFactory,
    folder: Path,
) -> tuple[int, int]:
    """A shop with four conflicts, one of them over a phone `moved` shares with `stayed`;
    the ids of those two subscribers. The other three concern neither: two found by the
    sync, one (over an email nobody holds) naming ids whose digits contain `moved`'s."""
    moved = subscriber_factory(phone="+34600000001")
    stayed = subscriber_factory(phone="+34600000001")
    for _ in range(2):
        subscriber_factory(phone="+34600000002")
    subscriber_factory(email="shared@example.com")
    await session.commit()
    write_csv(
        folder / "customers.csv",
        CUSTOMER_HEADER,
        [
            ("c1", "Ann", "600 000 001", ""),  # two subscribers: moved and stayed
            ("c2", "Bob", "600 000 002", ""),  # two subscribers, neither moved
            ("c3", "Cy", "", "shared@example.com"),  # two customers, one subscriber
            ("c4", "Di", "", "shared@example.com"),
        ],
    )
    connector = FilesConnector(
        name="shop", customers=folder / "customers.csv", orders=None, rules=RULES
    )
    summary = await run_sync(sessionmaker=sessionmaker, connector=connector, full=True)
    assert summary.status == "succeeded", summary.error
    lookalikes = [int(f"{moved.id}{moved.id}"), moved.id + 1000]
    session.add(
        IdentityConflict(
            kind="email", value="gone@example.com", source="shop", customer_ids=[],
            subscriber_ids=lookalikes, detected_at=T0,
        )
    )  # fmt: skip
    moved.phone = "+34600000009"
    await session.commit()
    return moved.id, stayed.id


async def conflicts(session: AsyncSession) -> dict[tuple[str, str], int]:
    rows = await session.execute(
        select(IdentityConflict.kind, IdentityConflict.value, IdentityConflict.id)
    )
    return {(kind, value): id_ for kind, value, id_ in rows.all()}


async def test_matching_one_subscriber_replaces_their_conflict_and_keeps_the_others(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    subscriber_factory: SubscriberFactory,
    tmp_path: Path,
) -> None:
    moved, stayed = await conflicted_shop(sessionmaker, session, subscriber_factory, tmp_path)
    before = await conflicts(session)
    assert set(before) == {
        ("phone", "+34600000001"),
        ("phone", "+34600000002"),
        ("email", "shared@example.com"),
        ("email", "gone@example.com"),
    }

    outcome = await match_subscriber(session, subscriber_id=moved)

    # The phone `moved` gave up names one subscriber now: its customer links to them.
    assert outcome == MatchOutcome(linked=1, unlinked=0, conflicts=0)
    customers = await customers_by_id(session, "shop")
    assert (customers["c1"].subscriber_id, customers["c1"].matched_by) == (stayed, "phone")
    # The conflicts that never named `moved` stand as they were, the same rows.
    del before[("phone", "+34600000001")]
    assert await conflicts(session) == before


async def test_matching_one_subscriber_reads_only_the_conflicts_they_are_in(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    subscriber_factory: SubscriberFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    moved, _ = await conflicted_shop(sessionmaker, session, subscriber_factory, tmp_path)
    theirs = (await conflicts(session))[("phone", "+34600000001")]
    read = await conflicts_read(session, monkeypatch)

    await match_subscriber(session, subscriber_id=moved)

    assert [row.id for row in read] == [theirs]


async def conflicts_read(session: AsyncSession, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The rows `session` will read from `identity_conflicts` from now on, as they come."""
    execute = session.execute
    read: list[Any] = []

    async def reading(statement: Any, *args: Any, **kwargs: Any) -> Result[Any]:
        result = await execute(statement, *args, **kwargs)
        froms: Sequence[Any] = statement.get_final_froms() if isinstance(statement, Select) else ()
        if IdentityConflict.__table__ not in froms:
            return result
        frozen = result.freeze()
        read.extend(frozen.data)
        return frozen()

    monkeypatch.setattr(session, "execute", reading)
    return read
