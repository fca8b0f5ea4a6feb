"""A desktop browser's console session: signed in by a one-time link posted from the
console's own page only, kept on the server, and ended by signing out, for every copy of
its cookie."""

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.console.context import CSRF_HEADER, SESSION_COOKIE
from bot.console.identity import issue_link, session_cookie, sign
from core.models import ConsoleLink
from core.settings import load_settings
from tests.bot.console.bare import NOW, SECRET, TOKEN, Client, console_client, init_data

OWNER = 7001
CONSOLE_ORIGIN = "https://console.example.org"  # SEGBOT_PUBLIC_URL's origin
EXPIRES = int((NOW + timedelta(days=7)).timestamp())
# A cookie as the console signed them before sessions were kept: `admin:expiry`.
OLD_KIND = sign(f"{OWNER}:{EXPIRES}", secret=SECRET, purpose="console-session")


@pytest.fixture
async def client(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[Client]:
    """The console alone, mounted at /console, for a deployment at CONSOLE_ORIGIN."""
    settings = load_settings(
        bot_token=TOKEN,
        secret_key=SECRET,
        admin_ids=(OWNER,),
        public_url=CONSOLE_ORIGIN + "/",
    )
    async with console_client(sessionmaker, settings) as client:
        yield client


async def link_token(sessionmaker: async_sessionmaker[AsyncSession]) -> str:
    """A fresh one-time sign-in token for the owner, as `/console link` makes it."""
    async with sessionmaker() as session:
        token = await issue_link(
            session, admin_user_id=OWNER, secret=SECRET, lifetime=timedelta(minutes=10), now=NOW
        )
        await session.commit()
    return token


async def sign_in(client: Client, token: str, headers: dict[str, str]) -> tuple[int, str]:
    """POST the sign-in form: the status and the session cookie it set ("" for none)."""
    async with client.post(
        "/console/signin", data={"token": token}, headers=headers, allow_redirects=False
    ) as answer:
        cookie = answer.cookies.get(SESSION_COOKIE)
        return answer.status, "" if cookie is None else cookie.value


def with_cookie(cookie: str) -> dict[str, str]:
    """What console.js's requests carry in a desktop browser signed in by `cookie`."""
    return {"HX-Request": "true", "Cookie": f"{SESSION_COOKIE}={cookie}"}


async def signed_in_cookie(client: Client, sessionmaker: async_sessionmaker[AsyncSession]) -> str:
    status, cookie = await sign_in(
        client, await link_token(sessionmaker), {"Origin": CONSOLE_ORIGIN}
    )
    assert (status, bool(cookie)) == (303, True)
    return cookie


async def test_signing_out_ends_the_session_for_every_copy_of_its_cookie(
    client: Client, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    cookie = await signed_in_cookie(client, sessionmaker)
    stolen = with_cookie(cookie)  # a copy taken from the browser
    async with client.get("/console/", headers=with_cookie(cookie)) as home:
        assert home.status == 200
        assert "Sign out" in await home.text()
        csrf = home.headers[CSRF_HEADER]
    async with client.post("/console/signout", headers=with_cookie(cookie)) as forged:
        assert forged.status == 403  # no CSRF token: a cross-site post cannot sign out
    async with client.get("/console/", headers=stolen) as still:
        assert still.status == 200
    async with client.post(
        "/console/signout", headers={**with_cookie(cookie), CSRF_HEADER: csrf}
    ) as out:
        assert out.status == 200
        assert "Signed out" in await out.text()
        cleared = out.cookies[SESSION_COOKIE]
        assert (cleared.value, cleared["max-age"], cleared["path"]) == ("", "0", "/console")
    async with client.get("/console/segments", headers=stolen) as refused:
        assert refused.status == 401
        assert await refused.text() == "not signed in: this browser's session was signed out"
    async with client.post("/console/signout", headers={**stolen, CSRF_HEADER: csrf}) as again:
        assert again.status == 401


async def test_signing_out_one_browser_leaves_another_signed_in(
    client: Client, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    first = await signed_in_cookie(client, sessionmaker)
    second = await signed_in_cookie(client, sessionmaker)
    async with client.get("/console/", headers=with_cookie(first)) as home:
        csrf = home.headers[CSRF_HEADER]
    async with client.post(
        "/console/signout", headers={**with_cookie(first), CSRF_HEADER: csrf}
    ) as out:
        assert out.status == 200
    async with client.get("/console/", headers=with_cookie(second)) as other:
        assert other.status == 200


@pytest.mark.parametrize(
    ("cookie", "reason"),
    [
        (OLD_KIND, "of an old kind"),
        (session_cookie(OWNER, secret=SECRET, now=NOW), "not known"),  # no sign-in made it
        (session_cookie(OWNER, secret="another deployment", now=NOW), "not signed"),
        (f"{OWNER}:{EXPIRES}", "not signed"),
        ("", "open the console from the bot"),
        ("é" * 40, "not signed"),
    ],
    ids=[
        "from before sign-out",
        "no session",
        "other deployment",
        "unsigned",
        "empty",
        "not ascii",
    ],
)
async def test_a_cookie_of_no_live_session_is_refused_with_401(
    client: Client, cookie: str, reason: str
) -> None:
    async with client.get("/console/", headers=with_cookie(cookie)) as answer:
        assert answer.status == 401
        text = await answer.text()
        assert text.startswith("not signed in: ")
        assert reason in text


async def test_inside_telegram_there_is_no_session_to_sign_out_of(client: Client) -> None:
    signed = init_data(OWNER)
    headers = {"HX-Request": "true", "X-Telegram-Init-Data": signed}
    async with client.get("/console/", headers=headers) as home:
        assert home.status == 200
        assert "Sign out" not in await home.text()
        csrf = home.headers[CSRF_HEADER]
    async with client.post("/console/signout", headers={**headers, CSRF_HEADER: csrf}) as out:
        assert out.status == 400
        assert "no browser session to sign out of" in await out.text()


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},  # a sandboxed frame, or a page that sends no referrer
        {"Origin": ""},
        {"Origin": "https://console.example.org.evil.example"},
        {"Origin": "http://console.example.org"},  # not the https console
        {"Referer": "https://evil.example/sign-me-in"},
        {"Origin": "https://evil.example", "Referer": CONSOLE_ORIGIN + "/console/"},
    ],
    ids=[
        "other site",
        "null",
        "empty",
        "lookalike",
        "other scheme",
        "referer only",
        "origin wins",
    ],
)
async def test_a_sign_in_posted_from_another_site_is_refused_and_uses_no_link(
    client: Client, sessionmaker: async_sessionmaker[AsyncSession], headers: dict[str, str]
) -> None:
    token = await link_token(sessionmaker)
    async with client.post(
        "/console/signin", data={"token": token}, headers=headers, allow_redirects=False
    ) as answer:
        assert answer.status == 403
        assert (await answer.text()).startswith("sign-in refused: it was posted from ")
        assert SESSION_COOKIE not in answer.cookies
    status, cookie = await sign_in(client, token, {"Origin": CONSOLE_ORIGIN})
    assert (status, bool(cookie)) == (303, True)  # the link is still good for its owner


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": CONSOLE_ORIGIN},
        {"Origin": "HTTPS://Console.Example.Org:443"},
        {"Referer": CONSOLE_ORIGIN + "/"},  # strict-origin: the origin alone
        {},  # a client that sends neither is no browser a cross-site page drives
    ],
    ids=["origin", "origin spelled otherwise", "referer", "neither"],
)
async def test_a_sign_in_from_the_console_itself_is_let_in(
    client: Client, sessionmaker: async_sessionmaker[AsyncSession], headers: dict[str, str]
) -> None:
    status, cookie = await sign_in(client, await link_token(sessionmaker), headers)
    assert (status, bool(cookie)) == (303, True)
    async with client.get("/console/", headers=with_cookie(cookie)) as home:
        assert home.status == 200


