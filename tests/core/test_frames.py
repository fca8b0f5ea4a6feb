from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Column, Integer, Text, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.frames import fill_temporary, read_integers, temporary_table
from core.models import Subscriber

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


async def add_subscribers(session: AsyncSession, count: int) -> None:
    session.add_all(
        Subscriber(
            telegram_id=100 + number,
            chat_id=100 + number,
            subscribed_at=T0 + timedelta(days=number),
            last_seen_at=T0,
        )
        for number in range(count)
    )
    await session.commit()


async def test_read_integers_binds_parameters_as_the_columns_store_them(
    session: AsyncSession,
) -> None:
    await add_subscribers(session, 4)
    statement = (
        select(Subscriber.telegram_id, Subscriber.chat_id * 3)
        .where(Subscriber.subscribed_at >= T0 + timedelta(days=2), Subscriber.chat_id > 100)
        .order_by(Subscriber.telegram_id)
    )
    frame = await read_integers(session, statement, ["id", "triple"])
    assert frame.to_dict("list") == {"id": [102, 103], "triple": [306, 309]}
    assert list(frame.dtypes) == ["int64", "int64"]


async def test_read_integers_gives_an_empty_frame_for_no_rows(session: AsyncSession) -> None:
    await add_subscribers(session, 2)
    nothing = select(Subscriber.telegram_id, Subscriber.chat_id).where(Subscriber.chat_id < 0)
    empty = await read_integers(session, nothing, ["a", "b"])
    assert empty.empty
    assert list(empty.columns) == ["a", "b"]
    assert list(empty.dtypes) == ["int64", "int64"]


async def test_read_integers_refuses_null_and_in_lists(session: AsyncSession) -> None:
    await add_subscribers(session, 2)
    with_null = select(func.nullif(Subscriber.telegram_id, 100))
    with pytest.raises(ValueError, match="NULL"):
        await read_integers(session, with_null, ["a"])
    listed = select(Subscriber.telegram_id).where(Subscriber.telegram_id.in_([1, 2]))
    with pytest.raises(ValueError, match="IN"):
        await read_integers(session, listed, ["a"])


async def test_fill_temporary_keeps_every_row_however_many_statements_it_takes(
    session: AsyncSession,
) -> None:
    staged = temporary_table("frames_staged", "id", Column("name", Text), Column("size", Integer))
    rows = [(number, None if number % 7 else f"n{number}", number * 2) for number in range(1000)]
    await fill_temporary(session, staged, rows)  # more rows than one SQLite statement takes
    stored = await session.execute(select(*staged.c).order_by(staged.c.id))
    assert [tuple(row) for row in stored] == rows
    await fill_temporary(session, staged, rows[:5])
    assert await session.scalar(select(func.count()).select_from(staged)) == 5
