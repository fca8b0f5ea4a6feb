"""The Segments page's AI section: the AI segments with their profiles and a chart of their
sizes, generating or regenerating them, the personas with their audiences, and a persona
made from an AI segment.

The same service calls as the chat's /ai_segments, /persona_from and /persona_delete
(`bot.admin.ai_commands`, `bot.admin.persona_commands`), run within the request as the
chat runs them: a generation may take a minute on a large audience (the page says so
while it works). `generate` refuses to replace AI segments; `regenerate` replaces them.
"""

import re
from dataclasses import dataclass
from functools import partial
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.admin.ai_commands import MAX_K, SECTIONS, TRAITS_SHOWN
from bot.admin.permissions import Permission
from bot.admin.segment_deletion import refuse_if_used
from bot.console.context import audit, posted, render, requires, services
from bot.console.segment_list import list_context
from core.errors import SegbotError
from segments.ai.config import AiConfig
from segments.ai.generate import Generation, generate_ai_segments
from segments.ai.llm import language_model
from segments.ai.personas import (
    MAX_PERSONA_TARGETS,
    UnknownPersonaError,
    delete_persona,
    list_personas,
    persona_from_segment,
)
from segments.ai.profiles import HOW_TO_READ
from segments.models import Persona, Segment, SegmentKind, SegmentProfile
from segments.rules import RuleError

_WHERE = re.compile(r"\bwhere\b", re.IGNORECASE)  # a description's audience rule follows it
EXIST_ALREADY = (
    "AI segments exist already: Regenerate replaces all of them (and personas made from "
    "them lose their source)."
)


@dataclass(frozen=True, slots=True)
class AiSegment:
    name: str
    size: int
    share: float | None  # of the audience when generated
    sections: list[tuple[str, str]]  # (section, its strongest traits)
    pain_points: str
    send: str  # the format, tone and offer to send them


@dataclass(frozen=True, slots=True)
class PersonaRow:
    id: int
    name: str
    audience: str  # its segment or rule
    lost: bool  # its source segment is gone (AI segments regenerated)
    format: str
    tone: str
    problem: str
    offer: str


def _texts(profile: dict[str, Any], key: str) -> list[str]:
    value = profile.get(key)
    return [str(item) for item in value] if isinstance(value, list) else []


def _ai_segment(name: str, size: int | None, profile: dict[str, Any]) -> AiSegment:
    share = profile.get("share")
    sections = [
        (section.capitalize(), "; ".join(_texts(profile, section)[:TRAITS_SHOWN]) or "-")
        for section in SECTIONS
    ]
    advice = [str(profile.get(key, "-")).replace("_", " ") for key in ("preferred_format", "tone")]
    return AiSegment(
        name, size or 0, share if isinstance(share, float) else None, sections,
        "; ".join(_texts(profile, "pain_points")) or "-",
        f"{' · '.join(advice)} · offer {profile.get('offer', '-')}",
    )  # fmt: skip


def _persona_row(persona: Persona, sources: dict[int, str]) -> PersonaRow:
    if persona.rule_text is not None:
        audience = f"rule {persona.rule_text}"
    else:
        audience = f"segment {sources.get(persona.segment_id or 0, persona.source_segment)}"
    return PersonaRow(
        persona.id, persona.name, audience,
        persona.rule_text is None and persona.segment_id not in sources,
        persona.preferred_format.value.replace("_", " "), persona.tone, persona.main_problem,
        persona.best_offer,
    )  # fmt: skip


async def section_context(session: AsyncSession, config: AiConfig) -> dict[str, Any]:
    """What segments_ai.html takes: the AI segments, their chart, the personas, and
    segbot.yaml's numbers of segments (the form's defaults)."""
    rows = (
        await session.execute(
            select(Segment.name, Segment.size, SegmentProfile.profile)
            .join(SegmentProfile, SegmentProfile.segment_id == Segment.id)
            .where(Segment.kind == SegmentKind.AI)
            .order_by(Segment.size.desc(), Segment.name)
        )
    ).all()
    found = [_ai_segment(name, size, profile) for name, size, profile in rows]
    chart = {
        "type": "bar",
        "data": {
            # "AI 2", not the whole name: a phone's width holds no more beside the bars
            "labels": [segment.name.partition(":")[0] for segment in found],
            "datasets": [{"label": "members", "data": [segment.size for segment in found]}],
        },
        "options": {"indexAxis": "y", "plugins": {"legend": {"display": False}}},
    }
    personas = await list_personas(session)
    ids = [persona.segment_id for persona in personas if persona.segment_id is not None]
    named = await session.execute(select(Segment.id, Segment.name).where(Segment.id.in_(ids)))
    sources: dict[int, str] = dict(named.all())  # the source segments that still exist
    listed = [_persona_row(persona, sources) for persona in personas]
    return {
        "ai_segments": found, "ai_chart": chart if found else None, "how_to_read": HOW_TO_READ,
        "personas": listed, "max_personas": MAX_PERSONA_TARGETS, "k_min": config.k_min,
        "k_max": config.k_max, "max_k": MAX_K,
    }  # fmt: skip


