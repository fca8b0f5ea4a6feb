"""What a local media file costs a broadcast: its one upload, then its file id.

Against the Bot API emulator in a process of its own, the real sender sends three
campaigns to the same N subscribers, one after the other: a text; a video from a local
file of SIZE_MB that nobody uploaded yet (the first message uploads it, every other sends
the file id it brought); the same video again (every message by the kept file id). Each
is sent twice: with pacing that never binds (what the sender can do; the emulator's limits
off), and at the default 25 messages/s against an emulator that enforces exactly 25 in any
second (does the wait for the upload bunch the messages behind it into 429s?).

For each: messages/s over the run, the upload request's own seconds (the first-upload
cost), the seconds to the first message out, the emulator's 429s and the most sends it
accepted in one second. Prints one JSON line.

    python -m benchmarks.media_upload [--small]
"""

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from benchmarks.broadcast import (
    PUBLIC_URL,
    SECRET,
    TOKEN,
    UNLIMITED_RATE,
    add_audience,
    busiest_second,
    emulator_process,
    fresh_database,
)
from bot.messenger import TelegramMessenger
from broadcasts.campaigns import save_campaign
from broadcasts.messenger import Outcome, OutgoingMessage
from broadcasts.pacing import LocalSlots, RateBudget
from broadcasts.planner import plan_run
from broadcasts.sender import BatchResult, Sender, SenderSettings
from broadcasts.spec import parse_campaign
from core.db import create_sessionmaker
from telegram_emulator import EmulatorClient

SIZE_MB = 20
FREE_RATE = 25.0  # SEGBOT_RATE_LIMIT's default
TEXT = 'text: "Hello {{ first_name }}, see https://shop.example/"'
VIDEO = 'video: {path}\n  caption: "Hello {{{{ first_name }}}}, see https://shop.example/"'


@dataclass
class Timed:
    """A Messenger that notes when each request left, how long it took, and whether it
    uploaded a file."""

    messenger: TelegramMessenger
    sends: list[tuple[float, float, bool]] = field(default_factory=list)

    async def send(
        self, message: OutgoingMessage, *, on_written: Callable[[], None] | None = None
    ) -> Outcome:
        started = time.perf_counter()
        outcome = await self.messenger.send(message, on_written=on_written)
        upload = any(item.local for item in message.media)
        self.sends.append((started, time.perf_counter() - started, upload))
        return outcome


def video_file(folder: Path, name: str) -> Path:
    """An MPEG-4 head and SIZE_MB of bytes; each name's content differs."""
    path = folder / f"{name}.mp4"
    with path.open("wb") as file:
        file.write(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + name.encode())
        file.write(bytes(range(256)) * (SIZE_MB * 2**20 // 256))
    return path


def budget(rate: float) -> RateBudget:
    if rate == UNLIMITED_RATE:
        return RateBudget(rate, chat_spacing=0, slots=LocalSlots(start_after=0))
    return RateBudget(rate)


async def send_campaign(
    sessionmaker: async_sessionmaker[AsyncSession], base_url: str, name: str, body: str, rate: float
) -> dict[str, Any]:
    """Save and plan a campaign of `body` to every subscriber and send it all."""
    async with sessionmaker() as session:
        await session.execute(text("UPDATE subscribers SET status = 'active'"))
        yaml = f"name: {name}\nfrequency_cap: {{messages: 100, hours: 1}}\ndefault:\n  {body}\n"
        now = datetime.now(UTC)
        campaign = await save_campaign(
            session, spec=parse_campaign(yaml), now=now, public_url=PUBLIC_URL
        )
        plan = await plan_run(session, campaign=campaign, now=now)
    settings = SenderSettings(public_url=PUBLIC_URL, secret=SECRET)
    async with TelegramMessenger(api_base=base_url, token=TOKEN) as telegram:
        timed = Timed(telegram)
        sender = Sender(sessionmaker, timed, budget(rate), settings)
        started = time.perf_counter()
        if await sender.deliver(plan.run.id) is not BatchResult.FINISHED:
            raise RuntimeError(f"{name} did not finish")
        seconds = time.perf_counter() - started
    uploads = [took for _, took, upload in timed.sends if upload]
    first_out = min(start + took for start, took, _ in timed.sends) - started
    return {
        "messages": plan.queued,
        "seconds": round(seconds, 2),
        "messages_per_s": round(plan.queued / seconds, 1),
        "uploads": len(uploads),
        "upload_seconds": round(max(uploads), 3) if uploads else None,
        "first_message_seconds": round(first_out, 3),
    }


async def observed(
    sessionmaker: async_sessionmaker[AsyncSession],
    base_url: str,
    control: EmulatorClient,
    name: str,
    body: str,
    rate: float,
) -> dict[str, Any]:
    """One campaign sent, with what the emulator saw of it."""
    await control.clear_requests()
    figures = await send_campaign(sessionmaker, base_url, name, body, rate)
    requests = await control.requests()
    accepted = sorted(float(str(request["at"])) for request in requests if request["ok"])
    figures["emulator_429s"] = sum(1 for request in requests if request["status"] == 429)
    figures["max_in_any_second"] = busiest_second(accepted)
    return figures


async def measure(folder: Path, subscribers: int) -> dict[str, Any]:
    engine = await fresh_database(f"sqlite+aiosqlite:///{folder / 'media.db'}")
    sessionmaker = create_sessionmaker(engine)
    figures: dict[str, Any] = {}
    try:
        async with sessionmaker() as session:
            await add_audience(session, subscribers)
        with emulator_process(subscribers) as base_url:
            async with EmulatorClient(base_url) as control:
                for lane, rate in (("unpaced", UNLIMITED_RATE), ("at_25_per_s", FREE_RATE)):
                    if rate != UNLIMITED_RATE:
                        await control.set_limits(enabled=True, global_per_second=int(rate))
                    video = VIDEO.format(path=video_file(folder, lane))  # not uploaded yet
                    runs = {}
                    for kind, body in (
                        ("text", TEXT),
                        ("video_first_upload", video),
                        ("video_by_file_id", video),
                    ):
                        name = f"{lane}-{kind}".replace("_", "-")
                        runs[kind] = await observed(
                            sessionmaker, base_url, control, name, body, rate
                        )
                    figures[lane] = runs
    finally:
        await engine.dispose()
    return figures


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="fewer subscribers")
    arguments = parser.parse_args()
    subscribers = 150 if arguments.small else 600
    with tempfile.TemporaryDirectory() as folder:
        figures = await measure(Path(folder), subscribers)
    header = {"benchmark": "media_upload", "file_mb": SIZE_MB, "subscribers": subscribers}
    print(json.dumps(header | figures))


if __name__ == "__main__":
    asyncio.run(main())
