"""Webhook mode: Telegram POSTs each update to `WEBHOOK_PATH` on `SEGBOT_PUBLIC_URL`.

The request is checked (the secret token header, compared in constant time: 403 without
it), the update stored in the inbox (core/inbox.py) and only then acknowledged with 200;
handling happens after, in `InboxProcessor`. Updates posted at the same time share one
INSERT and one COMMIT (`inbox.GroupCommit`); each is still answered only after the commit
that holds it. A process that dies between the two loses nothing: the stored update is
claimed again by whichever bot process looks next.

Whatever the body, the answer is 200, 400 or 403 (413 past the web server's 1 MiB),
never a 500 that Telegram would post again and again. A body that is not strict JSON
(NaN, an infinite number, nesting too deep to read) or has no update_id that fits the
inbox is refused with 400 and the reason. An update nested deeper than `MAX_DEPTH`, or
JSON that aiogram cannot read as an update, is logged with its update_id and skipped (the
first here, unstored; the second as it is handled, `bot.polling.feed_raw`), and
acknowledged so that Telegram does not post it again. A database that cannot store the
update (out of reach, locked) is a 503 and one log line: Telegram posts it again later.

Updates of one user are handled in order; different users' updates concurrently, each
marked handled as soon as it is (`InboxProcessor`). When the processor stops, the updates
being handled get a grace period; what it has not handled goes back to the inbox for the
next claim, at once: an update whose handling fails as it stops ends its user's run
(core.wakeups.end_if_stopping).
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
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import inbox
from core.clock import Clock
from core.signing import same_secret
from core.wakeups import STOP_GRACE, end_if_stopping, finish_within, woken_within

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
        try:
            await writer.store(payload)
        except (SQLAlchemyError, OSError) as error:  # the database out of reach, or locked
            logger.error(
                "update %d not stored (%s): answered 503, Telegram posts it again",
                payload["update_id"],
                type(error).__name__,
            )
            raise web.HTTPServiceUnavailable(text="the update could not be stored") from None
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
    """Claims stored updates and hands each to `handle` (the dispatcher): each user's in
    order, different users' side by side, and marks each handled as soon as it is.

    It claims again while earlier updates are still being handled, up to `batch` at
    once: a slow update (a reply waiting out Telegram's flood control) holds up only its
    own user's later ones. Once half the room is free it claims more; the updates handled
    meanwhile are marked together just before, so a claim and a mark serve many updates
    under load. Wakes when this process stores an update or frees room, and polls for
    the rest.

    When it stops, the updates being handled get `stop_grace` seconds to finish; those
    done are marked handled, and the claims of the rest are given up, so whichever
    process looks next takes them at once rather than after the lease."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        handle: UpdateHandler,
        *,
        clock: Clock,
        poll_seconds: float = 1.0,
        batch: int = inbox.CLAIM_BATCH,
        stop_grace: float = STOP_GRACE,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._handle = handle
        self._clock = clock
        self._poll_seconds = poll_seconds
        self._batch = batch
        self._stop_grace = stop_grace
        self._chains: set[asyncio.Task[None]] = set()  # each a user's claimed updates
        self._claimed: set[int] = set()  # update ids claimed and not yet marked handled
        self._done: list[int] = []  # handled, to be marked
        self.stored = asyncio.Event()  # an update was stored, or room was freed
        self.handled = 0

    async def run(self) -> None:
        """Handle updates until cancelled. A round that fails (the database restarting or
        out of reach) is logged and tried again after `poll_seconds`: what was stored
        meanwhile is handled once the database is back."""
        next_prune = self._clock()
        try:
            while True:
                try:
                    if self._clock() >= next_prune:
                        async with self._sessionmaker() as session:
                            await inbox.prune(session, now=self._clock())
                        next_prune = self._clock() + PRUNE_EVERY
                    await self._mark_done()
                    claimed = await self._claim_more()
                except Exception as error:
                    end_if_stopping(logger, "the webhook inbox")
                    logger.error(
                        "the webhook inbox could not be read (%s); trying again in %g s",
                        type(error).__name__,
                        self._poll_seconds,
                    )
                    claimed = 0
                if not claimed:
                    await woken_within(self.stored, self._poll_seconds)
                    self.stored.clear()
        finally:
            await asyncio.shield(self._stop())

    async def handle_batch(self) -> int:
        """Claim one batch, handle it and mark it handled; how many updates it held."""
        claimed = await self._claim_more()
        await asyncio.gather(*self._chains)
        await self._mark_done()
        return claimed

    async def _claim_more(self) -> int:
        """Claim what there is room for, once half the room is free, and start handling
        it; how many updates were claimed."""
        room = self._batch - len(self._claimed)
        if room < self._batch / 2:
            return 0
        async with self._sessionmaker() as session:
            claimed = await inbox.claim(session, now=self._clock(), limit=room)
        by_user: defaultdict[int | None, list[inbox.Claimed]] = defaultdict(list)
        for item in claimed:
            by_user[inbox.user_of(item.payload)].append(item)
            self._claimed.add(item.update_id)
        for items in by_user.values():
            chain = asyncio.create_task(self._in_order(items))
            self._chains.add(chain)
            chain.add_done_callback(self._chain_ended)
        return len(claimed)

    async def _in_order(self, items: list[inbox.Claimed]) -> None:
        for item in items:
            try:
                await self._handle(item.payload)
            except Exception:  # one bad update must not stop the others
                end_if_stopping(logger, f"update {item.update_id}")
                logger.exception("update %d could not be handled", item.update_id)
            self._done.append(item.update_id)

    def _chain_ended(self, chain: asyncio.Task[None]) -> None:
        self._chains.discard(chain)
        if len(self._claimed) - len(self._done) <= self._batch / 2:
            self.stored.set()  # room for a claim, and what was handled to mark

    async def _mark_done(self) -> None:
        """Mark what was handled since the last time (kept to try again if it fails)."""
        done = self._done[:]
        if not done:
            return
        async with self._sessionmaker() as session:
            await inbox.mark_handled(session, done, now=self._clock())
        del self._done[: len(done)]
        self._claimed.difference_update(done)
        self.handled += len(done)

    async def _stop(self) -> None:
        """Let the updates being handled finish (`stop_grace`), mark those done, give up
        the claims of the rest."""
        await finish_within(self._chains, self._stop_grace)
        try:
            await self._mark_done()
            left = sorted(self._claimed.difference(self._done))
            if left:
                async with self._sessionmaker() as session:
                    await inbox.release(session, left)
        except Exception as error:  # the database: the lease gives them up in its time
            logger.error(
                "the webhook inbox could not give up its claims as it stopped (%s)",
                type(error).__name__,
            )
