"""Lists of ids as one value: in (`among`, `id_rows`) and back (`gathered`, `returned`),
alike on SQLite and PostgreSQL."""

from typing import cast

import pytest
from sqlalchemy import Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import upsert
from core.id_lists import among, gathered, id_list, id_rows, returned
from core.models import Subscriber
from crm_sync.models import Customer
from tests.broadcasts.audience import add_subscribers
from tests.core.test_db import customer


async def test_ids_go_in_as_one_value(session: AsyncSession) -> None:
    people = await add_subscribers(session, 5)
    chosen = [people[0], people[3], people[4]]

    found = await session.scalars(
        select(Subscriber.id).where(among(Subscriber.id, chosen)).order_by(Subscriber.id)
    )
    listed = id_rows(session, [7, 3, 3, 12])
    rows = await session.scalars(select(listed.c.value).order_by(listed.c.value))

    assert found.all() == chosen
    assert rows.all() == [3, 3, 7, 12]


async def test_ids_come_back_as_one_list_per_group(session: AsyncSession) -> None:
    spanish = await add_subscribers(session, 3, language="es")
    english = await add_subscribers(session, 2, first_id=10, language="en")

    groups = await session.execute(
        select(Subscriber.language_code, gathered(Subscriber.id)).group_by(Subscriber.language_code)
    )
    nobody = await session.scalar(
        select(gathered(Subscriber.id)).where(Subscriber.language_code == "ru")
    )

    assert {language: sorted(ids) for language, ids in groups.all()} == {
        "es": spanish,
        "en": english,
    }
    assert nobody == []


async def test_what_a_statement_returns_comes_back_as_lists_in_one_order(
    session: AsyncSession,
) -> None:
    people = await add_subscribers(session, 4, first_id=100)
    table = cast("Table", Subscriber.__table__)

    ids, telegram_ids = await returned(
        session,
        update(table).where(among(table.c.id, people[1:])).values(first_name="Moved"),
        table.c.id,
        table.c.telegram_id,
    )
    none = await returned(
        session,
        update(table).where(among(table.c.id, [])).values(first_name="Nobody"),
        table.c.id,
        table.c.telegram_id,
    )
    renamed = await session.scalar(
        select(func.count()).select_from(table).where(table.c.first_name == "Moved")
    )

    assert sorted(zip(ids, telegram_ids, strict=True)) == [
        (people[1], 101),
        (people[2], 102),
        (people[3], 103),
    ]
    assert none == [[], []]
    assert renamed == 3


@pytest.mark.parametrize("wanted", [[], [2], [3, 1, 3], list(range(1, 80_001, 2))])
async def test_among_selects_the_rows_whose_key_is_in_the_list(
    session: AsyncSession, wanted: list[int]
) -> None:
    """A list named in a statement built once, given when it runs: empty, repeated ids, and
    more than SQLite's limit of 32,766 parameters in one statement."""
    await upsert(
        session,
        Customer,
        [customer(f"c{number}", "Ann") | {"id": number} for number in (1, 2, 3)],
        key=["source", "external_id"],
    )
    statement = select(Customer.id).where(among(Customer.id, id_list("ids"))).order_by(Customer.id)
    found = (await session.scalars(statement, {"ids": wanted})).all()
    assert found == sorted({1, 2, 3} & set(wanted))
