"""The broadcast wizard's personas approach: the picker (at most `MAX_PERSONAS`, in order
of priority), the chosen personas turned into campaign targets, and the optional rewrite
of one message for each persona by the language model (`SEGBOT_LLM_*`; without one, the
reply says it needs one)."""

from html import escape

from aiogram.types import InlineKeyboardMarkup

from bot.admin import audit
from bot.admin.draft import MAX_PERSONAS, Draft, DraftError
from bot.admin.wizard_steps import (
    BACK,
    MAX_OFFERED,
    Broadcast,
    Button,
    Step,
    keyboard,
    show_preview,
)
from broadcasts.templates.check import TemplateDraft, check_templates
from core.errors import SegbotError
from segments.ai.llm import language_model
from segments.ai.personas import get_persona, list_personas, persona_targets
from segments.ai.writing import rewrite_for_personas


async def ask_personas(step: Step) -> None:
    names = [persona.name for persona in await list_personas(step.session)]
    step.draft.offered = names[:MAX_OFFERED]
    if not step.draft.offered:
        await step.go(
            Broadcast.personas,
            "There are no personas yet: make one with /persona_from SEGMENT or "
            "/persona_create, or go back and choose segments or a query.",
            keyboard([BACK]),
        )
        return
    await step.go(Broadcast.personas, personas_text(step.draft), personas_keyboard(step.draft))


def personas_text(draft: Draft) -> str:
    chosen = ", ".join(draft.personas) or "none yet"
    return (
        f"Tap up to {MAX_PERSONAS} personas to message, in order of priority (someone who "
        "fits two gets the first one's message); each gets a message of its own. "
        f"Chosen: {escape(chosen)}"
    )


def personas_keyboard(draft: Draft) -> InlineKeyboardMarkup:
    rows: list[list[Button]] = [
        [(("✓ " if name in draft.personas else "") + name, "persona", index)]
        for index, name in enumerate(draft.offered)
    ]
    done: list[Button] = [("Done →", "personas_done", 0)] if draft.personas else []
    return keyboard(*rows, [BACK, *done])


async def toggle(step: Step, value: int) -> None:
    """A persona's button: choose it, or drop it when chosen."""
    step.draft.toggle_persona(step.draft.offered[value])
    await step.redraw(personas_text(step.draft), personas_keyboard(step.draft))


async def resolve(step: Step) -> None:
    """The chosen personas as targets: each one's source segment or rule, now (a persona
    whose AI segment was regenerated away is named in the reply)."""
    audiences = await persona_targets(step.session, names=step.draft.personas)
    step.draft.resolve_personas(audiences)


async def rewrite(step: Step, value: int) -> None:
    """The rewrite button: every remaining persona's message from the first one's, then
    the previews; audited, since the message goes to the language model."""
    outcome = "failed"
    try:
        await rewrite_remaining(step)
        outcome = "ok"
    except SegbotError as error:
        outcome = f"refused: {error}"
        raise
    finally:
        await audit.record(
            step.sessionmaker, admin_id=step.admin.user_id, action="campaign.rewrite",
            now=step.clock(), target=f"draft {step.draft.name}", outcome=outcome,
        )  # fmt: skip
    await show_preview(step)


async def rewrite_remaining(step: Step) -> None:
    """The first persona's message, rewritten by the language model for each persona
    from the current one on (photo and buttons kept); each rewrite is checked like a
    message the admin typed."""
    draft = step.draft
    targets = draft.targets()
    source = draft.messages.get(targets[0].label)
    if source is None:
        raise DraftError(f"Write the message for {targets[0].label} first.")
    remaining = targets[draft.target :]
    personas = [await get_persona(step.session, name=t.persona or t.label) for t in remaining]
    model = language_model(step.settings)
    if model is not None:
        await step.chat.answer("Asking the language model to rewrite it for each persona…")
    variants = await rewrite_for_personas(
        model,
        message=source.body,
        personas=personas,
        product=step.services.ai.product,
    )
    caption = source.photo is not None
    bodies = {t.label: variants[p.name] for t, p in zip(remaining, personas, strict=True)}
    await check_templates([TemplateDraft(b, caption, place=t) for t, b in bodies.items()])
    field = "caption" if caption else "text"
    rewritten = {
        label: source.model_copy(update={field: body}, deep=True) for label, body in bodies.items()
    }
    draft.messages |= rewritten