async def test_the_sign_in_page_makes_browsers_say_where_its_form_comes_from(
    client: Client, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Under "no-referrer" a browser posts the form with `Origin: null`, which the sign-in
    must refuse; "strict-origin" sends the origin, never the path holding the token."""
    async with client.get(f"/console/signin/{await link_token(sessionmaker)}") as page:
        assert page.status == 200
        assert page.headers["Referrer-Policy"] == "strict-origin"
        assert '<meta name="referrer" content="strict-origin">' in await page.text()
    async with client.get("/console/", headers={"HX-Request": "true"}) as other:
        assert other.headers["Referrer-Policy"] == "no-referrer"


async def test_a_new_link_clears_the_rows_that_can_sign_nobody_in(
    client: Client, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Expired unused links, signed-out sessions and sessions past their 7 days go when the
    next link is issued; a live session and a live link stay."""
    week_ago = NOW - timedelta(days=7, minutes=1)
    async with sessionmaker() as session:
        session.add_all(
            [
                ConsoleLink(nonce="expired", admin_user_id=OWNER, expires_at=NOW),
                ConsoleLink(
                    nonce="old-session", admin_user_id=OWNER, expires_at=week_ago, used_at=week_ago
                ),
                ConsoleLink(
                    nonce="signed-out",
                    admin_user_id=OWNER,
                    expires_at=NOW,
                    used_at=NOW,
                    signed_out_at=NOW,
                ),
                ConsoleLink(
                    nonce="live-link", admin_user_id=OWNER, expires_at=NOW + timedelta(minutes=1)
                ),
            ]
        )
        await session.commit()
    cookie = await signed_in_cookie(client, sessionmaker)  # issues a link: the cleaning
    async with sessionmaker() as session:
        left = set((await session.scalars(select(ConsoleLink.nonce))).all())
    assert "live-link" in left
    assert not left & {"expired", "old-session", "signed-out"}
    assert len(left) == 2  # and the session just started
    async with client.get("/console/", headers=with_cookie(cookie)) as home:
        assert home.status == 200
