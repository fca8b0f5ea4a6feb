"""segbot's requests and its reading of the answers, held to the Bot API's documented
contract rather than to one server.

A text that shows nothing (only markup, white space, or characters TDLib counts as
empty, such as the Braille blank) is refused when saved, skipped per subscriber, and
refused by the emulator as by Telegram. The answers other Bot API servers give
(PEER_ID_INVALID, a group moved to a supergroup, JSON that is no Bot API answer, a huge
or multi-line description) become the outcome they mean. A custom emoji's or a message
effect's id is one Telegram can read (ASCII digits, a positive int64), as the emulator
now also demands."""

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import ValidationError

from bot.logs import DESCRIPTION_LIMIT
from bot.messenger import TelegramMessenger
from broadcasts.compose import Recipient, compose, prepared
from broadcasts.message_content import MessageContent
from broadcasts.message_spec import VariantSpec
from broadcasts.messenger import ChatNotFound, OutgoingMessage, Rejected, Unknown
from broadcasts.telegram_html import TelegramHtmlError
from broadcasts.templates import SAMPLE, RenderError
from broadcasts.templates.check import check_template
from telegram_emulator.errors import ApiError
from telegram_emulator.html_markup import parse_html
from telegram_emulator.validation import message_text

TOKEN = "123:contract"


@pytest.mark.parametrize(
    "text", ["<b> </b>", "<i>\n</i>&#32;", "<b><i></i></b>", "\u2800", "\u200b<b>&#xFEFF;</b>"]
)
async def test_a_text_that_shows_nothing_is_refused_when_saved(text: str) -> None:
    with pytest.raises(TelegramHtmlError, match="the message shows nothing"):
        await check_template(text, caption=False)


async def test_a_caption_of_markup_alone_may_be_saved() -> None:
    await check_template("<b> </b>", caption=True)  # a caption may be empty


def _composed(body: str, first_name: str) -> OutgoingMessage:
    content = MessageContent(kind="text", body=body, language="en")
    recipient = Recipient(1, 1, 1, 42, replace(SAMPLE, first_name=first_name))
    return compose(recipient, prepared(content), public_url="http://bot.test", secret="s",
                   unsubscribe_button=False)  # fmt: skip


@pytest.mark.parametrize(
    ("body", "first_name"), [("<b>{{ first_name }}</b>", ""), ("{{ first_name }}", "\u2800\u200b")]
)
def test_a_subscriber_whose_text_shows_nothing_is_skipped(body: str, first_name: str) -> None:
    with pytest.raises(RenderError, match="the message shows nothing"):
        _composed(body, first_name)


@pytest.mark.parametrize("first_name", ["Ann", "\u2800Ann"])
def test_a_text_that_shows_something_is_composed(first_name: str) -> None:
    assert _composed("<b>{{ first_name }}</b>", first_name).text == f"<b>{first_name}</b>"


class Answers:
    """A Bot API server that answers every request with the next scripted answer."""

    def __init__(self) -> None:
        self.next: tuple[int, str] = (200, "{}")

    async def handle(self, _: web.Request) -> web.Response:
        status, body = self.next
        return web.Response(status=status, text=body, content_type="application/json")


@pytest.fixture
async def server() -> AsyncIterator[tuple[Answers, str]]:
    answers = Answers()
    app = web.Application()
    app.router.add_post("/{path:.*}", answers.handle)
    async with TestServer(app) as test_server:
        yield answers, str(test_server.make_url("")).rstrip("/")


async def _answer(server: tuple[Answers, str], status: int, body: str) -> Any:
    answers, base = server
    answers.next = (status, body)
    async with TelegramMessenger(api_base=base, token=TOKEN) as messenger:
        return await messenger.send(OutgoingMessage(1, "Hi"))


async def test_peer_id_invalid_is_a_chat_not_found(server: tuple[Answers, str]) -> None:
    body = '{"ok": false, "error_code": 400, "description": "Bad Request: PEER_ID_INVALID"}'
    assert await _answer(server, 400, body) == ChatNotFound()


@pytest.mark.parametrize("body", ["{}", '{"result": {"message_id": 5}}', '{"ok": "yes"}'])
async def test_json_that_is_no_bot_api_answer_is_unknown(
    server: tuple[Answers, str], body: str
) -> None:
    outcome = await _answer(server, 200, body)
    assert outcome == Unknown("HTTP 200 without a Bot API answer")


async def test_a_group_moved_to_a_supergroup_names_its_new_chat(
    server: tuple[Answers, str],
) -> None:
    body = (
        '{"ok": false, "error_code": 400, "description": "Bad Request: group chat was '
        'upgraded to a supergroup chat", "parameters": {"migrate_to_chat_id": -1001234}}'
    )
    outcome = await _answer(server, 400, body)
    assert isinstance(outcome, Rejected)
    assert outcome.description.endswith("it is now chat -1001234")


@pytest.mark.parametrize("emoji_id", ["0", "²", "١٢", "9" * 20])
async def test_a_custom_emoji_id_telegram_cannot_read_is_refused(emoji_id: str) -> None:
    markup = f'<tg-emoji emoji-id="{emoji_id}">👍</tg-emoji>'
    with pytest.raises(TelegramHtmlError, match="numeric emoji-id"):
        await check_template(markup, caption=False)
    with pytest.raises(ApiError, match="Invalid custom emoji identifier"):
        parse_html(markup)  # and the emulator answers as Telegram does


@pytest.mark.parametrize("effect", ["²", "١٢", "0", "9" * 20])
def test_an_effect_id_of_other_digits_is_refused_when_saved(effect: str) -> None:
    with pytest.raises(ValidationError, match="effect is an effect id or one of"):
        VariantSpec.model_validate({"text": "Hi", "effect": effect})


async def test_a_servers_description_is_kept_to_one_short_printable_line(
    server: tuple[Answers, str],
) -> None:
    said = "Bad Request: x\n2026-01-01 INFO forged\x1b[2J line " + "y" * 100_000
    body = json.dumps({"ok": False, "error_code": 400, "description": said})
    outcome = await _answer(server, 400, body)
    assert isinstance(outcome, Rejected)
    assert outcome.description.startswith("Bad Request: x 2026-01-01 INFO forged [2J line y")
    assert outcome.description.isprintable()
    assert len(outcome.description) == DESCRIPTION_LIMIT


async def test_a_servers_description_never_keeps_a_bot_token(
    server: tuple[Answers, str],
) -> None:
    token = "7654321:AAE-" + "x9" * 16
    said = f"no such path /bot{token}/sendMessage (token {token})"
    body = json.dumps({"ok": False, "error_code": 400, "description": said})
    outcome = await _answer(server, 400, body)
    assert isinstance(outcome, Rejected)
    assert outcome.description == "no such path /bot7654321:***/sendMessage (token 7654321:***)"


@pytest.mark.parametrize("text", ["\u2800", "<b>\u200b</b> \ufeff"])
def test_the_emulator_refuses_a_text_that_shows_nothing(text: str) -> None:
    with pytest.raises(ApiError, match="message text is empty"):
        message_text(text, parse_mode="HTML", entities=None)
