"""Persona commands: `/personas` (the list), `/persona NAME` (the card), `/persona_from
SEGMENT [NAME]` (from an AI segment's profile), `/persona_create` (by hand, in one line:
`NAME | problem | format | tone | offer | segment or rule [| example customer]`) and
`/persona_delete NAME`.

Segment names may hold spaces: `/persona_from` takes the longest run of leading words that
names a segment (or `SEGMENT | NAME`). A persona's audience is its source segment or its
rule; one whose segment is gone (AI segments regenerated) says so.
"""

from collections.abc import Sequence
from html import escape

from sqlalchemy import select

from bot.admin.monospace import bold, code, pieces
from bot.admin.permissions import Permission
from bot.admin.registry import AdminCommand, Call, QueryError
from segments.ai.llm import language_model
from segments.ai.personas import (
    MAX_PERSONA_TARGETS,
    create_persona,
    delete_persona,
    get_persona,
    list_personas,
    persona_from_segment,
)
from segments.models import ContentFormat, Persona, Segment
from segments.rules import RuleError
from segments.saved import count_matching

CREATE_FIELDS = ("NAME", "problem", "format", "tone", "offer", "segment or rule")
EXAMPLE = "example customer"  # the optional last part
FORMATS = ", ".join(f.value.replace("_", " ") for f in ContentFormat)
MAX_NARRATIVE_SHOWN = 1000


async def _sources(call: Call, personas: Sequence[Persona]) -> dict[int, tuple[str, int]]:
    """The source segments that still exist: name and size by id."""
    ids = [p.segment_id for p in personas if p.segment_id is not None]
    if not ids:
        return {}
    rows = await call.session.execute(
        select(Segment.id, Segment.name, Segment.size).where(Segment.id.in_(ids))
    )
    return {segment_id: (name, size or 0) for segment_id, name, size in rows.all()}


def _audience(persona: Persona, sources: dict[int, tuple[str, int]]) -> str:
    if persona.rule_text is not None:
        return f"rule {code(persona.rule_text)}"
    if persona.segment_id in sources:
        name, size = sources[persona.segment_id]
        return f"segment {bold(name)} ({size:,} at the last refresh)"
    gone = escape(repr(persona.source_segment or "?"))
    return f"none: its segment {gone} is gone (regenerated or deleted); make it again"


def _format(persona: Persona) -> str:
    return persona.preferred_format.value.replace("_", " ")


async def personas_command(call: Call) -> None:
    if call.args:
        raise call.usage("/personas takes no arguments: /persona NAME shows one.")
    personas = await list_personas(call.session)
    if not personas:
        hint = (
            " /persona_from SEGMENT makes one from an AI segment; /persona_create by hand."
            if call.admin.can(Permission.SEGMENTS)
            else ""
        )
        await call.reply(f"No personas yet.{hint}")
        return
    sources = await _sources(call, personas)
    lines = [
        f"• {bold(p.name)}: {escape(_format(p))}, {escape(p.tone)} — {_audience(p, sources)}"
        for p in personas
    ]
    head = (
        f"{bold('Personas')} ({len(personas)}; a campaign targets up to "
        f"{MAX_PERSONA_TARGETS} in /broadcast)"
    )
    for text in pieces([head, *lines, "/persona NAME shows one."]):
        await call.reply(text)


async def card(call: Call, persona: Persona) -> str:
    sources = await _sources(call, [persona])
    lines = [bold(f"Persona {persona.name}"), f"Audience: {_audience(persona, sources)}"]
    if persona.rule_text is not None:
        members = await count_matching(
            call.session, rule_text=persona.rule_text, now=call.clock(),
            rfm_segments=call.services.rfm_names,
        )  # fmt: skip
        lines[-1] += f", {members:,} subscribers now"
    lines += [
        f"Main problem: {escape(persona.main_problem)}",
        f"Preferred format: {escape(_format(persona))}",
        f"Tone: {escape(persona.tone)}",
        f"Best offer: {escape(persona.best_offer)}",
        f"Example customer: {escape(persona.example_customer)}",
    ]
    if persona.narrative:
        lines.append(f"\n{escape(persona.narrative[:MAX_NARRATIVE_SHOWN])}")
    return "\n".join(lines)


