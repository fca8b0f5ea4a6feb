"""A name nothing has: the command fails (exit 1) saying so, with the names there are.

A segment, campaign, persona or CRM connector named wrong is a mistake the person can fix
at once when told what exists: "no segment named 'nope'; the segments are: buyers,
spanish". `cli.execution.on_database` passes every domain error through `known_names`,
so no command has to remember to; a kind that has nothing to list (a run id, a
subscriber) still exits 1, with its own message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.errors import SegbotError

if TYPE_CHECKING:
    from sqlalchemy import Select
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

SHOWN = 20  # names listed at most; the rest are counted


class UnknownNameError(SegbotError):
    """No such segment, campaign, persona, connector, run or subscriber; the message says
    which names there are, when they can be listed."""


@dataclass(frozen=True, slots=True)
class _Kind:
    plural: str  # "segments"
    names: Select[str]  # every name there is, in order
    listed_by: str  # the command that lists them all
    made_by: str  # how to make a first one


async def known_names(
    error: SegbotError, sessionmaker: async_sessionmaker[AsyncSession]
) -> SegbotError:
    """`error` as an UnknownNameError with the names there are, when it is about a name
    nothing has; otherwise `error` itself."""
    if isinstance(error, UnknownNameError) or not _is_not_found(error):
        return error
    kind = _kind(error)
    if kind is None:
        return UnknownNameError(str(error))
    async with sessionmaker() as session:
        names = list((await session.scalars(kind.names)).all())
    return UnknownNameError(f"{error}; {_listed(kind, names)}")


def _listed(kind: _Kind, names: list[str]) -> str:
    if not names:
        return f"there are no {kind.plural} yet ({kind.made_by})"
    shown = ", ".join(names[:SHOWN])
    more = len(names) - SHOWN
    return f"the {kind.plural} are: {shown}" + (
        f" and {more} more ({kind.listed_by})" if more > 0 else ""
    )


def _is_not_found(error: SegbotError) -> bool:
    from broadcasts.campaigns import UnknownCampaignError
    from broadcasts.unknowns import NoSuchRunError
    from crm_sync.config import UnknownConnectorError
    from journeys.store import UnknownJourneyError
    from segments.ai.personas import UnknownPersonaError
    from segments.explain import UnknownSubscriberError
    from segments.saved import UnknownSegmentError

    return isinstance(
        error,
        UnknownCampaignError
        | UnknownJourneyError
        | NoSuchRunError
        | UnknownConnectorError  # its message names the connectors configured
        | UnknownPersonaError
        | UnknownSubscriberError
        | UnknownSegmentError,
    )


def _kind(error: SegbotError) -> _Kind | None:
    from sqlalchemy import select

    from broadcasts.campaigns import UnknownCampaignError
    from broadcasts.models import Campaign, CampaignKind
    from journeys.models import Journey
    from journeys.store import UnknownJourneyError
    from segments.ai.personas import UnknownPersonaError
    from segments.models import Persona, Segment
    from segments.saved import UnknownSegmentError

    if isinstance(error, UnknownSegmentError):
        return _Kind(
            "segments",
            select(Segment.name).order_by(Segment.name),
            "segbot segments list",
            "segbot segments save NAME RULE",
        )
    if isinstance(error, UnknownCampaignError):
        return _Kind(
            "campaigns",
            select(Campaign.name)
            .where(Campaign.kind == CampaignKind.BROADCAST)
            .order_by(Campaign.id),
            "segbot campaign list",
            "segbot campaign create FILE.yaml",
        )
    if isinstance(error, UnknownJourneyError):
        return _Kind(
            "journeys",
            select(Journey.name).order_by(Journey.name),
            "segbot journey list",
            "segbot journey create FILE.yaml",
        )
    if isinstance(error, UnknownPersonaError):
        return _Kind(
            "personas",
            select(Persona.name).order_by(Persona.name),
            "segbot personas list",
            "segbot personas create NAME ...",
        )
    return None
