import asyncio
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.click_filter import NotAClick, not_a_click
from broadcasts.links import (
    LinkRef,
    UnsafeTargetError,
    check_target,
    follow,
    link_token,
    read_token,
    register_links,
    rewrite_urls,
    tracked_url,
    urls_in,
    with_utm,
)
from core.models import Event, EventType, Subscriber
from core.signing import SIGNED_LENGTH
from core.subscribers import forget

SECRET = "test-secret"
NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
ids = st.integers(min_value=1, max_value=2**62)


@given(link=ids, subscriber=ids, delivery=st.none() | ids)
def test_tokens_round_trip(link: int, subscriber: int, delivery: int | None) -> None:
    ref = LinkRef(link, subscriber, delivery)
    token = link_token(ref, secret=SECRET)
    assert read_token(token, secret=SECRET) == ref


def test_tokens_are_short() -> None:
    token = link_token(LinkRef(12_345, 1_234_567, 98_765_432), secret=SECRET)
    assert len(token) <= 32
    assert tracked_url("https://shop.example/", LinkRef(1, 2), secret=SECRET).startswith(
        "https://shop.example/r/"
    )


@pytest.mark.parametrize(
    "mangle",
    [
        lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),  # signature
        lambda token: ("B" if token[0] != "B" else "C") + token[1:],  # body
        lambda token: token[:5],
        lambda token: "",
        lambda token: "ñ" * 20,
        lambda token: token[:-SIGNED_LENGTH] + "ñ" * SIGNED_LENGTH,  # a signature outside ASCII
        lambda token: token[:3] + "!.~" + token[3:],  # outside the alphabet: skipped, it read
        lambda token: token[:3] + "=" + token[3:],
    ],
)
def test_a_tampered_token_reads_as_nothing(mangle: object) -> None:
    token = link_token(LinkRef(7, 8, 9), secret=SECRET)
    assert callable(mangle)
    assert read_token(mangle(token), secret=SECRET) is None
    assert read_token(token, secret="another-shop") is None


def test_utm_parameters_are_added_without_clobbering() -> None:
    plain = with_utm("https://shop.example/p?id=1", campaign="bf", content="vip/a")
    assert parse_qs(urlsplit(plain).query) == {
        "id": ["1"],
        "utm_source": ["telegram"],
        "utm_medium": ["bot"],
        "utm_campaign": ["bf"],
        "utm_content": ["vip/a"],
    }
    own = with_utm("https://shop.example/?utm_source=partner", campaign="bf", content="")
    assert parse_qs(urlsplit(own).query) == {
        "utm_source": ["partner"],
        "utm_medium": ["bot"],
        "utm_campaign": ["bf"],
    }


@pytest.mark.parametrize(
    "query",
    ["q=caf%E9", "sid=a;b=2", "flag", "q=a%20b&&z=1", "x=1&", "a=1&a=2"],
    ids=["latin-1", "semicolons", "a bare key", "an empty pair", "a trailing &", "a key twice"],
)
def test_the_targets_own_query_is_kept_as_written(query: str) -> None:
    tracked = with_utm(f"https://shop.example/p?{query}#top", campaign="bf", content="a")
    kept = query.removesuffix("&")
    assert tracked == (
        f"https://shop.example/p?{kept}&utm_source=telegram&utm_medium=bot&utm_campaign=bf"
        "&utm_content=a#top"
    )


def test_urls_in_text_and_html_are_found_and_rewritten() -> None:
    text = 'Sale! <a href="https://shop.example/sale?x=1">here</a> or https://shop.example/new. Bye'
    assert urls_in(text) == ["https://shop.example/sale?x=1", "https://shop.example/new"]
    rewritten = rewrite_urls(text, lambda url: f"https://t.example/r/{len(url)}")
    assert rewritten == (
        'Sale! <a href="https://t.example/r/29">here</a> or https://t.example/r/24. Bye'
    )


def test_a_url_is_read_as_html_and_written_back_as_html() -> None:
    """`&` is written `&amp;` in a message's HTML: the link goes where the reader would."""
    text = (
        "Sale: https://shop.example/p?id=7&amp;size=m, https://y.example/?a=1&amp;. "
        '<a href="https://x.example/?a=&quot;">x</a>'
    )
    assert urls_in(text) == [
        "https://shop.example/p?id=7&size=m",
        "https://y.example/?a=1&",
        'https://x.example/?a="',
    ]
    assert rewrite_urls(text, lambda url: url) == text
    tracked = rewrite_urls(
        text, lambda url: "https://t.example/r/1" if "id=7&size=m" in url else url
    )
    assert tracked == text.replace(
        "https://shop.example/p?id=7&amp;size=m", "https://t.example/r/1"
    )


