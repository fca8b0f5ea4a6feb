"""The broadcast wizard (`/broadcast`): name -> approach -> segments, a query or personas
-> a message per target (text or photo, buttons, reuse one, or for personas have the
language model rewrite one) -> previews rendered for real members -> when -> confirm with
the audience count -> the campaign is saved and scheduled.

aiogram FSM: the state (bot.admin.wizard_steps.Broadcast) says which step waits; the
draft (bot.admin.draft) rides in the state's data. Each step's prompt lives in
bot.admin.wizard_steps; what a step does with a typed message or a button press lives
here, as a handler of a `Step` (the chat, the draft, the admin's context).
`bot.admin.wizard_routing.register_steps` is the one place that says which handler serves
which state: each is registered with aiogram's `StateFilter` for its step (and the
button's action). `/cancel` leaves at any step; "Back" keeps what was entered. A message
of the wrong kind gets told what the step expects.
"""

import re
from html import escape, unescape

from aiogram.types import Message
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

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
from bot.admin.wizard_steps import Step
from broadcasts.campaigns import save_campaign
from broadcasts.models import Campaign
from broadcasts.templates.check import check_template
from core.errors import SegbotError
from segments.rules import RuleError, parse
from segments.rules.errors import excerpt

CONTENT_KINDS = ("text", "photo")


async def broadcast_command(call: Call) -> None:
    if call.args:
        raise call.usage("/broadcast takes no arguments: the wizard asks for everything.")
    await call.state.clear()
    await wizard_steps.ask_name(Step(call.message, Draft(), call.ctx))


async def cancel_command(call: Call) -> None:
    if call.args:  # a campaign's id, meant to cancel it: the wizard is left as it is
        raise call.usage(
            "/cancel takes no arguments: it leaves the broadcast wizard. To cancel a "
            f"campaign, press Cancel under /campaign {excerpt(call.args)}."
        )
    if await call.state.get_state() is None:
        await call.reply("There is nothing to cancel.")
        return
    await call.state.clear()
    await call.reply("Wizard cancelled; nothing was saved.")


# -- typed input --------------------------------------------------------------------------
# Jinja's tags: an expression, a statement, a comment
_TEMPLATE_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_HTML_TAG = re.compile(r"<[^>]*>")


def _template_source(html: str) -> str:
    """The template a message holds, from its text as Telegram HTML (so that bold and
    links typed in the chat stay): inside Jinja's tags, the text as typed, without the
    entities (`&gt;` for `>`) and the formatting HTML puts there, which are no Jinja."""
    return _TEMPLATE_TAG.sub(lambda tag: unescape(_HTML_TAG.sub("", tag[0])), html)


def _text(message: Message, expects: str) -> str:
    if message.text is None:
        raise DraftError(f"I need text here: {expects}")
    return message.text.strip()


async def on_name(step: Step, message: Message) -> None:
    name = check_name(_text(message, "the campaign's name."))
    await _refuse_taken(step.session, name, then="Send another name.")
    step.draft.name = name
    await wizard_steps.ask_approach(step)


async def _refuse_taken(session: AsyncSession, name: str, *, then: str) -> None:
    """DraftError if a campaign has the name: saving under it replaces a campaign that
    has not run yet, so a wizard would silently swap another admin's campaign (or one
    scheduled, or cancelled before it sent) for its own."""
    taken = (
        await session.execute(select(Campaign.id, Campaign.status).where(Campaign.name == name))
    ).first()
    if taken is not None:
        campaign_id, status = taken
        raise DraftError(
            f"A campaign named {name!r} exists already (#{campaign_id}, {status.value}). {then}"
        )


async def on_query(step: Step, message: Message) -> None:
    text = _text(message, "the rule that picks the audience.")
    try:
        parse(text, rfm_segments=step.services.rfm_names)
    except RuleError as error:
        raise QueryError(error, text) from None
    step.draft.query, step.draft.target = text, 0
    await to_messages(step)


async def on_message(step: Step, message: Message) -> None:
    if message.content_type not in CONTENT_KINDS:
        raise DraftError(
            f"I need a text message or a photo with a caption, not a {message.content_type}."
        )
    body = _template_source(message.html_text)
    if body.startswith("/"):
        raise DraftError("That looks like a command: send the message itself, or /cancel.")
    if message.photo:
        await check_template(body, caption=True)
        content = DraftMessage(photo=message.photo[-1].file_id, caption=body)
    else:
        await check_template(body, caption=False)
        content = DraftMessage(text=body)
    step.draft.messages[step.draft.current().label] = content
    await wizard_steps.ask_buttons(step)


async def on_buttons(step: Step, message: Message) -> None:
    buttons = parse_buttons(_text(message, "one button per line, Text | https://link."))
    step.draft.messages[step.draft.current().label].buttons = buttons
    await next_target(step)


async def on_when_detail(step: Step, message: Message) -> None:
    when = step.draft.when or When.AT
    step.draft.schedule = parse_schedule(when, _text(message, "when to send it."), now=step.clock())
    await wizard_steps.ask_confirm(step)


