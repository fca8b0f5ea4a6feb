"""Personas as campaign targets. A target `persona: NAME` in a campaign file reaches the
persona's audience: its source segment when that segment's name can be a campaign
target's, else the rule `in segment "..."`, or the persona's own rule. It is resolved
when the campaign is saved (`with_persona_targets`), so the saved campaign holds that
segment or rule and goes on reaching it whatever later happens to the persona. The chat
wizard and the console resolve the personas a marketer picks the same way
(`persona_audience`, labelled by `persona_label`).
"""

import re
from collections.abc import Collection

from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.spec import DEFAULT_LABEL, NAME_PATTERN, CampaignSpec, TargetSpec
from segments.ai.personas import PersonaAudience, PersonaError, persona_targets
from segments.rules import InSegment, to_text

QUERY_LABEL = "query"  # the wizard's label for its one-off query
MAX_LABEL = 64
_NOT_IN_LABEL = re.compile(r"[^A-Za-z0-9_.-]+")


def persona_label(name: str, taken: Collection[str]) -> str:
    """A campaign label for persona `name` (letters, digits, _ . -), unlike any in `taken`:
    "Deal hunters" -> "Deal_hunters", then "Deal_hunters_2"."""
    base = _NOT_IN_LABEL.sub("_", name).strip("_")[:MAX_LABEL] or "persona"
    if base in (DEFAULT_LABEL, QUERY_LABEL):
        base = f"{base}_persona"
    label, number = base, 1
    while label in taken:
        number += 1
        suffix = f"_{number}"
        label = base[: MAX_LABEL - len(suffix)] + suffix
    return label


def persona_audience(audience: PersonaAudience) -> tuple[str | None, str | None]:
    """The (segment, query) of a campaign target reaching `audience`: exactly one is set."""
    if audience.segment is not None and NAME_PATTERN.match(audience.segment):
        return audience.segment, None
    if audience.segment is not None:
        return None, to_text(InSegment(audience.segment))
    return None, audience.rule_text


async def with_persona_targets(session: AsyncSession, spec: CampaignSpec) -> CampaignSpec:
    """`spec` with each `persona:` target turned into its segment or rule, labelled as
    given or after the persona; PersonaError (naming the target) for a persona that is
    not there, or whose source segment is gone."""
    names = [target.persona for target in spec.audience if target.persona is not None]
    if not names:
        return spec
    try:
        audiences = iter(await persona_targets(session, names=names))
    except PersonaError as error:
        raise type(error)(f"audience: {error}") from None
    taken = [target.label or target.name for target in spec.audience if target.persona is None]
    audience: list[TargetSpec] = []
    for target in spec.audience:
        if target.persona is not None:
            segment, query = persona_audience(next(audiences))
            label = target.label or persona_label(target.persona, taken)
            taken.append(label)
            target = target.model_copy(
                update={"persona": None, "segment": segment, "query": query, "label": label}
            )
        audience.append(target)
    return spec.model_copy(update={"audience": audience})
