"""Sending a draft from its card in the admin chat: Duplicate makes a draft "sent by hand",
and Send now (for those whose role runs campaigns) asks first, with the audience it would
reach, then starts the run as `segbot campaign send-now` does: audited, the card redrawn,
quiet hours kept, one run however often Yes is pressed. Readers never see the button, and
their forged presses change nothing."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.campaigns import get_campaign, save_campaign
from broadcasts.claims import live_senders
from broadcasts.cloning import clone_campaign
from broadcasts.models import Campaign, CampaignStatus, Run
from broadcasts.runs import cancel
from broadcasts.spec import parse_campaign
from core.clock import utcnow
from telegram_emulator import SentMessage
from tests.bot.admin.console import MARKETER, OPERATOR, VIEWER, WAIT, Chat, add_people
from tests.bot.admin.test_campaign_lifecycle_hostile import answer_to, audited
from tests.polling import until

pytestmark = [pytest.mark.e2e]

SPANISH, ENGLISH = [6000, 6001, 6002], 6100
# Others, for a test that looks at what they got: the emulator keeps each chat all module.
QUIET_SPANISH = [6200, 6201, 6202]
TOMORROW = f"{datetime.now(UTC) + timedelta(days=1):%Y-%m-%d}T10:00:00Z"


def sale(quiet_hours: str = "") -> str:
    """`sale`: Hola to the Spanish, Hello to everyone else, scheduled for tomorrow."""
    return f"""
name: sale
audience:
  - query: "lang = es"
    label: spanish
    text: Hola
default: {{text: Hello}}
schedule: {{at: "{TOMORROW}"}}
{quiet_hours}
"""


def quiet_now() -> str:
    """Quiet hours from an hour ago to two hours on (UTC, the subscribers' clock here)."""
    now = datetime.now(UTC)
    start, end = now - timedelta(hours=1), now + timedelta(hours=2)
    return f'quiet_hours: {{start: "{start:%H:%M}", end: "{end:%H:%M}"}}'


def spanish(telegram_ids: list[int]) -> list[dict[str, Any]]:
    return [{"telegram_id": telegram_id, "language_code": "es"} for telegram_id in telegram_ids]


async def draft_of_sale(session: AsyncSession, *, quiet_hours: str = "") -> Campaign:
    """`sale-copy`: a copy of `sale` as Duplicate makes it, a draft."""
    await save_campaign(session, spec=parse_campaign(sale(quiet_hours)), now=utcnow())
    return await clone_campaign(session, ref="sale", now=utcnow())


async def runs_of(sessionmaker: async_sessionmaker[AsyncSession], campaign_id: int) -> int:
    async with sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).select_from(Run).where(Run.campaign_id == campaign_id)
        )
    return int(count or 0)


async def status_of(sessionmaker: async_sessionmaker[AsyncSession], name: str) -> CampaignStatus:
    async with sessionmaker() as session:
        return (await get_campaign(session, ref=name)).status


