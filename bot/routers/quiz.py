"""The onboarding quiz in chat, and /profile to see and change the answers.

Quiz texts are plain text, escaped for the bot's HTML messages (an option such as "< 25").
Multi-choice selections live in the message's own keyboard (a ✓ on chosen options), so a
half-answered question survives a restart and needs no server-side state. A double-pressed
button is handled twice; the second press finds the message already edited (`bot.edits`)
and stops there, so the next question is asked once.
"""

import html
from collections.abc import Collection

from aiogram import Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
)
from sqlalchemy.ext.asyncio import AsyncSession

from bot import edits
from bot.config import AppConfig
from bot.filters import Data
from bot.i18n import Translator
from bot.leaving import FORGET_ASK
from core.clock import Clock
from core.languages import in_language
from core.models import Subscriber
from core.profiles import answer_question, subscriber_of
from core.quiz import PROFILE_FIELDS, Question

CHECK = "✓ "


class Answer(CallbackData, prefix="qa"):
    """A single-choice answer, or (multiple) a toggle of one option."""

    question: str
    option: str
    editing: bool = False


class Done(CallbackData, prefix="qd"):
    question: str
    editing: bool = False


class Ask(CallbackData, prefix="qk"):
    """/profile's "change this answer"."""

    question: str


SKIP = "quiz:skip"


def question_markup(
    question: Question, t: Translator, *, chosen: frozenset[str] = frozenset(), editing: bool
) -> InlineKeyboardMarkup:
    rows = [
        [
            InlineKeyboardButton(
                text=(CHECK if option.id in chosen else "") + in_language(option.label, t.code),
                callback_data=Answer(
                    question=question.id, option=option.id, editing=editing
                ).pack(),
            )
        ]
        for option in question.options
    ]
    if question.multiple:
        done = Done(question=question.id, editing=editing).pack()
        rows.append([InlineKeyboardButton(text=t("Done"), callback_data=done)])
    if not editing:
        rows.append([InlineKeyboardButton(text=t("Skip the questions"), callback_data=SKIP)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def ask(message: Message, question: Question, t: Translator, *, editing: bool) -> None:
    await message.answer(
        _html(in_language(question.text, t.code)),
        reply_markup=question_markup(question, t, editing=editing),
    )


def phone_keyboard(t: Translator) -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text=t("📱 Share my phone"), request_contact=True)]],
        resize_keyboard=True,
        one_time_keyboard=True,
    )


async def on_answer(
    query: CallbackQuery,
    callback_data: Answer,
    session: AsyncSession,
    config: AppConfig,
    clock: Clock,
    t: Translator,
) -> None:
    question = config.quiz.question(callback_data.question)
    if question is None or question.option(callback_data.option) is None:
        await query.answer(t("This button is no longer active."))
        return
    if question.multiple:
        chosen = _chosen(query) ^ {callback_data.option}
        markup = question_markup(question, t, chosen=chosen, editing=callback_data.editing)
        if isinstance(query.message, Message):
            await edits.edit_keyboard(query.message, markup)
        await query.answer()
        return
    await _record(
        query,
        question,
        [callback_data.option],
        session,
        config,
        clock,
        t,
        editing=callback_data.editing,
    )


async def on_done(
    query: CallbackQuery,
    callback_data: Done,
    session: AsyncSession,
    config: AppConfig,
    clock: Clock,
    t: Translator,
) -> None:
    question = config.quiz.question(callback_data.question)
    if question is None:
        await query.answer(t("This button is no longer active."))
        return
    chosen = [option.id for option in question.options if option.id in _chosen(query)]
    await _record(query, question, chosen, session, config, clock, t, editing=callback_data.editing)


async def _record(
    query: CallbackQuery,
    question: Question,
    option_ids: list[str],
    session: AsyncSession,
    config: AppConfig,
    clock: Clock,
    t: Translator,
    *,
    editing: bool,
) -> None:
    await answer_question(
        session,
        telegram_id=query.from_user.id,
        question=question,
        option_ids=option_ids,
        now=clock(),
    )
    await query.answer(t("Saved."))
    if not isinstance(query.message, Message):
        return
    if not await edits.edit_text(query.message, _answered(question, option_ids, t)):
        return  # a press before this one already went on from here
    following = None if editing else config.quiz.after(question.id)
    if following is not None:
        await ask(query.message, following, t, editing=False)
    elif not editing:
        await _finish(query.message, config, t)


