"""The emulator driven by the real aiogram client: updates, messages, buttons, errors."""

import asyncio

import pytest
from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.filters import CommandStart
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    MenuButtonDefault,
    MenuButtonWebApp,
    Message,
    WebAppInfo,
)

from telegram_emulator import Emulator, EmulatorError
from tests.telegram_emulator.bot_api import USER


def keyboard(*data: str) -> InlineKeyboardMarkup:
    buttons = [InlineKeyboardButton(text=item.title(), callback_data=item) for item in data]
    return InlineKeyboardMarkup(inline_keyboard=[buttons])


async def test_get_me(bot: Bot, emu: Emulator) -> None:
    me = await bot.get_me()

    assert me.id == emu.bot_user.id
    assert me.is_bot
    assert me.username == "segbot_demo_bot"


async def test_start_command_arrives_by_long_polling_until_confirmed(
    bot: Bot, emu: Emulator
) -> None:
    assert await bot.get_updates(timeout=0) == []
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    await asyncio.sleep(0.05)  # let the long poll start waiting (the test passes either way)
    await emu.send_text(USER, "/start promo_42")

    updates = await poll

    assert len(updates) == 1
    message = updates[0].message
    assert message is not None
    assert message.text == "/start promo_42"
    assert message.from_user is not None
    assert message.from_user.is_bot is False
    assert message.entities is not None
    assert (message.entities[0].type, message.entities[0].offset) == ("bot_command", 0)
    assert message.entities[0].length == len("/start")
    repeated = await bot.get_updates(timeout=0)
    assert [update.update_id for update in repeated] == [updates[0].update_id]
    assert await bot.get_updates(offset=updates[0].update_id + 1, timeout=0) == []
    assert emu.updates_pending() == []


async def test_unregistered_user_is_registered_by_writing(emu: Emulator) -> None:
    message = await emu.send_text(555, "hello")

    assert emu.user(555).id == 555
    assert message["chat"] == {"id": 555, "first_name": "Ann", "type": "private"}


async def test_sent_message_with_inline_keyboard_is_visible(bot: Bot, emu: Emulator) -> None:
    sent = await bot.send_message(
        USER, "<b>Hi</b> there", parse_mode="HTML", reply_markup=keyboard("yes", "no")
    )

    [received] = await emu.wait_for_messages(USER, count=1)
    assert received.message_id == sent.message_id
    assert received.text == "<b>Hi</b> there"
    assert received.plain_text == sent.text == "Hi there"
    assert sent.entities is not None
    assert sent.entities[0].type == "bold"
    assert received.callback_data() == ["yes", "no"]
    assert received.reply_markup is not None
    assert "inline_keyboard" in received.reply_markup
    assert emu.requests_for("sendMessage")[0].params["chat_id"] == USER


async def test_button_press_sends_callback_query_and_records_answer(
    bot: Bot, emu: Emulator
) -> None:
    sent = await bot.send_message(USER, "Pick one", reply_markup=keyboard("yes", "no"))

    query_id = await emu.press_button(USER, sent.message_id, "yes")

    [update] = await bot.get_updates(timeout=1)
    query = update.callback_query
    assert query is not None
    assert query.id == query_id
    assert query.data == "yes"
    assert query.chat_instance
    assert query.message is not None
    assert query.message.message_id == sent.message_id
    assert query.from_user.id == USER
    assert await bot.answer_callback_query(query.id, text="Saved", show_alert=True)
    answer = emu.callback_answers[query_id]
    assert (answer.text, answer.show_alert) == ("Saved", True)
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query.id)


async def test_a_press_with_data_no_button_carries_is_refused_unless_forged(
    bot: Bot, emu: Emulator
) -> None:
    """A real client sends a button's own data; a modified one (forged) sends any."""
    sent = await bot.send_message(USER, "Pick one", reply_markup=keyboard("yes", "no"))
    with pytest.raises(EmulatorError, match="has no button with callback_data 'maybe'"):
        await emu.press_button(USER, sent.message_id, "maybe")

    query_id = await emu.press_button(USER, sent.message_id, "maybe", forged=True)

    [update] = await bot.get_updates(timeout=1)
    assert update.callback_query is not None
    assert (update.callback_query.id, update.callback_query.data) == (query_id, "maybe")
    assert await bot.answer_callback_query(query_id, text="No such choice")
    assert emu.callback_answers[query_id].text == "No such choice"


