"""Updates the bot cannot read, and hostile requests, never stop it answering.

The real bot runs as `segbot run` does, by long polling and by webhook. Through the
emulator it gets schema-invalid updates, updates of types it does not know, hostile texts
and (webhook) hostile request bodies, interleaved with ordinary `/start`s: every `/start`
is answered, the offset moves past what was skipped, and the log holds no traceback and
no secret.
"""

import asyncio
import itertools
import json
import logging
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import runtime
from bot.webhook import webhook_secret
from core.models import Subscriber
from core.settings import Settings
from telegram_emulator import JSON, Emulator, JSONObject
from tests.e2e.conftest import BOT_TOKEN, SECRET_KEY
from tests.polling import until
from tests.stopping import stop

pytestmark = pytest.mark.e2e

WITHIN = 60.0  # seconds for the bot's replies on a busy machine (a hang guard)
SECRETS = (BOT_TOKEN, BOT_TOKEN.split(":")[1], SECRET_KEY, webhook_secret(SECRET_KEY))
users = itertools.count(700_001)  # a fresh user for every /start and every hostile text
posted_ids = itertools.count(1)  # update_ids of posted bodies, below the emulator's own


@pytest.fixture(params=["polling", "webhook"])
async def mode(
    request: pytest.FixtureRequest,
    bot_settings: Settings,
    emulator: Emulator,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[str]:
    """`segbot run` in this process, long polling or behind its webhook."""
    webhook = request.param == "webhook"
    task = asyncio.create_task(runtime.run(bot_settings, webhook=webhook, handle_signals=False))
    yield str(request.param)
    if task.done():
        task.result()
    await stop(task)


def message_from(user_id: int, text: str = "hello") -> JSONObject:
    return {
        "message_id": 1,
        "date": 1_790_000_000,
        "chat": {"id": user_id, "type": "private", "first_name": "H"},
        "from": {"id": user_id, "is_bot": False, "first_name": "H"},
        "text": text,
    }


def welcomed(emulator: Emulator, user_id: int) -> bool:
    texts = [message.text or "" for message in emulator.messages_to(user_id)]
    return any(text.startswith("Welcome!") for text in texts)


def assert_clean(records: list[logging.LogRecord]) -> None:
    """No traceback and no secret in any line of the log."""
    for record in records:
        line = record.getMessage()
        assert record.exc_info is None, f"a traceback was logged: {line}"
        assert "Traceback" not in line, line
        for secret in SECRETS:
            assert secret not in line, f"a secret in the log: {line}"


async def test_a_schema_invalid_update_is_logged_with_its_id_skipped_and_passed(
    mode: str, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        bad = emulator.inject_update({"message": {"message_id": "one", "chat": "nowhere"}})
        unknown = emulator.inject_update({"future_kind": {"id": 1}})
        await emulator.send_text(4711, "/start")
        await until(lambda: welcomed(emulator, 4711), within=WITHIN, what="the welcome")
        await until(lambda: not emulator.updates_pending(), what="the offset past them all")
    skipped = [r.getMessage() for r in caplog.records if r.name == "bot.polling"]
    assert f"update {bad['update_id']} skipped: it does not decode" in "\n".join(skipped)
    assert f"update {unknown['update_id']} skipped: no update type" in "\n".join(skipped)
    assert "nowhere" not in caplog.text  # the fields at fault are named, not their values
    assert_clean(caplog.records)


@pytest.mark.parametrize(
    ("first", "last"), [("\ud800Ann", "Lee\udfff"), ("\x00Ann", "Lee\x00")], ids=["half", "nul"]
)
async def test_a_name_holding_what_no_database_keeps_is_kept_with_it_replaced(
    mode: str,
    emulator: Emulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
    first: str,
    last: str,
) -> None:
    """JSON may write half a UTF-16 pair ("\\ud800"): no text, and no database keeps it;
    nor does PostgreSQL keep a NUL ("\\u0000")."""
    user_id = next(users)
    emulator.add_user(user_id, first_name=first, last_name=last)
    with caplog.at_level(logging.INFO):
        await emulator.send_text(user_id, "/start")
        await until(lambda: welcomed(emulator, user_id), within=WITHIN, what="the welcome")
    async with sessionmaker() as session:
        subscriber = await session.scalar(
            select(Subscriber).where(Subscriber.telegram_id == user_id)
        )
    assert subscriber is not None
    assert (subscriber.first_name, subscriber.last_name) == ("\ufffdAnn", "Lee\ufffd")
    assert_clean(caplog.records)


# -- the fuzz test ----------------------------------------------------------------------

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
)
values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=12,
)
kinds = st.sampled_from(
    ["message", "edited_message", "callback_query", "my_chat_member", "message_reaction"]
)
broken_fields = st.sampled_from(["message_id", "date", "text", "entities", "reply_markup"])


