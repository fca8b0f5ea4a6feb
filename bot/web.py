"""The web server beside the bot: health checks now; click redirects and the webhook later."""

from aiohttp import web


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_web_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/healthz", healthz)
    return app


async def start_web_server(app: web.Application, *, host: str, port: int) -> web.AppRunner:
    """Serve `app` in the running event loop; the caller cleans the runner up."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