async def test_blocked_user_answers_403_and_bot_sees_my_chat_member(
    bot: Bot, emu: Emulator
) -> None:
    await emu.block(USER)

    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(USER, "Anyone there?")
    [update] = await bot.get_updates(timeout=1)
    member = update.my_chat_member
    assert member is not None
    assert (member.old_chat_member.status, member.new_chat_member.status) == ("member", "kicked")
    assert member.from_user.id == USER

    await emu.unblock(USER)
    updates = await bot.get_updates(offset=update.update_id + 1, timeout=1)
    assert updates[0].my_chat_member is not None
    assert updates[0].my_chat_member.new_chat_member.status == "member"
    assert await bot.send_message(USER, "Welcome back")


async def test_deactivated_user_answers_403(bot: Bot, emu: Emulator) -> None:
    emu.deactivate(USER)

    with pytest.raises(TelegramForbiddenError, match="user is deactivated"):
        await bot.send_message(USER, "Hello?")


async def test_unknown_chat_is_not_found(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(424242, "Hello?")


async def test_message_validation_errors(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(USER, " ")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(USER, "x" * 4097)
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(USER, "<b>unclosed", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(USER, "line<br>break", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_photo(USER, "https://example.com/a.jpg", caption="x" * 1025)
    assert await bot.send_message(USER, "x" * 4096)


async def test_edits_deletes_and_their_errors(bot: Bot, emu: Emulator) -> None:
    sent = await bot.send_message(USER, "Draft", reply_markup=keyboard("go"))

    edited = await bot.edit_message_text("Final", chat_id=USER, message_id=sent.message_id)
    assert isinstance(edited, Message)
    assert edited.text == "Final"
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("Final", chat_id=USER, message_id=sent.message_id)
    await bot.edit_message_reply_markup(
        chat_id=USER, message_id=sent.message_id, reply_markup=keyboard("again")
    )
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("Other", chat_id=USER, message_id=999)
    [message] = emu.messages_to(USER)
    assert message.edited
    assert [version.text for version in message.history] == ["Draft", "Final"]
    assert message.text == "Final"
    assert message.callback_data() == ["again"]

    assert await bot.delete_message(USER, sent.message_id)
    assert emu.messages_to(USER)[0].deleted
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(USER, sent.message_id)


async def test_send_photo_by_upload_url_and_file_id(bot: Bot, emu: Emulator) -> None:
    uploaded = await bot.send_photo(
        USER,
        BufferedInputFile(b"\x89PNG fake", filename="offer.png"),
        caption="<i>New</i>",
        parse_mode="HTML",
    )
    assert uploaded.photo is not None
    assert len(uploaded.photo) == 2
    assert uploaded.caption == "New"
    by_url = await bot.send_photo(USER, "https://example.com/offer.jpg")
    again = await bot.send_photo(USER, uploaded.photo[-1].file_id)
    assert by_url.photo is not None
    assert again.photo is not None
    with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
        await bot.send_photo(USER, "not-a-file-id")

    first, second, third = emu.messages_to(USER)
    assert first.photo is not None
    assert first.photo_source == "upload:offer.png"
    assert first.caption == "<i>New</i>"
    assert first.parse_mode == "HTML"
    assert second.photo_source == "https://example.com/offer.jpg"
    assert third.photo == uploaded.photo[-1].file_id


async def test_commands_are_recorded_per_scope(bot: Bot, emu: Emulator) -> None:
    await bot.set_my_commands([BotCommand(command="start", description="Start")])
    admin_scope = BotCommandScopeChat(chat_id=USER)
    await bot.set_my_commands([BotCommand(command="stats", description="Stats")], scope=admin_scope)

    assert [command.command for command in await bot.get_my_commands()] == ["start"]
    admin = await bot.get_my_commands(scope=admin_scope)
    assert [command.command for command in admin] == ["stats"]
    assert emu.my_commands() == [{"command": "start", "description": "Start"}]
    assert await bot.delete_my_commands()
    assert await bot.get_my_commands() == []


async def test_get_chat_and_chat_action(bot: Bot) -> None:
    chat = await bot.get_chat(USER)

    assert (chat.id, chat.type, chat.username) == (USER, "private", "ann")
    assert await bot.send_chat_action(USER, "typing")


async def test_message_reaction_needs_allowed_updates(bot: Bot, emu: Emulator) -> None:
    sent = await bot.send_message(USER, "React to me")
    await emu.react(USER, sent.message_id)
    assert await bot.get_updates(timeout=0) == []  # not in the default allowed_updates

    await bot.get_updates(allowed_updates=["message", "message_reaction"], timeout=0)
    await emu.react(USER, sent.message_id, "🔥")
    [update] = await bot.get_updates(timeout=1)  # the filter is remembered

    reaction = update.message_reaction
    assert reaction is not None
    assert reaction.message_id == sent.message_id
    assert [r.emoji for r in reaction.new_reaction] == ["🔥"]  # type: ignore[union-attr]
    assert [r.emoji for r in reaction.old_reaction] == ["👍"]  # type: ignore[union-attr]


async def test_contact_defaults_to_the_senders_own_number(bot: Bot, emu: Emulator) -> None:
    await emu.share_contact(USER, "+15550001")
    await emu.share_contact(USER, "+15550002", contact_user_id=77, first_name="Bob")

    first, second = await bot.get_updates(timeout=1)
    assert first.message is not None
    assert first.message.contact is not None
    assert first.message.contact.user_id == USER
    assert second.message is not None
    assert second.message.contact is not None
    assert (second.message.contact.user_id, second.message.contact.first_name) == (77, "Bob")


async def test_dispatcher_polling_end_to_end(bot: Bot, emu: Emulator) -> None:
    dispatcher = Dispatcher()

    @dispatcher.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer("Welcome!", reply_markup=keyboard("quiz"))

    @dispatcher.callback_query()
    async def pressed(query: CallbackQuery) -> None:
        await query.answer("Noted")

    polling = asyncio.create_task(
        dispatcher.start_polling(bot, handle_signals=False, close_bot_session=False)
    )
    try:
        await emu.send_text(USER, "/start")
        [welcome] = await emu.wait_for_messages(USER, count=1)
        assert welcome.text == "Welcome!"
        query_id = await emu.press_button(USER, welcome.message_id, "quiz")
        answer = await emu.wait_for_callback_answer(query_id)
        assert answer.text == "Noted"
    finally:
        await dispatcher.stop_polling()
        await polling


async def test_wait_for_messages_times_out_with_a_helpful_message(bot: Bot, emu: Emulator) -> None:
    with pytest.raises(TelegramBadRequest):
        await bot.send_message(USER, "<b>oops", parse_mode="HTML")

    with pytest.raises(TimeoutError, match=r"received 0 message.*can't parse entities"):
        await emu.wait_for_messages(USER, count=1, timeout=0.05)


async def test_chat_menu_buttons_open_web_apps_from_https_only(bot: Bot, emu: Emulator) -> None:
    app = MenuButtonWebApp(text="Console", web_app=WebAppInfo(url="https://example.org/console/"))
    assert await bot.set_chat_menu_button(chat_id=USER, menu_button=app)

    assert emu.menu_button(USER) == {
        "type": "web_app",
        "text": "Console",
        "web_app": {"url": "https://example.org/console/"},
    }
    assert isinstance(await bot.get_chat_menu_button(chat_id=USER), MenuButtonWebApp)
    plain = MenuButtonWebApp(text="Console", web_app=WebAppInfo(url="http://example.org/"))
    with pytest.raises(TelegramBadRequest, match="Only HTTPS links are allowed"):
        await bot.set_chat_menu_button(chat_id=USER, menu_button=plain)
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.set_chat_menu_button(chat_id=999_999, menu_button=app)
    assert await bot.set_chat_menu_button(chat_id=USER, menu_button=MenuButtonDefault())
    assert emu.menu_button(USER) == {"type": "default"}
