"""The broadcast wizard (`/broadcast`): name -> approach -> segments, a query or personas
-> a message per target (text or photo, buttons, reuse one, or for personas have the
language model rewrite one) -> previews rendered for real members -> when -> confirm with
the audience count -> the campaign is saved and scheduled.

aiogram FSM: the state says which step waits; the draft (bot.admin.draft) rides in the
state's data. Messages and button presses are routed by state here; each step's prompt
lives in bot.admin.wizard_steps. `/cancel` leaves at any step; "Back" keeps what was
entered. A message of the wrong kind gets told what the step expects.
"""

from collections.abc import Awaitable, Callable
from html import escape

from aiogram.fsm.state import State
from aiogram.types import Message

from bot.admin import audit, wizard_personas, wizard_steps
from bot.admin.campaign_commands import campaign_view, show
from bot.admin.draft import (
    Approach,
    Draft,
    DraftError,
    DraftMessage,
    When,
    check_name,
    parse_buttons,
    parse_schedule,
)
from bot.admin.permissions import Permission
from bot.admin.registry import AdminCommand, Call, QueryError
from bot.admin.wizard_steps import Broadcast, Step
from broadcasts.campaigns import save_campaign
from broadcasts.templates import validate
from segments.rules import RuleError, parse

Handler = Callable[[Step, Message], Awaitable[None]]
Press = Callable[[Step, int], Awaitable[None]]
CONTENT_KINDS = ("text", "photo")


async def broadcast_command(call: Call) -> None:
    if call.args:
        raise call.usage("/broadcast takes no arguments: the wizard asks for everything.")
    await call.state.clear()
    step = Step(
        call.message,
        call.state,
        Draft(),
        call.session,
        call.sessionmaker,
        call.services,
        call.settings,
        call.clock,
        call.admin,
        call.bot,
    )
    await wizard_steps.ask_name(step)


async def cancel_command(call: Call) -> None:
    if await call.state.get_state() is None:
        await call.reply("There is nothing to cancel.")
        return
    await call.state.clear()
    await call.reply("Wizard cancelled; nothing was saved.")


# -- typed input --------------------------------------------------------------------------
def _text(message: Message, expects: str) -> str:
    if message.text is None:
        raise DraftError(f"I need text here: {expects}")
    return message.text.strip()


async def _on_name(step: Step, message: Message) -> None:
    step.draft.name = check_name(_text(message, "the campaign's name."))
    await wizard_steps.ask_approach(step)


async def _on_query(step: Step, message: Message) -> None:
    text = _text(message, "the rule that picks the audience.")
    try:
        parse(text, rfm_segments=step.services.rfm_names)
    except RuleError as error:
        raise QueryError(error, text) from None
    step.draft.query, step.draft.target = text, 0
    await _to_messages(step)


async def _on_message(step: Step, message: Message) -> None:
    if message.content_type not in CONTENT_KINDS:
        raise DraftError(
            f"I need a text message or a photo with a caption, not a {message.content_type}."
        )
    body = message.html_text
    if body.startswith("/"):
        raise DraftError("That looks like a command: send the message itself, or /cancel.")
    if message.photo:
        validate(body, caption=True)
        content = DraftMessage(photo=message.photo[-1].file_id, caption=body)
    else:
        validate(body, caption=False)
        content = DraftMessage(text=body)
    step.draft.messages[step.draft.current().label] = content
    await wizard_steps.ask_buttons(step)


async def _on_buttons(step: Step, message: Message) -> None:
    buttons = parse_buttons(_text(message, "one button per line, Text | https://link."))
    step.draft.messages[step.draft.current().label].buttons = buttons
    await _next_target(step)


async def _on_when_detail(step: Step, message: Message) -> None:
    when = step.draft.when or When.AT
    step.draft.schedule = parse_schedule(when, _text(message, "when to send it."), now=step.clock())
    await wizard_steps.ask_confirm(step)


def _key(state: State) -> str:
    return state.state or ""


TYPED: dict[str, Handler] = {
    _key(Broadcast.name): _on_name,
    _key(Broadcast.query): _on_query,
    _key(Broadcast.message): _on_message,
    _key(Broadcast.buttons): _on_buttons,
    _key(Broadcast.when_detail): _on_when_detail,
}


# -- moving between steps -----------------------------------------------------------------
async def _to_messages(step: Step) -> None:
    if not step.draft.targets():
        raise DraftError("Choose at least one target first.")
    step.draft.target = min(step.draft.target, len(step.draft.targets()) - 1)
    await wizard_steps.ask_message(step)


async def _next_target(step: Step) -> None:
    if step.draft.target + 1 < len(step.draft.targets()):
        step.draft.target += 1
        await wizard_steps.ask_message(step)
    else:
        await wizard_steps.show_preview(step)


async def go_back(step: Step, state: str | None) -> None:
    draft = step.draft
    if state == _key(Broadcast.approach):
        await wizard_steps.ask_name(step)
    elif state in (_key(Broadcast.segments), _key(Broadcast.query), _key(Broadcast.personas)):
        await wizard_steps.ask_approach(step)
    elif state == _key(Broadcast.message) and draft.target > 0:
        draft.target -= 1
        await wizard_steps.ask_buttons(step)
    elif state == _key(Broadcast.message):
        await _ask_audience(step)
    elif state == _key(Broadcast.buttons):
        await wizard_steps.ask_message(step)
    elif state == _key(Broadcast.preview):
        draft.target = len(draft.targets()) - 1
        await wizard_steps.ask_buttons(step)
    elif state == _key(Broadcast.when):
        await wizard_steps.show_preview(step)
    elif state == _key(Broadcast.when_detail):
        await wizard_steps.ask_when(step)
    elif state == _key(Broadcast.confirm) and draft.when not in (None, When.NOW):
        await wizard_steps.ask_when_detail(step)
    else:
        await wizard_steps.ask_when(step)


