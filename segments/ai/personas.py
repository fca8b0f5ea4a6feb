"""Personas: actionable profiles a campaign can target (up to `MAX_PERSONA_TARGETS`).

A persona's audience is its source segment (one made by hand, or an AI segment it was
created from) or its own rule. Created from an AI segment, its fields come from the
segment's profile: main problem = the first pain point, preferred format, tone and best
offer as the profile derived them, the example customer a composite of the cluster's
strongest traits (never a real subscriber); with a language model, a narrative too.

For campaigns: `check_persona_targets(names)` enforces the limit, and
`persona_targets(session, names=...)` turns names into audiences the planner takes
(`PersonaAudience.segment` or `.rule_text`, as a campaign target's).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import SegbotError
from segments.ai.llm import LanguageModel
from segments.ai.writing import narrative
from segments.models import ContentFormat, Persona, Segment, SegmentKind, SegmentProfile
from segments.rfm.scoring import DEFAULT_SEGMENT_MAP
from segments.rules import parse, to_text
from segments.rules.compiler import condition
from segments.saved import MAX_NAME, RfmNames, get_segment, saved_rules

MAX_PERSONA_TARGETS = 5
MAX_TEXT = 500
MAX_TONE = 64  # the tone's column


class PersonaError(SegbotError):
    """A persona cannot be saved or used as given."""


class UnknownPersonaError(PersonaError):
    """No persona has that name."""


class TooManyPersonasError(PersonaError):
    """A campaign targets more personas than allowed."""


@dataclass(frozen=True, slots=True)
class PersonaAudience:
    """What a campaign target needs: a label and exactly one of a segment or a rule."""

    label: str
    segment: str | None
    rule_text: str | None


def check_persona_targets(names: Sequence[str]) -> None:
    """A campaign may target 1-5 different personas; TooManyPersonasError or
    PersonaError otherwise."""
    if len(names) > MAX_PERSONA_TARGETS:
        raise TooManyPersonasError(
            f"a campaign targets at most {MAX_PERSONA_TARGETS} personas; {len(names)} given"
        )
    if not names:
        raise PersonaError("name at least one persona to target")
    repeated = sorted({name for name in names if list(names).count(name) > 1})
    if repeated:
        raise PersonaError(f"persona {repeated[0]!r} is named twice")


async def persona_targets(session: AsyncSession, *, names: Sequence[str]) -> list[PersonaAudience]:
    """The audiences of the personas `names`, in order, after `check_persona_targets`."""
    check_persona_targets(names)
    return [await persona_audience(session, await get_persona(session, name=n)) for n in names]


async def persona_audience(session: AsyncSession, persona: Persona) -> PersonaAudience:
    """The persona's source segment or its rule; PersonaError when its source segment
    is gone (deleted, or replaced by a regeneration or a new lookalike of its name) and it
    has no rule."""
    if persona.rule_text is not None:
        return PersonaAudience(persona.name[:MAX_NAME], None, persona.rule_text)
    segment = None if persona.segment_id is None else await session.get(Segment, persona.segment_id)
    if segment is None:
        raise PersonaError(
            f"persona {persona.name!r} lost its source segment {persona.source_segment!r} "
            "(it was deleted, or replaced by a regeneration or a new lookalike): create it "
            "again from a segment, or give it a rule"
        )
    return PersonaAudience(persona.name[:MAX_NAME], segment.name, None)


async def create_persona(
    session: AsyncSession,
    *,
    name: str,
    main_problem: str,
    preferred_format: ContentFormat,
    tone: str,
    best_offer: str,
    example_customer: str,
    now: datetime,
    segment: str | None = None,
    rule_text: str | None = None,
    rfm_segments: RfmNames = DEFAULT_SEGMENT_MAP.names,
) -> Persona:
    """Save a persona made by hand, for a segment or a rule (exactly one); commits."""
    if (segment is None) == (rule_text is None):
        raise PersonaError("a persona's audience is a segment or a rule: give exactly one")
    source = None if segment is None else await get_segment(session, name=segment)
    if rule_text is not None:
        rules = await saved_rules(session, rfm_segments=rfm_segments)
        rule = parse(rule_text, rfm_segments=rfm_segments)
        condition(rule, now=now, segments=rules)  # a missing segment reference fails here
        rule_text = to_text(rule)
    persona = Persona(
        name=_checked_name(name), segment_id=source.id if source else None,
        source_segment=source.name if source else None, rule_text=rule_text,
        main_problem=_text(main_problem, "main problem"), preferred_format=preferred_format,
        tone=_text(tone, "tone", limit=MAX_TONE), best_offer=_text(best_offer, "best offer"),
        example_customer=_text(example_customer, "example customer"),
        created_at=now, updated_at=now,
    )  # fmt: skip
    return await _save(session, persona)


async def persona_from_segment(
    session: AsyncSession,
    *,
    segment: str,
    now: datetime,
    name: str | None = None,
    model: LanguageModel | None = None,
    product: str = "the shop's products",
) -> Persona:
    """A persona from an AI segment's profile (named after it unless `name`); commits."""
    source = await get_segment(session, name=segment)
    stored = await session.get(SegmentProfile, source.id)
    if source.kind is not SegmentKind.AI or stored is None:
        raise PersonaError(f"{segment!r} is not an AI segment: create the persona by hand")
    profile = stored.profile
    persona = Persona(
        name=_checked_name(name or source.name), segment_id=source.id,
        source_segment=source.name, main_problem=profile["pain_points"][0],
        preferred_format=ContentFormat(profile["preferred_format"]), tone=profile["tone"],
        best_offer=profile["offer"], example_customer=example_customer(profile),
        created_at=now, updated_at=now,
    )  # fmt: skip
    if model is not None:
        persona.narrative = await narrative(model, persona, product=product)
    return await _save(session, persona)


