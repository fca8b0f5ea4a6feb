"""Cloning a campaign: the same audience, messages and limits under a new name, as a
draft sent by hand. Its schedule is not copied, so a clone never fires beside the
original; its runs are not copied either (a clone has never run, so it may be saved
again from a file under its name, or sent with send-now).
"""

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import exists, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper

from broadcasts.campaigns import get_campaign
from broadcasts.models import Campaign, CampaignStatus, CampaignTarget, ScheduleKind, Variant
from broadcasts.spec import NAME_PATTERN, NUMBER_NAME
from core.errors import SegbotError


class CampaignNameError(SegbotError):
    """The name is taken, or not a campaign name."""


async def clone_campaign(
    session: AsyncSession, *, ref: str | int, name: str | None = None, now: datetime
) -> Campaign:
    """A copy of the campaign under `name` (None: the first free of NAME-copy,
    NAME-copy2, ...): its targets, variants and limits, as a draft sent by hand (see the
    module docstring); commits."""
    if name is None:
        original = await get_campaign(session, ref=ref)
        name = await _free_copy_name(session, original.name)
    if not NAME_PATTERN.match(name):
        raise CampaignNameError(
            f"{name!r} is not a campaign name: 1-64 characters of A-Z a-z 0-9 _ . -"
        )
    if name.isdigit():
        raise CampaignNameError(NUMBER_NAME)
    original = await get_campaign(session, ref=ref)
    if await session.scalar(select(exists().where(Campaign.name == name))):
        raise CampaignNameError(f"a campaign named {name!r} exists already")
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
    await session.commit()
    return clone


async def _free_copy_name(session: AsyncSession, name: str) -> str:
    stem = f"{name[: 64 - len('-copy99')]}-copy"
    taken = set(
        (await session.scalars(select(Campaign.name).where(Campaign.name.startswith(stem)))).all()
    )
    return next(
        candidate
        for number in range(1, len(taken) + 2)
        if (candidate := stem if number == 1 else f"{stem}{number}") not in taken
    )


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