async def _ask_audience(step: Step) -> None:
    if step.draft.approach is Approach.QUERY:
        await wizard_steps.ask_query(step)
    elif step.draft.approach is Approach.PERSONAS:
        await wizard_personas.ask_personas(step)
    else:
        await wizard_steps.ask_segments(step)


# -- buttons ------------------------------------------------------------------------------
async def _approach(step: Step, value: int) -> None:
    step.draft.choose(list(Approach)[value])
    await _ask_audience(step)


async def _segment(step: Step, value: int) -> None:
    name = step.draft.offered[value]
    chosen = step.draft.segments
    if name in chosen:
        chosen.remove(name)
        step.draft.messages.pop(name, None)
    else:
        chosen.append(name)
    await step.redraw(
        wizard_steps.segments_text(step.draft), wizard_steps.segments_keyboard(step.draft)
    )


async def _segments_done(step: Step, value: int) -> None:
    step.draft.target = 0
    await _to_messages(step)


async def _personas_done(step: Step, value: int) -> None:
    await wizard_personas.resolve(step)
    step.draft.target = 0
    await _to_messages(step)


async def _reuse(step: Step, value: int) -> None:
    source = step.draft.targets()[value].label
    copy = step.draft.messages[source].model_copy(deep=True)
    step.draft.messages[step.draft.current().label] = copy
    await _next_target(step)


async def _keep(step: Step, value: int) -> None:
    state = await step.state.get_state()
    if state == _key(Broadcast.name):
        await wizard_steps.ask_approach(step)
    elif state == _key(Broadcast.query):
        await _to_messages(step)
    elif state == _key(Broadcast.message):
        await wizard_steps.ask_buttons(step)
    else:
        await _next_target(step)


async def _no_buttons(step: Step, value: int) -> None:
    step.draft.messages[step.draft.current().label].buttons = []
    await _next_target(step)


async def _preview_ok(step: Step, value: int) -> None:
    await wizard_steps.ask_when(step)


async def _when(step: Step, value: int) -> None:
    step.draft.when = list(When)[value]
    if step.draft.when is When.NOW:
        step.draft.schedule = parse_schedule(When.NOW, "", now=step.clock())
        await wizard_steps.ask_confirm(step)
    else:
        await wizard_steps.ask_when_detail(step)


async def _confirm(step: Step, value: int) -> None:
    spec = step.draft.spec()
    campaign = await save_campaign(
        step.session,
        spec=spec,
        now=step.clock(),
        public_url=step.settings.public_url,
        rfm_segments=step.services.rfm_names,
    )
    await step.state.clear()
    await audit.record(
        step.sessionmaker,
        admin_id=step.admin.user_id,
        action="campaign.create",
        now=step.clock(),
        target=f"campaign {campaign.id} {campaign.name}",
        outcome="ok",
    )
    if step.services.campaigns is not None:
        await step.services.campaigns.sync()  # due now: starts it; later: schedules it
    await step.chat.answer(f"Saved campaign #{campaign.id} {escape(campaign.name)}.")
    async with step.sessionmaker() as session:
        view = await campaign_view(session, campaign_id=campaign.id, admin=step.admin)
    await show(
        step.chat,
        view=view,
        campaign_id=campaign.id,
        admin=step.admin,
        services=step.services,
        sessionmaker=step.sessionmaker,
        bot=step.bot,
    )


async def _cancel(step: Step, value: int) -> None:
    await step.state.clear()
    await step.chat.answer("Wizard cancelled; nothing was saved.")


PRESSES: dict[tuple[str, str], Press] = {
    (_key(Broadcast.name), "keep"): _keep,
    (_key(Broadcast.approach), "approach"): _approach,
    (_key(Broadcast.segments), "segment"): _segment,
    (_key(Broadcast.segments), "segments_done"): _segments_done,
    (_key(Broadcast.query), "keep"): _keep,
    (_key(Broadcast.personas), "persona"): wizard_personas.toggle,
    (_key(Broadcast.personas), "personas_done"): _personas_done,
    (_key(Broadcast.message), "reuse"): _reuse,
    (_key(Broadcast.message), "keep"): _keep,
    (_key(Broadcast.message), "rewrite"): wizard_personas.rewrite,
    (_key(Broadcast.buttons), "keep"): _keep,
    (_key(Broadcast.buttons), "no_buttons"): _no_buttons,
    (_key(Broadcast.preview), "preview_ok"): _preview_ok,
    (_key(Broadcast.when), "when"): _when,
    (_key(Broadcast.confirm), "confirm"): _confirm,
    (_key(Broadcast.confirm), "cancel"): _cancel,
}


COMMANDS = (
    AdminCommand(
        "broadcast", Permission.CAMPAIGNS, "/broadcast", "The broadcast wizard", broadcast_command
    ),
    AdminCommand(
        "cancel", Permission.CAMPAIGNS, "/cancel", "Leave the broadcast wizard", cancel_command
    ),
)
