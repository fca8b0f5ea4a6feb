"""Cloning a campaign: the same audience, messages and limits under a new name, as a
draft sent by hand. Its schedule is not copied, so a clone never fires beside the
original; its runs are not copied either (a clone has never run, so it may be saved
again from a file under its name, or sent with send-now).

`copy_once` is the one copy a double-pressed Duplicate button asks for: it takes the
campaign first (broadcasts.runs.take_campaign), so the second press, in this process or
another, waits for the first and finds its copy instead of making a second.
"""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import count
from typing import Any

from sqlalchemy import exists, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper

from broadcasts.campaigns import get_campaign
from broadcasts.models import Campaign, CampaignStatus, CampaignTarget, ScheduleKind, Variant
from broadcasts.runs import take_campaign
from broadcasts.spec import NAME_PATTERN, NUMBER_NAME
from core.errors import SegbotError


class CampaignNameError(SegbotError):
    """The name is taken, or not a campaign name."""


_COPY_ATTEMPTS = 5  # NAME-copy names tried when copies are saved at the same moment
_COPY = "-copy"
_COPY_DIGITS = 5  # the numbers of copies looked for at once: up to NAME-copy99999
_MAX_NAME = 64  # characters (broadcasts.spec.NAME_PATTERN)


@dataclass(frozen=True, slots=True)
class Copy:
    """What `copy_once` returns: the copy, and whether this call made it."""

    campaign: Campaign
    made: bool  # False: a copy made moments before, returned instead of a second one


async def clone_campaign(
    session: AsyncSession, *, ref: str | int, name: str | None = None, now: datetime
) -> Campaign:
    """A copy of the campaign under `name` (None: the first free of NAME-copy,
    NAME-copy2, ... when it is saved: a copy saved elsewhere at the same moment leaves
    it the next): its targets, variants and limits, as a draft sent by hand (see the
    module docstring); commits."""
    if name is not None:
        return await _clone(session, ref=ref, name=name, now=now)
    return (await _copy(session, ref=ref, now=now, fresh_since=None)).campaign


async def copy_once(
    session: AsyncSession, *, ref: str | int, now: datetime, within: timedelta
) -> Copy:
    """A copy under the first free NAME-copy name, as `clone_campaign` makes, unless a copy
    of the campaign (a draft named as its copies are) was saved less than `within` before
    `now`: then that one, and nothing is saved. Two presses of one Duplicate button ask
    for one copy, and may be handled at once by two processes: the campaign is taken
    before looking, so the later waits until the earlier's copy is committed, then finds
    it. Commits."""
    return await _copy(session, ref=ref, now=now, fresh_since=now - within)


async def _copy(
    session: AsyncSession, *, ref: str | int, now: datetime, fresh_since: datetime | None
) -> Copy:
    """A copy under the first free NAME-copy name; with `fresh_since`, the campaign taken
    first and a copy saved since then returned instead (unmade)."""
    for _ in range(_COPY_ATTEMPTS):
        original = await get_campaign(session, ref=ref)
        if fresh_since is not None:
            await take_campaign(session, original.id)
            fresh = await _fresh_copy(session, original.id, original.name, since=fresh_since)
            if fresh is not None:
                await session.commit()  # lets the campaign go
                return Copy(fresh, made=False)
        free = await _free_copy_name(session, original.name)
        try:
            return Copy(await _clone(session, ref=original.id, name=free, now=now), made=True)
        except CampaignNameError:  # another copy took the name between looking and saving
            continue
    raise CampaignNameError(f"no free name for a copy of {ref!r}: try again")


async def _clone(session: AsyncSession, *, ref: str | int, name: str, now: datetime) -> Campaign:
    """The copy under `name`; CampaignNameError if it is not a name or is taken."""
    if not NAME_PATTERN.fullmatch(name):  # match() takes a name with a newline at its end
        raise CampaignNameError(
            f"{name!r} is not a campaign name: 1-64 characters of A-Z a-z 0-9 _ . -"
        )
    if name.isdigit():
        raise CampaignNameError(NUMBER_NAME)
    original = await get_campaign(session, ref=ref)
    taken = CampaignNameError(f"a campaign named {name!r} exists already")
    if await session.scalar(select(exists().where(Campaign.name == name))):
        raise taken
    clone = Campaign(
        **_columns(original, skip=_NOT_CLONED),
        name=name,
        status=CampaignStatus.DRAFT,
        schedule_kind=ScheduleKind.MANUAL,
        created_at=now,
        updated_at=now,
    )
    clone.targets = [
        CampaignTarget(
            **_columns(target, skip={"id", "campaign_id"}),
            variants=[Variant(**_columns(v, skip={"id", "target_id"})) for v in target.variants],
        )
        for target in original.targets
    ]
    session.add(clone)
    try:
        await session.commit()
    except IntegrityError:  # saved by someone else since the check above
        await session.rollback()
        if await session.scalar(select(exists().where(Campaign.name == name))):
            raise taken from None
        raise
    return clone


async def _free_copy_name(session: AsyncSession, name: str) -> str:
    """The first of NAME-copy, NAME-copy2, ... no campaign has, NAME cut short as each
    needs to fit a name's 64 characters."""
    prefix = name[: _MAX_NAME - len(_COPY) - _COPY_DIGITS]  # that of every copy name tried
    taken = set(
        (await session.scalars(select(Campaign.name).where(Campaign.name.startswith(prefix)))).all()
    )
    return next(
        candidate for number in count(1) if (candidate := _copy_name(name, number)) not in taken
    )


def _copy_name(name: str, number: int) -> str:
    suffix = _COPY if number == 1 else f"{_COPY}{number}"
    return f"{name[: _MAX_NAME - len(suffix)]}{suffix}"


async def _fresh_copy(
    session: AsyncSession, original_id: int, name: str, *, since: datetime
) -> Campaign | None:
    """The latest draft saved since `since` under one of NAME's copy names, if any."""
    prefix = name[: _MAX_NAME - len(_COPY) - _COPY_DIGITS]
    drafts = await session.scalars(
        select(Campaign)
        .where(
            Campaign.name.startswith(prefix),
            Campaign.id != original_id,
            Campaign.status == CampaignStatus.DRAFT,
            Campaign.created_at >= since,
        )
        .order_by(Campaign.created_at.desc(), Campaign.id.desc())
    )
    return next((draft for draft in drafts if _is_copy_name(draft.name, name)), None)


def _is_copy_name(candidate: str, name: str) -> bool:
    """Whether `candidate` is NAME-copy or NAME-copyN (N from 2), as `_copy_name` makes."""
    _, suffix, number = candidate.rpartition(_COPY)
    if not suffix:
        return False
    if not number:
        return candidate == _copy_name(name, 1)
    numbered = number.isascii() and number.isdigit() and int(number) > 1
    return numbered and candidate == _copy_name(name, int(number))


# What a clone does not take from the campaign: who it is, its state and its schedule.
_NOT_CLONED = frozenset(
    {
        *("id", "name", "status", "created_at", "updated_at"),
        *("schedule_kind", "run_at", "cron", "local_time", "last_fired_at"),
    }
)


def _columns(row: Campaign | CampaignTarget | Variant, *, skip: Collection[str]) -> dict[str, Any]:
    """A row's column values, by attribute name, but those in `skip`."""
    mapper: Mapper[Any] = inspect(type(row))
    names = [column.key for column in mapper.column_attrs]
    return {name: getattr(row, name) for name in names if name not in skip}
