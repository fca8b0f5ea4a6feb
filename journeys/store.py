"""Saving journeys and changing their status: the service functions the CLI (and the admin
chat) call. Each commits, and writes its audit entry in the same transaction.

Saving checks everything that can be checked before anyone enters: every template (as a
campaign's are: broadcasts.templates.check), every segment name and rule (entry, if
steps, send audiences, segment triggers) against the saved segments, RFM segment and
ladder stage names. A problem saves nothing.

Saving a journey that exists makes a new version: whoever enters from then on follows it.
People already inside stay on the version they entered (`move=False`, the default), or
(`move=True`) move to the new version at the step with the same id, carrying on with that
step when it was due; those whose step the new version lacks stay on their version.

`actor` is who did it, as the audit log records admins: a Telegram user id, or CLI_ACTOR
for the command line. Roles are the caller's to check: changing a journey is the
campaigns permission, looking at one the reports permission (bot.admin.permissions).
"""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.models import Delivery, DeliveryStatus, Run
from broadcasts.templates import SAMPLE_TRACKED_URL
from broadcasts.templates.check import check_templates
from core.errors import NotPossibleError, SegbotError
from core.models import AuditLog
from journeys.checks import check_names
from journeys.feed import begin_feeds
from journeys.messages import hidden_campaign, template_drafts
from journeys.models import (
    Enrolment,
    EnrolmentStatus,
    ExitReason,
    Journey,
    JourneyStatus,
    JourneyVersion,
    ending,
)
from journeys.spec import JourneySpec, SourceLines
from segments.rfm.scoring import DEFAULT_SEGMENT_MAP

CLI_ACTOR = 0  # the audit log's admin for changes made with the `segbot` command


class UnknownJourneyError(SegbotError):
    """No journey has that name."""


class JourneyStateError(NotPossibleError):
    """The journey is not in a state that allows this (e.g. resuming a live one)."""


@dataclass(frozen=True, slots=True)
class SavedJourney:
    journey: Journey
    version: JourneyVersion
    moved: int  # people inside moved to this version (with move=True)


async def save_journey(
    session: AsyncSession,
    *,
    spec: JourneySpec,
    source: str,
    now: datetime,
    actor: int,
    public_url: str | None = None,
    rfm_segments: Collection[str] = DEFAULT_SEGMENT_MAP.names,
    move: bool = False,
) -> SavedJourney:
    """Check and save the journey (live when new), or a new version of it; commits."""
    link = SAMPLE_TRACKED_URL if public_url is None else f"{public_url}/r/{'x' * 40}"
    lines = SourceLines(source)
    await check_templates(template_drafts(spec, lines), link=link)
    await check_names(session, spec, now=now, rfm_segments=rfm_segments, lines=lines)
    journey = await _counted_up(session, spec.name, now)
    campaign = hidden_campaign(spec, version=journey.version, now=now)
    session.add(campaign)
    await session.flush()
    version = JourneyVersion(
        journey_id=journey.id, version=journey.version, spec=spec.stored(), source=source,
        campaign_id=campaign.id, created_at=now,
    )  # fmt: skip
    session.add(version)
    await session.flush()
    moved = await _move_inside(session, journey, version, spec) if move else 0
    audit(
        session, actor, "journey.save", now, journey=spec.name, version=journey.version,
        moved=moved,
    )  # fmt: skip
    await session.commit()
    return SavedJourney(journey, version, moved)


