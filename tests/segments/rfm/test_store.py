from datetime import UTC, date, datetime, timedelta

import pandas as pd
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Subscriber
from crm_sync.facts import refresh_facts
from crm_sync.models import Customer, Order
from segments.models import RfmRun, RfmScore
from segments.rfm.purchases import customers_with_orders
from segments.rfm.scoring import SegmentMap, score
from segments.rfm.store import rescore_rfm, rfm_table
from segments.rules import parse
from segments.rules.compiler import subscriber_ids

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
AS_OF = date(2026, 11, 1)
FEW = 1  # a minimum the three customers here reach (the shop is small to stay readable)
ORDERS = [  # (customer, ordered_at, amount, counts_as_purchase)
    ("a", "2026-10-31T10:00Z", 100.10, True),
    ("a", "2026-10-01T10:00Z", 50.20, True),
    ("a", "2026-10-30T10:00Z", 70.00, False),  # refunded: the CRM sync flags it
    ("b", "2026-06-01T10:00Z", 20.00, True),
    ("b", "2026-11-02T10:00Z", 20.00, True),  # after as_of
    ("c", "2026-10-20T10:00Z", 35.35, True),
    ("c", "2026-10-21T10:00Z", -35.35, True),  # a negative amount never counts
    ("d", "2026-10-21T10:00Z", 0.0, True),
]


async def shop(session: AsyncSession) -> dict[str, int]:
    subscriber = Subscriber(
        telegram_id=1, chat_id=1, subscribed_at=NOW, last_seen_at=NOW, attributes={}
    )
    session.add(subscriber)
    await session.flush()
    customers = {}
    for name in "abcd":
        customer = Customer(
            source="shop",
            external_id=name,
            attributes={},
            subscriber_id=subscriber.id if name == "a" else None,
            created_at=NOW,
            updated_at=NOW,
        )
        session.add(customer)
        await session.flush()
        customers[name] = customer.id
    for number, (name, at, amount, counts) in enumerate(ORDERS):
        session.add(
            Order(
                source="shop",
                external_id=str(number),
                customer_id=customers[name],
                ordered_at=datetime.fromisoformat(at),
                amount=amount,
                counts_as_purchase=counts,
                created_at=NOW,
                updated_at=NOW,
            )
        )
    await refresh_facts(session, customer_ids=customers.values())  # as the CRM sync does
    await session.commit()
    return customers


def expected_scores(
    customers: dict[str, int], as_of: date, orders: list[tuple[str, str, float, bool]] = ORDERS
) -> pd.DataFrame:
    """`rfm.score` on the orders the CRM sync counts as purchases."""
    counted = [row for row in orders if row[3]]
    frame = pd.DataFrame(
        {
            "customer_id": [customers[row[0]] for row in counted],
            "ordered_at": pd.to_datetime([row[1] for row in counted], utc=True),
            "amount": [row[2] for row in counted],
        }
    )
    return score(frame, as_of)


async def test_rescore_stores_what_score_computes(session: AsyncSession) -> None:
    customers = await shop(session)
    outcome = await rescore_rfm(session, as_of=AS_OF, now=NOW, min_customers=FEW)
    expected = expected_scores(customers, AS_OF)
    stored = await rfm_table(session)
    assert outcome.customers == 3 == len(stored)
    assert sum(outcome.segments.values()) == 3
    columns = list(expected.columns)
    pd.testing.assert_frame_equal(stored[columns], expected, check_dtype=False)
    assert (stored["as_of"] == AS_OF).all()
    assert stored.set_index("external_id")["monetary"].to_dict() == {
        "a": 150.30,
        "b": 20.0,
        "c": 35.35,
    }


async def test_rescoring_replaces_scores_and_reaches_subscribers(session: AsyncSession) -> None:
    await shop(session)
    await rescore_rfm(session, as_of=AS_OF, now=NOW, min_customers=FEW)
    top = await rfm_table(session)
    segment_of_a = str(top.set_index("external_id").loc["a", "segment"])
    chosen = await session.scalars(subscriber_ids(parse(f"rfm = {segment_of_a}"), now=NOW))
    assert len(chosen.all()) == 1
    # As of a day before any order, nobody is scored any more.
    await rescore_rfm(session, as_of=date(2025, 1, 1), now=NOW, min_customers=FEW)
    assert (await rfm_table(session)).empty
    assert (await session.scalars(subscriber_ids(parse("rfm is set"), now=NOW))).all() == []


async def test_rescore_after_every_order_reads_the_purchase_facts_alike(
    session: AsyncSession,
) -> None:
    # As of a day after every order, the summary comes from the customers' purchase facts;
    # the scores are the ones the orders give.
    customers = await shop(session)
    after_all = date(2026, 11, 3)
    outcome = await rescore_rfm(session, as_of=after_all, now=NOW, min_customers=FEW)
    expected = expected_scores(customers, after_all)
    stored = await rfm_table(session)
    assert outcome.customers == 3
    pd.testing.assert_frame_equal(stored[list(expected.columns)], expected, check_dtype=False)
    assert stored.set_index("external_id")["frequency"].to_dict() == {"a": 2, "b": 2, "c": 1}


