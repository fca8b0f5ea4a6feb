"""Driving the admin console through the emulator: one running bot per test module, and
an admin's chat with it (send a command, wait for the replies, press a button)."""

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot import runtime
from bot.middlewares import ThrottleMiddleware
from core.models import Admin, AdminRole, Subscriber
from core.settings import load_settings
from segments.ai.personas import create_persona
from segments.models import ContentFormat
from telegram_emulator import Emulator, SentMessage
from tests.e2e.conftest import BOT_TOKEN, SECRET_KEY
from tests.polling import until
from tests.ports import free_port
from tests.stopping import stop

OWNER, MARKETER, OPERATOR, VIEWER, STRANGER = 900_001, 900_002, 900_003, 900_004, 900_005
STAFF = {MARKETER: AdminRole.MARKETER, OPERATOR: AdminRole.OPERATOR, VIEWER: AdminRole.VIEWER}
WAIT = 10.0
NOT_A_COMMAND = "I don't know that command. Send /help to see what I can do."


async def _unthrottled(self: ThrottleMiddleware, handler: Any, event: Any, data: Any) -> Any:
    return await handler(event, data)


@contextmanager
def no_flood_limits(emulator: Emulator) -> Iterator[None]:
    """An admin test clicks faster than any person: no per-user throttle, no flood limits."""
    emulator.limits.enabled = False
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ThrottleMiddleware, "__call__", _unthrottled)
        yield


@asynccontextmanager
async def running_console(database_url: str, **settings: Any) -> AsyncIterator[Emulator]:
    """The emulator and `segbot run` against it, OWNER in SEGBOT_ADMIN_IDS."""
    async with Emulator() as emulator:
        for user_id in (OWNER, MARKETER, OPERATOR, VIEWER, STRANGER):
            emulator.add_user(user_id, first_name=f"Staff{user_id % 10}")
        port = free_port()
        config = load_settings(
            bot_token=BOT_TOKEN, secret_key=SECRET_KEY, database_url=database_url,
            telegram_api_base=emulator.base_url, web_port=port,
            public_url=f"http://127.0.0.1:{port}", admin_ids=str(OWNER), **settings,
        )  # fmt: skip
        with no_flood_limits(emulator):
            task = asyncio.create_task(runtime.run(config, handle_signals=False))
            try:
                await until(
                    lambda: task.done() or bool(emulator.my_commands(chat_scope(OWNER))),
                    within=WAIT,
                    what="the bot to set the owner's commands",
                )
                if task.done():
                    task.result()  # why the bot stopped
                yield emulator
            finally:
                await stop(task)


def chat_scope(user_id: int) -> dict[str, Any]:
    return {"type": "chat", "chat_id": user_id}


async def add_staff(session: AsyncSession) -> None:
    now = datetime.now(UTC)
    rows = [{"user_id": u, "role": r, "added_by": OWNER, "added_at": now} for u, r in STAFF.items()]
    await session.execute(insert(Admin), rows)
    await session.commit()


async def add_people(session: AsyncSession, emulator: Emulator, *people: dict[str, Any]) -> None:
    """Subscribers (and their emulated users, so sends reach them): each a dict of
    Subscriber columns with at least telegram_id."""
    now = datetime.now(UTC)
    rows = [
        {"chat_id": p["telegram_id"], "subscribed_at": now, "last_seen_at": now,
         "attributes": {}, "first_name": f"User{p['telegram_id']}", **p}
        for p in people
    ]  # fmt: skip
    await session.execute(insert(Subscriber), rows)
    await session.commit()
    for row in rows:
        emulator.add_user(row["telegram_id"], first_name=row["first_name"])


class Chat:
    """One person's chat with the bot."""

    def __init__(self, emulator: Emulator, user_id: int) -> None:
        self.emulator = emulator
        self.user_id = user_id

    @property
    def messages(self) -> list[SentMessage]:
        return self.emulator.messages_to(self.user_id)

    async def _replies(self, before: int, replies: int) -> list[SentMessage]:
        got = await self.emulator.wait_for_messages(self.user_id, before + replies, timeout=WAIT)
        return got[before:]

    async def say(self, text: str, *, replies: int = 1) -> list[SentMessage]:
        before = len(self.messages)
        await self.emulator.send_text(self.user_id, text)
        return await self._replies(before, replies)

    async def reply(self, text: str) -> str:
        """The text of the one reply to `text`."""
        (answer,) = await self.say(text)
        return answer.plain_text

    async def photo(self, caption: str | None = None, *, replies: int = 1) -> list[SentMessage]:
        before = len(self.messages)
        await self.emulator.send_photo(self.user_id, caption=caption)
        return await self._replies(before, replies)

    async def press(
        self, message: SentMessage, label: str, *, replies: int = 1
    ) -> list[SentMessage]:
        """Press the button whose text contains `label`; wait for `replies` new messages
        (or, with none, for the bot to answer the press)."""
        data = next(d for text, d in message.callback_buttons() if label in text)
        before = len(self.messages)
        query = await self.emulator.press_button(self.user_id, message.message_id, data)
        if replies == 0:
            await self.emulator.wait_for_callback_answer(query, timeout=WAIT)
            return []
        return await self._replies(before, replies)

    def current(self, message: SentMessage) -> SentMessage:
        """The message as it is now (after edits)."""
        return next(m for m in self.messages if m.message_id == message.message_id)

    async def tap(self, picker: SentMessage, label: str) -> None:
        """Press a picker's button (whose press edits the picker) and wait for the edit."""
        edits = len(self.current(picker).history)
        await self.press(self.current(picker), label, replies=0)
        await until(
            lambda: len(self.current(picker).history) > edits,
            within=WAIT,
            what=f"the press on {label!r} to edit the picker",
        )


async def hand_made(
    session: AsyncSession, name: str, *, segment: str | None = None, rule_text: str | None = None
) -> None:
    """A persona made by hand for `segment` or `rule_text`, its other fields placeholders."""
    await create_persona(
        session, name=name, main_problem="p", preferred_format=ContentFormat.TEXT, tone="t",
        best_offer="o", example_customer="e", now=datetime.now(UTC), segment=segment,
        rule_text=rule_text,
    )  # fmt: skip