async def on_skip(query: CallbackQuery, config: AppConfig, t: Translator) -> None:
    await query.answer()
    if isinstance(query.message, Message) and await edits.edit_keyboard(query.message, None):
        await _finish(query.message, config, t)


async def _finish(message: Message, config: AppConfig, t: Translator) -> None:
    text = t("Thanks! You can change your answers any time with /profile.")
    if config.quiz.ask_phone:
        text += "\n" + t("If you are our customer, share your phone so we can recognise you.")
        await message.answer(text, reply_markup=phone_keyboard(t))
    else:
        await message.answer(text)


async def profile(
    message: Message, session: AsyncSession, config: AppConfig, t: Translator
) -> None:
    if message.from_user is None:
        return
    subscriber = await subscriber_of(session, message.from_user.id)
    lines = [t("<b>Your profile</b>")]
    lines += [
        _answered(q, _stored_answer(subscriber, q), t) for q in config.quiz.questions if q.attribute
    ]
    lines.append(t("Phone: {phone}", phone=t("shared") if subscriber.phone else "—"))
    lines.append(t("Email: {email}", email=_html(subscriber.email or "—")))
    buttons = [
        [
            InlineKeyboardButton(
                text="✏️ " + in_language(q.text, t.code)[:40],
                callback_data=Ask(question=q.id).pack(),
            )
        ]
        for q in config.quiz.questions
    ]
    buttons.append([InlineKeyboardButton(text=t("🌐 Language"), callback_data="lang:menu")])
    buttons.append([InlineKeyboardButton(text=t("🗑 Forget me"), callback_data=FORGET_ASK)])
    await message.answer(
        "\n\n".join(lines), reply_markup=InlineKeyboardMarkup(inline_keyboard=buttons)
    )
    await message.answer(
        t("To add or change your email, send /email you@example.com"),
        reply_markup=phone_keyboard(t),
    )


async def on_ask(
    query: CallbackQuery, callback_data: Ask, config: AppConfig, t: Translator
) -> None:
    question = config.quiz.question(callback_data.question)
    await query.answer()
    if question is None:
        return
    if isinstance(query.message, Message):
        await ask(query.message, question, t, editing=True)


def _chosen(query: CallbackQuery) -> frozenset[str]:
    """The options ticked in the keyboard of the message the button belongs to."""
    if not isinstance(query.message, Message) or query.message.reply_markup is None:
        return frozenset()
    chosen = set()
    for row in query.message.reply_markup.inline_keyboard:
        for button in row:
            if button.text.startswith(CHECK) and button.callback_data:
                try:
                    chosen.add(Answer.unpack(button.callback_data).option)
                except (TypeError, ValueError):
                    continue
    return frozenset(chosen)


def _stored_answer(subscriber: Subscriber, question: Question) -> set[str]:
    """The ids of the options whose values the subscriber's profile holds for the question."""
    attribute = question.attribute or ""
    if attribute in PROFILE_FIELDS:
        value = getattr(subscriber, attribute)
    else:
        value = subscriber.attributes.get(attribute)
    values = set(value) if isinstance(value, list) else {value}
    return {option.id for option in question.options if option.stored in values}


def _answered(question: Question, chosen: Collection[object], t: Translator) -> str:
    """The question and the labels of the chosen options, as the HTML of a message."""
    labels = [in_language(o.label, t.code) for o in question.options if o.id in chosen]
    return _html(f"{in_language(question.text, t.code)}\n→ {', '.join(labels) or '—'}")


def _html(text: str) -> str:
    """Plain text (quiz texts, what a subscriber typed) for the bot's HTML messages."""
    return html.escape(text, quote=False)


def register(router: Router) -> None:
    """Adds this feature's handlers to `router` (the private-chat router)."""
    router.callback_query.register(on_answer, Answer.filter())
    router.callback_query.register(on_done, Done.filter())
    router.callback_query.register(on_ask, Ask.filter())
    router.callback_query.register(on_skip, Data(exactly=SKIP))
    router.message.register(profile, Command("profile"))
