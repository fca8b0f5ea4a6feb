"""A campaign's lifecycle from the admin chat, driven the hostile way: a wizard named as
another admin's campaign, a name the campaign file refuses, a time the zone's clocks show
twice, and the campaign buttons pressed where they no longer apply or by whoever may not
press them (forged callback data too). Each is refused with why, changes nothing, and
every change that does happen is audited."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.campaigns import get_campaign, save_campaign
from broadcasts.models import Campaign, CampaignStatus, ScheduleKind
from broadcasts.planner import plan_run
from broadcasts.runs import pause
from broadcasts.spec import parse_campaign
from core.clock import utcnow
from core.models import AuditLog
from segments.saved import save_segment
from telegram_emulator import SentMessage
from tests.bot.admin.console import MARKETER, OWNER, VIEWER, WAIT, Chat, add_people
from tests.polling import until

pytestmark = [pytest.mark.e2e]

TOMORROW = f"{datetime.now(UTC) + timedelta(days=1):%Y-%m-%d}T10:00:00Z"
SALE = f"""
name: sale
audience:
  - query: "lang = es"
    label: spanish
    text: Hola
schedule: {{at: "{TOMORROW}"}}
"""


async def saved_sale(session: AsyncSession) -> Campaign:
    return await save_campaign(session, spec=parse_campaign(SALE), now=utcnow())


async def fresh(sessionmaker: async_sessionmaker[AsyncSession], name: str) -> Campaign:
    async with sessionmaker() as session:
        return await get_campaign(session, ref=name)


async def wizard_at_confirm(chat: Chat, name: str) -> SentMessage:
    """A wizard named `name` sending Hello to a one-off query now, asking to confirm."""
    await chat.say("/broadcast")
    (approach,) = await chat.say(name)
    await chat.press(approach, "A query")
    await chat.say("lang = en")
    (buttons,) = await chat.say("Hello")
    *_, preview_ok = await chat.press(buttons, "No buttons", replies=3)
    (when,) = await chat.press(preview_ok, "Looks good")
    (confirm,) = await chat.press(when, "Now")
    return confirm


async def test_the_wizard_refuses_the_name_of_an_existing_campaign(
    owner: Chat, session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Saving under a campaign's name replaces it while it has not run: a second admin's
    wizard named `sale` would silently swap the owner's scheduled campaign for its own."""
    original = await saved_sale(session)
    marketer = Chat(owner.emulator, MARKETER)
    await marketer.say("/broadcast")
    refused = await marketer.reply("sale")
    assert refused.startswith(f"A campaign named 'sale' exists already (#{original.id}")
    (approach,) = await marketer.say("sale_es")  # the step still waits for a name
    assert "Who gets it?" in approach.plain_text
    assert (await fresh(sessionmaker, "sale")).id == original.id


