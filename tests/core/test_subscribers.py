from datetime import UTC, datetime, timedelta

from sqlalchemy import Column, ForeignKey, String, Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import Base
from core.erasure import ERASED
from core.models import AuditLog, Event, EventType, Subscriber, SubscriberStatus, SubscriberTag
from core.sources import StartSource, parse_start_payload, utm_payload
from core.subscribers import (
    Profile,
    SubscribeOutcome,
    erased_telegram_id,
    forget,
    subscribe,
    unsubscribe,
)
from crm_sync.models import (
    Customer,
    IdentityConflict,
    Order,
    RejectedRow,
    SubscriberPurchases,
    SyncRun,
)
from segments.models import ActivityLevel, LadderStage, SegmentMember

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


# -- /forget: the service, table by table (the whole bot's journey: tests/core/test_erasure.py)
BRAN = Profile(
    telegram_id=7_000_111, chat_id=7_000_111, first_name="Bran", last_name="Stark",
    username="bran_erased", language_code="en",
)  # fmt: skip
PHONE, EMAIL = "+34600777888", "bran@example.org"


async def bran_with_a_past(session: AsyncSession) -> int:
    """Bran, subscribed, with what the bot and the CRM sync keep about him; his row id."""
    subscriber, _ = await subscribe(session, profile=BRAN, source=None, now=T0)
    subscriber.phone, subscriber.email = PHONE, EMAIL
    subscriber.city, subscriber.attributes = "Winterfell", {"hobby": "ravens"}
    sid = subscriber.id
    session.add_all(
        [
            SubscriberTag(subscriber_id=sid, tag="interest:ravens", added_at=T0),
            Event(subscriber_id=sid, type=EventType.QUIZ_ANSWER, occurred_at=T0,
                  payload={"question": "hobby", "answers": ["ravens"]}),
            Event(subscriber_id=sid, type=EventType.BUTTON, occurred_at=T0,
                  payload={"data": "qa:hobby:ravens:0"}),
            Event(subscriber_id=sid, type=EventType.MESSAGE, occurred_at=T0,
                  payload={"kind": "text", "text": "the three-eyed raven"}),
            SegmentMember(segment_id=1, subscriber_id=sid, entered_at=T0),
            LadderStage(subscriber_id=sid, stage=3, evidence_at=T0, changed_at=T0),
            ActivityLevel(subscriber_id=sid, level=2, changed_at=T0),
        ]
    )  # fmt: skip
    theirs = Customer(
        source="shop", external_id="C-1", name="Bran Stark", phone=PHONE, email=EMAIL,
        attributes={"tier": "gold"}, subscriber_id=sid, matched_by="phone", created_at=T0,
        updated_at=T0,
    )  # fmt: skip
    sharing = Customer(
        source="shop", external_id="C-2", name="Household", email=EMAIL, attributes={},
        created_at=T0, updated_at=T0,
    )  # fmt: skip
    session.add_all([theirs, sharing])
    await session.flush()
    session.add_all(
        [
            Order(source="shop", external_id="O-1", customer_id=theirs.id, ordered_at=T0,
                  amount=40.0, created_at=T0, updated_at=T0),
            SubscriberPurchases(subscriber_id=sid, customers=1, orders_count=1,
                                total_spent=40.0, last_order_at=T0),
            IdentityConflict(kind="email", value=EMAIL, source="shop",
                             customer_ids=[theirs.id, sharing.id], subscriber_ids=[sid],
                             detected_at=T0),
        ]
    )  # fmt: skip
    run = SyncRun(connector="shop", trigger="import", status="succeeded", started_at=T0,
                  heartbeat_at=T0)  # fmt: skip
    session.add(run)
    await session.flush()
    session.add_all(
        [
            RejectedRow(run_id=run.id, kind="customers", raw={"email": EMAIL.upper()},
                        reason="missing customer id"),
            RejectedRow(run_id=run.id, kind="customers", raw={"email": f"old{EMAIL}"},
                        reason="missing customer id"),  # someone else's address
            RejectedRow(run_id=run.id, kind="customers", raw={"phone": "+34 600 777 888"},
                        reason="missing customer id"),  # PHONE as a shop's export writes it
        ]
    )  # fmt: skip
    await session.commit()
    return sid


