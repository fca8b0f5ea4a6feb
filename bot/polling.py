"""Long polling that no update can stop: each update is decoded and handled on its own.

aiogram's own polling decodes a whole getUpdates batch at once, so one update it cannot
read (a field of a newer Bot API, a broken value) fails the batch, the offset never moves
and the bot answers nobody again. Here the batch arrives as raw JSON and then, per update:

- one that decodes goes to the Dispatcher as a task of its own, as aiogram's polling does,
  but after its user's update before it has been handled: each user's updates are handled
  in `update_id` order (a `/stop` sent right after `/start` finds the subscriber), while
  different users' run side by side;
- one that does not, or whose type aiogram does not know, is logged at WARNING with its
  update_id and the fields at fault (never their values: they may be personal data) and
  skipped;
- either way the offset moves past it, so Telegram does not send it again.

A lone UTF-16 surrogate in a string (a JSON "\\ud800" without its pair) is no text, and
no database stores it; PostgreSQL stores no NUL ("\\u0000") either: each is read as
U+FFFD, so the user's name or message is kept with that one character replaced.

A failed getUpdates (the network, Telegram's 5xx, another poller) is logged without the
response and tried again after aiogram's backoff. Cancelling `poll` stops it gracefully: no
new batch, the updates being handled get `STOP_GRACE` seconds to finish, then the
Dispatcher's shutdown hooks run. The webhook inbox hands its stored updates to `feed_raw`,
so both modes decode and handle an update alike.
"""

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.dispatcher.dispatcher import DEFAULT_BACKOFF_CONFIG
from aiogram.exceptions import AiogramError, TelegramAPIError
from aiogram.methods import TelegramMethod
from aiogram.types import Update
from aiogram.types.update import UpdateTypeLookupError
from aiogram.utils.backoff import Backoff
from pydantic import ValidationError

from bot.logs import as_said
from bot.retry import wait_before_retry
from core.inbox import user_of
from core.unstorable import UNSTORABLE
from core.wakeups import STOP_GRACE, finish_within

logger = logging.getLogger(__name__)

POLLING_TIMEOUT = 10  # seconds Telegram holds a getUpdates open when nothing is pending
REPORTED_FAULTS = 3  # a skipped update's log line names at most this many faulty fields
REPORTED_CHARS = 120  # and cuts each name (a path into the update) to this length
_UNSTORABLE = re.compile(UNSTORABLE)  # a surrogate left in a string decoded from JSON is lone


class GetRawUpdates(TelegramMethod[list[Any]]):
    """getUpdates answered as raw JSON objects, so that each is decoded on its own."""

    __returning__ = list[Any]
    __api_method__ = "getUpdates"

    offset: int | None = None
    timeout: int | None = None
    allowed_updates: list[str] | None = None


@asynccontextmanager
async def lifecycle_hooks(dispatcher: Dispatcher, bot: Bot) -> AsyncIterator[None]:
    """The Dispatcher's startup hooks (the admins' command menus, among others) on entry and
    its shutdown hooks on exit, with its workflow data, as aiogram's own polling runs them;
    the webhook mode runs them too."""
    hook_data: dict[str, Any] = {"dispatcher": dispatcher, **dispatcher.workflow_data}
    await dispatcher.emit_startup(bot=bot, **hook_data)
    try:
        yield
    finally:
        await dispatcher.emit_shutdown(bot=bot, **hook_data)


async def poll(
    dispatcher: Dispatcher,
    bot: Bot,
    *,
    allowed_updates: Sequence[str],
    timeout: int = POLLING_TIMEOUT,  # noqa: ASYNC109 - Telegram's long-poll wait, not ours
) -> None:
    """Run the Dispatcher's startup hooks, then long-poll and handle every update until
    cancelled; then stop gracefully (see the module's docstring)."""
    async with lifecycle_hooks(dispatcher, bot):
        request = GetRawUpdates(timeout=timeout, allowed_updates=list(allowed_updates))
        backoff = Backoff(DEFAULT_BACKOFF_CONFIG)
        handling: set[asyncio.Task[None]] = set()
        latest: dict[int, asyncio.Task[None]] = {}  # per user, the task of their latest update
        logger.info("long polling started")
        try:
            while True:
                for raw in await _fetch(bot, request, backoff):
                    update_id = _update_id(raw)
                    if update_id is not None and update_id >= (request.offset or 0):
                        request.offset = update_id + 1
                    update = decode(raw, bot)
                    if update is None:
                        continue
                    user = user_of(raw)
                    before = latest.get(user) if user is not None else None
                    task = asyncio.create_task(_feed_after(before, dispatcher, bot, update))
                    handling.add(task)
                    task.add_done_callback(handling.discard)
                    if user is not None:
                        latest[user] = task
                        task.add_done_callback(partial(_forget, latest, user))
        finally:
            await finish_within(handling, STOP_GRACE)
            logger.info("long polling stopped")