async def test_a_campaign_saved_under_the_name_meanwhile_is_not_replaced_at_confirm(
    owner: Chat, session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    marketer = Chat(owner.emulator, MARKETER)
    confirm = await wizard_at_confirm(marketer, "sale")
    original = await saved_sale(session)  # the owner saves `sale` from the command line
    (refused,) = await marketer.press(confirm, "Confirm")
    assert refused.plain_text.startswith(f"A campaign named 'sale' exists already (#{original.id}")
    kept = await fresh(sessionmaker, "sale")
    assert (kept.id, kept.schedule_kind) == (original.id, ScheduleKind.AT)


async def test_a_number_alone_is_refused_as_a_name_at_the_first_step(owner: Chat) -> None:
    """A campaign file refuses a name of digits alone; the wizard took it and refused it
    only at Confirm, after every other step."""
    await owner.say("/broadcast")
    refused = await owner.reply("2026")
    assert "not digits alone" in refused
    assert "Who gets it?" in await owner.reply("sale_2026")


async def test_a_time_shown_twice_is_taken_with_the_offset_the_wizard_asks_for(
    owner: Chat,
) -> None:
    """The wizard's advice for a wall-clock time the zone shows twice (give the offset,
    e.g. an ISO moment) must be something the step takes: it said "That is not it"."""
    await owner.say("/broadcast")
    (approach,) = await owner.say("autumn_night")
    await owner.press(approach, "A query")
    await owner.say("lang = en")
    (buttons,) = await owner.say("Hello")
    *_, preview_ok = await owner.press(buttons, "No buttons", replies=3)
    (when,) = await owner.press(preview_ok, "Looks good")
    await owner.press(when, "At a time")
    year = datetime.now(UTC).year + 1
    last_sunday = 31 - (date(year, 10, 31).weekday() + 1) % 7
    advice = await owner.reply(f"{year}-10-{last_sunday} 02:30 Europe/Madrid")
    assert "happens twice" in advice
    example = advice.split("e.g. ")[1]
    summer = await owner.reply(f"{example} Europe/Madrid")
    assert f"sends at {year}-10-{last_sunday} 02:30 Europe/Madrid" in summer
    await owner.press(owner.messages[-1], "Back")
    winter = await owner.reply(example.replace("+02:00", "+01:00"))
    assert f"sends at {year}-10-{last_sunday} 01:30 UTC" in winter


async def answer_to(chat: Chat, message: SentMessage, data: str) -> str | None:
    """`chat`'s person pressing `message` (in their own chat) with `data`, which a
    modified client may send whatever the buttons carry: the bot's answer."""
    query = await chat.emulator.press_button(chat.user_id, message.message_id, data, forged=True)
    return (await chat.emulator.wait_for_callback_answer(query, timeout=WAIT)).text


async def audited(sessionmaker: async_sessionmaker[AsyncSession]) -> list[tuple[int, str, str]]:
    async with sessionmaker() as session:
        rows = await session.scalars(
            select(AuditLog).where(AuditLog.action.like("campaign.%")).order_by(AuditLog.id)
        )
        return [(row.admin_user_id, row.action, row.detail["outcome"]) for row in rows]


async def test_controls_that_no_longer_apply_are_refused_with_why_and_audited(
    owner: Chat, session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Pause and resume of a campaign with no run, cancel twice, resume once cancelled."""
    sale = await saved_sale(session)
    (card,) = await owner.say(f"/campaign {sale.id}")
    assert await answer_to(owner, card, f"admc:pause:{sale.id}") == "campaign 'sale' is not sending"
    assert await answer_to(owner, card, f"admc:resume:{sale.id}") == "campaign 'sale' is not paused"
    assert await answer_to(owner, card, f"admc:cancel:{sale.id}") == "Cancelled."
    again = await answer_to(owner, card, f"admc:cancel:{sale.id}")
    assert again == "campaign 'sale' is already cancelled"
    assert await answer_to(owner, card, f"admc:resume:{sale.id}") == "campaign 'sale' is not paused"
    assert (await fresh(sessionmaker, "sale")).status is CampaignStatus.CANCELLED
    await until(lambda: "cancelled" in owner.current(card).plain_text, what="the card redrawn")
    assert "Cancel" not in str(owner.current(card).callback_buttons())
    assert [action for _, action, _ in await audited(sessionmaker)] == [
        "campaign.pause", "campaign.resume", "campaign.cancel", "campaign.cancel",
        "campaign.resume",
    ]  # fmt: skip


@pytest.mark.parametrize("action", ["pause", "resume", "cancel", "duplicate"])
async def test_a_viewer_forging_a_marketers_button_changes_nothing(
    owner: Chat,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    action: str,
) -> None:
    sale = await saved_sale(session)
    viewer = Chat(owner.emulator, VIEWER)
    (seen,) = await viewer.say(f"/campaign {sale.id}")
    answer = await answer_to(viewer, seen, f"admc:{action}:{sale.id}")
    assert answer == "This button is no longer active."
    async with sessionmaker() as fresh_session:
        names = (await fresh_session.scalars(select(Campaign.name))).all()
    assert names == ["sale"]
    assert (await fresh(sessionmaker, "sale")).status is CampaignStatus.SCHEDULED
    assert await audited(sessionmaker) == []


async def test_a_confirm_refused_is_in_the_audit_log_with_why(
    owner: Chat, session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """The segment the draft targets is deleted before Confirm: nothing is saved, and the
    attempt is audited with the reason, as a refused command is."""
    await save_segment(session, name="spanish", rule_text="lang = es", now=utcnow())
    await owner.say("/broadcast")
    (approach,) = await owner.say("hola")
    (segments,) = await owner.press(approach, "Saved segments")
    await owner.tap(segments, "spanish")
    await owner.press(owner.current(segments), "Done")
    (buttons,) = await owner.say("Hola")
    *_, preview_ok = await owner.press(buttons, "No buttons", replies=3)
    (when,) = await owner.press(preview_ok, "Looks good")
    (confirm,) = await owner.press(when, "Now")
    assert "Deleted segment spanish" in await owner.reply("/segment_delete spanish")
    (refused,) = await owner.press(confirm, "Confirm")
    assert "spanish" in refused.plain_text
    async with sessionmaker() as fresh_session:
        assert (await fresh_session.scalars(select(Campaign.name))).all() == []

    async def create_audited() -> list[tuple[int, str, str]]:
        return [row for row in await audited(sessionmaker) if row[1] == "campaign.create"]

    async def logged() -> bool:
        return bool(await create_audited())

    await until(logged, what="the refused confirm audited")
    ((who, _, outcome),) = await create_audited()
    assert who == OWNER
    assert outcome.startswith("refused: ")
    assert "spanish" in outcome


async def test_cancel_with_a_campaign_id_is_told_its_usage_and_cancels_nothing(
    owner: Chat, session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """`/cancel` leaves the wizard; `/cancel 7`, meant for campaign 7, said "Wizard
    cancelled" (or "nothing to cancel") while the campaign went on sending."""
    sale = await saved_sale(session)
    await owner.say("/broadcast")
    await owner.say("half_done")
    refused = await owner.reply(f"/cancel {sale.id}")
    assert refused.startswith("/cancel takes no arguments")
    assert f"/campaign {sale.id}" in refused
    assert "Usage: /cancel" in refused
    assert (await fresh(sessionmaker, "sale")).status is CampaignStatus.SCHEDULED
    assert await owner.reply("/cancel") == "Wizard cancelled; nothing was saved."


async def test_cancel_says_how_many_queued_messages_will_not_be_sent(
    owner: Chat, session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """As `segbot campaign cancel` does: a paused run's queue is dropped, and counted.
    The run waits for its local time, two days on, so the bot's own sender leaves its
    queue alone (a run due now could be claimed, or sent, before the test pauses it)."""
    await add_people(
        session,
        owner.emulator,
        *({"telegram_id": 5000 + n, "language_code": "es"} for n in range(3)),
    )
    later = f"{datetime.now(UTC) + timedelta(days=2):%Y-%m-%d}"
    local = SALE.replace(f'{{at: "{TOMORROW}"}}', f'{{local: "10:00", day: {later}}}')
    sale = await save_campaign(session, spec=parse_campaign(local), now=utcnow())
    plan = await plan_run(session, campaign=sale, now=utcnow())
    await pause(session, campaign=sale, now=utcnow())
    assert (plan.queued, plan.postponed) == (3, 3)
    (card,) = await owner.say(f"/campaign {sale.id}")
    said = await answer_to(owner, card, f"admc:cancel:{sale.id}")
    assert said == "Cancelled: 3 queued messages will not be sent."
    assert owner.emulator.messages_to(5000) == []
