"""After /forget nothing of the person is left in any table, on SQLite and PostgreSQL, with
the bot on long polling and on the webhook.

The real bot runs against the emulator. A subscriber answers the quiz, shares a phone and
an email and writes a message (stored: `store_message_text`); an owner looks them up and
tags them; a CRM import brings a customer with their name, phone and email, a second one
sharing the email (an identity conflict) and a rejected row carrying their contacts; the
segments are refreshed. A scan finds them in those tables; then they press "Yes, erase my
data", and the same scan of every table the metadata knows (so a table added later is
scanned too) finds nothing: their Telegram id, names, username, phone, email, quiz answer
and message text are nowhere. The anonymous counts stay.
"""

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import runtime
from bot.config import parse_app_config
from core.clock import utcnow
from core.inbox import InboundUpdate
from core.models import Event, EventType, Subscriber, SubscriberStatus
from core.settings import load_settings
from crm_sync.config import RecordRules
from crm_sync.connectors import FilesConnector
from crm_sync.models import Customer, Order
from crm_sync.worker import run_sync
from migrations.metadata import metadata
from segments.jobs import refresh_all
from segments.saved import save_segment
from telegram_emulator import Emulator, SentMessage
from tests.bot.admin.console import OWNER, no_flood_limits
from tests.crm_sync.shop import CUSTOMER_HEADER, ORDER_HEADER, write_csv
from tests.e2e.conftest import BOT_TOKEN, SECRET_KEY
from tests.polling import until
from tests.ports import free_port
from tests.stopping import stop

pytestmark = pytest.mark.e2e

USER = 7_340_019_551
FIRST_NAME, LAST_NAME, USERNAME = "Brienne", "Tarthvale", "brienne_erasure"
PHONE_SHARED, PHONE = "+34 622 418 907", "+34622418907"
EMAIL = "brienne.tarth@example.org"
ANSWER = "falconry"
MESSAGE = "my sapphire ring is under the third stone"
NEEDLES = {
    "Telegram id": str(USER),
    "first name": FIRST_NAME,
    "last name": LAST_NAME,
    "username": USERNAME,
    "phone": PHONE.removeprefix("+"),
    "phone as written": PHONE_SHARED,
    "email": EMAIL,
    "quiz answer": ANSWER,
    "message text": MESSAGE,
}
QUIZ = {
    "ask_phone": True,
    "questions": [
        {
            "id": "hobby",
            "attribute": "hobby",
            "text": "What do you do on Sundays?",
            "options": [
                {"id": ANSWER, "label": "Falconry", "tags": [f"interest:{ANSWER}"]},
                {"id": "chess", "label": "Chess"},
            ],
        }
    ],
}
CONFIG = parse_app_config({"quiz": QUIZ, "tracking": {"store_message_text": True}})
SETTLES = 30.0


async def scan(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, set[str]]:
    """Per table, what of the person its rows hold; every table of the metadata."""
    found: dict[str, set[str]] = {}
    async with sessionmaker() as session:
        for table in metadata.sorted_tables:
            for row in (await session.execute(select(table))).all():
                for value in row:
                    named = what_names_them(value)
                    if named:
                        found.setdefault(table.name, set()).update(named)
    return found


def what_names_them(value: object) -> set[str]:
    if value is None or isinstance(value, bool):
        return set()
    if isinstance(value, int):
        return {"Telegram id"} if value == USER else set()
    text = (
        json.dumps(value, ensure_ascii=False, default=str) if not isinstance(value, str) else value
    )
    return {what for what, needle in NEEDLES.items() if needle.lower() in text.lower()}


@asynccontextmanager
async def running_bot(database_url: str, *, webhook: bool) -> AsyncIterator[Emulator]:
    """The emulator, and `segbot run` (OWNER an owner) against it until the block ends."""
    async with Emulator() as emulator:
        emulator.add_user(OWNER, first_name="Owner")
        emulator.add_user(USER, first_name=FIRST_NAME, last_name=LAST_NAME, username=USERNAME)
        port = free_port()
        settings = load_settings(
            bot_token=BOT_TOKEN, secret_key=SECRET_KEY, database_url=database_url,
            telegram_api_base=emulator.base_url, web_port=port,
            public_url=f"http://127.0.0.1:{port}", admin_ids=str(OWNER),
        )  # fmt: skip
        with no_flood_limits(emulator):
            task = asyncio.create_task(
                runtime.run(settings, config=CONFIG, webhook=webhook, handle_signals=False)
            )
            try:
                listening = "setWebhook" if webhook else "deleteWebhook"
                await until(
                    lambda: task.done() or bool(emulator.requests_for(listening)),
                    what="the bot listening",
                )
                if task.done():
                    task.result()  # why it stopped
                yield emulator
            finally:
                await stop(task)


async def holds(sessionmaker: async_sessionmaker[AsyncSession], where: Any) -> int:
    """How many rows hold `where` (truthy when some do)."""
    async with sessionmaker() as session:
        return await session.scalar(select(func.count()).where(where)) or 0


def settled(
    sessionmaker: async_sessionmaker[AsyncSession], where: Any
) -> Callable[[], Awaitable[bool]]:
    """A check for `until`: some row holds `where`."""

    async def check() -> bool:
        return await holds(sessionmaker, where) > 0

    return check


async def replies(emulator: Emulator, chat: int, count: int) -> list[SentMessage]:
    return await emulator.wait_for_messages(chat, count=count, timeout=SETTLES)


