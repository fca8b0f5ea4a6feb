"""Enrolling a saved segment by hand (`segbot journey enroll NAME SEGMENT`): its members
now, as the segment's rule selects them, enter the journey as a trigger would put them in
(entry rule, re-entry policy, holdout). Each enrolment is keyed by the segment and the
moment, to the second, so running it again later is a new trigger that the re-entry policy
judges, and running it twice within one second (a command sent twice) is one trigger."""

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Subscriber
from journeys.enrol import Candidate, Entered, enrol
from journeys.models import JourneyStatus
from journeys.spec import stored_spec
from journeys.store import JourneyStateError, audit, get_journey, latest_version
from segments.rfm.scoring import DEFAULT_SEGMENT_MAP
from segments.rules.compiler import condition
from segments.saved import UnknownSegmentError, saved_rules


async def enroll_segment(
    session: AsyncSession,
    *,
    name: str,
    segment: str,
    now: datetime,
    actor: int,
    rfm_segments: Collection[str] = DEFAULT_SEGMENT_MAP.names,
) -> Entered:
    """Enrol the segment's members into the live journey `name`; commits."""
    journey = await get_journey(session, name=name)
    if journey.status is not JourneyStatus.LIVE:
        raise JourneyStateError(f"journey {name!r} is {journey.status.value}: nobody enters it")
    version = await latest_version(session, journey=journey)
    rules = await saved_rules(session, rfm_segments=rfm_segments)
    if segment not in rules:
        raise UnknownSegmentError(f"no segment named {segment!r}")
    members = await session.scalars(
        select(Subscriber.id).where(condition(rules[segment], now=now, segments=rules))
    )
    key = f"manual:{segment}:{now:%Y%m%dT%H%M%S}"[:96]
    entered = await enrol(
        session, journey_id=journey.id, version_id=version.id, spec=stored_spec(version.spec),
        candidates=[Candidate(member, key) for member in members.all()], now=now, rules=rules,
        rfm_segments=rfm_segments,
    )  # fmt: skip
    audit(
        session, actor, "journey.enroll", now, journey=name, segment=segment,
        entered=entered.entered, holdout=entered.holdout,
    )  # fmt: skip
    await session.commit()
    return entered
