"""The console alone, without the bot around it: the console sub-app mounted at /console
behind an aiohttp test client, a messenger that must not send, and `initData` signed as
Telegram signs it."""

import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from urllib.parse import urlencode

from aiogram import Bot
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.admin.services import AdminServices
from bot.console.app import create_console_app
from bot.console.context import ConsoleServices
from broadcasts.messenger import Messenger, Outcome, OutgoingMessage
from core.settings import Settings

TOKEN = "123456:TEST-TOKEN"
SECRET = "test-secret"
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)

Client = TestClient[web.Request, web.Application]


class NoMessenger:
    """Sends nothing: no request here may reach a send."""

    async def send(
        self, message: OutgoingMessage, *, on_written: Callable[[], None] | None = None
    ) -> Outcome:
        raise AssertionError(f"unexpected send to {message.chat_id}")


@asynccontextmanager
async def console_client(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> AsyncIterator[Client]:
    """A client of the console alone (its clock stopped at NOW), for `settings`."""
    messenger: Messenger = NoMessenger()
    bot = Bot(TOKEN)
    console = ConsoleServices(
        sessionmaker=sessionmaker,
        settings=settings,
        services=AdminServices(),
        messenger=messenger,
        bot=bot,
        clock=lambda: NOW,
        secret=SECRET,
    )
    root = web.Application()
    root.add_subapp("/console", create_console_app(console))
    try:
        async with TestClient(TestServer(root)) as client:
            yield client
    finally:
        await bot.session.close()


def init_data(user_id: int, *, token: str = TOKEN, at: datetime = NOW) -> str:
    """initData for `user_id`, signed as Telegram signs it."""
    fields = {
        "query_id": "AAH",
        "user": json.dumps({"id": user_id, "first_name": "Ann"}),
        "auth_date": str(int(at.timestamp())),
    }
    check = "\n".join(f"{key}={fields[key]}" for key in sorted(fields))
    key = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    return urlencode({**fields, "hash": hmac.new(key, check.encode(), hashlib.sha256).hexdigest()})
