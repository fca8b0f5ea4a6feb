"""The broadcast wizard's steps: what each one asks, with its buttons. Every prompt shows
what the draft already holds, so going back keeps what was entered."""

from dataclasses import dataclass, replace
from html import escape

from aiogram.exceptions import TelegramBadRequest
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.admin.audience import audience_counts, sample_member
from bot.admin.context import AdminContext, UsesContext
from bot.admin.draft import (
    APPROACH_LABELS,
    WHEN_ASKS,
    WHEN_LABELS,
    Approach,
    Draft,
    When,
    describe_schedule,
)
from bot.admin.monospace import bold, code
from broadcasts.compose import UNSUBSCRIBE_TEXT, check_fits, subscriber_context
from broadcasts.models import Campaign
from broadcasts.spec import NAME_PATTERN
from broadcasts.telegram_html import TelegramHtmlError, plain_text
from broadcasts.templates import SAMPLE, TemplateError, compile_template, render
from core.ids import Id
from segments.rules.errors import excerpt
from segments.saved import list_segments

MAX_OFFERED = 30
PROMPT = "prompt"  # in the wizard's state data: the id of the message with the step's buttons
QUOTED = 300  # characters of a rule quoted in a prompt: a rule may be longer than a message


class Broadcast(StatesGroup):
    name = State()
    approach = State()
    segments = State()
    query = State()
    personas = State()
    message = State()
    buttons = State()
    preview = State()
    when = State()
    when_detail = State()
    confirm = State()


class WizardButton(CallbackData, prefix="admw"):
    """A wizard button's data; a client may forge it, so a value no button carries (a
    negative index would pick from the end of a list) fails to parse, as a stale one."""

    action: str
    value: Id = 0


Button = tuple[str, str, int]  # text, action, value


def keyboard(*rows: list[Button]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=text, callback_data=WizardButton(action=action, value=value).pack()
                )
                for text, action, value in row
            ]
            for row in rows
            if row
        ]
    )


BACK: Button = ("← Back", "back", 0)
KEEP: Button = ("Keep it →", "keep", 0)


@dataclass(frozen=True, slots=True)
class Step(UsesContext):
    """One update inside the wizard: the chat, the draft so far (changed in place, saved
    with the next prompt) and the admin's context (`step.state`, `step.session`...)."""

    chat: Message  # answered in this chat
    draft: Draft
    ctx: AdminContext

    @classmethod
    async def load(cls, chat: Message, ctx: AdminContext) -> "Step":
        """The step with the draft the chat's wizard state holds (a new one if none)."""
        return cls(chat, Draft.model_validate((await ctx.state.get_data()).get("draft", {})), ctx)

    async def go(self, state: State, text: str, markup: InlineKeyboardMarkup | None) -> None:
        await self.state.set_state(state)
        await self.state.update_data(draft=self.draft.model_dump(mode="json"))
        await self.prompted(await self.chat.answer(text, reply_markup=markup))

    async def prompted(self, prompt: Message) -> None:
        """Remember the message whose buttons the wizard takes now: a button of any other
        (an earlier step's, an earlier wizard's) would act on a draft it never showed."""
        await self.state.update_data({PROMPT: prompt.message_id})

    async def save(self) -> None:
        await self.state.update_data(draft=self.draft.model_dump(mode="json"))

    async def redraw(self, text: str, markup: InlineKeyboardMarkup) -> None:
        """Save the draft and edit the picker in place (a press that changed nothing
        leaves it as it was)."""
        await self.save()
        try:
            await self.chat.edit_text(text, reply_markup=markup)
        except TelegramBadRequest as error:
            if "not modified" not in error.message:
                raise


async def ask_name(step: Step) -> None:
    current = step.draft.name
    text = f"{bold('New broadcast')} — step 1: name it (letters, digits, _ . -, no spaces)."
    if current:
        text += f"\nNow: {code(current)}. Send another, or keep it."
    await step.go(
        Broadcast.name,
        text + "\n/cancel leaves the wizard at any step.",
        keyboard([KEEP]) if current else None,
    )


async def ask_approach(step: Step) -> None:
    chosen = step.draft.approach
    buttons = [
        [(("✓ " if approach is chosen else "") + label, "approach", index)]
        for index, (approach, label) in enumerate(APPROACH_LABELS.items())
    ]
    await step.go(
        Broadcast.approach,
        "Who gets it? Switching clears the other choice.",
        keyboard(*buttons, [BACK]),
    )


async def ask_segments(step: Step) -> None:
    names = [s.name for s in await list_segments(step.session) if NAME_PATTERN.match(s.name)]
    step.draft.offered = names[:MAX_OFFERED]
    if not step.draft.offered:
        await step.go(
            Broadcast.segments,
            "There are no saved segments yet: save one with "
            "/segment_save, or go back and choose a query.",
            keyboard([BACK]),
        )
        return
    await step.go(Broadcast.segments, segments_text(step.draft), segments_keyboard(step.draft))


def segments_text(draft: Draft) -> str:
    chosen = ", ".join(draft.segments) or "none yet"
    return (
        "Tap the segments to message, in order of priority (someone in two gets the first "
        f"one's message). Chosen: {escape(chosen)}"
    )


def segments_keyboard(draft: Draft) -> InlineKeyboardMarkup:
    rows: list[list[Button]] = [
        [(("✓ " if name in draft.segments else "") + name, "segment", index)]
        for index, name in enumerate(draft.offered)
    ]
    done: list[Button] = [("Done →", "segments_done", 0)] if draft.segments else []
    return keyboard(*rows, [BACK, *done])