async def _counted_up(session: AsyncSession, name: str, now: datetime) -> Journey:
    """The journey named (created live when new) with its version counted up by the
    database, not from a version read before: two saves at the same moment (two admins, or
    a read SQLite took before another save committed) make two versions one after the
    other, never the same version twice (a bare IntegrityError). The new one waits for the
    other's commit: its INSERT on the unique name, its UPDATE on the row."""
    if await session.scalar(select(Journey.id).where(Journey.name == name)) is None:
        await begin_feeds(session, now)
        session.add(
            Journey(
                name=name, status=JourneyStatus.LIVE, version=0, created_at=now,
                updated_at=now, checked_at=now,
            )
        )  # fmt: skip
        try:
            await session.flush()
        except IntegrityError:  # the same journey's first save got there first
            await session.rollback()
            return await _counted_up(session, name, now)
    counted = await session.execute(
        update(Journey)
        .where(Journey.name == name, Journey.status != JourneyStatus.ARCHIVED)
        .values(version=Journey.version + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if not counted.rowcount:  # type: ignore[attr-defined]
        await session.rollback()
        raise JourneyStateError(f"journey {name!r} is archived: save it under a new name")
    counted_row = select(Journey).where(Journey.name == name)
    return (await session.scalars(counted_row.execution_options(populate_existing=True))).one()


async def _move_inside(
    session: AsyncSession, journey: Journey, version: JourneyVersion, spec: JourneySpec
) -> int:
    """Move everyone inside whose step the new version has onto it (see the module
    docstring); how many moved."""
    waiting = {step.id: step.wait_for.kind.value for step in spec.steps if step.wait_for}
    waiting_for: Any = (
        case(
            *((Enrolment.step == step, literal(kind)) for step, kind in waiting.items()),
            else_=literal(None),
        )
        if waiting
        else None
    )
    moved = await session.execute(
        update(Enrolment)
        .where(
            Enrolment.journey_id == journey.id,
            Enrolment.status == EnrolmentStatus.ACTIVE,
            Enrolment.step.in_([step.id for step in spec.steps]),
        )
        .values(version_id=version.id, waiting_for=waiting_for)
        .execution_options(synchronize_session=False)
    )
    return int(moved.rowcount)  # type: ignore[attr-defined]


async def get_journey(session: AsyncSession, *, name: str) -> Journey:
    journey = await session.scalar(select(Journey).where(Journey.name == name))
    if journey is None:
        raise UnknownJourneyError(f"no journey named {name!r}")
    return journey


async def list_journeys(session: AsyncSession) -> list[Journey]:
    return list((await session.scalars(select(Journey).order_by(Journey.name))).all())


async def latest_version(session: AsyncSession, *, journey: Journey) -> JourneyVersion:
    found = await session.scalar(
        select(JourneyVersion).where(
            JourneyVersion.journey_id == journey.id, JourneyVersion.version == journey.version
        )
    )
    if found is None:
        raise LookupError(f"journey {journey.name!r} has no version {journey.version}")
    return found


_CHANGES = {
    # status wanted: (the statuses it may come from, the audit action, what may do it)
    JourneyStatus.PAUSED: ((JourneyStatus.LIVE,), "journey.pause", "a live journey"),
    JourneyStatus.LIVE: ((JourneyStatus.PAUSED,), "journey.resume", "a paused journey"),
    JourneyStatus.ARCHIVED: (
        (JourneyStatus.LIVE, JourneyStatus.PAUSED),
        "journey.archive",
        "a live or paused journey",
    ),
}


async def set_status(
    session: AsyncSession, *, name: str, status: JourneyStatus, now: datetime, actor: int
) -> int:
    """Pause, resume (LIVE) or archive the journey; commits. Archiving ends every
    enrolment inside (exit reason `archived`) and cancels the messages its steps queued
    that the sender has not taken; returns how many enrolments ended (else 0). The status
    changes only from one it may come from as the database holds it when it changes: of
    two changes at once, the second is refused if the first made it one it cannot follow."""
    journey = await get_journey(session, name=name)
    allowed, action, which = _CHANGES[status]
    changed = await session.execute(
        update(Journey)
        .where(Journey.id == journey.id, Journey.status.in_(allowed))
        .values(status=status, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(journey)
    if not changed.rowcount:  # type: ignore[attr-defined]
        found = journey.status
        await session.rollback()
        raise JourneyStateError(
            f"journey {name!r} is {found.value}: only {which} can be "
            f"{action.removeprefix('journey.')}d"
        )
    if status is JourneyStatus.LIVE:  # what came due while paused is skipped, not sent late
        journey.checked_at = now
        await _look_again(session, journey.id, now)
    ended = cancelled = 0
    if status is JourneyStatus.ARCHIVED:
        result = await session.execute(
            update(Enrolment)
            .where(Enrolment.journey_id == journey.id, Enrolment.status == EnrolmentStatus.ACTIVE)
            .values(ending(ExitReason.ARCHIVED, now))
        )
        ended = int(result.rowcount)  # type: ignore[attr-defined]
        cancelled = await _cancel_queued(session, journey.id)
    detail = {"ended": ended} | ({"cancelled": cancelled} if cancelled else {})
    audit(session, actor, action, now, journey=name, **detail)
    await session.commit()
    return ended


async def _cancel_queued(session: AsyncSession, journey_id: int) -> int:
    """Cancel the messages the journey's steps queued and the sender has not taken yet
    (those of everyone who left it on archiving); how many."""
    campaigns = select(JourneyVersion.campaign_id).where(JourneyVersion.journey_id == journey_id)
    result = await session.execute(
        update(Delivery)
        .where(
            Delivery.run_id.in_(select(Run.id).where(Run.campaign_id.in_(campaigns))),
            Delivery.status == DeliveryStatus.QUEUED,
        )
        .values(status=DeliveryStatus.CANCELLED)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def _look_again(session: AsyncSession, journey_id: int, now: datetime) -> None:
    """Wait_for steps are due now: what they wait for may have happened while the journey
    was paused (nothing woke them then); the others wait on for their time
    (journeys.steps)."""
    await session.execute(
        update(Enrolment)
        .where(
            Enrolment.journey_id == journey_id,
            Enrolment.status == EnrolmentStatus.ACTIVE,
            Enrolment.waiting_for.is_not(None),
            Enrolment.next_due_at > now,
        )
        .values(next_due_at=now)
        .execution_options(synchronize_session=False)
    )


def audit(session: AsyncSession, actor: int, action: str, now: datetime, **detail: Any) -> None:
    """An audit log entry in `session`, committed with the change it records."""
    session.add(AuditLog(admin_user_id=actor, action=action, detail=detail, occurred_at=now))
