"""The web server beside the bot: tracked-link redirects, the operations endpoints
(bot/health.py) and the console (bot/console, mounted at /console)."""

import logging
import os

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.health import Pingable, healthz, metrics, readiness
from broadcasts.links import UnsafeTargetError, follow, read_token
from core.clock import Clock
from core.errors import SegbotError

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


class CannotListenError(SegbotError):
    """The web server cannot listen where it is told: a port in use, a host that is none."""


async def start_web_server(app: web.Application, *, host: str, port: int) -> web.AppRunner:
    """Serve `app` in the running event loop; the caller cleans the runner up.
    CannotListenError names the address and the settings that give it."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as error:
        await runner.cleanup()
        # asyncio words a bind failure as "error while attempting to bind on address
        # ('127.0.0.1', 8080): ...": the error number's own words are enough here.
        number = error.errno or 0  # a name lookup's are negative
        reason = os.strerror(number) if number > 0 else error.strerror or str(error)
        raise CannotListenError(
            f"cannot listen on {host}:{port} (SEGBOT_WEB_HOST, SEGBOT_WEB_PORT): {reason}"
        ) from None
    return runner
