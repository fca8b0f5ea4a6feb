"""Proving who opens the console: Telegram's initData as Telegram documents it, one-time
links, the session cookie and the CSRF token."""

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.console.identity import (
    SignInError,
    check_init_data,
    csrf_token,
    issue_link,
    read_session_cookie,
    redeem_link,
    session_cookie,
)

TOKEN = "123456:TEST-TOKEN"
SECRET = "test-secret"
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def signed(fields: dict[str, str], token: str = TOKEN) -> str:
    check = "\n".join(f"{key}={fields[key]}" for key in sorted(fields))
    key = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    return urlencode({**fields, "hash": hmac.new(key, check.encode(), hashlib.sha256).hexdigest()})


def fields(*, at: datetime = NOW, user_id: int = 42) -> dict[str, str]:
    return {
        "query_id": "AAH",
        "user": json.dumps({"id": user_id, "first_name": "Ann & <b>", "language_code": "en"}),
        "auth_date": str(int(at.timestamp())),
    }


def test_init_data_signed_with_the_bot_token_names_its_user() -> None:
    user = check_init_data(signed(fields()), bot_token=TOKEN, max_age=DAY, now=NOW)
    assert (user.id, user.first_name) == (42, "Ann & <b>")


@pytest.mark.parametrize(
    ("init_data", "reason"),
    [
        (signed(fields(), token="654321:OTHER"), "not signed"),
        (signed(fields()).replace("%22id%22%3A+42", "%22id%22%3A+43"), "not signed"),
        (signed(fields(at=NOW - DAY - timedelta(seconds=1))), "stale"),
        (signed(fields(at=NOW + timedelta(minutes=5))), "stale"),
        (
            signed({"query_id": "AAH", "auth_date": str(int(NOW.timestamp()))}),
            "no auth_date or user",
        ),
        (signed({"user": json.dumps({"id": 42})}), "no auth_date or user"),
        (urlencode(fields()), "not signed"),
        ("", "not signed"),
        ("%%%&&&=", "not signed"),
        (signed(fields())[:-64] + "%C3%A9" * 32, "not signed"),
    ],
    ids=[
        "other bot",
        "tampered",
        "stale",
        "future",
        "no user",
        "no date",
        "no hash",
        "empty",
        "junk",
        "hash outside ASCII",
    ],
)
def test_init_data_not_signed_for_now_by_this_bot_is_refused(init_data: str, reason: str) -> None:
    with pytest.raises(SignInError, match=reason):
        check_init_data(init_data, bot_token=TOKEN, max_age=DAY, now=NOW)


def absurd(user: str, *, auth_date: str = str(int(NOW.timestamp()))) -> str:
    """initData signed with the bot's token holding what Telegram never signs."""
    return signed({"query_id": "AAH", "user": user, "auth_date": auth_date})


@pytest.mark.parametrize(
    ("init_data", "reason"),
    [
        (absurd('{"id": 1e400}'), "names no Telegram user"),
        (absurd('{"id": 42.5}'), "names no Telegram user"),
        (absurd(json.dumps({"id": 2**70})), "names no Telegram user"),
        (absurd('{"id": 0}'), "names no Telegram user"),
        (absurd('{"id": true}'), "names no Telegram user"),
        (absurd('{"id": 42}', auth_date="9" * 400), "stale"),
        (absurd('{"id": 42}', auth_date="-" + "9" * 400), "stale"),
        (absurd("[" * 100_000), "no auth_date or user"),
    ],
    ids=["infinite", "fraction", "past 64 bits", "zero", "boolean", "far future", "far past",
         "nested too deep"],
)  # fmt: skip
def test_signed_init_data_with_absurd_values_is_refused_not_a_crash(
    init_data: str, reason: str
) -> None:
    with pytest.raises(SignInError, match=reason):
        check_init_data(init_data, bot_token=TOKEN, max_age=DAY, now=NOW)


async def test_a_link_signs_in_once_before_it_expires(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        token = await issue_link(
            session, admin_user_id=7, secret=SECRET, lifetime=timedelta(minutes=10), now=NOW
        )
        late = await issue_link(
            session, admin_user_id=7, secret=SECRET, lifetime=timedelta(minutes=10), now=NOW
        )
        await session.commit()
    async with sessionmaker() as session:
        assert await redeem_link(session, token, secret=SECRET, now=NOW) == 7
        await session.commit()
    async with sessionmaker() as session:
        with pytest.raises(SignInError, match="used or has expired"):
            await redeem_link(session, token, secret=SECRET, now=NOW)
        with pytest.raises(SignInError, match="used or has expired"):
            await redeem_link(session, late, secret=SECRET, now=NOW + timedelta(minutes=11))
        with pytest.raises(SignInError, match="not a sign-in link"):
            await redeem_link(session, late, secret="another deployment", now=NOW)
        forged = late[:-1] + ("1" if late.endswith("0") else "0")  # one character changed
        with pytest.raises(SignInError, match="not a sign-in link"):
            await redeem_link(session, forged, secret=SECRET, now=NOW)


def test_the_session_cookie_is_signed_and_expires() -> None:
    cookie = session_cookie(7, secret=SECRET, now=NOW)
    assert read_session_cookie(cookie, secret=SECRET, now=NOW + timedelta(days=6)) == 7
    with pytest.raises(SignInError, match="expired"):
        read_session_cookie(cookie, secret=SECRET, now=NOW + timedelta(days=8))
    forged = cookie.replace("7:", "8:", 1)
    with pytest.raises(SignInError, match="not signed"):
        read_session_cookie(forged, secret=SECRET, now=NOW)
    with pytest.raises(SignInError, match="not signed"):
        read_session_cookie(cookie[:-1] + "é", secret=SECRET, now=NOW)


def test_each_sign_in_has_its_own_csrf_token() -> None:
    first, second = csrf_token("tg:a", secret=SECRET), csrf_token("tg:b", secret=SECRET)
    assert first != second
    assert first == csrf_token("tg:a", secret=SECRET)
    assert first != csrf_token("tg:a", secret="another deployment")
