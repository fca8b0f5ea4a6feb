"""What a send may ask for besides its content: inline keyboards (several buttons a row,
each checked), link-preview options, protect_content, message effects, and the entities
(spoilers, custom emoji) a message keeps."""

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import (
    CopyTextButton,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    MessageEntity,
    WebAppInfo,
)

from telegram_emulator import JSON, MESSAGE_EFFECTS, Emulator, JSONObject
from tests.telegram_emulator.bot_api import USER, call, error_of, result_of

BUTTON = "can't parse inline keyboard button: "
UNALLOWED = BUTTON + "Text buttons are unallowed in the inline keyboard"
COPY_TEXT = BUTTON + "copy_text text must be 1-256 characters"


def keyboard(*rows: list[JSON]) -> JSONObject:
    return {"inline_keyboard": list(rows)}


def send(text: str = "Hi", **params: JSON) -> JSONObject:
    return {"chat_id": USER, "text": text, **params}


async def test_rows_of_url_callback_copy_and_web_app_buttons(bot: Bot, emu: Emulator) -> None:
    markup = InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text="Shop", url="https://shop.example"),
                InlineKeyboardButton(text="Like", callback_data="like"),
                InlineKeyboardButton(text="Code", copy_text=CopyTextButton(text="SALE10")),
            ],
            [InlineKeyboardButton(text="Open", web_app=WebAppInfo(url="https://app.example"))],
            [InlineKeyboardButton(text="Unsubscribe", callback_data="unsubscribe")],
        ]
    )

    sent = await bot.send_message(USER, "Offer", reply_markup=markup)

    assert sent.reply_markup is not None
    assert [len(row) for row in sent.reply_markup.inline_keyboard] == [3, 1, 1]
    [message] = emu.messages_to(USER)
    assert message.callback_data() == ["like", "unsubscribe"]
    assert message.reply_markup == markup.model_dump(exclude_none=True)


@pytest.mark.parametrize(
    ("button", "error"),
    [
        ({"text": "Plain"}, UNALLOWED),
        ({"text": "Empty", "callback_data": ""}, UNALLOWED),
        ({"callback_data": "x"}, BUTTON + 'Can\'t find field "text"'),
        ({"text": 7, "callback_data": "x"}, BUTTON + 'Field "text" must be of type String'),
        ({"text": "", "callback_data": "x"}, "inline keyboard button text must be non-empty"),
        (
            {"text": "Both", "url": "https://a.example", "callback_data": "x"},
            BUTTON + "exactly one of the optional fields must be used to specify type of "
            "the button",
        ),
        ({"text": "Long", "callback_data": "é" * 33}, "BUTTON_DATA_INVALID"),
        (
            {"text": "Go", "url": "shop"},
            "inline keyboard button URL 'shop' is invalid: Wrong HTTP URL",
        ),
        (
            {"text": "App", "web_app": {"url": "http://app.example"}},
            "inline keyboard button Web App URL 'http://app.example' is invalid: Only HTTPS "
            "links are allowed",
        ),
        ({"text": "App", "web_app": {}}, BUTTON + 'Can\'t find field "url"'),
        (
            {"text": "App", "web_app": "https://a.x"},
            BUTTON + 'Field "web_app" must be of type Object',
        ),
        ({"text": "Copy", "copy_text": {"text": ""}}, COPY_TEXT),
        ({"text": "Copy", "copy_text": {"text": "c" * 257}}, COPY_TEXT),
    ],
)
async def test_inline_buttons_telegram_refuses(
    emu: Emulator, button: JSONObject, error: str
) -> None:
    answer = await call(emu, "sendMessage", send(reply_markup=keyboard([button])))

    assert error_of(answer) == f"Bad Request: {error}"
    assert emu.messages_to(USER) == []


async def test_keyboard_size_limits(emu: Emulator) -> None:
    def row(count: int) -> list[JSON]:
        return [{"text": str(n), "callback_data": str(n)} for n in range(count)]

    eight_a_row = await call(emu, "sendMessage", send(reply_markup=keyboard(*[row(8)] * 12)))
    nine_in_a_row = await call(emu, "sendMessage", send(reply_markup=keyboard(row(9))))
    over_a_hundred = await call(emu, "sendMessage", send(reply_markup=keyboard(*[row(8)] * 13)))
    callback_64_bytes = keyboard([{"text": "x", "callback_data": "é" * 32}])
    at_the_limit = await call(emu, "sendMessage", send(reply_markup=callback_64_bytes))

    assert result_of(eight_a_row)
    assert result_of(at_the_limit)
    assert error_of(nine_in_a_row) == "Bad Request: reply markup is too long"
    assert error_of(over_a_hundred) == "Bad Request: reply markup is too long"
    not_rows = await call(emu, "sendMessage", send(reply_markup={"inline_keyboard": [{}]}))
    assert error_of(not_rows) == (
        'Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup must be an Array '
        "of Arrays"
    )


