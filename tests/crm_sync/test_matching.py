"""Linking customers to subscribers by deep link, phone or email; conflicts reported."""

from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import utcnow
from core.subscribers import forget
from crm_sync.connectors import FilesConnector
from crm_sync.matching import UnknownCustomerError, link_by_deep_link, match_subscriber
from crm_sync.models import Customer, IdentityConflict
from crm_sync.reports import crm_status
from crm_sync.worker import run_sync
from tests.crm_sync.shop import (
    CUSTOMER_HEADER,
    RULES,
    SubscriberFactory,
    customers_by_id,
    write_csv,
)


async def import_customers(
    sessionmaker: async_sessionmaker[AsyncSession],
    path: Path,
    rows: list[tuple[str, str, str, str]],
    source: str = "shop",
) -> None:
    write_csv(path, CUSTOMER_HEADER, rows)
    connector = FilesConnector(name=source, customers=path, orders=None, rules=RULES)
    summary = await run_sync(sessionmaker=sessionmaker, connector=connector, full=True)
    assert summary.status == "succeeded", summary.error


async def links(
    session: AsyncSession, source: str = "shop"
) -> dict[str, tuple[int | None, str | None]]:
    return {
        key: (customer.subscriber_id, customer.matched_by)
        for key, customer in (await customers_by_id(session, source)).items()
    }


async def test_sync_links_by_phone_and_email_in_that_order_of_trust(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    subscriber_factory: SubscriberFactory,
    tmp_path: Path,
) -> None:
    by_phone = subscriber_factory(phone="+34600000001", email="ann@other.org")
    by_email = subscriber_factory(email="bob@example.com")
    await session.commit()

    await import_customers(
        sessionmaker,
        tmp_path / "c.csv",
        [
            ("c1", "Ann", "600 000 001", "ann@example.com"),
            ("c1b", "Ann again", "", "ann@other.org"),  # same subscriber, weaker evidence
            ("c2", "Bob", "", "BOB@example.com "),
            ("c3", "Cy", "600 000 003", "cy@example.com"),
        ],
    )

    assert await links(session) == {
        "c1": (by_phone.id, "phone"),
        "c1b": (None, None),  # one customer per subscriber and source: the phone wins
        "c2": (by_email.id, "email"),
        "c3": (None, None),
    }
    status = await crm_status(session)
    (shop,) = status.sources
    assert (shop.customers, shop.linked, shop.linked_by) == (4, 2, {"phone": 1, "email": 1})
    assert (status.subscribers, status.matched_subscribers) == (2, 2)


async def test_one_phone_two_customers_is_a_conflict_reported_not_guessed(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    subscriber_factory: SubscriberFactory,
    tmp_path: Path,
) -> None:
    subscriber = subscriber_factory(phone="+34600000001")
    await session.commit()
    rows = [("c1", "Ann", "600000001", ""), ("c2", "Anna", "+34 600 000 001", "")]

    await import_customers(sessionmaker, tmp_path / "c.csv", rows)

    assert await links(session) == {"c1": (None, None), "c2": (None, None)}
    conflict = await session.scalar(select(IdentityConflict))
    assert conflict is not None
    assert (conflict.kind, conflict.value, conflict.source) == ("phone", "+34600000001", "shop")
    assert len(conflict.customer_ids) == 2
    assert conflict.subscriber_ids == [subscriber.id]

    # The shop fixes its data: the conflict goes away and the link is made.
    await import_customers(sessionmaker, tmp_path / "c.csv", [rows[0], ("c2", "Anna", "", "")])
    assert (await links(session))["c1"] == (subscriber.id, "phone")
    assert await session.scalar(select(IdentityConflict)) is None


async def test_one_phone_two_subscribers_links_nobody(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    subscriber_factory: SubscriberFactory,
    tmp_path: Path,
) -> None:
    subscriber_factory(phone="+34600000001")
    subscriber_factory(phone="+34600000001")
    await session.commit()
    await import_customers(sessionmaker, tmp_path / "c.csv", [("c1", "Ann", "600000001", "")])
    assert await links(session) == {"c1": (None, None)}
    conflict = await session.scalar(select(IdentityConflict))
    assert conflict is not None
    assert len(conflict.subscriber_ids) == 2


