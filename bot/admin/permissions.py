"""Who may do what in the admin console: roles, what each grants, and the role check
every admin button and wizard step passes through (`Allowed`; admin commands have the
table's own, bot.admin.registry.CommandAllowed).

Owners are the Telegram ids in `SEGBOT_ADMIN_IDS`; everyone else's role is a row in
`admins` (set with `/admins add`). A user without a role, or whose role lacks the
permission, fails the filter silently: the update goes on to the subscriber handlers, so
a non-admin learns nothing about the console.
"""

import enum
from collections.abc import Collection
from dataclasses import dataclass

from aiogram.filters import BaseFilter
from aiogram.types import CallbackQuery, Message, User
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.models import Admin, AdminRole
from core.settings import Settings


class Permission(enum.StrEnum):
    REPORTS = "reports"  # read-only: stats, reports, segments, AI segments, personas, ...
    SEGMENTS = "segments"  # save, delete, export segments; AI segments, personas, lookalikes
    CAMPAIGNS = "campaigns"  # the broadcast wizard; pause, resume, cancel
    SUBSCRIBERS = "subscribers"  # subscriber cards, tags
    SYNC = "sync"  # start a CRM sync
    ADMINS = "admins"  # manage admins, read the audit log


GRANTS: dict[AdminRole, frozenset[Permission]] = {
    AdminRole.OWNER: frozenset(Permission),
    AdminRole.MARKETER: frozenset({Permission.REPORTS, Permission.SEGMENTS, Permission.CAMPAIGNS}),
    AdminRole.OPERATOR: frozenset({Permission.REPORTS, Permission.SUBSCRIBERS, Permission.SYNC}),
    AdminRole.VIEWER: frozenset({Permission.REPORTS}),
}


@dataclass(frozen=True, slots=True)
class AdminUser:
    """The admin behind an update, as handlers receive it (`admin`)."""

    user_id: int
    role: AdminRole

    def can(self, permission: Permission) -> bool:
        return permission in GRANTS[self.role]


async def role_of(
    session: AsyncSession, *, user_id: int, owners: Collection[int]
) -> AdminRole | None:
    """The user's role: owner when listed in SEGBOT_ADMIN_IDS, else their `admins` row."""
    if user_id in owners:
        return AdminRole.OWNER
    return await session.scalar(select(Admin.role).where(Admin.user_id == user_id))


async def admin_behind(
    user: User | None, *, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> AdminUser | None:
    """The admin who sent an update, looked up in a short session of its own; None when
    the sender is not an admin (or the update has no sender)."""
    if user is None:
        return None
    async with sessionmaker() as session:
        role = await role_of(session, user_id=user.id, owners=settings.admin_ids)
    return None if role is None else AdminUser(user.id, role)


class Allowed(BaseFilter):
    """Passes updates from admins whose role grants `permission` (None: any admin role),
    adding `admin: AdminUser` to the handler's data (from which bot.admin.context's
    middleware builds the handler's `ctx`).

    Filters run before the router's inner middlewares, so this opens its own short
    session. The admin commands' table has its own filter, `registry.CommandAllowed`,
    which looks up the permission of the command named.
    """

    def __init__(self, permission: Permission | None = None) -> None:
        self._permission = permission

    async def __call__(
        self,
        event: Message | CallbackQuery,
        event_from_user: User | None,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
    ) -> bool | dict[str, AdminUser]:
        admin = await admin_behind(event_from_user, sessionmaker=sessionmaker, settings=settings)
        if admin is None:
            return False
        if self._permission is not None and not admin.can(self._permission):
            return False
        return {"admin": admin}
