"""Cloning a campaign: the same audience, messages and limits under a new name, as a
draft sent by hand. Its schedule is not copied, so a clone never fires beside the
original; its runs are not copied either (a clone has never run, so it may be saved
again from a file under its name, or sent with send-now).
"""

from collections.abc import Collection
from datetime import datetime
from itertools import count
from typing import Any

from sqlalchemy import exists, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper

from broadcasts.campaigns import get_campaign
from broadcasts.models import Campaign, CampaignStatus, CampaignTarget, ScheduleKind, Variant
from broadcasts.spec import NAME_PATTERN, NUMBER_NAME
from core.errors import SegbotError


class CampaignNameError(SegbotError):
    """The name is taken, or not a campaign name."""


_COPY_ATTEMPTS = 5  # NAME-copy names tried when copies are saved at the same moment
_COPY = "-copy"
_COPY_DIGITS = 5  # the numbers of copies looked for at once: up to NAME-copy99999
_MAX_NAME = 64  # characters (broadcasts.spec.NAME_PATTERN)


async def clone_campaign(
    session: AsyncSession, *, ref: str | int, name: str | None = None, now: datetime
) -> Campaign:
    """A copy of the campaign under `name` (None: the first free of NAME-copy,
    NAME-copy2, ... when it is saved: a copy saved elsewhere at the same moment leaves
    it the next): its targets, variants and limits, as a draft sent by hand (see the
    module docstring); commits."""
    if name is not None:
        return await _clone(session, ref=ref, name=name, now=now)
    for _ in range(_COPY_ATTEMPTS):
        original = await get_campaign(session, ref=ref)
        free = await _free_copy_name(session, original.name)
        try:
            return await _clone(session, ref=ref, name=free, now=now)
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
