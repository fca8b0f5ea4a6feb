"""Who is opening the console, proven three ways, none with a password:

- **initData**: inside Telegram, the Mini App script hands the page `initData`, a query
  string Telegram signed with a key derived from the bot token. It is checked as Telegram
  documents it (https://core.telegram.org/bots/webapps#validating-data-received-via-the-mini-app):
  the `hash` field is the HMAC-SHA-256 of the other fields, sorted and joined by newlines,
  under HMAC-SHA-256("WebAppData", bot token); and `auth_date` is no older than
  SEGBOT_CONSOLE_MAX_AGE seconds. The page sends it with every request.
- **A one-time link**: on a desktop browser, `/console` sends a link carrying a random
  nonce, signed with SEGBOT_SECRET_KEY; the nonce's row (`console_links`) says whose it is,
  until when, and whether it was used. Used once, it becomes a session cookie.
- **The session cookie**: the admin's id, an expiry and a random part, signed; good while
  its session lives. The row of the link it came from keeps the cookie's digest: a cookie
  no row knows (one from before sessions were kept) is refused, and signing out marks the
  row, so a stolen copy of the cookie is refused too. One indexed lookup per request.

Each yields a Telegram user id; the role comes from the same place as in the chat console
(bot.admin.permissions.role_of), looked up on every request, so a removed admin is out at
once.
"""

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qsl

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import ConsoleLink
from core.signing import same_secret

INIT_DATA_KEY = b"WebAppData"
SESSION_DAYS = 7


MAX_USER_ID = 2**63 - 1  # Telegram's user ids fit 64 bits, as the admins table keeps them


class SignInError(Exception):
    """The request proves no one (absent, forged, stale or used): the answer is 401."""


@dataclass(frozen=True, slots=True)
class TelegramUser:
    """The user `initData` names (the fields the console shows)."""

    id: int
    first_name: str


def check_init_data(
    init_data: str, *, bot_token: str, max_age: timedelta, now: datetime
) -> TelegramUser:
    """The user a Mini App's `initData` was signed for; SignInError when the signature is
    wrong, `auth_date` is missing, in the future or older than `max_age`, or no user."""
    fields = dict(parse_qsl(init_data, keep_blank_values=True, strict_parsing=False))
    received = fields.pop("hash", "")
    check_string = "\n".join(f"{key}={fields[key]}" for key in sorted(fields))
    secret = hmac.new(INIT_DATA_KEY, bot_token.encode(), hashlib.sha256).digest()
    expected = hmac.new(secret, check_string.encode(), hashlib.sha256).hexdigest()
    if not received or not same_secret(received, expected):
        raise SignInError("initData is not signed with this bot's token")
    try:
        signed_at = int(fields["auth_date"])
        user = json.loads(fields["user"])
        user_id, first_name = user["id"], str(user.get("first_name", ""))
    except (KeyError, ValueError, TypeError, RecursionError) as error:
        raise SignInError("initData has no auth_date or user") from error
    if type(user_id) is not int or not 0 < user_id <= MAX_USER_ID:
        raise SignInError("initData names no Telegram user")
    age = int(now.timestamp()) - signed_at  # whole seconds, as auth_date: no float to overflow
    if not -60 <= age <= max_age.total_seconds():  # a minute of clock skew either way
        raise SignInError("initData is stale")
    return TelegramUser(user_id, first_name)


def sign(value: str, *, secret: str, purpose: str) -> str:
    """`value.signature`: HMAC-SHA-256 under SEGBOT_SECRET_KEY, per purpose (a link's
    signature is no cookie's)."""
    key = hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).digest()
    mac = hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{value}.{mac}"


def unsign(signed: str, *, secret: str, purpose: str) -> str | None:
    value, _, _mac = signed.rpartition(".")
    if not value or not same_secret(signed, sign(value, secret=secret, purpose=purpose)):
        return None
    return value


# -- one-time links --------------------------------------------------------------------
async def issue_link(
    session: AsyncSession, *, admin_user_id: int, secret: str, lifetime: timedelta, now: datetime
) -> str:
    """A new single-use token for `admin_user_id` (the caller commits). The rows whose
    life is over go meanwhile: links that expired unused, and sessions signed out or past
    SESSION_DAYS, so the table holds only what can still sign someone in."""
    await session.execute(
        delete(ConsoleLink).where(
            or_(
                and_(ConsoleLink.used_at.is_(None), ConsoleLink.expires_at <= now),
                ConsoleLink.used_at <= now - timedelta(days=SESSION_DAYS),
                ConsoleLink.signed_out_at.is_not(None),
            )
        )
    )
    nonce = secrets.token_urlsafe(24)
    session.add(ConsoleLink(nonce=nonce, admin_user_id=admin_user_id, expires_at=now + lifetime))
    return sign(nonce, secret=secret, purpose="console-link")