async def ask_query(step: Step) -> None:
    text = "Send the rule that picks the audience, e.g. lang = es and clicked within 30d"
    if step.draft.query:
        text += f"\nNow: {code(excerpt(step.draft.query, QUOTED))}. Send another, or keep it."
    await step.go(Broadcast.query, text, keyboard([BACK, KEEP] if step.draft.query else [BACK]))


async def ask_message(step: Step) -> None:
    targets = step.draft.targets()
    target = targets[step.draft.target]
    lines = [
        f"Message for {bold(target.label)} ({step.draft.target + 1} of {len(targets)}): send the "
        "text, or a photo with a caption. Formatting is kept; {{ first_name }} and the other "
        "template variables work."
    ]
    rows: list[list[Button]] = [
        [(f"Reuse the message for {earlier.label}", "reuse", index)]
        for index, earlier in enumerate(targets[: step.draft.target])
        if earlier.label in step.draft.messages
    ]
    first = targets[0].label
    if (
        step.draft.approach is Approach.PERSONAS
        and step.draft.target
        and first in step.draft.messages
    ):
        lines.append(
            f"Or let the language model rewrite the message for {bold(first)} in each "
            "remaining persona's tone and for their problem."
        )
        rows.append([("✨ Rewrite it for each remaining persona", "rewrite", 0)])
    last: list[Button] = [BACK]
    if target.label in step.draft.messages:
        lines.append("It has one already: send a new one, or keep it.")
        last.append(KEEP)
    await step.go(Broadcast.message, "\n".join(lines), keyboard(*rows, last))


async def ask_buttons(step: Step) -> None:
    label = step.draft.current().label
    message = step.draft.messages[label]
    text = (
        f"Buttons under the message for {bold(label)}? One per line: {code('Text | https://link')}"
    )
    row: list[Button] = [BACK, ("No buttons →", "no_buttons", 0)]
    if message.buttons:
        text += f"\nIt has {len(message.buttons)}: send new ones, or keep them."
        row.append(KEEP)
    await step.go(Broadcast.buttons, text, keyboard(row))


async def show_preview(step: Step) -> None:
    """Each target's message as a real member of it would get it (links untracked)."""
    await step.state.set_state(Broadcast.preview)
    await step.save()
    campaign = Campaign(name=step.draft.name or "")
    now = step.clock()
    for target in step.draft.targets():
        message = step.draft.messages[target.label]
        member = await sample_member(
            step.session, target, now=now, rfm_names=step.services.rfm_names
        )
        context = (
            None
            if member is None
            else await subscriber_context(step.session, subscriber_id=member.id, campaign=campaign)
        )
        who = (
            "a sample subscriber (no member yet)"
            if member is None
            else (f"{escape(member.first_name or 'a member')} ({member.telegram_id})")
        )
        failed = f"Preview for {bold(target.label)} failed:"
        try:  # as the sender checks each subscriber's: skipped there, shown failing here
            body = render(
                compile_template(message.body), replace(context or SAMPLE, segment=target.label)
            )
            check_fits(body, caption=message.photo is not None)
            plain_text(body)
        except (TemplateError, TelegramHtmlError) as error:
            await step.chat.answer(f"{failed} {escape(str(error))}")
            continue
        await step.chat.answer(f"Preview for {bold(target.label)}, as {who} will see it:")
        buttons = [[InlineKeyboardButton(text=b.text, url=b.url)] for b in message.buttons if b.url]
        markup = InlineKeyboardMarkup(inline_keyboard=buttons) if buttons else None
        try:
            if message.photo is not None:
                await step.chat.answer_photo(
                    message.photo, caption=body or None, reply_markup=markup
                )
            else:
                await step.chat.answer(body, reply_markup=markup)
        except TelegramBadRequest as error:
            await step.chat.answer(f"{failed} Telegram refused it: {escape(error.message)}")
    await step.prompted(
        await step.chat.answer(
            f"Every message also gets an {escape(UNSUBSCRIBE_TEXT)} button. Good to go?",
            reply_markup=keyboard([BACK, ("Looks good →", "preview_ok", 0)]),
        )
    )


async def is_prompt(state: FSMContext, message: Message) -> bool:
    """Whether `message` is the one the wizard takes buttons from now (a wizard started
    before prompts were remembered takes any)."""
    prompt = (await state.get_data()).get(PROMPT)
    return prompt is None or prompt == message.message_id


async def ask_when(step: Step) -> None:
    buttons = [[(label, "when", index)] for index, label in enumerate(WHEN_LABELS.values())]
    await step.go(Broadcast.when, "When should it go out?", keyboard(*buttons, [BACK]))


async def ask_when_detail(step: Step) -> None:
    when = step.draft.when or When.AT
    await step.go(Broadcast.when_detail, escape(WHEN_ASKS[when]), keyboard([BACK]))


async def ask_confirm(step: Step) -> None:
    draft = step.draft
    targets = draft.targets()
    counts = await audience_counts(
        step.session, targets, now=step.clock(), rfm_names=step.services.rfm_names
    )
    lines = [
        bold(f"Campaign {draft.name}"),
        f"Approach: {APPROACH_LABELS[draft.approach or Approach.SEGMENTS]}",
    ]
    for target, count in zip(targets, counts, strict=True):
        audience = target.segment or f"rule {excerpt(target.query or '', QUOTED)}"
        kind = "photo" if draft.messages[target.label].photo else "text"
        lines.append(f"• {escape(target.label)}: {count:,} ({escape(audience)}, {kind})")
    when = "-" if draft.schedule is None else describe_schedule(draft.schedule)
    lines.append(f"Audience: {bold(f'{sum(counts):,} subscribers')} · sends {escape(when)}")
    await step.go(
        Broadcast.confirm,
        "\n".join(lines),
        keyboard([BACK, ("✖ Cancel", "cancel", 0), ("✅ Confirm", "confirm", 0)]),
    )
