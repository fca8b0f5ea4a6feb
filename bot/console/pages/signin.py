"""A one-time sign-in link, opened in a desktop browser (`/console link` sends it).

GET shows a page with one button and does nothing else, so a link preview or a browser
prefetching the URL cannot use the link up; the button POSTs the token, which is used once
(bot.console.identity.redeem_link) and becomes the session cookie."""

from aiohttp import web

from bot.console.context import SESSION_COOKIE, posted, render, services
from bot.console.identity import SESSION_DAYS, SignInError, redeem_link, session_cookie

routes = web.RouteTableDef()


@routes.get("/signin/{token}")
async def confirm(request: web.Request) -> web.Response:
    return render(request, "signin.html", token=request.match_info["token"])


@routes.post("/signin")
async def sign_in(request: web.Request) -> web.Response:
    console = services(request)
    token = (await posted(request)).get("token", "")
    now = console.clock()
    try:
        async with console.sessionmaker() as session:
            user_id = await redeem_link(session, token, secret=console.secret, now=now)
            await session.commit()
    except SignInError as error:
        raise web.HTTPUnauthorized(text=f"not signed in: {error}") from None
    response = web.HTTPSeeOther("/console/")
    response.set_cookie(
        SESSION_COOKIE,
        session_cookie(user_id, secret=console.secret, now=now),
        max_age=SESSION_DAYS * 86_400,
        path="/console",
        httponly=True,
        samesite="Strict",
        secure=console.settings.public_url.startswith("https://"),
    )
    raise response