@st.composite
def invalid_updates(draw: st.DrawFn) -> JSONObject:
    """The fields of an update Telegram might send that aiogram cannot read."""
    shape = draw(st.sampled_from(["junk", "broken", "unknown", "empty", "deep"]))
    if shape == "junk":  # a known type whose object is anything at all
        return {draw(kinds): draw(values.filter(lambda value: not isinstance(value, dict)))}
    if shape == "broken":  # a real message with one field of the wrong kind
        message = message_from(next(users))
        message[draw(broken_fields)] = draw(st.lists(values, min_size=1, max_size=3))
        return {"message": message}
    if shape == "unknown":  # a type from a newer Bot API
        return {"future_" + draw(st.text(max_size=20)): draw(values)}
    if shape == "empty":
        return {}
    depth = draw(st.integers(min_value=1, max_value=300))  # replies of replies of replies...
    nested: JSONObject = message_from(next(users))
    for _ in range(depth):
        nested = {**message_from(next(users)), "reply_to_message": nested, "date": "never"}
    return {"message": nested}


@st.composite
def hostile_bodies(draw: st.DrawFn) -> str:
    """What else may arrive at the webhook with the right secret."""
    shape = draw(st.sampled_from(["text", "json", "deep", "ids", "constants", "escapes", "junk"]))
    if shape == "text":
        return draw(st.text(max_size=200))
    if shape == "json":
        return json.dumps(draw(values))
    if shape == "deep":
        depth = draw(st.sampled_from([65, 1_000, 100_000]))
        opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
        return f'{{"update_id": {next(posted_ids)}, "x": {opener * depth}1{closer * depth}}}'
    if shape == "ids":
        update_id = draw(st.sampled_from(['"7"', "7.5", "true", "null", "-1", str(2**64)]))
        return f'{{"update_id": {update_id}, "message": {{}}}}'
    if shape == "constants":
        constant = draw(st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999"]))
        return f'{{"update_id": {next(posted_ids)}, "x": {constant}}}'
    if shape == "escapes":  # strings a database may refuse to keep
        escape = draw(st.sampled_from(["\\u0000", "\\ud800", "\\udfff\\ud800", "\\\\", "\\n"]))
        return f'{{"update_id": {next(posted_ids)}, "message": {{"text": "a{escape}b"}}}}'
    fields = draw(invalid_updates())
    return json.dumps({**fields, "update_id": next(posted_ids)})


steps = st.one_of(
    st.tuples(st.just("start"), st.none()),
    st.tuples(st.just("inject"), invalid_updates()),
    st.tuples(st.just("text"), st.text(min_size=1, max_size=300)),
    st.tuples(st.just("post"), hostile_bodies()),
)


@pytest.mark.timeout(900)  # 25 examples, each waiting for the bot's answers
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(sequence=st.lists(steps, min_size=1, max_size=6))
async def test_hostile_updates_never_stop_the_bot_nor_reach_the_log(
    mode: str,
    emulator: Emulator,
    caplog: pytest.LogCaptureFixture,
    sequence: list[tuple[str, Any]],
) -> None:
    caplog.clear()
    started: list[int] = []
    with caplog.at_level(logging.INFO):
        for step, value in sequence:
            await take(emulator, mode, step, value, started)
        for user_id in started:
            await until(partial(welcomed, emulator, user_id), within=WITHIN, what="welcome")
        await until(lambda: not emulator.updates_pending(), what="every update taken")
    assert_clean(caplog.records)


async def take(emulator: Emulator, mode: str, step: str, value: JSON, started: list[int]) -> None:
    """Do one step of the sequence as a user, as Telegram, or as whoever holds the secret."""
    if step == "start":
        started.append(next(users))
        await emulator.send_text(started[-1], "/start")
    elif step == "inject":
        assert isinstance(value, dict)
        emulator.inject_update(value)
    elif step == "text":
        assert isinstance(value, str)
        await emulator.send_text(next(users), value)
    elif mode == "webhook":
        assert isinstance(value, str)
        await until(lambda: bool(emulator.webhook_info()["url"]), what="the webhook set")
        assert await emulator.post_to_webhook(value) in {200, 400}
        assert await emulator.post_to_webhook(value, with_secret=False) == 403
