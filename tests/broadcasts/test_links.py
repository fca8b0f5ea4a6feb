from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.links import (
    LinkRef,
    is_preview_agent,
    link_token,
    read_token,
    record_click,
    register_links,
    rewrite_urls,
    tracked_url,
    urls_in,
    with_utm,
)
from core.models import Event, Subscriber

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


def test_urls_in_text_and_html_are_found_and_rewritten() -> None:
    text = 'Sale! <a href="https://shop.example/sale?x=1">here</a> or https://shop.example/new. Bye'
    assert urls_in(text) == ["https://shop.example/sale?x=1", "https://shop.example/new"]
    rewritten = rewrite_urls(text, lambda url: f"https://t.example/r/{len(url)}")
    assert rewritten == (
        'Sale! <a href="https://t.example/r/29">here</a> or https://t.example/r/24. Bye'
    )


@pytest.mark.parametrize(
    ("agent", "preview"),
    [
        ("TelegramBot (like TwitterBot)", True),
        ("facebookexternalhit/1.1", True),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1", False),
        ("", False),
    ],
)
def test_preview_fetchers_are_told_apart(agent: str, preview: bool) -> None:
    assert is_preview_agent(agent) is preview


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


async def test_a_click_is_logged_once_and_previews_not_at_all(session: AsyncSession) -> None:
    subscriber_id = await subscriber(session)
    links = await register_links(session, ["https://a.example"], tags=["interest:shoes"], now=NOW)
    await session.commit()
    ref = LinkRef(links["https://a.example"], subscriber_id, delivery_id=77)
    browser = "Mozilla/5.0"
    assert await record_click(session, ref=ref, user_agent="TelegramBot", now=NOW)
    assert await record_click(session, ref=ref, user_agent=browser, now=NOW)
    assert await record_click(
        session, ref=ref, user_agent=browser, now=NOW + timedelta(seconds=2)
    )  # a double hit
    assert await record_click(session, ref=ref, user_agent=browser, now=NOW + timedelta(minutes=1))
    clicks = (await session.scalars(select(Event))).all()
    assert [(c.type, c.delivery_id, c.payload["tags"]) for c in clicks] == [
        ("link_click", 77, ["interest:shoes"]),
    ] * 2
    assert (
        await record_click(session, ref=LinkRef(999, subscriber_id), user_agent=browser, now=NOW)
        is None
    )
