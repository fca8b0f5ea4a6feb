"""Where a journey stands: the counts `segbot journey list|show` print and the admin chat
can show (its people by enrolment status, where those inside are, how many each step has
happened to). Reports with messages, conversions and lift are journeys.reports'."""

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from journeys.models import Enrolment, EnrolmentStatus, Journey, JourneyStep
from journeys.spec import JourneySpec, stored_spec
from journeys.store import get_journey, latest_version


@dataclass(frozen=True, slots=True)
class JourneyState:
    journey: Journey
    spec: JourneySpec  # the latest version's (messages aside: journeys.spec.stored_spec)
    people: dict[EnrolmentStatus, int]  # enrolments by status
    here: dict[str, int]  # people inside, by the step they are at
    happened: dict[str, int]  # step log rows, by step (every version)

    @property
    def inside(self) -> int:
        return self.people.get(EnrolmentStatus.ACTIVE, 0)

    @property
    def entered(self) -> int:
        return sum(self.people.values())


async def journey_state(session: AsyncSession, *, name: str) -> JourneyState:
    journey = await get_journey(session, name=name)
    return await state_of(session, journey)


async def state_of(session: AsyncSession, journey: Journey) -> JourneyState:
    spec = stored_spec((await latest_version(session, journey=journey)).spec)
    theirs = Enrolment.journey_id == journey.id
    people = await session.execute(
        select(Enrolment.status, func.count()).where(theirs).group_by(Enrolment.status)
    )
    here = await session.execute(
        select(Enrolment.step, func.count())
        .where(theirs, Enrolment.status == EnrolmentStatus.ACTIVE)
        .group_by(Enrolment.step)
    )
    happened = await session.execute(
        select(JourneyStep.step, func.count())
        .where(JourneyStep.journey_id == journey.id)
        .group_by(JourneyStep.step)
    )
    return JourneyState(
        journey,
        spec,
        dict(people.all()),
        {step: count for step, count in here.all() if step is not None},
        dict(happened.all()),
    )
