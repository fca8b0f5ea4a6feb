"""What every admin handler works with, as one object: `AdminContext`, handed to the
handler as `ctx`.

The role filters (bot.admin.permissions.Allowed, bot.admin.registry.CommandAllowed) add
`admin` to the handler's data when they pass. aiogram runs a handler's filters first and
merges what they return into the data its inner middlewares and the handler receive, so
`AdminContextMiddleware`, an inner middleware on the private-chat router, sees it: for
each update an admin handler takes, it gathers the admin, the update's DB session and FSM
context and the dispatcher's workflow data (sessionmaker, admin_services, settings, bot,
clock) into `ctx`. Updates no role filter let through (every subscriber's) get none.

`Call` (an admin command) and `Step` (a wizard update) carry the context; `UsesContext`
lets them name its parts directly (`call.session` is `call.ctx.session`).
"""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from aiogram import BaseMiddleware, Bot
from aiogram.fsm.context import FSMContext
from aiogram.types import TelegramObject
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.admin.permissions import AdminUser
from bot.admin.services import AdminServices
from core.clock import Clock
from core.settings import Settings

_T = TypeVar("_T")
Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class AdminContext:
    """The admin behind an update and the means to act on it."""

    admin: AdminUser
    session: AsyncSession  # the update's own, closed when the handler returns
    sessionmaker: async_sessionmaker[AsyncSession]  # for audit entries and live messages
    services: AdminServices
    settings: Settings
    state: FSMContext  # the chat's wizard state
    bot: Bot
    clock: Clock


def _take(data: Mapping[str, object], key: str, kind: type[_T]) -> _T:
    value = data.get(key)
    if not isinstance(value, kind):
        raise TypeError(f"admin handlers need {key!r} ({kind.__name__}) in the workflow data")
    return value


def context_of(data: Mapping[str, object], admin: AdminUser) -> AdminContext:
    """The context from an update's data (what the middlewares and filters put there)."""
    clock = data.get("clock")
    if not callable(clock):
        raise TypeError("admin handlers need 'clock' (a Clock) in the workflow data")
    return AdminContext(
        admin=admin,
        session=_take(data, "session", AsyncSession),
        sessionmaker=cast(
            "async_sessionmaker[AsyncSession]", _take(data, "sessionmaker", async_sessionmaker)
        ),
        services=_take(data, "admin_services", AdminServices),
        settings=_take(data, "settings", Settings),
        state=_take(data, "state", FSMContext),
        bot=_take(data, "bot", Bot),
        clock=cast("Clock", clock),
    )


class AdminContextMiddleware(BaseMiddleware):
    """Inner middleware: `ctx` for every handler a role filter let an admin through to.

    Registered after the DB session middleware, so it runs inside it and sees `session`.
    """

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        admin = data.get("admin")
        if isinstance(admin, AdminUser):
            data["ctx"] = context_of(data, admin)
        return await handler(event, data)


class UsesContext:
    """The context's parts by name, for a class with a `ctx` field (Call, Step)."""

    __slots__ = ()
    ctx: AdminContext

    @property
    def admin(self) -> AdminUser:
        return self.ctx.admin

    @property
    def session(self) -> AsyncSession:
        return self.ctx.session

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        return self.ctx.sessionmaker

    @property
    def services(self) -> AdminServices:
        return self.ctx.services

    @property
    def settings(self) -> Settings:
        return self.ctx.settings

    @property
    def state(self) -> FSMContext:
        return self.ctx.state

    @property
    def bot(self) -> Bot:
        return self.ctx.bot

    @property
    def clock(self) -> Clock:
        return self.ctx.clock