async def test_a_rescore_writes_only_the_scores_that_changed(session: AsyncSession) -> None:
    customers = await shop(session)
    after_all = date(2026, 11, 3)
    first = await rescore_rfm(session, as_of=after_all, now=NOW, min_customers=FEW)
    assert first.changed == 3  # all new
    # A week later nobody bought: everyone's recency grew, yet no stored row changes.
    week_later = date(2026, 11, 10)
    again = await rescore_rfm(
        session, as_of=week_later, now=NOW + timedelta(days=7), min_customers=FEW
    )
    assert again.changed == 0
    stored = await rfm_table(session)
    before = expected_scores(customers, week_later)
    pd.testing.assert_frame_equal(stored[list(before.columns)], before, check_dtype=False)
    assert (stored["as_of"] == week_later).all()
    assert stored.set_index("external_id")["recency_days"].to_dict() == {"a": 10, "b": 8, "c": 21}
    assert set((await session.scalars(select(RfmScore.changed_at))).all()) == {NOW}

    # c buys again: c's row changes, and any row whose quintile moved with it.
    again_c = ("c", "2026-11-10T09:00Z", 10.00, True)
    session.add(
        Order(
            source="shop", external_id="c-again", customer_id=customers["c"],
            ordered_at=datetime.fromisoformat(again_c[1]), amount=again_c[2],
            counts_as_purchase=True, created_at=NOW, updated_at=NOW,
        )
    )  # fmt: skip
    await refresh_facts(session, customer_ids=[customers["c"]])
    await session.commit()
    outcome = await rescore_rfm(
        session, as_of=week_later, now=NOW + timedelta(days=8), min_customers=FEW
    )
    after = expected_scores(customers, week_later, [*ORDERS, again_c])
    moved = (before.drop(columns="recency_days") != after.drop(columns="recency_days")).any(axis=1)
    assert outcome.changed == int(moved.sum()) >= 1
    stored = await rfm_table(session)
    pd.testing.assert_frame_equal(stored[list(after.columns)], after, check_dtype=False)
    runs = await session.execute(select(RfmRun.as_of, RfmRun.customers, RfmRun.changed))
    assert sorted(tuple(run) for run in runs) == [
        (after_all, 3, 3),
        (week_later, 3, 0),
        (week_later, 3, outcome.changed),
    ]


async def test_a_new_segment_map_renames_every_customer_it_moves(session: AsyncSession) -> None:
    await shop(session)
    await rescore_rfm(session, as_of=AS_OF, now=NOW, min_customers=FEW)
    renamed = SegmentMap(
        {
            "high": ((3, 5), (1, 5)),
            "low": ((1, 2), (1, 5)),
        }
    )
    outcome = await rescore_rfm(
        session, as_of=AS_OF, now=NOW, segment_map=renamed, min_customers=FEW
    )
    assert outcome.changed == 3
    stored = await rfm_table(session)
    assert set(stored["segment"]) <= {"high", "low"}


async def test_customers_with_orders_counts_orders_placed_by_the_day_as_a_rescore_does(
    session: AsyncSession,
) -> None:
    """An order dated later (a pre-order, a CRM's clock ahead) is not counted yet."""
    await shop(session)
    assert await customers_with_orders(session, as_of=date(2026, 11, 2)) == 3  # a, b, c
    assert await customers_with_orders(session, as_of=AS_OF) == 3  # b by its June order
    assert await customers_with_orders(session, as_of=date(2026, 6, 1)) == 1  # b alone
    assert await customers_with_orders(session, as_of=date(2026, 5, 31)) == 0


async def test_an_order_in_the_last_half_millisecond_of_a_day_is_that_days(
    session: AsyncSession,
) -> None:
    """SQLite's strftime rounds a fraction of .9995 s or more up to the next second: the
    order read as the next day's, and every rescore rewrote the row it had stored."""
    customers = await shop(session)
    late = datetime(2026, 10, 31, 23, 59, 59, 999_900, tzinfo=UTC)
    session.add(
        Order(
            source="shop", external_id="late", customer_id=customers["d"], ordered_at=late,
            amount=5.0, counts_as_purchase=True, created_at=NOW, updated_at=NOW,
        )
    )  # fmt: skip
    await refresh_facts(session, customer_ids=[customers["d"]])
    await session.commit()

    for as_of in (AS_OF, date(2026, 11, 3)):  # from the orders, then from the purchase facts
        first = await rescore_rfm(session, as_of=as_of, now=NOW, min_customers=FEW)
        again = await rescore_rfm(session, as_of=as_of, now=NOW, min_customers=FEW)

        assert first.changed > 0
        assert again.changed == 0
        stored = (await rfm_table(session)).set_index("external_id")
        assert stored.loc["d", "recency_days"] == (as_of - late.date()).days
    assert (
        await session.scalar(
            select(RfmScore.last_ordered_at).where(RfmScore.customer_id == customers["d"])
        )
        == late
    )