# -- moving between steps -----------------------------------------------------------------
async def to_messages(step: Step) -> None:
    if not step.draft.targets():
        raise DraftError("Choose at least one target first.")
    step.draft.target = min(step.draft.target, len(step.draft.targets()) - 1)
    await wizard_steps.ask_message(step)


async def next_target(step: Step) -> None:
    if step.draft.target + 1 < len(step.draft.targets()):
        step.draft.target += 1
        await wizard_steps.ask_message(step)
    else:
        await wizard_steps.show_preview(step)


async def ask_audience(step: Step) -> None:
    if step.draft.approach is Approach.QUERY:
        await wizard_steps.ask_query(step)
    elif step.draft.approach is Approach.PERSONAS:
        await wizard_personas.ask_personas(step)
    else:
        await wizard_steps.ask_segments(step)


async def back_from_message(step: Step, value: int) -> None:
    """Back from a target's message: the previous target's buttons, or the audience."""
    if step.draft.target > 0:
        step.draft.target -= 1
        await wizard_steps.ask_buttons(step)
    else:
        await ask_audience(step)


async def back_from_preview(step: Step, value: int) -> None:
    step.draft.target = len(step.draft.targets()) - 1
    await wizard_steps.ask_buttons(step)


async def back_from_confirm(step: Step, value: int) -> None:
    if step.draft.when in (None, When.NOW):
        await wizard_steps.ask_when(step)
    else:
        await wizard_steps.ask_when_detail(step)


# -- buttons ------------------------------------------------------------------------------
async def choose_approach(step: Step, value: int) -> None:
    step.draft.choose(list(Approach)[value])
    await ask_audience(step)


async def toggle_segment(step: Step, value: int) -> None:
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


async def segments_done(step: Step, value: int) -> None:
    step.draft.target = 0
    await to_messages(step)


async def personas_done(step: Step, value: int) -> None:
    await wizard_personas.resolve(step)
    step.draft.target = 0
    await to_messages(step)


async def reuse(step: Step, value: int) -> None:
    """Copy an earlier target's message: only those are offered, so any other value is a
    stale or forged button."""
    earlier = step.draft.targets()[: step.draft.target]
    if value >= len(earlier) or earlier[value].label not in step.draft.messages:
        raise DraftError("That choice is gone: send the message, or reuse one offered above.")
    copy = step.draft.messages[earlier[value].label].model_copy(deep=True)
    step.draft.messages[step.draft.current().label] = copy
    await next_target(step)


async def no_buttons(step: Step, value: int) -> None:
    step.draft.messages[step.draft.current().label].buttons = []
    await next_target(step)


async def choose_when(step: Step, value: int) -> None:
    step.draft.when = list(When)[value]
    if step.draft.when is When.NOW:
        step.draft.schedule = parse_schedule(When.NOW, "", now=step.clock())
        await wizard_steps.ask_confirm(step)
    else:
        await wizard_steps.ask_when_detail(step)


async def confirm(step: Step, value: int) -> None:
    try:
        campaign = await _save(step)
    except SegbotError as error:  # the step's reply; audited, as a refused command is
        await step.session.rollback()
        await _audit_create(step, f"draft {step.draft.name}", f"refused: {error}")
        raise
    await step.state.clear()
    await _audit_create(step, f"campaign {campaign.id} {campaign.name}", "ok")
    if step.services.campaigns is not None:
        await step.services.campaigns.sync()  # due now: starts it; later: schedules it
    await step.chat.answer(f"Saved campaign #{campaign.id} {escape(campaign.name)}.")
    async with step.sessionmaker() as session:
        view = await campaign_view(session, campaign_id=campaign.id, admin=step.admin)
    await show(step.chat, step.ctx, view=view, campaign_id=campaign.id)


async def _save(step: Step) -> Campaign:
    spec = step.draft.spec()
    await _refuse_taken(
        step.session, spec.name, then="Nothing was saved: go back to give this one another name."
    )
    return await save_campaign(
        step.session,
        spec=spec,
        now=step.clock(),
        public_url=step.settings.public_url,
        rfm_segments=step.services.rfm_names,
        replace=False,  # another admin may have saved one under the name meanwhile
    )


async def _audit_create(step: Step, target: str, outcome: str) -> None:
    await audit.record(
        step.sessionmaker,
        admin_id=step.admin.user_id,
        action="campaign.create",
        now=step.clock(),
        target=target,
        outcome=outcome,
    )


async def cancel(step: Step, value: int) -> None:
    await step.state.clear()
    await step.chat.answer("Wizard cancelled; nothing was saved.")


COMMANDS = (
    AdminCommand(
        "broadcast", Permission.CAMPAIGNS, "/broadcast", "The broadcast wizard", broadcast_command
    ),
    AdminCommand(
        "cancel", Permission.CAMPAIGNS, "/cancel", "Leave the broadcast wizard", cancel_command
    ),
)
