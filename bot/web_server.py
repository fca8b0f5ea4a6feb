"""The web server beside the bot: tracked-link redirects, the operations endpoints
(bot/health.py) and the console (bot/console, mounted at /console)."""

import logging

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.health import Pingable, healthz, metrics, readiness
from broadcasts.links import UnsafeTargetError, follow, read_token
from core.clock import Clock

SESSIONMAKER = web.AppKey("sessionmaker", async_sessionmaker[AsyncSession])
SECRET = web.AppKey("secret", str)
CLOCK: web.AppKey[Clock] = web.AppKey("clock")

logger = logging.getLogger(__name__)


async def follow_link(request: web.Request) -> web.Response:
    """302 to the link's target with UTM parameters, for people and machines alike (only
    people count as clicks); 404 for a token not ours or a target that is not http(s)."""
    ref = read_token(request.match_info["token"], secret=request.app[SECRET])
    if ref is None:
        raise web.HTTPNotFound
    async with request.app[SESSIONMAKER]() as session:
        try:
            target = await follow(
                session,
                ref=ref,
                method=request.method,
                headers=request.headers,
                now=request.app[CLOCK](),
            )
        except UnsafeTargetError as error:
            logger.warning("tracked link %d not followed: %s", ref.link_id, error)
            raise web.HTTPNotFound from None
    if target is None:
        raise web.HTTPNotFound
    raise web.HTTPFound(target)


def create_web_app(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    secret: str,
    clock: Clock,
    redis: Pingable | None = None,
    console: web.Application | None = None,
) -> web.Application:
    app = web.Application()
    app[SESSIONMAKER] = sessionmaker
    app[SECRET] = secret
    app[CLOCK] = clock
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readiness(sessionmaker, redis))
    app.router.add_get("/metrics", metrics(sessionmaker, clock))
    app.router.add_get("/r/{token}", follow_link)
    if console is not None:
        app.add_subapp("/console", console)
    return app


async def start_web_server(app: web.Application, *, host: str, port: int) -> web.AppRunner:
    """Serve `app` in the running event loop; the caller cleans the runner up."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
