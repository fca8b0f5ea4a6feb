"""The console's web app, mounted at /console on segbot's web server.

Every page is two requests. A plain GET (a link opened, a reload) answers the *shell*: a
page with no data that loads Telegram's Mini App script, htmx, the chart library and
console.js. console.js then asks for the same path again through htmx, adding the
credential (`X-Telegram-Init-Data`, or the desktop session cookie, whose session is looked
up on every request so that signing out ends it) and, for changes, the CSRF token; those
requests answer the page's content. So nothing about the audience is ever served to a
request that has not proven who it is.

Middlewares, in order: security headers on everything (a strict CSP: scripts only from
here and telegram.org, no inline code, styles only from here), then `authenticate`, which
puts the signed-in admin on the request (`ConsoleAdmin`) or answers 401 (no or bad
credential) / 403 (not an admin). Handlers declare what they need with
`bot.console.context.requires`.
"""

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from bot.admin.permissions import role_of
from bot.console import pages
from bot.console.context import (
    ADMIN_KEY,
    CSRF_HEADER,
    HERE,
    SERVICES,
    SESSION_COOKIE,
    SIGNED_IN_BY_COOKIE,
    ConsoleAdmin,
    ConsoleServices,
    Handler,
    render,
    services,
)
from bot.console.identity import SignInError, check_init_data, csrf_token, session_user

INIT_DATA_HEADER = "X-Telegram-Init-Data"
TELEGRAM_SCRIPT = "https://telegram.org/js/telegram-web-app.js"
CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' https://telegram.org",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'self' https://web.telegram.org https://*.telegram.org",
    )
)
# Served to anyone: a report's CSV link carries its own signed credential
# (bot.console.report_downloads), since a download is a plain GET without the header.
OPEN_PATHS = ("/console/static/", "/console/signin", "/console/reports/download/")


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as error:
        response = error
        _secure(response)
        raise
    _secure(response)
    return response


def _secure(response: web.StreamResponse) -> None:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers.setdefault("Referrer-Policy", "no-referrer")  # sign-in sets its own
    response.headers.setdefault("Cache-Control", "no-store")


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Put the admin on the request; a plain GET gets the shell, which asks again."""
    if request.path.startswith(OPEN_PATHS):
        return await handler(request)
    if request.method == "GET" and "HX-Request" not in request.headers:
        return render(request, "shell.html", telegram_script=TELEGRAM_SCRIPT)
    console = services(request)
    try:
        async with console.sessionmaker() as session:
            user_id, name, principal = await _credential(request, console, session)
            role = await role_of(session, user_id=user_id, owners=console.settings.admin_ids)
    except SignInError as error:
        raise web.HTTPUnauthorized(text=f"not signed in: {error}") from None
    if role is None:
        raise web.HTTPForbidden(text="the console is for segbot's admins")
    csrf = csrf_token(principal, secret=console.secret)
    request[ADMIN_KEY] = ConsoleAdmin(user_id, role, name, csrf)
    response = await handler(request)
    response.headers[CSRF_HEADER] = csrf
    return response


async def _credential(
    request: web.Request, console: ConsoleServices, session: AsyncSession
) -> tuple[int, str, str]:
    """(user id, display name, principal) from initData or the session cookie; a request
    signed in by the cookie gets it as `SIGNED_IN_BY_COOKIE`, for signing out."""
    now = console.clock()
    init_data = request.headers.get(INIT_DATA_HEADER)
    if init_data:
        user = check_init_data(
            init_data, bot_token=console.bot.token, max_age=console.max_age, now=now
        )
        return user.id, user.first_name, f"tg:{init_data}"
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        user_id = await session_user(session, cookie, secret=console.secret, now=now)
        request[SIGNED_IN_BY_COOKIE] = cookie
        return user_id, "", f"cookie:{cookie}"
    raise SignInError("open the console from the bot (/console)")


def create_console_app(console: ConsoleServices) -> web.Application:
    """The console, to mount at /console (`app.add_subapp("/console", ...)`)."""
    app = web.Application(middlewares=[security_headers, authenticate])
    app[SERVICES] = console
    app.router.add_static("/static/", HERE / "static")
    for page in pages.ALL:
        app.router.add_routes(page.routes)
    return app
