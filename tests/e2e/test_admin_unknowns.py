"""A run's unknown deliveries in the admin console, through the emulator: the campaign card
counts them with their reasons for everyone who may read it; only owners get the button
that lists them and resends after a second confirmation; a non-owner's press is refused;
every press is audited; the delivery worker then sends to them, and only to them."""

from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from broadcasts.campaigns import save_campaign
from broadcasts.models import CampaignStatus, Delivery, DeliveryStatus, Run, RunStatus
from broadcasts.spec import parse_campaign
from core.clock import utcnow
from core.models import AuditLog, Subscriber, SubscriberStatus
from telegram_emulator import Emulator
from tests.bot.admin.console import (
    MARKETER,
    NOT_A_COMMAND,
    OWNER,
    VIEWER,
    Chat,
    add_people,
    add_staff,
    running_console,
)
from tests.e2e.conftest import BOT_TOKEN
from tests.polling import until

pytestmark = [pytest.mark.e2e]

PEOPLE = range(3001, 3021)  # 3001-3002 got it; the other 18 are unknown
INTERRUPTED, BLOCKED = 3003, 3020  # 3020 has blocked the bot since
STALE = "This button is no longer active."


@pytest.fixture(scope="module")
async def emulator(database_url: str, engine: AsyncEngine) -> AsyncIterator[Emulator]:
    async with running_console(database_url) as emulator:
        yield emulator


@pytest.fixture
async def finished_run(session: AsyncSession, emulator: Emulator) -> tuple[int, int]:
    """A campaign whose only run is done with 18 unknown deliveries: (campaign, run) ids."""
    await add_staff(session)
    await add_people(session, emulator, *({"telegram_id": t} for t in PEOPLE))
    spec = parse_campaign("name: promo\ndefault: {text: 'Hi {{ first_name }}'}\n")
    campaign = await save_campaign(session, spec=spec, now=utcnow())
    now = utcnow()
    run = Run(
        campaign_id=campaign.id, status=RunStatus.DONE, scheduled_for=now, started_at=now,
        finished_at=now,
    )  # fmt: skip
    session.add(run)
    await session.flush()
    [target] = campaign.targets
    subscribers = await session.execute(
        select(Subscriber.telegram_id, Subscriber.id).order_by(Subscriber.telegram_id)
    )
    for telegram_id, subscriber_id in subscribers.all():
        unknown = telegram_id not in (3001, 3002)
        session.add(
            Delivery(
                run_id=run.id, subscriber_id=subscriber_id, target_id=target.id,
                variant_id=target.variants[0].id, claimed_at=now,
                status=DeliveryStatus.UNKNOWN if unknown else DeliveryStatus.SENT,
                reason=("interrupted" if telegram_id == INTERRUPTED else "no_answer")
                if unknown else None,
            )
        )  # fmt: skip
        if telegram_id == BLOCKED:
            await session.execute(
                update(Subscriber)
                .where(Subscriber.id == subscriber_id)
                .values(status=SubscriberStatus.BLOCKED)
            )
    campaign.status = CampaignStatus.DONE
    await session.commit()
    return campaign.id, run.id


async def unknown_count(session: AsyncSession, run_id: int) -> int:
    count = await session.scalar(
        select(func.count()).where(
            Delivery.run_id == run_id, Delivery.status == DeliveryStatus.UNKNOWN
        )
    )
    return count or 0