async def _section(request: web.Request, *, status: int = 200, **context: Any) -> web.Response:
    async with services(request).sessionmaker() as session:
        shown = await section_context(session, services(request).services.ai)
        if "generation" in context:  # the new AI segments go in the list too
            shown |= await list_context(session)
    return render(request, "segments_ai.html", status=status, **shown | context)


def _clusters(text: str) -> int | None:
    """How many clusters a form asks for (blank: segbot.yaml's); ValueError saying why not."""
    if not text.strip():
        return None
    if not (text.strip().isascii() and text.strip().isdigit()) or not 2 <= int(text) <= MAX_K:
        raise ValueError(f"the number of segments is from 2 to {MAX_K}; got {text.strip()!r}")
    return int(text)


@requires(Permission.SEGMENTS)
async def generate(request: web.Request) -> web.Response:
    """POST verb=generate|regenerate [k_min k_max describe]: (re)generate AI segments."""
    console = services(request)
    form = await posted(request)
    replace = form.get("verb") == "regenerate"
    description = form.get("describe", "").strip() or None
    try:
        low, high = (_clusters(form.get(key, "")) for key in ("k_min", "k_max"))
    except ValueError as error:
        return await _section(request, status=422, ai_problem=str(error))
    async with console.sessionmaker() as session:
        existing = await session.scalar(
            select(Segment.id).where(Segment.kind == SegmentKind.AI).limit(1)
        )
    if existing is not None and not replace:
        return await _section(request, status=409, ai_problem=EXIST_ALREADY)
    try:
        result: Generation = await generate_ai_segments(
            console.sessionmaker, now=console.clock(), config=console.services.ai,
            k_min=low, k_max=high, description=description,
            model=language_model(console.settings),
            rfm_segments=console.services.rfm_names,
            check_removable=partial(refuse_if_used, rfm_segments=console.services.rfm_names),
        )  # fmt: skip
    except RuleError as error:  # in the audience rule after `where`
        where = _WHERE.split(description or "", maxsplit=1)[-1].strip()
        return await _section(
            request, status=422, ai_problem=str(error), ai_pointer=error.pointer(where)
        )
    except SegbotError as error:
        return await _section(request, status=422, ai_problem=str(error))
    await audit(request, "ai_segments", replace=replace, describe=description, k=result.k,
                removed=len(result.removed))  # fmt: skip
    return await _section(request, generation=result)


@requires(Permission.SEGMENTS)
async def persona_from(request: web.Request) -> web.Response:
    """POST segment [name]: a persona from an AI segment's profile."""
    console = services(request)
    form = await posted(request)
    segment = form.get("segment", "")
    try:
        async with console.sessionmaker() as session:
            persona = await persona_from_segment(
                session, segment=segment, now=console.clock(),
                name=form.get("name", "").strip() or None,
                model=language_model(console.settings), product=console.services.ai.product,
            )  # fmt: skip
    except SegbotError as error:
        return await _section(request, status=422, ai_problem=str(error))
    await audit(request, "persona_from", segment=segment, persona=persona.name)
    return await _section(request, made=persona.name)


@requires(Permission.SEGMENTS)
async def persona_delete(request: web.Request) -> web.Response:
    """DELETE a persona, by id; the section says so, or that it was gone already."""
    console = services(request)
    async with console.sessionmaker() as session:
        persona = await session.get(Persona, int(request.match_info["id"]))
        name = None if persona is None else persona.name
        if name is not None:
            try:
                await delete_persona(session, name=name)
            except UnknownPersonaError:  # deleted since it was looked up
                name = None
    if name is None:
        gone = "No such persona: it may have been deleted."
        return await _section(request, status=404, ai_problem=gone)
    await audit(request, "persona_delete", persona=name)
    return await _section(request, deleted_persona=name)
