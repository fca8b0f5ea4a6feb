"""The features of each subscriber, hand-computed: engagement per week, hour shares in their
own day, texts and numbers from their row and attributes, RFM, tags; the same whatever
size the chunks the rows are read in; and only the audience's subscribers."""

from datetime import timedelta
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Event, Subscriber, SubscriberTag
from crm_sync.models import Customer
from segments.ai import columns
from segments.ai.features import build_features
from segments.models import LadderStage, RfmScore
from segments.rules import parse
from tests.segments.ai.planted import NOW, plant

WINDOW = 28  # days: four weeks


async def _subscribers(session: AsyncSession, *rows: dict[str, Any]) -> list[int]:
    people = [
        {"telegram_id": number, "chat_id": number, "subscribed_at": NOW - timedelta(days=200),
         "last_seen_at": NOW, "attributes": {}} | row
        for number, row in enumerate(rows, start=1)
    ]  # fmt: skip
    result = await session.execute(
        insert(Subscriber).returning(Subscriber.id, sort_by_parameter_order=True), people
    )
    return list(result.scalars().all())


def _event(subscriber_id: int, kind: str, at_utc_hour: int, days_ago: int = 1) -> dict[str, Any]:
    at = NOW.replace(hour=at_utc_hour) - timedelta(days=days_ago)
    payload = {"tags": ["deals"]} if kind == "link_click" else {}
    return {"subscriber_id": subscriber_id, "type": kind, "occurred_at": at, "payload": payload}


async def test_engagement_is_per_week_and_hours_are_shares_of_their_own_day(
    session: AsyncSession,
) -> None:
    tokyo, newcomer, quiet, lost = await _subscribers(
        session,
        {"timezone": "Asia/Tokyo"},  # UTC+9 all year
        {"subscribed_at": NOW - timedelta(days=3), "timezone": "Nowhere/Unknown"},
        {},
        {"timezone": None},
    )
    events = [
        *(_event(tokyo, "read", 23) for _ in range(3)),  # 08:00 in Tokyo: morning
        _event(tokyo, "read", 23, days_ago=WINDOW + 1),  # before the window
        _event(tokyo, "start", 23),  # not engagement
        _event(newcomer, "link_click", 13),  # an unknown zone reads as UTC: afternoon
    ]
    await session.execute(insert(Event), events)
    await session.commit()

    frame = (await build_features(session, now=NOW, window_days=WINDOW)).frame

    assert list(frame.loc[tokyo, ["reads", "clicks", "replies"]]) == [0.75, 0.0, 0.0]
    assert frame.loc[newcomer, "clicks"] == 1.0  # three days subscribed count as a week
    assert list(frame.loc[quiet, ["reads", "clicks"]]) == [0.0, 0.0]
    # Quarters: Tokyo (0, 3, 0, 0), the newcomer (0, 0, 1, 0); the usual mix (0, 3/4, 1/4,
    # 0) weighs as four events more in everyone's shares.
    hours = ["night", "morning", "afternoon", "evening"]
    assert list(frame.loc[tokyo, hours]) == pytest.approx([0, 6 / 7, 1 / 7, 0])
    assert list(frame.loc[newcomer, hours]) == pytest.approx([0, 0.6, 0.4, 0])
    assert list(frame.loc[quiet, hours]) == pytest.approx([0, 0.75, 0.25, 0])
    assert list(frame.loc[lost, hours]) == pytest.approx([0, 0.75, 0.25, 0])
    assert frame.loc[tokyo, "tenure"] == pytest.approx(200)


async def test_texts_are_unknown_when_missing_and_numbers_only_from_json_numbers(
    session: AsyncSession,
) -> None:
    ana, bob = await _subscribers(
        session,
        {"language_code": "es", "country": "ES", "city": "Madrid",
         "attributes": {"age": 31, "gender": "f", "income": "high", "age_band": "25_34"}},
        {"attributes": {"age": "31", "gender": 5, "education": ["phd"], "income": True}},
    )  # fmt: skip
    await session.execute(
        insert(LadderStage), [{"subscriber_id": ana, "stage": 3, "evidence_at": NOW,
                               "changed_at": NOW}]
    )  # fmt: skip
    await session.commit()

    features = await build_features(session, now=NOW, window_days=WINDOW)

    frame = features.frame
    texts = ["lang", "country", "city", "gender", "income", "age_band", "education"]
    assert list(frame.loc[ana, texts]) == ["es", "ES", "Madrid", "f", "high", "25_34", "unknown"]
    assert list(frame.loc[bob, texts]) == ["unknown"] * len(texts)
    assert all(isinstance(frame[column].dtype, pd.CategoricalDtype) for column in texts)
    assert list(frame["gender"].cat.categories) == ["f", "unknown"]
    assert frame.loc[ana, "age"] == 31.0
    assert frame["age"].isna().to_dict() == {ana: False, bob: True}
    assert frame["stage"].to_dict() == {ana: 3, bob: 0}
    assert features.categorical == {"lang", "gender", "age_band", "income", "education",
                                    "country", "city"}  # fmt: skip