async def persona_command(call: Call) -> None:
    if not call.args:
        raise call.usage("Give the persona's name.")
    persona = await get_persona(call.session, name=call.args)
    await call.reply(await card(call, persona))


async def _split_segment(call: Call) -> tuple[str, str | None]:
    """SEGMENT [NAME]: around a `|`, else the longest leading words naming a segment."""
    if "|" in call.args:
        segment, name = (part.strip() for part in call.args.split("|", 1))
        if not segment or not name:
            raise call.usage("Give both sides of the |: SEGMENT | NAME.")
        return segment, name
    names = set((await call.session.scalars(select(Segment.name))).all())
    words = call.args.split()
    for end in range(len(words), 0, -1):
        segment = " ".join(words[:end])
        if segment in names:
            return segment, " ".join(words[end:]) or None
    return call.args, None  # named as given in the error


async def persona_from_command(call: Call) -> None:
    if not call.args:
        raise call.usage("Give the AI segment to make the persona from.")
    segment, name = await _split_segment(call)
    persona = await persona_from_segment(
        call.session, segment=segment, now=call.clock(), name=name,
        model=language_model(call.settings), product=call.services.ai.product,
    )  # fmt: skip
    await call.reply(f"Saved.\n{await card(call, persona)}")


def _content_format(call: Call, text: str) -> ContentFormat:
    value = text.strip().lower().replace(" ", "_").replace("-", "_")
    try:
        return ContentFormat(value)
    except ValueError:
        raise call.usage(f"Unknown format {text.strip()!r}: use one of {FORMATS}.") from None


async def persona_create_command(call: Call) -> None:
    fields = [part.strip() for part in call.args.split("|")]
    parts = (
        f"{len(CREATE_FIELDS)} parts separated by |: {', '.join(CREATE_FIELDS)} "
        "(and an example customer if you like)"
    )
    if len(fields) not in (len(CREATE_FIELDS), len(CREATE_FIELDS) + 1):
        raise call.usage(f"Give {parts}; got {len(fields)}.")
    labels = (*CREATE_FIELDS, EXAMPLE)[: len(fields)]
    empty = [label for label, field in zip(labels, fields, strict=True) if not field]
    if empty:
        raise call.usage(f"The {empty[0]} part is empty: give {parts}.")
    name, problem, form, tone, offer, audience = fields[: len(CREATE_FIELDS)]
    known = await call.session.scalar(select(Segment.id).where(Segment.name == audience))
    example = fields[-1] if len(fields) > len(CREATE_FIELDS) else f"someone in {audience}"
    try:
        persona = await create_persona(
            call.session, name=name, main_problem=problem,
            preferred_format=_content_format(call, form), tone=tone, best_offer=offer,
            example_customer=example, now=call.clock(),
            segment=audience if known is not None else None,
            rule_text=None if known is not None else audience,
            rfm_segments=call.services.rfm_names,
        )  # fmt: skip
    except RuleError as error:
        raise QueryError(error, audience) from None
    await call.reply(f"Saved.\n{await card(call, persona)}")


async def persona_delete_command(call: Call) -> None:
    if not call.args:
        raise call.usage("Give the name of the persona to delete.")
    await delete_persona(call.session, name=call.args)
    await call.reply(
        f"Deleted persona {bold(call.args)}. Campaigns saved with it keep their audience."
    )


COMMANDS = (
    AdminCommand(
        "personas", Permission.REPORTS, "/personas", "The personas, with their audiences",
        personas_command,
    ),
    AdminCommand(
        "persona", Permission.REPORTS, "/persona NAME", "One persona's card", persona_command
    ),
    AdminCommand(
        "persona_from", Permission.SEGMENTS, "/persona_from SEGMENT [NAME]",
        "Make a persona from an AI segment's profile", persona_from_command,
    ),
    AdminCommand(
        "persona_create", Permission.SEGMENTS,
        "/persona_create NAME | problem | format | tone | offer | segment or rule",
        f"Make a persona by hand (format: {FORMATS})", persona_create_command,
    ),
    AdminCommand(
        "persona_delete", Permission.SEGMENTS, "/persona_delete NAME", "Delete a persona",
        persona_delete_command,
    ),
)  # fmt: skip