async def subscriber_journey(
    emulator: Emulator, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Subscribe, answer the quiz, share a phone and an email, write a message."""
    await emulator.send_text(USER, "/start")
    _, question = await replies(emulator, USER, 2)
    [answer] = [data for text, data in question.callback_buttons() if text == "Falconry"]
    await emulator.press_button(USER, question.message_id, answer)
    await replies(emulator, USER, 3)  # thanks, and the offer to share a phone
    await emulator.share_contact(USER, PHONE_SHARED)
    await until(settled(sessionmaker, Subscriber.phone == PHONE), what="phone stored")
    await emulator.send_text(USER, f"/email {EMAIL}")
    await until(settled(sessionmaker, Subscriber.email == EMAIL), what="email stored")
    await emulator.send_text(USER, MESSAGE)
    written = Event.type == EventType.MESSAGE
    await until(settled(sessionmaker, written), what="the message in the event log")


async def owner_looks_them_up(emulator: Emulator) -> None:
    for number, command in enumerate(
        (f"/find {USER}", f"/find @{USERNAME}", f"/find {EMAIL}", f"/tag {USER} vip"), start=1
    ):
        await emulator.send_text(OWNER, command)
        await replies(emulator, OWNER, number)


async def import_their_customer_record(
    sessionmaker: async_sessionmaker[AsyncSession], folder: Path
) -> None:
    """C-77 is them (matched by phone); C-78 shares their email (a conflict); one row
    without an id carries their contacts (rejected)."""
    customers = write_csv(
        folder / "customers.csv",
        CUSTOMER_HEADER,
        [
            ("C-77", f"{FIRST_NAME} {LAST_NAME}", PHONE_SHARED, EMAIL),
            ("C-78", "Household account", "", EMAIL),
            ("", f"{FIRST_NAME} {LAST_NAME}", PHONE_SHARED, EMAIL),
        ],
    )
    ordered = (utcnow() - timedelta(days=3)).isoformat()
    orders = write_csv(
        folder / "orders.csv",
        ORDER_HEADER,
        [("O-1", "C-77", ordered, "120.00", "EUR", "completed")],
    )
    connector = FilesConnector(
        name="shop", customers=customers, orders=orders, rules=RecordRules(default_region="ES")
    )
    await run_sync(sessionmaker=sessionmaker, connector=connector, trigger="import", full=True)
    linked = Customer.subscriber_id.is_not(None)
    assert await holds(sessionmaker, linked), "the CRM customer was not matched to them"


async def refresh_segments(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with sessionmaker() as session:
        await save_segment(session, name="buyers", rule_text="buyer", now=utcnow())
    await refresh_all(sessionmaker, config=CONFIG.segments)


async def forget_me(emulator: Emulator) -> None:
    sent = len(emulator.messages_to(USER))
    await emulator.send_text(USER, "/forget")
    confirm = (await replies(emulator, USER, sent + 1))[-1]
    [yes] = [data for text, data in confirm.callback_buttons() if text.startswith("Yes")]
    await emulator.press_button(USER, confirm.message_id, yes)

    def farewell() -> bool:
        last = emulator.messages_to(USER)[-1]
        return last.text is not None and "erased" in last.text

    await until(farewell, what="the farewell")


async def counts(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    async with sessionmaker() as session:
        kinds = await session.execute(select(Event.type, func.count()).group_by(Event.type))
        tally = {f"events.{kind}": number for kind, number in kinds.all()}
        for model in (Subscriber, Customer, Order):
            tally[model.__tablename__] = (
                await session.scalar(select(func.count()).select_from(model)) or 0
            )
    return tally


@pytest.mark.timeout(400)  # the whole journey through the real bot, on a busy machine
@pytest.mark.parametrize("webhook", [False, True], ids=["polling", "webhook"])
async def test_after_forget_no_table_holds_anything_of_them(
    webhook: bool,
    database_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    async with running_bot(database_url, webhook=webhook) as emulator:
        await subscriber_journey(emulator, sessionmaker)
        await owner_looks_them_up(emulator)
        await import_their_customer_record(sessionmaker, tmp_path)
        await refresh_segments(sessionmaker)

        before = await scan(sessionmaker)
        expected = {
            "subscribers": {"Telegram id", "first name", "last name", "username", "phone"},
            "events": {"quiz answer", "message text"},
            "subscriber_tags": {"quiz answer"},
            "customers": {"first name", "last name", "phone", "email"},
            "audit_log": {"Telegram id", "username", "email"},
            "identity_conflicts": {"email"},
            "rejected_rows": {"phone as written", "email"},
        }
        for table, named in expected.items():
            assert named <= before.get(table, set()), f"{table} holds {before.get(table)}"
        history = await counts(sessionmaker)

        await forget_me(emulator)

        async def all_handled() -> bool:
            return not await holds(sessionmaker, InboundUpdate.handled_at.is_(None))

        await until(all_handled, what="every update handled")  # then the bot stops

    assert await scan(sessionmaker) == {}
    after = await counts(sessionmaker)
    assert after.pop("events.forgotten") == 1
    for kind in ("subscribed", "quiz_answer", "contact_shared", "email_shared", "message"):
        assert after[f"events.{kind}"] == history[f"events.{kind}"], kind
    assert (after["subscribers"], after["customers"], after["orders"]) == (1, 2, 1)
    async with sessionmaker() as session:
        left = await session.scalar(select(Subscriber))
    assert left is not None
    assert left.status is SubscriberStatus.UNSUBSCRIBED
