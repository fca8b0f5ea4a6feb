"""A subscriber's journey through the real bot: sources, the quiz, /profile, contact,
blocking, erasure. Every step over HTTP through the emulator."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.models import Event, Subscriber, SubscriberStatus, SubscriberTag
from core.sources import customer_payload, utm_payload
from crm_sync.models import Customer
from telegram_emulator import Emulator, SentMessage
from tests.e2e.conftest import SETTLES_WITHIN
from tests.polling import until

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("running_bot")]

USER = 5150
NOW = datetime(2026, 11, 1, tzinfo=UTC)


async def subscriber(sessionmaker: async_sessionmaker[AsyncSession]) -> Subscriber:
    async with sessionmaker() as session:
        found = await session.scalar(select(Subscriber).where(Subscriber.telegram_id == USER))
        assert found is not None
        return found


async def tags(sessionmaker: async_sessionmaker[AsyncSession]) -> set[str]:
    async with sessionmaker() as session:
        return set(await session.scalars(select(SubscriberTag.tag)))


async def start(emulator: Emulator, text: str = "/start") -> list[SentMessage]:
    """Send /start; return the welcome and the first quiz question."""
    await emulator.send_text(USER, text)
    return await emulator.wait_for_messages(USER, count=2)


def button(message: SentMessage, label: str) -> str:
    """The callback data of the button whose text contains `label`."""
    for text, data in message.callback_buttons():
        if label in text:
            return data
    raise AssertionError(f"no button {label!r} in {message.reply_markup}")


async def press(emulator: Emulator, message: SentMessage, label: str) -> None:
    await emulator.press_button(USER, message.message_id, button(message, label))


async def tick(emulator: Emulator, question: SentMessage, label: str) -> SentMessage:
    """Tick a multi-choice option and wait until the keyboard shows it."""
    await press(emulator, question, label)

    async def shown() -> bool:
        return f"✓ {label}" in str(current().reply_markup)

    def current() -> SentMessage:
        return next(m for m in emulator.messages_to(USER) if m.message_id == question.message_id)

    await until(shown, within=SETTLES_WITHIN, what=f"✓ {label} on the keyboard")
    return current()


async def test_utm_payload_is_the_first_touch(
    emulator: Emulator, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await start(emulator, "/start " + utm_payload(source="fb", medium="cpc", campaign="bf"))
    stored = await subscriber(sessionmaker)
    assert (stored.source, stored.utm_source, stored.utm_medium, stored.utm_campaign) == (
        "fb",
        "fb",
        "cpc",
        "bf",
    )


async def test_a_signed_customer_link_ties_the_chat_to_the_customer(
    emulator: Emulator, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with sessionmaker() as session:
        session.add(
            Customer(
                source="shop", external_id="C-7", attributes={}, created_at=NOW, updated_at=NOW
            )
        )
        await session.commit()
    await start(emulator, "/start " + customer_payload("C-7", secret="test-secret", source="shop"))
    me = await subscriber(sessionmaker)
    async with sessionmaker() as session:
        customer = await session.scalar(select(Customer))
        assert customer is not None
        assert (customer.subscriber_id, customer.matched_by) == (me.id, "deep_link")


async def test_a_tampered_customer_link_is_just_no_source(
    emulator: Emulator, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    forged = customer_payload("C-7", secret="not-the-shops-secret", source="shop")
    welcome, _ = await start(emulator, "/start " + forged)
    assert welcome.text is not None
    assert welcome.text.startswith("Welcome!")
    assert (await subscriber(sessionmaker)).source is None


async def test_the_quiz_answers_become_attributes_and_tags(
    emulator: Emulator, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    _, interests = await start(emulator)
    await tick(emulator, interests, "Deals")
    ticked = await tick(emulator, interests, "Events")
    assert "✓ Deals" in str(ticked.reply_markup)
    await press(emulator, ticked, "Done")
    age = (await emulator.wait_for_messages(USER, count=3))[-1]
    await press(emulator, age, "25–34")
    fmt = (await emulator.wait_for_messages(USER, count=4))[-1]
    await press(emulator, fmt, "Short videos")
    need = (await emulator.wait_for_messages(USER, count=5))[-1]
    await press(emulator, need, "Ready to buy")
    thanks = (await emulator.wait_for_messages(USER, count=6))[-1]
    assert thanks.text is not None
    assert "/profile" in thanks.text
    assert thanks.reply_markup is not None
    assert "request_contact" in str(thanks.reply_markup)

    stored = await subscriber(sessionmaker)
    assert stored.attributes == {
        "interests": ["deals", "events"],
        "age_band": "25_34",
        "preferred_format": "video",
        "need": "ready",
    }
    assert await tags(sessionmaker) == {
        "interest:deals",
        "interest:events",
        "format:video",
        "ladder:most_aware",
    }
    async with sessionmaker() as session:
        answers = await session.scalar(
            select(func.count()).select_from(Event).where(Event.type == "quiz_answer")
        )
    assert answers == 4


async def test_the_quiz_can_be_skipped_and_edited_later_with_profile(
    emulator: Emulator, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    _, interests = await start(emulator)
    await press(emulator, interests, "Skip")
    await emulator.wait_for_messages(USER, count=3)
    assert (await subscriber(sessionmaker)).attributes == {}

    await emulator.send_text(USER, "/profile")
    card, _ = (await emulator.wait_for_messages(USER, count=5))[-2:]
    assert card.text is not None
    assert "Your profile" in card.text
    await press(emulator, card, "How old")
    age = (await emulator.wait_for_messages(USER, count=6))[-1]
    assert "Skip" not in str(age.reply_markup)  # editing one answer, not the whole quiz
    await press(emulator, age, "45+")
    await until(
        lambda: _attribute_is(sessionmaker, "age_band", "45_plus"),
        within=SETTLES_WITHIN,
        what="age_band 45_plus stored",
    )
    assert len(emulator.messages_to(USER)) == 6  # no next question when editing


async def _attribute_is(
    sessionmaker: async_sessionmaker[AsyncSession], name: str, value: object
) -> bool:
    return (await subscriber(sessionmaker)).attributes.get(name) == value


async def test_own_phone_is_saved_in_e164_and_a_strangers_is_refused(
    emulator: Emulator, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await start(emulator)
    await emulator.share_contact(USER, "+34 600 123 456", contact_user_id=999)
    refusal = (await emulator.wait_for_messages(USER, count=3))[-1]
    assert refusal.text is not None
    assert "your own number" in refusal.text
    assert (await subscriber(sessionmaker)).phone is None

    await emulator.share_contact(USER, "+34 600 123 456")
    thanks = (await emulator.wait_for_messages(USER, count=4))[-1]
    assert thanks.text == "Thank you! Your phone is saved."
    assert (await subscriber(sessionmaker)).phone == "+34600123456"
    # Telegram often gives the number without its "+": still international, not national
    await emulator.share_contact(USER, "447700900123")
    await emulator.wait_for_messages(USER, count=5)
    assert (await subscriber(sessionmaker)).phone == "+447700900123"


async def test_email_is_validated_and_saved(
    emulator: Emulator, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await start(emulator)
    await emulator.send_text(USER, "/email not-an-address")
    usage = (await emulator.wait_for_messages(USER, count=3))[-1]
    assert usage.text == "Send your email like this: /email you@example.com"
    await emulator.send_text(USER, "/email  Ann.Lee@Example.COM ")
    await emulator.wait_for_messages(USER, count=4)
    assert (await subscriber(sessionmaker)).email == "ann.lee@example.com"


async def test_blocking_and_unblocking_the_bot(
    emulator: Emulator, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await start(emulator)
    await emulator.block(USER)
    await until(
        lambda: _status_is(sessionmaker, SubscriberStatus.BLOCKED),
        within=SETTLES_WITHIN,
        what="status blocked",
    )
    await emulator.unblock(USER)
    await until(
        lambda: _status_is(sessionmaker, SubscriberStatus.ACTIVE),
        within=SETTLES_WITHIN,
        what="status active",
    )


async def _status_is(
    sessionmaker: async_sessionmaker[AsyncSession], status: SubscriberStatus
) -> bool:
    return (await subscriber(sessionmaker)).status is status


async def test_forget_erases_personal_data_and_keeps_the_counts(
    emulator: Emulator, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    _, interests = await start(emulator, "/start promo_spring")
    await press(emulator, await tick(emulator, interests, "Deals"), "Done")
    await emulator.send_text(USER, "/email ann@example.com")
    await emulator.wait_for_messages(USER, count=4)

    async def history() -> dict[str, int]:
        async with sessionmaker() as session:
            rows = await session.execute(select(Event.type, func.count()).group_by(Event.type))
            return dict(rows.all())

    before = await history()
    assert before["subscribed"] == 1
    assert before["quiz_answer"] == 1
    row_id = (await subscriber(sessionmaker)).id
    await emulator.send_text(USER, "/forget")
    confirm = (await emulator.wait_for_messages(USER, count=5))[-1]
    await press(emulator, confirm, "Yes")

    async def row() -> Subscriber:
        async with sessionmaker() as session:
            found = await session.get(Subscriber, row_id)
            assert found is not None
            return found

    async def erased() -> bool:
        return (await row()).telegram_id != USER  # the Telegram id goes too

    await until(erased, within=SETTLES_WITHIN, what="erased")
    gone = await row()
    assert gone.status is SubscriberStatus.UNSUBSCRIBED
    assert (gone.first_name, gone.username, gone.email, gone.phone) == (None, None, None, None)
    assert gone.attributes == {}
    assert await tags(sessionmaker) == set()
    assert gone.source == "promo_spring"  # the campaign, not the person, stays
    after = await history()  # the aggregate history stays, anonymous
    for kind in ("subscribed", "quiz_answer", "email_shared"):
        assert after[kind] == before[kind]
    assert after["forgotten"] == 1

    def farewell() -> str:
        return str(emulator.messages_to(USER)[-1].text)

    # It comes once the erasure is committed: a moment after, on a busy machine.
    await until(lambda: "erased" in farewell(), within=SETTLES_WITHIN, what="the farewell")


async def test_texts_follow_the_users_language_until_they_choose_another(
    emulator: Emulator, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    emulator.add_user(USER, first_name="Ana", language_code="es")
    welcome, question = await start(emulator)
    assert welcome.text is not None
    assert welcome.text.startswith("¡Bienvenido!")
    assert "Ofertas" in str(question.reply_markup)

    await emulator.send_text(USER, "/language")
    menu = (await emulator.wait_for_messages(USER, count=3))[-1]
    await press(emulator, menu, "Русский")
    await until(lambda: _language_is(sessionmaker, "ru"), within=SETTLES_WITHIN, what="language ru")
    await emulator.send_text(USER, "/stop")
    farewell = (await emulator.wait_for_messages(USER, count=4))[-1]
    assert farewell.text is not None
    assert farewell.text.startswith("Вы отписались")

    await emulator.send_text(USER, "/start")  # Telegram still says "es": the choice stays
    back = (await emulator.wait_for_messages(USER, count=5))[-1]
    assert back.text is not None
    assert back.text.startswith("С возвращением")


async def _language_is(sessionmaker: async_sessionmaker[AsyncSession], code: str) -> bool:
    return (await subscriber(sessionmaker)).language_code == code


async def test_unknown_commands_get_the_help(
    emulator: Emulator,
) -> None:
    await start(emulator)
    await emulator.send_text(USER, "/frobnicate")
    answer = (await emulator.wait_for_messages(USER, count=3))[-1]
    assert answer.text == "I don't know that command. Send /help to see what I can do."
    await emulator.send_text(USER, "/help")
    help_text = (await emulator.wait_for_messages(USER, count=4))[-1]
    assert help_text.text is not None
    assert "/forget" in help_text.text