async def test_owners_list_and_resend_unknowns_after_confirming_twice(
    emulator: Emulator, finished_run: tuple[int, int], session: AsyncSession
) -> None:
    campaign_id, run_id = finished_run
    counted = "unknown 18 (may or may not have arrived): no answer 17, interrupted 1"
    for reader in (VIEWER, MARKETER):
        (card,) = await Chat(emulator, reader).say(f"/campaign {campaign_id}")
        assert counted in card.plain_text
        assert not [text for text, _ in card.callback_buttons() if "unknown" in text]
    assert await Chat(emulator, MARKETER).reply(f"/unknown {run_id}") == NOT_A_COMMAND

    owner = Chat(emulator, OWNER)
    (card,) = await owner.say(f"/campaign {campaign_id}")
    assert counted in card.plain_text
    listing, csv_file = await owner.press(card, "18 unknown: who, resend", replies=2)
    text = listing.plain_text
    assert text.startswith(
        f"Run {run_id} of promo — done\n18 unknown: no answer 17, interrupted 1."
    )
    rows = [line.split() for line in text.splitlines()]
    assert ["3003", "User3003", "interrupted", "yes"] in rows
    assert "The first 15; all 18 in the file." in text
    assert "To resend: 17.\nNot to resend (left since, or clicked: it arrived): blocked 1." in text
    assert "+34" not in text
    assert csv_file.file_name == f"run-{run_id}-unknown.csv"
    [(resend_label, resend_data)] = listing.callback_buttons()
    assert resend_label == "↻ Resend to 17 (some may get it twice)"

    # A non-owner pressing the owner's button (stale, forwarded or forged) is refused.
    async with aiohttp.ClientSession() as http:
        markup = {"inline_keyboard": [[{"text": "Resend", "callback_data": resend_data}]]}
        url = f"{emulator.base_url}/bot{BOT_TOKEN}/sendMessage"
        payload = {"chat_id": MARKETER, "text": "forged", "reply_markup": markup}
        async with http.post(url, json=payload) as answer:
            assert answer.status == 200
    forged = Chat(emulator, MARKETER).messages[-1]
    query = await emulator.press_button(MARKETER, forged.message_id, resend_data)
    assert (await emulator.wait_for_callback_answer(query, timeout=10)).text == STALE

    await owner.press(listing, "Resend to 17", replies=0)
    await until(
        lambda: "would get it twice" in owner.current(listing).plain_text,
        what="the second confirmation",
    )
    asking = owner.current(listing)
    assert asking.plain_text.startswith(f"⚠️ Resend run {run_id} to 17 people?\n")
    assert [text for text, _ in asking.callback_buttons()] == ["Yes, resend to 17", "No"]
    await owner.press(asking, "No", replies=0)
    await until(
        lambda: owner.current(listing).plain_text.startswith("Nothing resent"),
        what="the refusal to be shown",
    )
    assert await unknown_count(session, run_id) == 18

    listing, _ = await owner.press(owner.current(card), "unknown: who, resend", replies=2)
    await owner.press(listing, "Resend to 17", replies=0)
    await until(
        lambda: "Yes, resend" in str(owner.current(listing).callback_buttons()), what="Yes and No"
    )
    await owner.press(owner.current(listing), "Yes, resend to 17", replies=0)
    await until(
        lambda: owner.current(listing).plain_text.startswith("✅"), what="the resend's result"
    )
    assert owner.current(listing).plain_text == (
        f"✅ Queued 17 people; run {run_id} is sending them again.\nSkipped: blocked 1."
    )

    resent = [t for t in PEOPLE if t not in (3001, 3002, BLOCKED)]
    await until(lambda: all(emulator.messages_to(t) for t in resent), what="the resent messages")
    for telegram_id in resent:
        assert [m.plain_text for m in emulator.messages_to(telegram_id)] == [
            f"Hi User{telegram_id}"
        ]
    assert not emulator.messages_to(BLOCKED)
    assert not emulator.messages_to(3001)

    async def done() -> bool:
        status = await session.scalar(
            select(Run.status).where(Run.id == run_id).execution_options(populate_existing=True)
        )
        return status is RunStatus.DONE

    await until(done, what="the run to be done again")
    assert await unknown_count(session, run_id) == 1  # the one who blocked the bot

    async def audited() -> list[tuple[int, str, str]]:
        rows = await session.execute(
            select(AuditLog.admin_user_id, AuditLog.action, AuditLog.detail)
            .where(AuditLog.action.startswith("unknown."))
            .order_by(AuditLog.id)
        )
        return [(admin, action, detail["outcome"]) for admin, action, detail in rows.all()]

    async def all_audited() -> bool:
        return len(await audited()) == 6

    await until(all_audited, what="every press in the audit log")
    # Each is written as its press ends, and presses are handled concurrently: any order.
    assert sorted(await audited()) == sorted(
        [
            (OWNER, "unknown.list", "18 unknown, 17 to resend"),
            (OWNER, "unknown.ask", "asked"),
            (OWNER, "unknown.keep", "ok"),
            (OWNER, "unknown.list", "18 unknown, 17 to resend"),
            (OWNER, "unknown.ask", "asked"),
            (OWNER, "unknown.resend", "ok: 17 queued"),
        ]
    )