async def redeem_link(session: AsyncSession, token: str, *, secret: str, now: datetime) -> int:
    """Use the token once: the admin it was issued to. SignInError when it is forged,
    expired or used. One guarded UPDATE, so two redemptions of one link cannot both win."""
    return await _redeem(session, _link_nonce(token, secret=secret), now=now)


async def _redeem(session: AsyncSession, nonce: str, *, now: datetime) -> int:
    admin_user_id: int | None = await session.scalar(
        update(ConsoleLink)
        .where(
            ConsoleLink.nonce == nonce,
            ConsoleLink.used_at.is_(None),
            ConsoleLink.expires_at > now,
        )
        .values(used_at=now)
        .returning(ConsoleLink.admin_user_id)
    )
    if admin_user_id is None:
        raise SignInError("the sign-in link was used or has expired")
    return admin_user_id


def _link_nonce(token: str, *, secret: str) -> str:
    nonce = unsign(token, secret=secret, purpose="console-link")
    if nonce is None:
        raise SignInError("not a sign-in link of this deployment")
    return nonce


# -- the session cookie ----------------------------------------------------------------
def session_cookie(admin_user_id: int, *, secret: str, now: datetime) -> str:
    """`admin:expiry:random`, signed. The random part makes each sign-in's cookie its own,
    even two in one second, so that signing one browser out leaves the other signed in."""
    expires = int((now + timedelta(days=SESSION_DAYS)).timestamp())
    value = f"{admin_user_id}:{expires}:{secrets.token_urlsafe(16)}"
    return sign(value, secret=secret, purpose="console-session")


def read_session_cookie(cookie: str, *, secret: str, now: datetime) -> int:
    """The admin a cookie was signed for, checking only the cookie itself (signature,
    format, expiry); whether its session lives is `session_user`'s to check."""
    value = unsign(cookie, secret=secret, purpose="console-session")
    if value is None:
        raise SignInError("the session cookie is not signed by this deployment")
    fields = value.split(":")
    if len(fields) != 3:  # `admin:expiry`, from before sessions could be signed out
        raise SignInError("the session cookie is of an old kind: send /console link to the bot")
    user_id, expires, _random = fields
    if int(expires) < now.timestamp():
        raise SignInError("the session has expired")
    return int(user_id)


async def start_session(session: AsyncSession, token: str, *, secret: str, now: datetime) -> str:
    """Use the link once (`redeem_link`) and make it a browser session: the cookie, whose
    digest the link's row keeps so that the session can be ended (the caller commits)."""
    nonce = _link_nonce(token, secret=secret)
    admin_user_id = await _redeem(session, nonce, now=now)
    cookie = session_cookie(admin_user_id, secret=secret, now=now)
    await session.execute(
        update(ConsoleLink).where(ConsoleLink.nonce == nonce).values(session_digest=_digest(cookie))
    )
    return cookie


async def session_user(session: AsyncSession, cookie: str, *, secret: str, now: datetime) -> int:
    """The admin a session cookie signs in, while its session lives: SignInError when the
    cookie is forged or expired (no query), or its session was signed out or was never
    kept (a cookie from before sessions were kept)."""
    admin_user_id = read_session_cookie(cookie, secret=secret, now=now)
    found = (
        await session.execute(
            select(ConsoleLink.signed_out_at).where(ConsoleLink.session_digest == _digest(cookie))
        )
    ).first()
    if found is None:
        raise SignInError("this browser's session is not known: send /console link to the bot")
    if found.signed_out_at is not None:
        raise SignInError("this browser's session was signed out")
    return admin_user_id


async def end_session(session: AsyncSession, cookie: str, *, now: datetime) -> None:
    """Sign the cookie's session out, for good: every copy of the cookie is refused from
    now on (the caller commits)."""
    await session.execute(
        update(ConsoleLink)
        .where(ConsoleLink.session_digest == _digest(cookie), ConsoleLink.signed_out_at.is_(None))
        .values(signed_out_at=now)
    )


def _digest(cookie: str) -> str:
    """What the database keeps of a cookie: enough to find its session, not to use it."""
    return hashlib.sha256(cookie.encode()).hexdigest()


def csrf_token(principal: str, *, secret: str) -> str:
    """The token state-changing requests carry (X-CSRF-Token), bound to one sign-in."""
    return sign(principal, secret=secret, purpose="console-csrf").rpartition(".")[2]


def console_url(public_url: str) -> str:
    """Where the console is served (SEGBOT_PUBLIC_URL + /console/)."""
    return public_url.rstrip("/") + "/console/"


def sign_in_url(public_url: str, token: str) -> str:
    return public_url.rstrip("/") + "/console/signin/" + token
