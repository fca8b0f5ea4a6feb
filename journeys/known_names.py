"""The names there are, for an error about a name nothing has: "no journey named 'nope'"
is fixed at once when the reply goes on "; the journeys are: series".

Both faces answer so: the command line (cli/unknown_names.py) and the admin chat
(bot/admin/unknown_names.py). Which errors are about which names, which names there are
and how they are listed is decided here, once; each face says how to list them all and how
to make a first one in its own words. It lives in journeys/, the lowest layer that sees
segments, campaigns, personas and journeys alike, so both faces may import it.
"""

from __future__ import annotations

from enum import Enum

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.campaigns import UnknownCampaignError
from broadcasts.models import Campaign, CampaignKind
from core.errors import SegbotError
from journeys.models import Journey
from journeys.store import UnknownJourneyError
from segments.ai.personas import UnknownPersonaError
from segments.models import Persona, Segment
from segments.saved import UnknownSegmentError


class Named(Enum):
    """What an unknown name was meant to name; the value is its plural."""

    SEGMENTS = "segments"
    CAMPAIGNS = "campaigns"
    JOURNEYS = "journeys"
    PERSONAS = "personas"


def named_by(error: SegbotError) -> Named | None:
    """What `error` found no name of, when its names can be listed."""
    kinds: list[tuple[type[SegbotError], Named]] = [
        (UnknownSegmentError, Named.SEGMENTS),
        (UnknownCampaignError, Named.CAMPAIGNS),
        (UnknownJourneyError, Named.JOURNEYS),
        (UnknownPersonaError, Named.PERSONAS),
    ]
    return next((kind for error_type, kind in kinds if isinstance(error, error_type)), None)


async def names_of(session: AsyncSession, kind: Named, *, newest_first: bool = False) -> list[str]:
    """Every name of `kind`: campaigns (broadcasts; a journey's hidden ones are no one's to
    name) oldest first, the others alphabetically; the newest first if asked."""
    return list((await session.scalars(_names(kind, newest_first=newest_first))).all())


def _names(kind: Named, *, newest_first: bool) -> Select[str]:
    models: dict[Named, type[Segment | Campaign | Journey | Persona]] = {
        Named.SEGMENTS: Segment,
        Named.CAMPAIGNS: Campaign,
        Named.JOURNEYS: Journey,
        Named.PERSONAS: Persona,
    }
    model = models[kind]
    query = select(model.name)
    if kind is Named.CAMPAIGNS:
        query = query.where(Campaign.kind == CampaignKind.BROADCAST)
    if newest_first:
        return query.order_by(model.id.desc())
    return query.order_by(model.id if kind is Named.CAMPAIGNS else model.name)


def listed(kind: Named, names: list[str], *, shown: int, listed_by: str, made_by: str) -> str:
    """`names` for a reply: the first `shown`, the rest counted with how to list them all
    (`listed_by`); with none, that there are none and how to make one (`made_by`)."""
    if not names:
        return f"there are no {kind.value} yet ({made_by})"
    more = len(names) - shown
    return f"the {kind.value} are: {', '.join(names[:shown])}" + (
        f" and {more} more ({listed_by})" if more > 0 else ""
    )
