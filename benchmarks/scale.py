"""Scale-out on PostgreSQL and Redis, with real `segbot run --role ...` processes:

(a) broadcast messages delivered per second by 1, 2 and 4 sender processes against the
    emulator with limits off (SEGBOT_RATE_LIMIT far above what is reached), next to a bare
    aiohttp loop posting the same number of sendMessage requests in the same run;
(b) webhook updates per second (stored, handled and answered) with 1 and 2 bot processes,
    the updates posted round-robin as a load balancer would, next to the same posts to a
    bare aiohttp endpoint that only answers 200.

The emulator runs in a process of its own, so that it does not share a core with the
measuring process. Prints one JSON line. Needs PostgreSQL at 127.0.0.1:5432 and Redis at
127.0.0.1:6379, like the test suite; `--small` for a quick run.
"""

import argparse
import asyncio
import json
import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from yarl import URL

from benchmarks.broadcast import (
    NOW,
    POSTGRES,
    SECRET,
    TOKEN,
    add_audience,
    campaign,
    emulator_process,
    fresh_database,
)
from bot.webhook import SECRET_HEADER, WEBHOOK_PATH, webhook_secret
from broadcasts.models import Delivery, DeliveryStatus
from broadcasts.planner import plan_run
from core.db import create_sessionmaker
from core.inbox import InboundUpdate
from core.settings import WEBHOOK_CONNECTIONS_MOST, load_settings
from tests.databases import temporary_postgres_database

SEGBOT = str(Path(sys.executable).parent / "segbot")
REDIS_URL = "redis://127.0.0.1:6379/14"
POSTERS = 1000  # the updates come from people 1..POSTERS, in turn
STARTUP_SECONDS = 120


@asynccontextmanager
async def segbot_processes(
    role: str, count: int, *, database_url: str, emulator_url: str, logs: Path, webhook: bool
) -> AsyncIterator[list[str]]:
    """`count` processes of `role`, up and running; yields their public URLs."""
    processes, urls = [], []
    for number in range(count):
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        environment = os.environ | {
            "SEGBOT_BOT_TOKEN": TOKEN,
            "SEGBOT_SECRET_KEY": SECRET,
            "SEGBOT_DATABASE_URL": database_url,
            "SEGBOT_TELEGRAM_API_BASE": emulator_url,
            "SEGBOT_REDIS_URL": REDIS_URL,
            "SEGBOT_RATE_LIMIT": "100000",
            "SEGBOT_WEB_PORT": str(port),
            "SEGBOT_PUBLIC_URL": url,
            "SEGBOT_LOG_LEVEL": "WARNING",
        }
        log = logs / f"{role}-{number}.log"
        args = ["run", "--role", role, *(["--webhook"] if webhook else [])]
        with log.open("wb") as output:
            processes.append(
                await asyncio.create_subprocess_exec(
                    SEGBOT, *args, env=environment, stdout=output, stderr=output
                )
            )
        urls.append(url)
    try:
        async with aiohttp.ClientSession() as http:
            for url in urls:
                await _until_ready(http, url)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        await asyncio.gather(*(process.wait() for process in processes))


async def _until_ready(http: aiohttp.ClientSession, url: str) -> None:
    async with asyncio.timeout(STARTUP_SECONDS):
        while True:
            try:
                async with http.get(f"{url}/readyz") as answer:
                    if answer.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _count(sessionmaker: async_sessionmaker[AsyncSession], statement: Any) -> int:
    async with sessionmaker() as session:
        return int(await session.scalar(statement) or 0)