async def test_rfm_is_the_best_linked_customers_and_buyers_have_an_order(
    session: AsyncSession,
) -> None:
    twice, never, unlinked = await _subscribers(session, {}, {}, {})
    scores = {"twice": ((3, 2, 1), 2), "again": ((1, 4, 5), 0), "none": (None, 0)}
    for name, (score, orders) in scores.items():
        customer = Customer(
            source="shop", external_id=name, attributes={}, created_at=NOW, updated_at=NOW,
            subscriber_id=never if name == "none" else twice, orders_count=orders,
        )  # fmt: skip
        session.add(customer)
        await session.flush()
        if score is not None:
            r, f, m = score
            session.add(
                RfmScore(
                    customer_id=customer.id, last_ordered_at=NOW, frequency=orders,
                    monetary=10.0, r=r, f=f, m=m, segment="loyal", changed_at=NOW,
                )
            )  # fmt: skip
    await session.commit()

    frame = (await build_features(session, now=NOW, window_days=WINDOW)).frame

    rfm = ["recency", "frequency", "monetary", "buyer"]
    assert list(frame.loc[twice, rfm]) == [3, 4, 5, 1]
    assert list(frame.loc[never, rfm]) == [0, 0, 0, 0]
    assert list(frame.loc[unlinked, rfm]) == [0, 0, 0, 0]


async def test_common_tags_are_columns_and_membership_tags_never_count(
    session: AsyncSession,
) -> None:
    ids = await _subscribers(session, *({} for _ in range(4)))
    first, second, third, _ = ids
    tags = [(first, "vip"), (second, "vip"), (third, "rare"), *((i, "segment:7") for i in ids)]
    await session.execute(
        insert(SubscriberTag),
        [{"subscriber_id": i, "tag": tag, "added_at": NOW} for i, tag in tags],
    )
    clicks = [(first, {"tags": ["deals"]}), (first, {"tags": ["deals", 7]}),
              (second, {"tags": ["deals", "spring"]}), (third, {"tags": "deals"})]  # fmt: skip
    await session.execute(
        insert(Event),
        [{"subscriber_id": i, "type": "link_click", "occurred_at": NOW, "payload": payload}
         for i, payload in clicks],
    )  # fmt: skip
    await session.commit()

    features = await build_features(session, now=NOW, window_days=WINDOW)

    # Held by two at least (and 1% of the audience): "rare" and "spring" are left out.
    assert features.groups["interests"] == ("tag:vip",)
    assert features.groups["content"] == ("clicked:deals",)
    assert features.frame["tag:vip"].tolist() == [1.0, 1.0, 0.0, 0.0]
    assert features.frame["clicked:deals"].tolist() == [1.0, 1.0, 0.0, 0.0]
    assert features.binary == {"tag:vip", "clicked:deals"}


async def test_the_features_do_not_depend_on_the_chunks_rows_are_read_in(
    session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    await plant(session, per_group=20)
    whole = await build_features(session, now=NOW, window_days=WINDOW)
    monkeypatch.setattr(columns, "CHUNK", 7)

    chunked = await build_features(session, now=NOW, window_days=WINDOW)

    pd.testing.assert_frame_equal(chunked.frame, whole.frame)
    assert chunked.groups == whole.groups


async def test_only_the_audience_is_read(session: AsyncSession) -> None:
    planted = await plant(session, per_group=10)
    rule = parse("country in (ES, US) and lang in (es, en)")
    everyone = (await build_features(session, now=NOW, window_days=WINDOW)).frame

    frame = (await build_features(session, now=NOW, window_days=WINDOW, audience=rule)).frame
    nobody = await build_features(session, now=NOW, window_days=WINDOW, audience=parse("lang = xx"))

    chosen = everyone[everyone["country"].isin(["ES", "US"]) & everyone["lang"].isin(["es", "en"])]
    assert list(frame.index) == list(chosen.index)
    assert 0 < len(frame) < len(planted)
    assert frame["reads"].tolist() == chosen["reads"].tolist()
    assert nobody.frame.empty
    assert set(nobody.columns) <= set(nobody.frame.columns)


async def test_tags_nearly_everyone_holds_leave_the_slots_to_those_that_tell_people_apart(
    session: AsyncSession,
) -> None:
    """Twenty tags on every subscriber took all twenty tag columns, and the interests the
    quiz set went out of every profile."""
    people = await _subscribers(session, *({} for _ in range(40)))
    everyone = [
        {"subscriber_id": person, "tag": f"common{number:02}", "added_at": NOW}
        for person in people
        for number in range(25)
    ]
    some = [
        {"subscriber_id": person, "tag": "interest:deals", "added_at": NOW}
        for person in people[:10]
    ]
    await session.execute(insert(SubscriberTag), everyone + some)
    await session.commit()
    frame = (await build_features(session, now=NOW, window_days=WINDOW)).frame
    tags = [name for name in frame.columns if name.startswith("tag:")]
    assert tags == ["tag:interest:deals"]
