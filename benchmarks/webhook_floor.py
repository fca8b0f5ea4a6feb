"""The floor under webhook ingest: the least a bot process does that keeps each update in
PostgreSQL before acknowledging it and then handles it through aiogram, with no segbot code.

In a process of its own, as a bot process runs: an aiohttp endpoint that reads the body as
JSON and answers 200 once a group commit holding it (one INSERT of every update posted
meanwhile, straight through asyncpg) is done; and one loop that takes the unhandled updates
CLAIM_BATCH at a time (as a bot process claims them: in one statement, skipping those
another process is taking, so that processes sharing the inbox never take the same one),
decodes each into aiogram's `Update`, feeds it to a Dispatcher whose one handler does
nothing, and marks the batch handled. It leaves out everything segbot adds: the secret
header, the depth check, per-user order, the claims' lease, middlewares, the event log,
anti-flood and state. `benchmarks.webhook` posts to it as to bot processes, one or two
sharing one inbox.
"""

import asyncio
import json
from contextlib import ExitStack
from multiprocessing.connection import Connection
from operator import itemgetter
from typing import Any

import asyncpg
from aiogram import Bot, Dispatcher, Router
from aiogram.types import Message, Update
from aiohttp import web

from benchmarks.broadcast import TOKEN, spawned
from benchmarks.scale import posted_and_handled
from bot.webhook import WEBHOOK_PATH
from core.grouped_calls import GroupedCalls
from core.inbox import CLAIM_BATCH, GROUP_LIMIT

_TABLES = (
    """CREATE TABLE floor_inbox (update_id bigint PRIMARY KEY, payload json NOT NULL,
        taken boolean NOT NULL DEFAULT false, handled boolean NOT NULL DEFAULT false)""",
    "CREATE INDEX floor_inbox_untaken ON floor_inbox (update_id) WHERE NOT taken",
)
_STORE = """INSERT INTO floor_inbox (update_id, payload)
    SELECT * FROM unnest($1::bigint[], $2::json[]) ON CONFLICT DO NOTHING"""
_TAKE = """UPDATE floor_inbox SET taken = true WHERE update_id IN (
    SELECT update_id FROM floor_inbox WHERE NOT taken ORDER BY update_id LIMIT $1
    FOR UPDATE SKIP LOCKED) RETURNING update_id, payload"""
_MARK = "UPDATE floor_inbox SET handled = true WHERE update_id = ANY($1::bigint[])"


async def _handled_so_far(pipe: Connection) -> int:
    pipe.send("handled")
    return int(pipe.recv())


def _serve(database_url: str, pipe: Connection) -> None:
    asyncio.run(_run(database_url, pipe))


def _libpq(database_url: str) -> str:
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _run(database_url: str, pipe: Connection) -> None:
    pool = await asyncpg.create_pool(_libpq(database_url), min_size=2, max_size=10)
    bot, dispatcher = Bot(TOKEN), Dispatcher()
    router = Router()

    @router.message()
    async def nothing(message: Message) -> None:
        return None

    dispatcher.include_router(router)
    stored = asyncio.Event()
    handled = 0

    async def store(posted: list[tuple[int, str]]) -> list[None]:
        ids, bodies = zip(*posted, strict=True)
        await pool.execute(_STORE, ids, bodies)
        return [None] * len(posted)

    writer = GroupedCalls(store, limit=GROUP_LIMIT)

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        await writer.call((json.loads(body)["update_id"], body.decode()))
        stored.set()
        return web.Response()

    async def handle() -> None:
        nonlocal handled
        while True:
            stored.clear()
            rows = await pool.fetch(_TAKE, CLAIM_BATCH)
            if not rows:
                await stored.wait()
                continue
            for row in sorted(rows, key=itemgetter("update_id")):
                update = Update.model_validate_json(row["payload"], context={"bot": bot})
                await dispatcher.feed_update(bot, update)
            await pool.execute(_MARK, [row["update_id"] for row in rows])
            handled += len(rows)

    app = web.Application()
    app.router.add_post(WEBHOOK_PATH, receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    handler = asyncio.create_task(handle())
    pipe.send(f"http://127.0.0.1:{port}")
    loop = asyncio.get_running_loop()
    while (asked := await loop.run_in_executor(None, pipe.recv)) != "stop":
        pipe.send(handled if asked == "handled" else None)
    handler.cancel()
    await runner.cleanup()
    await pool.close()
    await bot.session.close()


async def floor_rates(database_url: str, updates: int, *, processes: int = 1) -> dict[str, Any]:
    """The floor's updates acknowledged and handled per second, and how busy the machine
    was, with `processes` floor processes sharing one inbox, posted to round-robin as to
    bot processes."""
    connection = await asyncpg.connect(_libpq(database_url))
    try:
        for statement in _TABLES:
            await connection.execute(statement)
    finally:
        await connection.close()
    with ExitStack() as stack:
        floors = [stack.enter_context(spawned(_serve, database_url)) for _ in range(processes)]

        async def handled() -> int:
            return sum([await _handled_so_far(pipe) for _, pipe in floors])

        return await posted_and_handled(
            [url + WEBHOOK_PATH for url, _ in floors],
            updates,
            secret="unchecked",  # noqa: S106
            handled=handled,
        )