async def deliver_with(
    senders: int, messages: int, *, emulator_url: str, logs: Path
) -> dict[str, Any]:
    """(a) for one number of sender processes, on a fresh database."""
    async with temporary_postgres_database(POSTGRES) as url:
        engine = await fresh_database(url)
        sessionmaker = create_sessionmaker(engine)
        try:
            async with sessionmaker() as session:
                await add_audience(session, messages)
                sent_campaign = await campaign(session, f"scale{senders}")
            async with segbot_processes(
                "sender", senders, database_url=url, emulator_url=emulator_url, logs=logs,
                webhook=False,
            ):  # fmt: skip
                async with sessionmaker() as session:
                    await plan_run(session, campaign=sent_campaign, now=NOW)
                started = time.perf_counter()
                final = select(func.count()).where(
                    Delivery.status.in_([DeliveryStatus.SENT, DeliveryStatus.FAILED])
                )
                while await _count(sessionmaker, final) < messages:  # noqa: ASYNC110  (polling the DB)
                    await asyncio.sleep(0.05)
                elapsed = time.perf_counter() - started
        finally:
            await engine.dispose()
    return {"senders": senders, "messages": messages, "per_second": round(messages / elapsed)}


async def bare_posts(emulator_url: str, messages: int) -> float:
    """The ceiling of the emulator itself: sendMessage posts from a bare aiohttp loop."""
    url = f"{emulator_url}/bot{TOKEN}/sendMessage"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as http:

        async def post(chat: int) -> None:
            async with http.post(url, json={"chat_id": chat, "text": "Hello"}) as answer:
                await answer.read()

        started = time.perf_counter()
        await asyncio.gather(*(post(1 + chat % 1000) for chat in range(messages)))
        return messages / (time.perf_counter() - started)


def _update(update_id: int, user: int) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(NOW.timestamp()),
            "chat": {"id": user, "type": "private"},
            "from": {"id": user, "is_bot": False, "first_name": f"User{user}"},
            "text": "hello",
        },
    }


async def post_round_robin(urls: list[str], updates: int, *, secret: str) -> float:
    """Post `updates` to the URLs in turn over as many kept-alive connections as segbot
    asks Telegram for (SEGBOT_WEBHOOK_MAX_CONNECTIONS, the Bot API's most), split evenly
    over the URLs; seconds until all were answered.

    The requests are encoded before the clock starts and written on plain sockets: an
    aiohttp client costs 180-240 µs of CPU a post against 40-45 µs so, on a machine whose
    cores the bot processes need."""
    by_url: dict[str, list[bytes]] = {url: [] for url in urls}
    for number in range(1, updates + 1):
        url = urls[number % len(urls)]
        by_url[url].append(_request(url, _update(number, 1 + number % POSTERS), secret))
    queues = {url: iter(requests) for url, requests in by_url.items()}

    async def connection(url: str) -> None:
        address = URL(url)
        reader, writer = await asyncio.open_connection(address.host, address.port)
        try:
            for request in queues[url]:
                writer.write(request)
                await _answered(reader)
        finally:
            writer.close()

    started = time.perf_counter()
    connections = [urls[number % len(urls)] for number in range(WEBHOOK_CONNECTIONS_MOST)]
    await asyncio.gather(*(connection(url) for url in connections))
    return time.perf_counter() - started


