"""Webhook mode: Telegram POSTs each update to `WEBHOOK_PATH` on `SEGBOT_PUBLIC_URL`.

The request is checked (the secret token header, compared in constant time: 403 without
it), the update stored in the inbox (core/inbox.py) and only then acknowledged with 200;
handling happens after, in `InboxProcessor`. Updates posted at the same time share one
INSERT and one COMMIT (`inbox.GroupCommit`); each is still answered only after the commit
that holds it. A process that dies between the two loses
nothing: the stored update is claimed again by whichever bot process looks next.

Whatever the body, the answer is 200, 400 or 403 (413 past the web server's 1 MiB),
never a 500 that Telegram would post again and again. A body that is not strict JSON (NaN,
an infinite number, nesting too deep to read) or has no update_id that fits the inbox is
refused with 400 and the reason. An update nested deeper than `MAX_DEPTH`, or JSON that
aiogram cannot read as an update, is logged with its update_id and skipped (the first
here, unstored; the second as it is handled, `bot.polling.feed_raw`), and acknowledged so
that Telegram does not post it again.

Updates of one user are handled in order; different users' updates concurrently. When
the processor stops, what it has not handled stays in the inbox for the next claim: an
update whose handling fails as it stops ends the batch (core.wakeups.end_if_stopping).
"""

import asyncio
import hmac
import json
import logging
import math
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import timedelta
from hashlib import sha256
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import inbox
from core.clock import Clock
from core.signing import same_secret
from core.wakeups import end_if_stopping, woken_within

logger = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105  (a header name)
PRUNE_EVERY = timedelta(hours=1)
MAX_DEPTH = 64  # Telegram's updates nest about 10 levels deep; deeper is not an update
MAX_UPDATE_ID = 2**63 - 1  # the inbox keys updates by a 64-bit integer
UpdateHandler = Callable[[dict[str, Any]], Awaitable[object]]


def webhook_secret(secret_key: str) -> str:
    """The `secret_token` for setWebhook, derived from SEGBOT_SECRET_KEY (hex: Telegram
    allows 1-256 characters of A-Z, a-z, 0-9, _ and -)."""
    return hmac.new(secret_key.encode(), b"segbot telegram webhook", sha256).hexdigest()


def receiver(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    secret: str,
    clock: Clock,
    stored: asyncio.Event,
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The POST handler: 403 without the secret, 400 for what is not an update, else the
    update is committed to the inbox (unless skipped; group-committed with the updates posted
    meanwhile), `stored` is set, and Telegram gets its 200."""
    writer = inbox.GroupCommit(sessionmaker, clock=clock)

    async def receive(request: web.Request) -> web.Response:
        if not same_secret(request.headers.get(SECRET_HEADER, ""), secret):
            raise web.HTTPForbidden
        payload = _update(await request.read())
        if _deeper_than(payload, MAX_DEPTH):
            logger.warning(
                "update %d skipped: nested deeper than %d levels", payload["update_id"], MAX_DEPTH
            )
            return web.Response()
        await writer.store(payload)
        stored.set()
        return web.Response()

    return receive


def _update(body: bytes) -> dict[str, Any]:
    """The body as an update, or 400 saying why it is not one."""
    try:
        payload = _STRICT_JSON.decode(body.decode(json.detect_encoding(body), "surrogatepass"))
    except RecursionError:
        raise web.HTTPBadRequest(text="the body is JSON nested too deep to read") from None
    except ValueError:  # not UTF-8, not JSON, an integer of over 4,300 digits
        raise web.HTTPBadRequest(text="the body is not strict JSON") from None
    if not isinstance(payload, dict):
        raise web.HTTPBadRequest(text="not a Telegram update: not a JSON object")
    update_id = payload.get("update_id")
    if type(update_id) is not int or not 0 <= update_id <= MAX_UPDATE_ID:
        raise web.HTTPBadRequest(text="not a Telegram update: no update_id of 0 to 2**63-1")
    return payload


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text[:20]} does not fit a float")
    return number


# One decoder for every body (as `json.loads` reads bytes, with these two hooks): building
# one per call, as `json.loads(body, parse_float=...)` does, costs more than decoding.
_STRICT_JSON = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite)


def _deeper_than(value: object, limit: int) -> bool:
    """Whether `value` nests lists and objects more than `limit` levels deep (no recursion:
    the depth is what is in question)."""
    level: list[object] = [value]
    for _ in range(limit):
        level = [
            child
            for item in level
            if isinstance(item, dict | list)
            for child in (item.values() if isinstance(item, dict) else item)
        ]
        if not level:
            return False
    return any(isinstance(item, dict | list) for item in level)


class InboxProcessor:
    """Claims stored updates and hands each to `handle` (the dispatcher), then marks them
    handled. Wakes when this process stores one, and polls for the rest."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        handle: UpdateHandler,
        *,
        clock: Clock,
        poll_seconds: float = 1.0,
        batch: int = inbox.CLAIM_BATCH,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._handle = handle
        self._clock = clock
        self._poll_seconds = poll_seconds
        self._batch = batch
        self.stored = asyncio.Event()
        self.handled = 0

    async def run(self) -> None:
        """Handle updates until cancelled. A round that fails (the database restarting or
        out of reach) is logged and tried again after `poll_seconds`: what was stored
        meanwhile is handled once the database is back."""
        next_prune = self._clock()
        while True:
            try:
                if self._clock() >= next_prune:
                    async with self._sessionmaker() as session:
                        await inbox.prune(session, now=self._clock())
                    next_prune = self._clock() + PRUNE_EVERY
                handled = await self.handle_batch()
            except Exception as error:
                end_if_stopping(logger, "the webhook inbox")
                logger.error(
                    "the webhook inbox could not be read (%s); trying again in %g s",
                    type(error).__name__,
                    self._poll_seconds,
                )
                handled = 0
            if not handled:
                await woken_within(self.stored, self._poll_seconds)
                self.stored.clear()

    async def handle_batch(self) -> int:
        """Claim and handle one batch; how many updates it held."""
        async with self._sessionmaker() as session:
            claimed = await inbox.claim(session, now=self._clock(), limit=self._batch)
        if not claimed:
            return 0
        by_user: defaultdict[int | None, list[inbox.Claimed]] = defaultdict(list)
        for item in claimed:
            by_user[inbox.user_of(item.payload)].append(item)
        await asyncio.gather(*(self._in_order(items) for items in by_user.values()))
        async with self._sessionmaker() as session:
            await inbox.mark_handled(
                session, [item.update_id for item in claimed], now=self._clock()
            )
        self.handled += len(claimed)
        return len(claimed)

    async def _in_order(self, items: list[inbox.Claimed]) -> None:
        for item in items:
            try:
                await self._handle(item.payload)
            except Exception:  # one bad update must not stop the others
                end_if_stopping(logger, f"update {item.update_id}")
                logger.exception("update %d could not be handled", item.update_id)