async def test_the_same_person_in_two_sources_is_linked_in_both(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    subscriber_factory: SubscriberFactory,
    tmp_path: Path,
) -> None:
    subscriber = subscriber_factory(email="ann@example.com")
    await session.commit()
    row = [("c1", "Ann", "", "ann@example.com")]
    await import_customers(sessionmaker, tmp_path / "a.csv", row, source="shop")
    await import_customers(sessionmaker, tmp_path / "b.csv", row, source="pos")
    assert await links(session, "shop") == {"c1": (subscriber.id, "email")}
    assert await links(session, "pos") == {"c1": (subscriber.id, "email")}


async def test_a_subscriber_sharing_a_phone_is_matched_then(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    subscriber_factory: SubscriberFactory,
    tmp_path: Path,
) -> None:
    await import_customers(sessionmaker, tmp_path / "c.csv", [("c1", "Ann", "600000001", "")])
    subscriber = subscriber_factory()
    await session.commit()
    assert (await links(session))["c1"] == (None, None)

    subscriber.phone = "+34600000001"  # what the bot stores when a contact is shared
    outcome = await match_subscriber(session, subscriber_id=subscriber.id)

    assert (outcome.linked, outcome.unlinked, outcome.conflicts) == (1, 0, 0)
    assert (await links(session))["c1"] == (subscriber.id, "phone")

    subscriber.phone = "+34600000999"  # a new number no customer has: the link goes
    outcome = await match_subscriber(session, subscriber_id=subscriber.id)
    assert (outcome.linked, outcome.unlinked) == (0, 1)
    assert (await links(session))["c1"] == (None, None)


async def test_a_deep_link_outranks_phone_and_email_and_survives_resyncs(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    subscriber_factory: SubscriberFactory,
    tmp_path: Path,
) -> None:
    subscriber = subscriber_factory(phone="+34600000001")
    await session.commit()
    rows = [("c1", "Ann", "600000001", ""), ("c2", "Ann's account", "", "")]
    await import_customers(sessionmaker, tmp_path / "c.csv", rows)
    assert (await links(session))["c1"] == (subscriber.id, "phone")

    await link_by_deep_link(session, subscriber_id=subscriber.id, source="shop", external_id="c2")
    assert await links(session) == {"c1": (None, None), "c2": (subscriber.id, "deep_link")}

    await import_customers(sessionmaker, tmp_path / "c.csv", rows)
    assert await links(session) == {"c1": (None, None), "c2": (subscriber.id, "deep_link")}


async def test_a_deep_link_to_an_unknown_customer_is_an_error(
    session: AsyncSession, subscriber_factory: SubscriberFactory
) -> None:
    subscriber = subscriber_factory()
    await session.commit()
    with pytest.raises(UnknownCustomerError, match="no unique customer 'nope' from 'shop'"):
        await link_by_deep_link(
            session, subscriber_id=subscriber.id, source="shop", external_id="nope"
        )


async def test_a_link_written_to_someone_erased_meanwhile_is_undone_by_the_sync(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    subscriber_factory: SubscriberFactory,
    tmp_path: Path,
) -> None:
    """A sync that read a subscriber's phone before their /forget committed links the
    customer to their erased row after it: the sync's end finds the link and undoes it,
    clearing the customer as the erasure would have."""
    them = subscriber_factory(phone="+34600000001")
    await session.commit()
    await import_customers(sessionmaker, tmp_path / "c.csv", [("c1", "Ann", "600 000 001", "")])
    assert await links(session) == {"c1": (them.id, "phone")}
    await forget(session, telegram_id=them.telegram_id, now=utcnow())
    await session.commit()
    # the racing sync's write, landing after the erasure
    await session.execute(
        update(Customer).values(subscriber_id=them.id, matched_by="phone", name="Ann")
    )
    await session.commit()

    await import_customers(sessionmaker, tmp_path / "d.csv", [], source="other")

    session.expunge_all()
    customer = (await customers_by_id(session))["c1"]
    assert (customer.subscriber_id, customer.matched_by, customer.name) == (None, None, None)