async def sender_beating(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Wait for the bot's own sender to beat in this test's database (each test starts
    from empty tables): until then a started run is said to wait for one."""

    async def beating() -> bool:
        async with sessionmaker() as session:
            return await live_senders(session, now=utcnow()) > 0

    await until(beating, what="the bot's sender to beat")


async def ask(chat: Chat, card: SentMessage) -> SentMessage:
    """Press the card's Send now; the card as it then asks."""
    await chat.press(card, "Send now", replies=0)
    await until(lambda: "now?" in chat.current(card).plain_text, what="the card to ask")
    return chat.current(card)


async def test_a_duplicated_draft_is_sent_from_its_card_after_a_question(
    owner: Chat, session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await add_people(session, owner.emulator, *spanish(SPANISH), {"telegram_id": ENGLISH})
    await sender_beating(sessionmaker)
    original = await save_campaign(session, spec=parse_campaign(sale()), now=utcnow())
    marketer = Chat(owner.emulator, MARKETER)
    (card,) = await marketer.say(f"/campaign {original.id}")
    assert "Send now" not in str(card.callback_buttons())  # scheduled: it sends itself
    (copy_card,) = await marketer.press(card, "Duplicate")
    assert "— draft" in copy_card.plain_text

    question = await ask(marketer, copy_card)
    copy_id = (await get_campaign(session, ref="sale-copy")).id
    assert question.plain_text.startswith(f"Send campaign #{copy_id} sale-copy now?")
    assert "Audience: 4 subscribers (spanish 3 · default 1)" in question.plain_text
    assert await runs_of(sessionmaker, copy_id) == 0  # asking starts nothing

    (yes,) = [data for text, data in question.callback_buttons() if "Yes" in text]
    query = await owner.emulator.press_button(MARKETER, copy_card.message_id, yes)
    said = (await owner.emulator.wait_for_callback_answer(query, timeout=WAIT)).text
    async with sessionmaker() as fresh:
        run_id = await fresh.scalar(select(Run.id).where(Run.campaign_id == copy_id))
    assert said == f"Run {run_id} started: 4 to send."
    await until(lambda: "Run " in marketer.current(copy_card).plain_text, what="the card redrawn")
    for person in (*SPANISH, ENGLISH):
        got = await owner.emulator.wait_for_messages(person, 1, timeout=WAIT)
        assert [m.plain_text for m in got] == ["Hello" if person == ENGLISH else "Hola"]
    assert await status_of(sessionmaker, "sale") is CampaignStatus.SCHEDULED  # untouched

    async def logged() -> bool:
        return any(action == "campaign.send" for _, action, _ in await audited(sessionmaker))

    await until(logged, what="the send audited")
    sends = [row for row in await audited(sessionmaker) if row[1] == "campaign.send"]
    assert sends == [(MARKETER, "campaign.send", f"ok: {said}")]


async def test_no_on_the_question_shows_the_card_again_and_starts_nothing(
    owner: Chat, session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    draft = await draft_of_sale(session)
    (card,) = await owner.say(f"/campaign {draft.id}")
    question = await ask(owner, card)
    await owner.press(question, "No", replies=0)
    await until(lambda: "No run yet." in owner.current(card).plain_text, what="the card again")
    assert "Send now" in str(owner.current(card).callback_buttons())
    assert await runs_of(sessionmaker, draft.id) == 0
    assert await status_of(sessionmaker, "sale-copy") is CampaignStatus.DRAFT


async def test_a_double_yes_starts_one_run_and_quiet_hours_hold_its_messages(
    owner: Chat, session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Two presses of Yes at once (a double tap, or Telegram delivering one tap twice):
    the campaign is taken while a run starts (broadcasts.runs.take_campaign), so the second
    waits for the first and finds its run sending. The subscribers are in their quiet
    hours, so the run keeps sending (its messages wait) whichever press comes second."""
    await add_people(session, owner.emulator, *spanish(QUIET_SPANISH))
    draft = await draft_of_sale(session, quiet_hours=quiet_now())
    await sender_beating(sessionmaker)
    (card,) = await owner.say(f"/campaign {draft.id}")
    question = await ask(owner, card)
    (yes,) = [data for text, data in question.callback_buttons() if "Yes" in text]
    queries = [
        await owner.emulator.press_button(owner.user_id, card.message_id, yes) for _ in range(2)
    ]
    answers = await asyncio.gather(
        *(owner.emulator.wait_for_callback_answer(q, timeout=WAIT) for q in queries)
    )
    said = sorted(str(answer.text) for answer in answers)
    assert await runs_of(sessionmaker, draft.id) == 1
    async with sessionmaker() as fresh:
        run_id = await fresh.scalar(select(Run.id).where(Run.campaign_id == draft.id))
    assert said == [
        f"Run {run_id} started: 3 to send (3 of them wait for quiet hours or their local time).",
        f"run {run_id} of sale-copy is already sending: nothing new was started",
    ]
    assert [owner.emulator.messages_to(person) for person in QUIET_SPANISH] == [[]] * 3

    async def both_audited() -> bool:
        return len(await audited(sessionmaker)) == 2

    await until(both_audited, what="both presses audited")
    outcomes = sorted(outcome for _, _, outcome in await audited(sessionmaker))
    assert outcomes == [f"ok: {said[0]}", said[1]]


@pytest.mark.parametrize("who", [VIEWER, OPERATOR])
async def test_who_may_not_run_campaigns_sees_no_send_now_and_a_forged_one_does_nothing(
    owner: Chat,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    who: int,
) -> None:
    await add_people(session, owner.emulator, *spanish(SPANISH))
    draft = await draft_of_sale(session)
    (runs_it,) = await owner.say(f"/campaign {draft.id}")
    assert "Send now" in str(runs_it.callback_buttons())
    reader = Chat(owner.emulator, who)
    (card,) = await reader.say(f"/campaign {draft.id}")
    assert "Send now" not in str(card.callback_buttons())
    for action in ("ask_send", "send"):
        answer = await answer_to(reader, card, f"admc:{action}:{draft.id}")
        assert answer == "This button is no longer active."
    assert reader.current(card).plain_text == card.plain_text
    assert await runs_of(sessionmaker, draft.id) == 0
    assert await status_of(sessionmaker, "sale-copy") is CampaignStatus.DRAFT
    assert await audited(sessionmaker) == []


async def test_send_now_on_a_stale_card_is_refused_with_why_and_audited(
    owner: Chat, session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """The draft was cancelled (from the command line) after its card was shown: its Send
    now says so and redraws the card; a Yes still on screen is refused by the same check
    `segbot campaign send-now` makes (broadcasts.runs.check_not_sent)."""
    draft = await draft_of_sale(session)
    (card,) = await owner.say(f"/campaign {draft.id}")
    question = await ask(owner, card)
    await cancel(session, campaign=draft, now=utcnow())
    said = await answer_to(owner, question, f"admc:ask_send:{draft.id}")
    assert said == "sale-copy is cancelled, no longer a draft: its card shows where it stands"
    refused = await answer_to(owner, question, f"admc:send:{draft.id}")
    assert refused is not None
    assert refused.startswith("sale-copy is cancelled: a campaign is sent once")
    await until(lambda: "— cancelled" in owner.current(card).plain_text, what="the card redrawn")
    assert "Send now" not in str(owner.current(card).callback_buttons())
    assert await runs_of(sessionmaker, draft.id) == 0
    assert await audited(sessionmaker) == [(owner.user_id, "campaign.send", refused)]