def example_customer(profile: dict[str, object]) -> str:
    """A composite of the cluster's strongest traits: "Someone like: ES; deals; ..."."""
    traits = profile.get("traits")
    strongest = traits[:4] if isinstance(traits, list) else []
    labels = [str(trait["label"]) for trait in strongest if isinstance(trait, dict)]
    stage = str(profile.get("stage", "unaware")).replace("_", " ")
    return f"someone like: {', '.join(labels) or 'a typical subscriber'} ({stage})"


async def list_personas(session: AsyncSession) -> list[Persona]:
    return list((await session.scalars(select(Persona).order_by(Persona.name))).all())


async def get_persona(session: AsyncSession, *, name: str) -> Persona:
    persona = await session.scalar(select(Persona).where(Persona.name == name))
    if persona is None:
        raise UnknownPersonaError(f"no persona named {name!r}")
    return persona


async def delete_persona(session: AsyncSession, *, name: str) -> None:
    """Delete persona `name`; commits. UnknownPersonaError if there is none. A campaign
    that targeted it keeps its audience: that was taken when the campaign was saved."""
    await session.delete(await get_persona(session, name=name))
    await session.commit()


async def _save(session: AsyncSession, persona: Persona) -> Persona:
    if await session.scalar(select(Persona.id).where(Persona.name == persona.name)) is not None:
        raise PersonaError(f"a persona named {persona.name!r} exists already")
    session.add(persona)
    await session.commit()
    return persona


def _checked_name(name: str) -> str:
    name = name.strip()
    if not (0 < len(name) <= MAX_NAME and name.isprintable()):
        raise PersonaError(f"a persona name is 1-{MAX_NAME} printable characters")
    return name


def _text(value: str, what: str, *, limit: int = MAX_TEXT) -> str:
    value = value.strip()
    if not 0 < len(value) <= limit:
        raise PersonaError(f"the {what} is 1-{limit} characters")
    return value
