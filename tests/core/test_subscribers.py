from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Event, EventType, Subscriber, SubscriberStatus
from core.sources import StartSource, parse_start_payload, utm_payload
from core.subscribers import (
    Profile,
    SubscribeOutcome,
    subscribe,
    unsubscribe,
)

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
SPRING = StartSource(name="promo_spring")
ANN = Profile(telegram_id=501, chat_id=501, first_name="Ann", username="ann", language_code="es")


async def events(session: AsyncSession) -> list[tuple[str, datetime]]:
    rows = await session.execute(select(Event.type, Event.occurred_at).order_by(Event.id))
    return [(kind, at) for kind, at in rows.all()]


async def test_first_start_creates_an_active_subscriber_with_its_source(
    session: AsyncSession,
) -> None:
    subscriber, outcome = await subscribe(session, profile=ANN, source=SPRING, now=T0)
    assert outcome is SubscribeOutcome.NEW
    stored = await session.scalar(select(Subscriber))
    assert stored is not None
    assert stored.id == subscriber.id
    assert (stored.telegram_id, stored.first_name, stored.language_code) == (501, "Ann", "es")
    assert stored.status is SubscriberStatus.ACTIVE
    assert stored.source == "promo_spring"
    assert stored.subscribed_at == T0
    assert stored.last_seen_at == T0
    assert await events(session) == [(EventType.SUBSCRIBED, T0)]


async def test_first_touch_stays_and_every_touch_is_an_event(session: AsyncSession) -> None:
    await subscribe(session, profile=ANN, source=SPRING, now=T0)
    later = T0 + timedelta(days=1)
    _, outcome = await subscribe(
        session, profile=ANN, source=StartSource(name="instagram"), now=later
    )
    assert outcome is SubscribeOutcome.ALREADY_ACTIVE
    stored = await session.scalar(select(Subscriber))
    assert stored is not None
    assert stored.source == "promo_spring"
    assert stored.last_seen_at == later
    touches = await session.scalars(select(Event.payload).order_by(Event.id))
    assert [payload["source"] for payload in touches] == ["promo_spring", "instagram"]


async def test_stop_then_start_again(session: AsyncSession) -> None:
    await subscribe(session, profile=ANN, source=None, now=T0)
    assert await unsubscribe(session, telegram_id=501, now=T0 + timedelta(hours=1))
    stored = await session.scalar(select(Subscriber))
    assert stored is not None
    assert stored.status is SubscriberStatus.UNSUBSCRIBED
    assert stored.unsubscribed_at == T0 + timedelta(hours=1)
    assert not await unsubscribe(session, telegram_id=501, now=T0 + timedelta(hours=2))

    back = T0 + timedelta(days=2)
    _, outcome = await subscribe(session, profile=ANN, source=None, now=back)
    assert outcome is SubscribeOutcome.RESUBSCRIBED
    again = await session.scalar(select(Subscriber).execution_options(populate_existing=True))
    assert again is not None
    assert again.status is SubscriberStatus.ACTIVE
    assert (again.subscribed_at, again.unsubscribed_at) == (back, None)
    assert [kind for kind, _ in await events(session)] == [
        EventType.SUBSCRIBED,
        EventType.UNSUBSCRIBED,
        EventType.SUBSCRIBED,
    ]


async def test_unsubscribing_a_stranger_changes_nothing(session: AsyncSession) -> None:
    assert not await unsubscribe(session, telegram_id=999, now=T0)
    assert await events(session) == []


async def test_utm_fields_and_referrer_are_the_first_touch(session: AsyncSession) -> None:
    payload = utm_payload(source="fb", medium="cpc", campaign="spring", referrer="1001")
    source = parse_start_payload(payload, secret="s")
    await subscribe(session, profile=ANN, source=source, now=T0)
    stored = await session.scalar(select(Subscriber))
    assert stored is not None
    assert (stored.source, stored.utm_source, stored.utm_medium, stored.utm_campaign) == (
        "fb",
        "fb",
        "cpc",
        "spring",
    )
    assert (stored.utm_content, stored.referrer) == (None, "1001")
    payload_of_event = await session.scalar(select(Event.payload))
    assert payload_of_event == {
        "outcome": "new",
        "source": "fb",
        "utm_source": "fb",
        "utm_medium": "cpc",
        "utm_campaign": "spring",
        "referrer": "1001",
    }