async def _feed_after(
    before: asyncio.Task[None] | None, dispatcher: Dispatcher, bot: Bot, update: Update
) -> None:
    """Handle `update` once `before` (its user's update before it) is done, however that
    ended."""
    if before is not None:
        await asyncio.wait({before})
    await feed(dispatcher, bot, update)


def _forget(latest: dict[int, asyncio.Task[None]], user: int, task: asyncio.Task[None]) -> None:
    """Drop `user`'s entry once their latest update is handled (a later one replaced it)."""
    if latest.get(user) is task:
        del latest[user]


async def feed_raw(dispatcher: Dispatcher, bot: Bot, raw: dict[str, Any]) -> None:
    """Decode one raw update and handle it; one that does not decode is logged and skipped."""
    update = decode(raw, bot)
    if update is not None:
        await feed(dispatcher, bot, update)


async def feed(dispatcher: Dispatcher, bot: Bot, update: Update) -> None:
    """Handle one update as aiogram's polling does (a Bot API method a handler returns is
    called). What escapes the Dispatcher (its error handler takes the handlers' failures)
    is logged with the update's id, never raised: it must not stop the next update."""
    try:
        response = await dispatcher.feed_update(bot, update)
        if isinstance(response, TelegramMethod):
            await dispatcher.silent_call_request(bot, response)
    except Exception:
        logger.exception("update %d could not be handled", update.update_id)


def decode(raw: object, bot: Bot) -> Update | None:
    """`raw` as an `Update` bound to `bot`, or None, logged with its update_id, when aiogram
    cannot read it or knows none of its types (the Dispatcher would only warn, quoting it)."""
    try:
        update = Update.model_validate(_readable(raw), context={"bot": bot})
    except ValidationError as error:
        logger.warning("update %s skipped: it does not decode (%s)", _shown_id(raw), _faults(error))
        return None
    try:
        update.event_type  # noqa: B018 - raises when no field is a known update type
    except UpdateTypeLookupError:
        fields = sorted(update.model_extra or ())
        named = ", ".join(ascii(name[:REPORTED_CHARS]) for name in fields[:REPORTED_FAULTS])
        logger.warning(
            "update %d skipped: no update type aiogram knows (fields: %s)",
            update.update_id,
            named or "none",
        )
        return None
    return update


async def _fetch(bot: Bot, request: GetRawUpdates, backoff: Backoff) -> list[Any]:
    """One getUpdates. A failure is logged (the error's kind and Telegram's description,
    never the response: it holds the updates) and gives an empty batch after the backoff."""
    timeout = bot.session.timeout
    request_timeout = None if not timeout else int(timeout + (request.timeout or 0))
    try:
        batch = await bot(request, request_timeout=request_timeout)
    except AiogramError as error:
        reason = error.message if isinstance(error, TelegramAPIError) else "undecodable answer"
        wait = wait_before_retry(backoff, error)
        logger.error(
            "getUpdates failed (%s: %s); trying again in %.1f s",
            type(error).__name__,
            as_said(reason),
            wait,
        )
        await asyncio.sleep(wait)
        return []
    if backoff.counter:
        logger.info("getUpdates works again after %d failures", backoff.counter)
        backoff.reset()
    return batch


def _update_id(raw: object) -> int | None:
    if isinstance(raw, dict) and type(raw.get("update_id")) is int:
        update_id: int = raw["update_id"]
        return update_id
    return None


def _shown_id(raw: object) -> str:
    update_id = _update_id(raw)
    return "without an id" if update_id is None else str(update_id)


def _faults(error: ValidationError) -> str:
    """The paths of the first faulty fields and what is wrong with each, without values."""
    faults = error.errors(include_url=False, include_context=False, include_input=False)
    shown = [
        ascii(".".join(str(part) for part in fault["loc"])[:REPORTED_CHARS]) + ": " + fault["msg"]
        for fault in faults[:REPORTED_FAULTS]
    ]
    more = len(faults) - len(shown)
    return "; ".join(shown) + (f"; {more} more" if more else "")


def _readable(raw: object) -> object:
    """`raw` with its lone surrogates and NULs as U+FFFD; `raw` itself when it has none
    (nearly always: looking costs a fraction of building it again)."""
    return _replaced(raw) if _has_unstorable(raw) else raw


def _has_unstorable(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value or (not value.isascii() and _UNSTORABLE.search(value) is not None)
    if isinstance(value, dict):
        value = value.values()
    elif not isinstance(value, list):
        return False
    return any(_has_unstorable(item) for item in value)


def _replaced(value: object) -> object:
    if isinstance(value, str):
        return _UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {key: _replaced(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_replaced(item) for item in value]
    return value
