"""What each kind of step does to a group of enrolments (journeys.moves says how a step
happens once): waits end, branches split the group by a rule or by what happened, tags
and attributes change, admins get a notice, exit steps end the journey. Sends are
journeys.sends.

Each returns what it did, for the runner's counts and the admin notices it must send.
"""

from dataclasses import dataclass
from datetime import UTC, timedelta

from sqlalchemy import ColumnElement, bindparam, delete, exists, insert, not_, select, true, update
from sqlalchemy.orm import attributes

from core.db import upsert
from core.id_lists import among
from core.models import Subscriber, SubscriberTag
from journeys.happenings import Happening
from journeys.matching import happened_since_step
from journeys.models import ENROLMENTS, Enrolment, ExitReason, Notice, NoticeStatus
from journeys.moves import Moved, StepContext, log, move, note
from journeys.sends import send
from journeys.steps_spec import StepSpec
from segments.rules import parse
from segments.rules.compiler import condition


@dataclass(frozen=True, slots=True)
class StepDone:
    moved: int = 0  # enrolments past the step (or ended by it)
    queued: int = 0  # messages queued in the outbox
    notices: int = 0  # admin notices queued
    postponed: int = 0  # sends held back by quiet hours or the frequency cap


async def run_step(context: StepContext) -> StepDone:
    """The step for the group's enrolments that are still there and due; the caller
    commits."""
    step, spec = context.step, context.version.spec
    if step.send is not None:
        sent = await send(context)
        return StepDone(sent.moved, sent.queued, postponed=sent.postponed)
    if step.if_ is not None or step.wait_for is not None:
        return StepDone(await _branch(context))
    if step.exit:
        return StepDone(await _simple(context, to=None, reason=ExitReason.EXIT))
    if step.wait is not None:  # nothing but the move: who was fresh to it matters not
        return StepDone(await _simple(context, to=spec.after(step.id)))
    moved = await move(context, true(), to=spec.after(step.id))
    notices = await _effects(context, await log(context, moved, "done"))
    return StepDone(len(moved), notices=notices)


async def _simple(
    context: StepContext, *, to: str | None, reason: ExitReason = ExitReason.COMPLETED
) -> int:
    """Move on (or end) without effects; how many moved."""
    moved = await move(context, true(), to=to, reason=reason)
    await note(context, moved, "done")
    return len(moved)


async def _effects(context: StepContext, new: list[Moved]) -> int:
    """Tags, attributes and notices for those reaching the step for the first time; how
    many notices were queued."""
    step, session, now = context.step, context.session, context.now
    subscribers = [each.subscriber_id for each in new]
    if not new:
        return 0
    if step.add_tag is not None:
        rows = [{"subscriber_id": id_, "tag": step.add_tag, "added_at": now} for id_ in subscribers]
        await upsert(session, SubscriberTag, rows, key=["subscriber_id", "tag"], update=())
    elif step.remove_tag is not None:
        theirs = among(SubscriberTag.subscriber_id, subscribers)
        await session.execute(
            delete(SubscriberTag).where(SubscriberTag.tag == step.remove_tag, theirs)
        )
    elif step.set is not None:
        found = await session.scalars(select(Subscriber).where(among(Subscriber.id, subscribers)))
        for subscriber in found.all():
            subscriber.attributes = {**subscriber.attributes, step.set.attribute: step.set.value}
            attributes.flag_modified(subscriber, "attributes")
    elif step.notify is not None:
        notices = [
            {"enrolment_id": each.enrolment_id, "version_id": context.version.id, "step": step.id,
             "status": NoticeStatus.QUEUED, "created_at": now.astimezone(UTC)}
            for each in new
        ]  # fmt: skip
        await session.execute(insert(Notice), notices)
        return len(notices)
    return 0


async def _branch(context: StepContext) -> int:
    """An if step (its rule) or a wait_for step (what it waits for, within its time):
    `then` for those it holds for, `else` for the others. A wait_for moves those it does
    not hold for only once its time is up; woken early (not due), only those it holds for."""
    step, spec, now = context.step, context.version.spec, context.now
    holds: ColumnElement[bool]
    over: ColumnElement[bool]
    if step.if_ is not None:
        rule = parse(step.if_, rfm_segments=context.rfm_segments)
        matches = condition(rule, now=now, segments=context.rules)
        holds = exists().where(Subscriber.id == Enrolment.subscriber_id, matches)
        over = true()
    else:
        waited_for, within = _waiting(step)
        holds = happened_since_step(waited_for, within=within)
        over = Enrolment.step_since <= now - within
    moved = 0
    for outcome, where, target in (
        ("yes", holds, spec.branch(step.id, holds=True)),
        ("no", not_(holds) & over, spec.branch(step.id, holds=False)),
    ):
        if outcome == "no" and not context.due:
            break
        went = await move(context, where, to=target)
        await note(context, went, outcome)
        moved += len(went)
    if step.wait_for is not None and context.due:
        await _wait_longer(context, _waiting(step)[1])
    return moved


def _waiting(step: StepSpec) -> tuple[Happening, timedelta]:
    """A wait_for step's happening and time (validated to come together)."""
    if step.wait_for is None or step.within is None:
        raise ValueError(f"step {step.id} is not a wait_for step")
    return step.wait_for, step.within


async def _wait_longer(context: StepContext, within: timedelta) -> None:
    """Those still waiting whose wait is not over (a version with a longer `within` took
    them on) are due again when it is."""
    rows = await context.session.execute(
        select(Enrolment.id, Enrolment.step_since).where(context.guard())
    )
    later = [{"key": key, "due": since + within} for key, since in rows.all()]
    if later:
        table = ENROLMENTS
        statement = update(table).where(table.c.id == bindparam("key"))
        await context.session.execute(statement.values(next_due_at=bindparam("due")), later)
