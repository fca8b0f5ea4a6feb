"""Which handler serves which step of the broadcast wizard: `register_steps` below is the
whole routing, one line per (state, typed message) or (state, button action), each
registered with aiogram's `StateFilter` for that step and the role check.

Whatever fits no step is answered here too: a message where the step wants a button is
told so; a button from an earlier step (or a message no longer there) is refused; a
button of a wizard that has ended says how to start a new one. Each handler receives a
`Step` (the chat, the draft, the admin's context) and the step's expected errors are its
reply.
"""

from collections.abc import Awaitable, Callable

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.state import State
from aiogram.types import CallbackQuery, Message

from bot.admin import wizard_personas
from bot.admin.context import AdminContext
from bot.admin.permissions import Allowed, Permission
from bot.admin.registry import reply_for
from bot.admin.wizard import (
    back_from_confirm,
    back_from_message,
    back_from_preview,
    cancel,
    choose_approach,
    choose_when,
    confirm,
    next_target,
    no_buttons,
    on_buttons,
    on_message,
    on_name,
    on_query,
    on_when_detail,
    personas_done,
    reuse,
    segments_done,
    to_messages,
    toggle_segment,
)
from bot.admin.wizard_steps import (
    Broadcast,
    Step,
    WizardButton,
    ask_approach,
    ask_buttons,
    ask_message,
    ask_name,
    ask_when,
    is_prompt,
    show_preview,
)
from core.errors import SegbotError

Typed = Callable[[Step, Message], Awaitable[None]]  # a step's typed message
Press = Callable[[Step, int], Awaitable[None]]  # a step's button, with its value
Goes = Callable[[Step], Awaitable[None]]  # a move to another step


def register_steps(router: Router) -> None:
    allowed = Allowed(Permission.CAMPAIGNS)

    def typed(state: State, handler: Typed) -> None:
        router.message.register(_typed(handler), StateFilter(state), allowed)

    def pressed(state: State, action: str, handler: Press) -> None:
        button = WizardButton.filter(F.action == action)
        router.callback_query.register(_pressed(handler), StateFilter(state), button, allowed)

    typed(Broadcast.name, on_name)
    pressed(Broadcast.name, "keep", _goes(ask_approach))

    pressed(Broadcast.approach, "approach", choose_approach)
    pressed(Broadcast.approach, "back", _goes(ask_name))

    pressed(Broadcast.segments, "segment", toggle_segment)
    pressed(Broadcast.segments, "segments_done", segments_done)
    pressed(Broadcast.segments, "back", _goes(ask_approach))

    typed(Broadcast.query, on_query)
    pressed(Broadcast.query, "keep", _goes(to_messages))
    pressed(Broadcast.query, "back", _goes(ask_approach))

    pressed(Broadcast.personas, "persona", wizard_personas.toggle)
    pressed(Broadcast.personas, "personas_done", personas_done)
    pressed(Broadcast.personas, "back", _goes(ask_approach))

    typed(Broadcast.message, on_message)
    pressed(Broadcast.message, "reuse", reuse)
    pressed(Broadcast.message, "rewrite", wizard_personas.rewrite)
    pressed(Broadcast.message, "keep", _goes(ask_buttons))
    pressed(Broadcast.message, "back", back_from_message)

    typed(Broadcast.buttons, on_buttons)
    pressed(Broadcast.buttons, "no_buttons", no_buttons)
    pressed(Broadcast.buttons, "keep", _goes(next_target))
    pressed(Broadcast.buttons, "back", _goes(ask_message))

    pressed(Broadcast.preview, "preview_ok", _goes(ask_when))
    pressed(Broadcast.preview, "back", back_from_preview)

    pressed(Broadcast.when, "when", choose_when)
    pressed(Broadcast.when, "back", _goes(show_preview))

    typed(Broadcast.when_detail, on_when_detail)
    pressed(Broadcast.when_detail, "back", _goes(ask_when))

    pressed(Broadcast.confirm, "confirm", confirm)
    pressed(Broadcast.confirm, "cancel", cancel)
    pressed(Broadcast.confirm, "back", back_from_confirm)

    # anything else inside the wizard, then a button of one that has ended
    router.message.register(_wants_a_button, StateFilter(Broadcast), allowed)
    router.callback_query.register(
        _earlier_step, StateFilter(Broadcast), WizardButton.filter(), allowed
    )
    router.callback_query.register(_ended, WizardButton.filter(), allowed)


def _typed(handler: Typed) -> Callable[[Message, AdminContext], Awaitable[None]]:
    async def on_typed(message: Message, ctx: AdminContext) -> None:
        try:
            await handler(await Step.load(message, ctx), message)
        except SegbotError as error:
            await ctx.session.rollback()
            await message.answer(reply_for(error))

    return on_typed


def _pressed(
    handler: Press,
) -> Callable[[CallbackQuery, WizardButton, AdminContext], Awaitable[None]]:
    async def on_press(
        query: CallbackQuery, callback_data: WizardButton, ctx: AdminContext
    ) -> None:
        if not isinstance(query.message, Message) or not await is_prompt(ctx.state, query.message):
            await _earlier_step(query)  # too old for Telegram to show, or not the step's
            return
        await query.answer()
        try:
            await handler(await Step.load(query.message, ctx), callback_data.value)
        except (SegbotError, IndexError) as error:  # IndexError: an offered choice is gone
            await ctx.session.rollback()
            text = (
                reply_for(error)
                if isinstance(error, SegbotError)
                else "That choice is gone; try again."
            )
            await query.message.answer(text)

    return on_press


def _goes(to: Goes) -> Press:
    """A button that only moves to another step."""

    async def press(step: Step, value: int) -> None:
        await to(step)

    return press


async def _wants_a_button(message: Message) -> None:
    await message.answer("Tap one of the buttons above, or /cancel to leave the wizard.")


async def _earlier_step(query: CallbackQuery) -> None:
    await query.answer("That button belongs to an earlier step.")


async def _ended(query: CallbackQuery) -> None:
    await query.answer("This wizard has ended: /broadcast starts a new one.")