async def test_forget_leaves_an_anonymous_row_and_its_counts(session: AsyncSession) -> None:
    sid = await bran_with_a_past(session)
    later = T0 + timedelta(days=1)
    assert await forget(session, telegram_id=BRAN.telegram_id, now=later) == sid
    await session.commit()
    session.expunge_all()

    row = await session.get(Subscriber, sid)
    assert row is not None
    assert (row.telegram_id, row.chat_id) == (erased_telegram_id(sid), 0)
    assert row.telegram_id < 0  # Telegram's user ids are positive: it names nobody
    personal = (row.first_name, row.last_name, row.username, row.language_code, row.phone,
                row.email, row.city, row.referrer)  # fmt: skip
    assert personal == (None,) * 8
    assert row.attributes == {}
    assert (row.status, row.unsubscribed_at) == (SubscriberStatus.UNSUBSCRIBED, later)
    history = (await session.execute(select(Event.type, Event.payload).order_by(Event.id))).all()
    assert [kind for kind, _ in history] == [
        EventType.SUBSCRIBED, EventType.QUIZ_ANSWER, EventType.BUTTON, EventType.MESSAGE,
        EventType.FORGOTTEN,
    ]  # fmt: skip
    assert all(payload == {} for _, payload in history)  # answers, button data, text: gone

    assert await forget(session, telegram_id=BRAN.telegram_id, now=later) is None
    again, outcome = await subscribe(session, profile=BRAN, source=None, now=later)
    assert outcome is SubscribeOutcome.NEW  # coming back is a new subscriber
    assert again.id != sid


async def test_forget_erases_them_from_every_table_that_refers_to_them(
    session: AsyncSession,
) -> None:
    sid = await bran_with_a_past(session)
    await forget(session, telegram_id=BRAN.telegram_id, now=T0)
    await session.commit()
    session.expunge_all()

    for model in (SubscriberTag, SegmentMember, LadderStage, ActivityLevel, SubscriberPurchases):
        assert await session.scalar(select(func.count()).select_from(model)) == 0, model
    customers = {c.external_id: c for c in await session.scalars(select(Customer))}
    theirs, sharing = customers["C-1"], customers["C-2"]
    assert (theirs.subscriber_id, theirs.matched_by, theirs.name) == (None, None, None)
    assert (theirs.phone, theirs.email, theirs.attributes) == (None, None, {})
    assert (sharing.name, sharing.email) == ("Household", None)  # their email, not the record
    assert await session.scalar(select(func.count()).select_from(Order)) == 1  # anonymous now
    assert await session.scalar(select(func.count()).select_from(IdentityConflict)) == 0
    rejected = await session.scalars(select(RejectedRow.raw))
    assert list(rejected) == [{"email": f"old{EMAIL}"}]
    assert sid not in set(await session.scalars(select(Customer.subscriber_id)))


async def test_a_table_added_later_that_refers_to_subscribers_is_erased_too(
    session: AsyncSession,
) -> None:
    cards = Table(
        "test_loyalty_cards",
        Base.metadata,
        Column("number", String(16), primary_key=True),
        Column("holder", ForeignKey("subscribers.id")),
    )
    connection = await session.connection()
    await connection.run_sync(cards.create)
    try:
        subscriber, _ = await subscribe(session, profile=BRAN, source=None, now=T0)
        await session.execute(insert(cards).values(number="LC-1", holder=subscriber.id))
        await forget(session, telegram_id=BRAN.telegram_id, now=T0)
        assert (await session.execute(select(cards))).all() == []
    finally:
        await session.rollback()
        connection = await session.connection()
        await connection.run_sync(cards.drop)
        await session.commit()
        Base.metadata.remove(cards)


