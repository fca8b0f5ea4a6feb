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

from sqlalchemy import Select, func, select
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


async def names_told(
    session: AsyncSession,
    kind: Named,
    *,
    shown: int,
    listed_by: str,
    made_by: str,
    newest_first: bool = False,
) -> str:
    """The names of `kind` there are, for a reply: the first `shown` (campaigns oldest
    first, the others alphabetically; the newest first if asked), the rest counted with
    how to list them all (`listed_by`); with none, that there are none and how to make one
    (`made_by`). Only the names shown are read: a source may have thousands."""
    query = _names(kind, newest_first=newest_first)
    names = list((await session.scalars(query.limit(shown + 1))).all())
    if not names:
        return f"there are no {kind.value} yet ({made_by})"
    told = f"the {kind.value} are: {', '.join(names[:shown])}"
    if len(names) <= shown:
        return told
    total = await session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    return f"{told} and {int(total or 0) - shown} more ({listed_by})"


def _names(kind: Named, *, newest_first: bool) -> Select[str]:
    """Every name of `kind`, in order: campaigns (broadcasts; a journey's hidden ones are
    no one's to name) by id, the others by name; the newest first if asked."""
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
