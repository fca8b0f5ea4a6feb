"""A one-time sign-in link, opened in a desktop browser (`/console link` sends it), and
signing that browser out.

GET shows a page with one button and does nothing else, so a link preview or a browser
prefetching the URL cannot use the link up; the button POSTs the token, which is used once
(bot.console.identity.start_session) and becomes the session cookie. The POST must come
from the console's own page: another site posting its own link here would sign the
victim's browser in as the attacker (login CSRF), so a request whose Origin (or, without
one, Referer) names another origin is refused. A request with neither is let through, as
browsers send one with every form post and a script that sends neither is no victim's
browser.

Signing out ends the session on the server (bot.console.identity.end_session), so a copy
of the cookie no longer works either, and clears the cookie."""

from aiohttp import hdrs, web
from yarl import URL

from bot.admin.permissions import Permission
from bot.console.context import (
    SESSION_COOKIE,
    SIGNED_IN_BY_COOKIE,
    posted,
    render,
    requires,
    services,
)
from bot.console.identity import SESSION_DAYS, SignInError, end_session, start_session

routes = web.RouteTableDef()
# The confirmation page's referrer policy: a form posted under "no-referrer" says
# `Origin: null`, which a cross-site post can say too; "strict-origin" says the origin
# alone, never the path that holds the token.
CONFIRM_REFERRER_POLICY = "strict-origin"


@routes.get("/signin/{token}")
async def confirm(request: web.Request) -> web.Response:
    response = render(request, "signin.html", token=request.match_info["token"])
    response.headers["Referrer-Policy"] = CONFIRM_REFERRER_POLICY
    return response


@routes.post("/signin")
async def sign_in(request: web.Request) -> web.Response:
    console = services(request)
    _refuse_other_sites(request, own=console.settings.public_url)
    token = (await posted(request)).get("token", "")
    now = console.clock()
    try:
        async with console.sessionmaker() as session:
            cookie = await start_session(session, token, secret=console.secret, now=now)
            await session.commit()
    except SignInError as error:
        raise web.HTTPUnauthorized(text=f"not signed in: {error}") from None
    response = web.HTTPSeeOther("/console/")
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=SESSION_DAYS * 86_400,
        path="/console",
        httponly=True,
        samesite="Strict",
        secure=_https(console.settings.public_url),
    )
    raise response


def _https(public_url: str) -> bool:
    return public_url.startswith("https://")


def _refuse_other_sites(request: web.Request, *, own: str) -> None:
    """403 when the request says it comes from a page of another origin than `own`."""
    if hdrs.ORIGIN in request.headers:
        claimed = request.headers[hdrs.ORIGIN]
    elif hdrs.REFERER in request.headers:
        claimed = request.headers[hdrs.REFERER]
    else:
        return
    origin = _origin(claimed)
    if origin is None or origin != _origin(own):
        raise web.HTTPForbidden(
            text=f"sign-in refused: it was posted from {origin or 'an unknown page'}, not "
            "from this console's sign-in page; open the link the bot sent you and press "
            "Sign in there"
        )


def _origin(url: str) -> str | None:
    """scheme://host:port of an absolute http(s) URL, the port always written (443 and
    none are one origin); None for anything else (`null`, a relative or broken URL)."""
    try:
        parsed = URL(url)
    except ValueError:
        return None
    if not parsed.is_absolute() or parsed.scheme not in ("http", "https"):
        return None
    return f"{parsed.scheme}://{parsed.host}:{parsed.port}"


@routes.post("/signout")
@requires(Permission.REPORTS)  # every role has it: what matters is the CSRF token it checks
async def sign_out(request: web.Request) -> web.Response:
    cookie = request.get(SIGNED_IN_BY_COOKIE)
    if cookie is None:
        raise web.HTTPBadRequest(
            text="signed in by Telegram, not by a sign-in link: there is no browser session "
            "to sign out of (close the Mini App instead)"
        )
    console = services(request)
    async with console.sessionmaker() as session:
        await end_session(session, cookie, now=console.clock())
        await session.commit()
    response = render(request, "signedout.html")
    response.del_cookie(
        SESSION_COOKIE,
        path="/console",
        httponly=True,
        samesite="Strict",
        secure=_https(console.settings.public_url),
    )
    return response
