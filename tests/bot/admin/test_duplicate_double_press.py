"""The Duplicate button on a campaign's card pressed twice: Telegram delivering one tap
twice, or the admin tapping again because the answer was slow. One copy is made; the
other press is answered with its name and audited. A press made later, on purpose, makes
another copy."""

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from functools import partial

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot import runtime
from broadcasts.campaigns import get_campaign, save_campaign
from broadcasts.cloning import copy_once
from broadcasts.models import Campaign
from broadcasts.spec import parse_campaign
from core.clock import utcnow
from core.models import AuditLog
from telegram_emulator import Emulator, SentMessage
from tests.bot.admin.console import MARKETER, WAIT, Chat, add_staff, running_console
from tests.bot.admin.test_campaign_lifecycle_hostile import SALE
from tests.polling import until

pytestmark = [pytest.mark.e2e]

SAVED = "Saved a copy: {} (a draft)."
ALREADY = "Already copied as {} (a draft). For another copy, press again in 10 s."


class MovableClock:
    """The bot's clock: the time now, plus however far a test has moved it on."""

    def __init__(self) -> None:
        self.ahead = timedelta()

    def __call__(self) -> datetime:
        return utcnow() + self.ahead


@pytest.fixture(scope="module")
def bot_clock() -> MovableClock:
    return MovableClock()


@pytest.fixture(scope="module")
async def emulator(
    database_url: str, engine: AsyncEngine, bot_clock: MovableClock
) -> AsyncIterator[Emulator]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runtime, "run", partial(runtime.run, clock=bot_clock))
        async with running_console(database_url) as emulator:
            yield emulator


@pytest.fixture
def clock(bot_clock: MovableClock) -> Iterator[MovableClock]:
    """The bot's clock, back at the time now after the test."""
    yield bot_clock
    bot_clock.ahead = timedelta()


@pytest.fixture
async def marketer(session: AsyncSession, emulator: Emulator) -> Chat:
    await add_staff(session)
    return Chat(emulator, MARKETER)


async def card_of_sale(session: AsyncSession, chat: Chat) -> SentMessage:
    sale = await save_campaign(session, spec=parse_campaign(SALE), now=utcnow())
    (card,) = await chat.say(f"/campaign {sale.id}")
    return card


async def press_duplicate(chat: Chat, card: SentMessage, *, times: int = 1) -> list[str | None]:
    """Press the card's Duplicate button `times` times before the bot sees any press;
    return the bot's answers, in the order pressed."""
    data = next(data for text, data in card.callback_buttons() if "Duplicate" in text)
    queries = [
        await chat.emulator.press_button(chat.user_id, card.message_id, data) for _ in range(times)
    ]
    answers = [await chat.emulator.wait_for_callback_answer(q, timeout=WAIT) for q in queries]
    return [answer.text for answer in answers]


async def names(sessionmaker: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessionmaker() as session:
        return list((await session.scalars(select(Campaign.name).order_by(Campaign.id))).all())


async def duplicates_audited(
    sessionmaker: async_sessionmaker[AsyncSession], count: int
) -> list[str]:
    """The outcomes of the Duplicate presses audited, once `count` of them are in."""

    async def outcomes() -> list[str]:
        async with sessionmaker() as session:
            rows = await session.scalars(
                select(AuditLog)
                .where(AuditLog.action == "campaign.duplicate")
                .order_by(AuditLog.id)
            )
            return [row.detail["outcome"] for row in rows]

    async def all_in() -> bool:
        return len(await outcomes()) >= count

    await until(all_in, what=f"{count} Duplicate presses audited")
    return await outcomes()


async def id_of(sessionmaker: async_sessionmaker[AsyncSession], name: str) -> int:
    async with sessionmaker() as session:
        return (await get_campaign(session, ref=name)).id


def copy_cards(chat: Chat, card: SentMessage) -> list[str]:
    """The campaign cards the bot sent after `card`: those of the copies."""
    later = [m for m in chat.messages if m.message_id > card.message_id]
    return [m.plain_text for m in later if m.plain_text.startswith("Campaign #")]


async def test_a_double_pressed_duplicate_makes_one_copy_and_the_other_press_names_it(
    marketer: Chat, session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    card = await card_of_sale(session, marketer)
    answers = await press_duplicate(marketer, card, times=2)
    assert sorted(map(str, answers)) == [ALREADY.format("sale-copy"), SAVED.format("sale-copy")]
    assert await names(sessionmaker) == ["sale", "sale-copy"]
    outcomes = await duplicates_audited(sessionmaker, 2)
    copy_id = await id_of(sessionmaker, "sale-copy")
    assert sorted(outcomes) == [
        f"already copied: campaign {copy_id} sale-copy",
        f"ok: campaign {copy_id} sale-copy",
    ]
    await until(lambda: len(copy_cards(marketer, card)) == 1, what="the copy's card")
    assert copy_cards(marketer, card)[0].startswith(f"Campaign #{copy_id} sale-copy — draft")


async def test_a_second_press_after_the_answer_names_the_copy_and_a_later_one_makes_another(
    marketer: Chat,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: MovableClock,
) -> None:
    card = await card_of_sale(session, marketer)
    assert await press_duplicate(marketer, card) == [SAVED.format("sale-copy")]
    await until(lambda: len(copy_cards(marketer, card)) == 1, what="the copy's card")
    clock.ahead = timedelta(seconds=2)  # the answer was slow: the admin taps again
    assert await press_duplicate(marketer, card) == [ALREADY.format("sale-copy")]
    assert await names(sessionmaker) == ["sale", "sale-copy"]
    clock.ahead = timedelta(seconds=11)  # a copy more, on purpose
    assert await press_duplicate(marketer, card) == [SAVED.format("sale-copy2")]
    assert await names(sessionmaker) == ["sale", "sale-copy", "sale-copy2"]
    await until(lambda: len(copy_cards(marketer, card)) == 2, what="the second copy's card")
    outcomes = await duplicates_audited(sessionmaker, 3)
    assert [outcome.split(":")[0] for outcome in outcomes] == ["ok", "already copied", "ok"]


async def test_two_processes_handling_the_two_presses_at_once_make_one_copy(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Each press in a session of its own, as two bot processes sharing the database
    handle them: one copy, which the other press finds and returns."""
    await save_campaign(session, spec=parse_campaign(SALE), now=utcnow())
    now = utcnow()

    async def press() -> tuple[str, bool]:
        async with sessionmaker() as process:
            copied = await copy_once(process, ref="sale", now=now, within=timedelta(seconds=10))
            return copied.campaign.name, copied.made

    presses = await asyncio.gather(press(), press())
    assert sorted(presses) == [("sale-copy", False), ("sale-copy", True)]
    assert await names(sessionmaker) == ["sale", "sale-copy"]
