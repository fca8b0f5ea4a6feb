"""A name nothing has: the command fails (exit 1) saying so, with the names there are.

A segment, campaign, persona or CRM connector named wrong is a mistake the person can fix
at once when told what exists: "no segment named 'nope'; the segments are: buyers,
spanish". `cli.execution.on_database` passes every domain error through `known_names`,
so no command has to remember to; a kind that has nothing to list (a run id, a
subscriber) still exits 1, with its own message. Which names there are, and how they are
listed, is journeys/known_names.py's, shared with the admin chat; the words here are the
command line's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.errors import SegbotError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

SHOWN = 20  # names listed at most; the rest are counted


class UnknownNameError(SegbotError):
    """No such segment, campaign, persona, connector, run or subscriber; the message says
    which names there are, when they can be listed."""


@dataclass(frozen=True, slots=True)
class _Advice:
    """The command line's words for a kind of name (journeys.known_names lists them)."""

    listed_by: str  # the command that lists them all
    made_by: str  # how to make a first one


_ADVICE = {
    "segments": _Advice("segbot segments list", "segbot segments save NAME RULE"),
    "campaigns": _Advice("segbot campaign list", "segbot campaign create FILE.yaml"),
    "journeys": _Advice("segbot journey list", "segbot journey create FILE.yaml"),
    "personas": _Advice("segbot personas list", "segbot personas create NAME ..."),
}


async def known_names(
    error: SegbotError, sessionmaker: async_sessionmaker[AsyncSession]
) -> SegbotError:
    """`error` as an UnknownNameError with the names there are, when it is about a name
    nothing has; otherwise `error` itself."""
    if isinstance(error, UnknownNameError) or not _is_not_found(error):
        return error
    from journeys.known_names import named_by, names_told

    kind = named_by(error)
    if kind is None:
        return UnknownNameError(str(error))
    advice = _ADVICE[kind.value]
    async with sessionmaker() as session:
        told = await names_told(
            session, kind, shown=SHOWN, listed_by=advice.listed_by, made_by=advice.made_by
        )
    return UnknownNameError(f"{error}; {told}")


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