async def test_link_preview_options_are_kept_as_sent(bot: Bot, emu: Emulator) -> None:
    options = LinkPreviewOptions(
        url="https://shop.example/new", prefer_large_media=True, show_above_text=True
    )

    sent = await bot.send_message(USER, "New in store", link_preview_options=options)
    legacy = await call(emu, "sendMessage", send(disable_web_page_preview=True))

    assert sent.link_preview_options is not None
    assert sent.link_preview_options.url == "https://shop.example/new"
    assert sent.link_preview_options.show_above_text is True
    first, second = emu.messages_to(USER)
    assert first.link_preview_options == {
        "url": "https://shop.example/new",
        "prefer_large_media": True,
        "show_above_text": True,
    }
    assert second.link_preview_options == {"is_disabled": True}
    assert result_of(legacy)["link_preview_options"] == {"is_disabled": True}


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ("{not json", "can't parse link preview options JSON object"),
        ([True], "object expected as link preview options"),
        ({"is_disabled": "yes"}, 'field "is_disabled" must be of type Boolean'),
        ({"url": 5}, 'field "url" must be of type String'),
    ],
)
async def test_link_preview_options_telegram_refuses(
    emu: Emulator, options: JSON, error: str
) -> None:
    answer = await call(emu, "sendMessage", send(link_preview_options=options))

    assert error_of(answer) == f"Bad Request: {error}"


async def test_protected_content_is_marked(bot: Bot, emu: Emulator) -> None:
    sent = await bot.send_photo(USER, "https://example.com/a.jpg", protect_content=True)

    assert sent.has_protected_content is True
    assert emu.messages_to(USER)[0].protect_content


@pytest.mark.parametrize("effect_id", sorted(MESSAGE_EFFECTS))
async def test_each_documented_effect_is_sent(bot: Bot, emu: Emulator, effect_id: str) -> None:
    sent = await bot.send_message(USER, "🎉", message_effect_id=effect_id)

    assert sent.effect_id == effect_id
    assert emu.messages_to(USER)[0].message_effect_id == effect_id


@pytest.mark.parametrize("effect_id", ["5104841245755180587", "fire"])
async def test_an_unknown_effect_is_effect_id_invalid(emu: Emulator, effect_id: str) -> None:
    video: JSONObject = {"chat_id": USER, "video": "https://example.com/v.mp4"}

    answer = await call(emu, "sendVideo", {**video, "message_effect_id": effect_id})

    assert error_of(answer) == "Bad Request: EFFECT_ID_INVALID"
    assert emu.messages_to(USER) == []


async def test_spoilers_and_custom_emoji_are_kept_as_sent(bot: Bot, emu: Emulator) -> None:
    html = (
        'Hi <tg-spoiler>secret</tg-spoiler> <tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>'
    )
    markdown = r"||secret|| ![👍](tg://emoji?id=5368324170671202286)"
    explicit = [MessageEntity(type="spoiler", offset=0, length=2)]

    by_html = await bot.send_message(USER, html, parse_mode="HTML")
    by_markdown = await bot.send_photo(
        USER, "https://example.com/a.jpg", caption=markdown, parse_mode="MarkdownV2"
    )
    by_entities = await bot.send_message(USER, "Hi there", entities=explicit)

    emoji = {"type": "custom_emoji", "custom_emoji_id": "5368324170671202286"}
    html_message, markdown_message, explicit_message = emu.messages_to(USER)
    assert html_message.entities == [
        {"type": "spoiler", "offset": 3, "length": 6},
        {**emoji, "offset": 10, "length": 2},  # 👍 is two UTF-16 code units
    ]
    assert markdown_message.entities == [
        {"type": "spoiler", "offset": 0, "length": 6},
        {**emoji, "offset": 7, "length": 2},
    ]
    assert explicit_message.entities == [{"type": "spoiler", "offset": 0, "length": 2}]
    assert by_html.entities is not None
    assert by_html.entities[1].custom_emoji_id == "5368324170671202286"
    assert by_markdown.caption_entities is not None
    assert by_markdown.caption_entities[0].type == "spoiler"
    assert by_entities.entities is not None
    assert [(e.type, e.offset, e.length) for e in by_entities.entities] == [("spoiler", 0, 2)]
    with pytest.raises(TelegramBadRequest, match="Invalid custom emoji identifier specified"):
        await bot.send_message(USER, "<tg-emoji emoji-id='x'>👍</tg-emoji>", parse_mode="HTML")