BROWSERS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
    # Telegram's own in-app browser on Android
    "Mozilla/5.0 (Linux; Android 14; SM-S918B Build/UP1A.231005.007; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/126.0.6478.122 Mobile Safari/537.36 "
    "Telegram-Android/11.0.0 (Samsung SM-S918B; Android 14; SDK 34; HIGH)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.87",
    "Mozilla/5.0 (Android 14; Mobile; rv:130.0) Gecko/130.0 Firefox/130.0",
    "Mozilla/5.0 (Linux; Android 13; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/122.0.0.0 YaBrowser/24.4.1.89.00 SA/3 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 10; CUBOT_X30) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/470.0.0.36.109;FBBV/624468042]",
]


@pytest.mark.parametrize("agent", BROWSERS)
def test_a_browser_is_a_person(agent: str) -> None:
    assert not_a_click(method="GET", headers={"User-Agent": agent}) is None


@pytest.mark.parametrize(
    ("method", "headers", "reason"),
    [
        ("HEAD", {"User-Agent": BROWSERS[0]}, NotAClick.HEAD),
        ("head", {"User-Agent": BROWSERS[0]}, NotAClick.HEAD),
        (
            "GET",
            {"sec-purpose": "prefetch;prerender", "User-Agent": BROWSERS[1]},
            NotAClick.PREFETCH,
        ),
        ("GET", {"Purpose": "prefetch", "User-Agent": BROWSERS[2]}, NotAClick.PREFETCH),
        ("GET", {"X-Moz": "prefetch", "User-Agent": BROWSERS[3]}, NotAClick.PREFETCH),
        ("GET", {"X-Purpose": "preview", "User-Agent": BROWSERS[0]}, NotAClick.PREFETCH),
        ("GET", {}, NotAClick.NO_USER_AGENT),
        ("GET", {"User-Agent": "   "}, NotAClick.NO_USER_AGENT),
    ],
)
def test_head_prefetch_and_no_user_agent_are_not_clicks(
    method: str, headers: dict[str, str], reason: NotAClick
) -> None:
    assert not_a_click(method=method, headers=headers) == reason


MACHINE_AGENTS = {
    NotAClick.HTTP_LIBRARY: [
        "curl/8.5.0",
        "python-requests/2.32.3",
        "Python/3.11 aiohttp/3.10.5",
        "Go-http-client/2.0",
        "Wget/1.21.4",
        "okhttp/4.12.0",
        "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/126.0.0.0 Safari/537.36",
        "Java-http-client/17.0.2",
        "Ruby",
        "Dalvik/2.1.0 (Linux; U; Android 14; Pixel 8 Build/AP2A.240805.005)",
        "HTTPie/3.2.2",
        "Deno/1.44.0",
        "Bun/1.1.20",
    ],
    NotAClick.SCANNER: [
        "Mozilla/5.0 (compatible; Yahoo! Slurp; http://help.yahoo.com/help/us/ysearch/slurp)",
        "Mozilla/5.0 (compatible; Snap URL Preview Service; bot; snapchat; "
        "https://developers.snap.com/robots)",
        "TelegramBot (like TwitterBot)",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "Twitterbot/1.0",
        "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
        "WhatsApp/2.23.20.0 A",
        "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5",
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        "Mastodon/4.2.10 (http.rb/5.1.1; +https://mastodon.social/)",
        "Iframely/1.3.1 (+https://iframely.com/docs/about)",
        "Microsoft Office Existence Discovery",
        "Mozilla/4.0 (compatible; ms-office; MSOffice 16)",
        "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
        "Mozilla/5.0 (compatible; SomeNewBot/0.1)",
    ],
}


@pytest.mark.parametrize(
    ("agent", "reason"),
    [(agent, reason) for reason, agents in MACHINE_AGENTS.items() for agent in agents],
)
def test_libraries_and_scanners_are_not_clicks(agent: str, reason: NotAClick) -> None:
    assert not_a_click(method="GET", headers={"user-agent": agent}) == reason


@pytest.mark.parametrize(
    ("stored", "redirected"),
    [
        ("https://shop.example/sale?x=1", "https://shop.example/sale?x=1"),
        ("http://shop.example", "http://shop.example"),
        ("HTTPS://Shop.Example/p", "https://shop.example/p"),
        ("https://пример.рф/", "https://xn--e1afmkfd.xn--p1ai/"),
    ],
)
def test_http_targets_are_safe(stored: str, redirected: str) -> None:
    assert check_target(stored) == redirected


@pytest.mark.parametrize(
    "stored",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "file:///etc/passwd",
        "tg://resolve?domain=x",
        "//evil.example/",
        "/r/relative",
        "https:///no-host",
        "https://shop.example:99999/",
        "https://[::1/",
        "https://shop.example\\@evil.example/",
        "https://shop.example/\r\nSet-Cookie: a=1",
        "https://e\u200bvil.example/",
        "",
    ],
)
def test_other_targets_are_refused(stored: str) -> None:
    with pytest.raises(UnsafeTargetError, match="the link target"):
        check_target(stored)


