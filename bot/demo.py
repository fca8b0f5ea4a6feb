"""`segbot demo`: the real bot against the built-in Bot API emulator, on a temporary SQLite
file, with simulated subscribers. Nothing leaves this machine."""

import asyncio
import tempfile
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from bot import runtime
from bot.emulator import Emulator
from core.db import create_engine, create_sessionmaker
from core.models import Event, Subscriber
from core.settings import Settings

T = TypeVar("T")

DEMO_TOKEN = "123456789:SEGBOT-DEMO-TOKEN"  # noqa: S105  (the emulator takes any token)
REPLY_TIMEOUT = 10.0


@dataclass(frozen=True)
class SimulatedUser:
    user_id: int
    first_name: str
    language_code: str
    says: tuple[str, ...]  # what the user sends, in order; each gets one reply


CAST = (
    SimulatedUser(1001, "Ana", "es", ("/start promo_spring",)),
    SimulatedUser(1002, "Boris", "ru", ("/start instagram_bio",)),
    SimulatedUser(1003, "Chloe", "en", ("/start",)),
    SimulatedUser(1004, "Dev", "en", ("/start newsletter", "/stop")),
    SimulatedUser(1005, "Emma", "en", ("/start not a valid payload!",)),
    SimulatedUser(1006, "Farid", "en", ("/start promo_spring", "/stop", "/start")),
)


async def run(console: Console | None = None) -> None:
    console = console or Console()
    with tempfile.TemporaryDirectory(prefix="segbot-demo-") as workdir:
        database_url = f"sqlite+aiosqlite:///{Path(workdir) / 'demo.db'}"
        async with Emulator() as emulator:
            settings = Settings(
                bot_token=DEMO_TOKEN,
                secret_key="segbot-demo-secret",  # noqa: S106  (a throwaway demo database)
                database_url=database_url,
                telegram_api_base=emulator.base_url,
                web_port=0,
            )
            console.print(f"[bold]segbot demo[/]: Bot API emulator at {emulator.base_url}")
            bot = asyncio.create_task(runtime.run(settings, handle_signals=False))
            try:
                await _alongside(bot, _simulate(emulator))
            finally:
                bot.cancel()
                await asyncio.gather(bot, return_exceptions=True)
            console.print(await _subscriber_table(database_url, emulator))
            console.print(f"The bot made {len(emulator.requests)} Bot API requests.")


async def _simulate(emulator: Emulator) -> None:
    async def act(user: SimulatedUser) -> None:
        emulator.add_user(
            user.user_id, first_name=user.first_name, language_code=user.language_code
        )
        for count, text in enumerate(user.says, start=1):
            await emulator.send_text(user.user_id, text)
            await emulator.wait_for_messages(user.user_id, count=count, timeout=REPLY_TIMEOUT)

    await asyncio.gather(*(act(user) for user in CAST))


async def _alongside(bot: "asyncio.Task[None]", work: Awaitable[T]) -> T:
    """Await `work`, but fail at once if the bot stops first instead of timing out."""
    job = asyncio.ensure_future(work)
    await asyncio.wait({bot, job}, return_when=asyncio.FIRST_COMPLETED)
    if not job.done():
        job.cancel()
        bot.result()  # re-raises why the bot stopped
        raise RuntimeError("the bot stopped before the simulated users were done")
    return job.result()


async def _subscriber_table(database_url: str, emulator: Emulator) -> Table:
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            events = (
                select(func.count()).where(Event.subscriber_id == Subscriber.id).scalar_subquery()
            )
            rows = (await session.execute(select(Subscriber, events).order_by(Subscriber.id))).all()
    finally:
        await engine.dispose()
    table = Table(title="Simulated subscribers")
    for column in ("user", "said", "source (first touch)", "status", "events", "last reply"):
        table.add_column(column)
    said = {user.user_id: " → ".join(user.says) for user in CAST}
    for subscriber, event_count in rows:
        replies = emulator.messages_to(subscriber.chat_id)
        table.add_row(
            subscriber.first_name or str(subscriber.telegram_id),
            said.get(subscriber.telegram_id, ""),
            subscriber.source or "—",
            subscriber.status.value,
            str(event_count),
            replies[-1].text if replies else "—",
        )
    return table