def _request(url: str, update: dict[str, Any], secret: str) -> bytes:
    """An HTTP/1.1 POST of `update` to `url`, as bytes."""
    address, body = URL(url), json.dumps(update).encode()
    head = (
        f"POST {address.raw_path} HTTP/1.1\r\nHost: {address.raw_authority}\r\n"
        f"{SECRET_HEADER}: {secret}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _answered(reader: asyncio.StreamReader) -> None:
    """Read one answer off `reader`; anything but a 200 with a Content-Length fails."""
    status = await reader.readline()
    if not status.startswith(b"HTTP/1.1 200 "):
        raise RuntimeError(f"the webhook answered {status.decode(errors='replace').strip()!r}")
    length = None
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length is None:
        raise RuntimeError("the webhook answered without a Content-Length")
    await reader.readexactly(length)


async def webhooks_with(
    bots: int, updates: int, *, emulator_url: str, logs: Path, subscribed: bool = False
) -> dict[str, Any]:
    """(b) for one number of bot processes: updates stored and handled per second. The
    people posting have no subscriber row (their touches wait for one, then are given up),
    or with `subscribed` they are subscribers (their touches become events)."""
    async with temporary_postgres_database(POSTGRES) as url:
        engine = await fresh_database(url)
        sessionmaker = create_sessionmaker(engine)
        try:
            if subscribed:
                async with sessionmaker() as session:
                    await add_audience(session, POSTERS)
            async with segbot_processes(
                "bot", bots, database_url=url, emulator_url=emulator_url, logs=logs,
                webhook=True,
            ) as urls:  # fmt: skip
                handled = select(func.count()).where(InboundUpdate.handled_at.is_not(None))
                rates = await posted_and_handled(
                    [url + WEBHOOK_PATH for url in urls],
                    updates,
                    secret=webhook_secret(SECRET),
                    handled=partial(_count, sessionmaker, handled),
                )
        finally:
            await engine.dispose()
    return {"bots": bots, "updates": updates, **rates}


async def posted_and_handled(
    urls: list[str], updates: int, *, secret: str, handled: Callable[[], Awaitable[int]]
) -> dict[str, Any]:
    """`updates` posted round-robin to `urls`: acknowledged per second, handled per second
    until `handled()` counts them all, and how busy the machine was meanwhile
    (`machine_busy`, `_busy`)."""
    machine_before = _cpu_ticks()
    started = time.perf_counter()
    acknowledged = await post_round_robin(urls, updates, secret=secret)
    while await handled() < updates:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    return {
        "acknowledged_per_second": round(updates / acknowledged),
        "handled_per_second": round(updates / elapsed),
        "machine_busy": _busy(machine_before, _cpu_ticks()),
    }


def _cpu_ticks() -> tuple[int, int]:
    """The machine's CPU time so far, in clock ticks over all cores: (busy, all). Linux's
    /proc/stat; (0, 0) where there is none."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            ticks = [int(field) for field in stat.readline().split()[1:]]
    except OSError:
        return 0, 0
    idle = ticks[3] + ticks[4]  # idle, iowait
    return sum(ticks) - idle, sum(ticks)


def _busy(before: tuple[int, int], after: tuple[int, int]) -> float | None:
    """The share of all cores busy between two readings (anything running, this process,
    the bots, PostgreSQL, Redis and the emulator included); None where unknown. At about 1.0,
    another bot process has no core left to run on."""
    ticks = after[1] - before[1]
    return round((after[0] - before[0]) / ticks, 2) if ticks > 0 else None


async def bare_endpoint(updates: int) -> float:
    """The ceiling of the posting side: the same posts to an endpoint that only says 200."""

    async def accept(request: web.Request) -> web.Response:
        await request.read()
        return web.Response()

    app = web.Application()
    app.router.add_post(WEBHOOK_PATH, accept)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        seconds = await post_round_robin(
            [f"http://127.0.0.1:{port}{WEBHOOK_PATH}"],
            updates,
            secret="unchecked",  # noqa: S106
        )
    finally:
        await runner.cleanup()
    return updates / seconds


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", action="store_true", help="fewer messages and updates")
    options = parser.parse_args()
    messages, updates = (2000, 1000) if options.small else (12000, 6000)
    load_settings(database_url=POSTGRES)  # a bad URL fails here, before any process starts
    with TemporaryDirectory(prefix="segbot-scale-") as folder, emulator_process(messages) as base:
        logs = Path(folder)
        senders = [
            await deliver_with(count, messages, emulator_url=base, logs=logs) for count in (1, 2, 4)
        ]
        bare_send = await bare_posts(base, messages)
        bots = [
            await webhooks_with(count, updates, emulator_url=base, logs=logs) for count in (1, 2)
        ]
        bare_webhook = await bare_endpoint(updates)
    print(
        json.dumps(
            {
                "benchmark": "scale",
                "cores": os.cpu_count(),
                "sending": senders,
                "bare_aiohttp_sends_per_second": round(bare_send),
                "webhooks": bots,
                "bare_endpoint_posts_per_second": round(bare_webhook),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