async def subscriber(session: AsyncSession) -> int:
    row = Subscriber(telegram_id=1, chat_id=1, subscribed_at=NOW, last_seen_at=NOW, attributes={})
    session.add(row)
    await session.commit()
    return row.id


async def test_links_are_registered_once_per_campaign_and_content(session: AsyncSession) -> None:
    first = await register_links(
        session,
        ["https://a.example", "https://b.example"],
        campaign="bf",
        content="vip",
        tags=["sale"],
        now=NOW,
    )
    again = await register_links(
        session, ["https://b.example", "https://b.example"], campaign="bf", content="vip", now=NOW
    )
    other = await register_links(
        session, ["https://b.example"], campaign="bf", content="new", now=NOW
    )
    assert again == {"https://b.example": first["https://b.example"]}
    assert other["https://b.example"] != first["https://b.example"]


async def test_two_senders_preparing_one_campaign_at_once_share_its_links(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """Scaled out, two senders may prepare the same run: the second to write must find
    the first's links, not fail on them."""
    urls = ["https://a.example", "https://b.example"]
    async with sessionmaker() as first, sessionmaker() as second:
        mine = await register_links(first, urls, campaign="bf", content="vip", now=NOW)
        theirs = asyncio.create_task(
            register_links(second, urls, campaign="bf", content="vip", now=NOW)
        )
        await asyncio.sleep(0.3)  # it has looked for them, and waits to write its own
        await first.commit()
        assert await theirs == mine
        await second.commit()


BROWSER = {"User-Agent": BROWSERS[0]}


async def test_a_click_is_logged_once_and_machines_not_at_all(session: AsyncSession) -> None:
    subscriber_id = await subscriber(session)
    links = await register_links(session, ["https://a.example"], tags=["interest:shoes"], now=NOW)
    await session.commit()
    ref = LinkRef(links["https://a.example"], subscriber_id, delivery_id=77)
    target = "https://a.example?utm_source=telegram&utm_medium=bot"

    async def hit(
        method: str = "GET", headers: dict[str, str] = BROWSER, now: datetime = NOW
    ) -> str | None:
        return await follow(session, ref=ref, method=method, headers=headers, now=now)

    assert await hit(headers={"User-Agent": "TelegramBot (like TwitterBot)"}) == target
    assert await hit(method="HEAD") == target
    assert await hit(headers={**BROWSER, "Sec-Purpose": "prefetch"}) == target
    assert await hit() == target
    assert await hit(now=NOW + timedelta(seconds=2)) == target  # a double tap
    assert await hit(now=NOW + timedelta(minutes=1)) == target
    clicks = (await session.scalars(select(Event))).all()
    assert [(c.type, c.delivery_id, c.payload["tags"]) for c in clicks] == [
        ("link_click", 77, ["interest:shoes"]),
    ] * 2
    missing = LinkRef(999, subscriber_id)
    assert await follow(session, ref=missing, method="GET", headers=BROWSER, now=NOW) is None


async def test_taps_at_the_same_moment_count_once(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    subscriber_id = await subscriber(session)
    links = await register_links(session, ["https://a.example"], now=NOW)
    await session.commit()
    ref = LinkRef(links["https://a.example"], subscriber_id)

    async def tap() -> str | None:
        async with sessionmaker() as own:
            return await follow(own, ref=ref, method="GET", headers=BROWSER, now=NOW)

    await asyncio.gather(*(tap() for _ in range(5)))
    clicks = await session.scalars(select(Event).where(Event.type == EventType.LINK_CLICK))
    assert len(clicks.all()) == 1


async def test_nobody_is_logged_for_a_subscriber_who_is_gone(session: AsyncSession) -> None:
    """Deleted, or erased by /forget: the link still works, and no click is kept."""
    erased_id = await subscriber(session)
    links = await register_links(session, ["https://a.example"], now=NOW)
    await forget(session, telegram_id=1, now=NOW)
    await session.commit()
    for subscriber_id in (erased_id, erased_id + 1):
        ref = LinkRef(links["https://a.example"], subscriber_id)
        target = await follow(session, ref=ref, method="GET", headers=BROWSER, now=NOW)
        assert target == "https://a.example?utm_source=telegram&utm_medium=bot"
    clicks = await session.scalars(select(Event).where(Event.type == EventType.LINK_CLICK))
    assert clicks.all() == []


async def test_an_unsafe_target_is_refused_when_followed(session: AsyncSession) -> None:
    subscriber_id = await subscriber(session)
    links = await register_links(session, ["javascript:alert(1)"], now=NOW)
    await session.commit()
    ref = LinkRef(links["javascript:alert(1)"], subscriber_id)
    with pytest.raises(UnsafeTargetError, match="not an absolute http"):
        await follow(session, ref=ref, method="GET", headers=BROWSER, now=NOW)
    assert (await session.scalars(select(Event))).all() == []
