"""The floor under webhook ingest: the least a bot process does that keeps each update in
PostgreSQL before acknowledging it and then handles it through aiogram, with no segbot code.

In a process of its own, as a bot process runs: an aiohttp endpoint that reads the body as
JSON and answers 200 once a group commit holding it (one INSERT of every update posted
meanwhile, straight through asyncpg) is done; and one loop that takes the unhandled updates
CLAIM_BATCH at a time (as a bot process claims them), decodes each into aiogram's `Update`,
feeds it to a Dispatcher whose one handler does nothing, and marks the batch handled. It
leaves out everything segbot adds: the secret header, the depth check, per-user order,
claims and their lease, middlewares, the event log, anti-flood and state.
`benchmarks.webhook` posts to it as to a bot process.
"""

import asyncio
import json
from functools import partial
from multiprocessing.connection import Connection

import asyncpg
from aiogram import Bot, Dispatcher, Router
from aiogram.types import Message, Update
from aiohttp import web

from benchmarks.broadcast import TOKEN, spawned
from benchmarks.scale import posted_and_handled
from bot.webhook import WEBHOOK_PATH
from core.grouped_calls import GroupedCalls
from core.inbox import CLAIM_BATCH, GROUP_LIMIT

_TABLE = """CREATE TABLE floor_inbox (
    update_id bigint PRIMARY KEY, payload json NOT NULL, handled boolean NOT NULL DEFAULT false
)"""
_STORE = """INSERT INTO floor_inbox (update_id, payload)
    SELECT * FROM unnest($1::bigint[], $2::json[]) ON CONFLICT DO NOTHING"""
_TAKE = """SELECT update_id, payload FROM floor_inbox WHERE NOT handled
    ORDER BY update_id LIMIT $1"""
_MARK = "UPDATE floor_inbox SET handled = true WHERE update_id = ANY($1::bigint[])"


async def _handled_so_far(pipe: Connection) -> int:
    pipe.send("handled")
    return int(pipe.recv())


def _serve(database_url: str, pipe: Connection) -> None:
    asyncio.run(_run(database_url, pipe))


async def _run(database_url: str, pipe: Connection) -> None:
    libpq_url = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    pool = await asyncpg.create_pool(libpq_url, min_size=2, max_size=10)
    await pool.execute(_TABLE)
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
            for row in rows:
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


async def floor_rates(database_url: str, updates: int) -> dict[str, int]:
    """The floor's updates acknowledged and handled per second, posted as to a bot."""
    with spawned(_serve, database_url) as (url, pipe):
        return await posted_and_handled(
            [url + WEBHOOK_PATH],
            updates,
            secret="unchecked",  # noqa: S106
            handled=partial(_handled_so_far, pipe),
        )