async def test_forget_redacts_the_audit_log_and_others_referrals(session: AsyncSession) -> None:
    sid = await bran_with_a_past(session)
    referred = Profile(telegram_id=7_000_222, chat_id=7_000_222, first_name="Hodor")
    source = StartSource(name="friends", referrer=str(BRAN.telegram_id))
    hodor, _ = await subscribe(session, profile=referred, source=source, now=T0)
    hodor_id = hodor.id
    entries = [
        {"args": f"{BRAN.telegram_id} vip", "outcome": "ok"},
        {"args": f"@{BRAN.username}", "outcome": "ok"},
        {"args": EMAIL.upper(), "outcome": f"refused: no subscriber {PHONE}"},
        {"target": f"run 1{BRAN.telegram_id}", "count": BRAN.telegram_id},
        {"args": "spanish", "outcome": "ok"},
        {"args": "+34 (600) 777-888", "outcome": "ok"},  # PHONE as /find reads it
        {"args": "600 777 888 vip", "outcome": "ok"},
        {"args": "username = bran_erased", "outcome": "ok"},
        {"args": "+34 600 777 889", "outcome": "ok"},  # another number stays
    ]
    session.add_all(
        AuditLog(admin_user_id=1, action="find", detail=detail, occurred_at=T0)
        for detail in entries
    )
    await session.commit()

    await forget(session, telegram_id=BRAN.telegram_id, now=T0)
    await session.commit()
    session.expunge_all()

    details = list(await session.scalars(select(AuditLog.detail).order_by(AuditLog.id)))
    assert details == [
        {"args": f"{ERASED} vip", "outcome": "ok"},
        {"args": ERASED, "outcome": "ok"},
        {"args": ERASED, "outcome": f"refused: no subscriber {ERASED}"},
        {"target": f"run 1{BRAN.telegram_id}", "count": ERASED},  # another number stays
        {"args": "spanish", "outcome": "ok"},
        {"args": ERASED, "outcome": "ok"},
        {"args": f"{ERASED} vip", "outcome": "ok"},
        {"args": f"username = {ERASED}", "outcome": "ok"},
        {"args": "+34 600 777 889", "outcome": "ok"},
    ]
    other = await session.get(Subscriber, hodor_id)
    assert other is not None
    assert (other.source, other.referrer) == ("friends", None)
    touches = await session.scalars(select(Event.payload).where(Event.subscriber_id == hodor_id))
    assert list(touches) == [{"outcome": "new", "source": "friends"}]
    assert sid != hodor_id


async def test_forget_leaves_what_only_looks_like_them_alone(session: AsyncSession) -> None:
    """A word that is also their username (an admin's tag `bran_erased`... of someone else)
    and a record of another subscriber carrying the email they typed stay; their phone
    however punctuated, and a referral naming their username in another case, go."""
    sid = await bran_with_a_past(session)
    wanda, _ = await subscribe(
        session, profile=Profile(telegram_id=7_000_333, chat_id=7_000_333), source=None, now=T0
    )
    theirs_too = Customer(
        source="shop", external_id="C-3", name="Wanda", email=EMAIL, attributes={},
        subscriber_id=wanda.id, matched_by="phone", created_at=T0, updated_at=T0,
    )  # fmt: skip
    referred = Profile(telegram_id=7_000_444, chat_id=7_000_444, first_name="Hodor")
    source = StartSource(name="friends", referrer=BRAN.username.upper() if BRAN.username else "")
    hodor, _ = await subscribe(session, profile=referred, source=source, now=T0)
    hodor_id = hodor.id
    entries = [
        {"args": f"7000333 {BRAN.username}", "outcome": "ok"},  # a tag of that name
        {"args": "+34\u00a0600\u00a0777\u00a0888", "outcome": "ok"},
        {"args": "+34/600/777/888", "outcome": "ok"},
        {"args": "+34\u2013600\u2013777\u2013888", "outcome": "ok"},
    ]
    session.add_all([theirs_too, *(AuditLog(admin_user_id=1, action="find", detail=detail,
                                            occurred_at=T0) for detail in entries)])  # fmt: skip
    await session.commit()

    await forget(session, telegram_id=BRAN.telegram_id, now=T0)
    await session.commit()
    session.expunge_all()

    details = list(await session.scalars(select(AuditLog.detail).order_by(AuditLog.id)))
    assert details == [entries[0], *([{"args": ERASED, "outcome": "ok"}] * 3)]
    wandas = await session.scalar(select(Customer).where(Customer.external_id == "C-3"))
    assert wandas is not None
    assert (wandas.email, wandas.subscriber_id) == (EMAIL, wanda.id)
    other = await session.get(Subscriber, hodor_id)
    assert other is not None
    assert other.referrer is None
    assert sid != hodor_id
