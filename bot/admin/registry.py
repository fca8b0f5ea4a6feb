"""The table of admin commands: name, permission, usage and what each does. One table
drives the dispatch, the role check, the role-aware /help and each admin's command menu.

Each command module exposes its `COMMANDS`; the catalogue (bot.admin.CATALOG) lists them
by name in the order /help shows them, and refuses a command it does not list.

Every admin command arrives at one handler (`bot.admin.run_command`) behind two filters:
aiogram's `Command` for the names in the table, then `CommandAllowed`, which passes only
when the sender's role grants the command's permission. The command runs with a `Call`:
the message, its arguments and the admin's context (bot.admin.context). Whatever a
command raises as a `SegbotError` is the reply; every run, however it ends, is written
to the audit log.
"""

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from aiogram.filters import BaseFilter, CommandObject
from aiogram.types import Message, User
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.admin.context import AdminContext, UsesContext
from bot.admin.monospace import MAX_MESSAGE, fitting
from bot.admin.permissions import GRANTS, Permission, admin_behind
from core.errors import SegbotError
from core.models import AdminRole
from core.settings import Settings
from segments.rules import RuleError
from segments.rules.errors import excerpt


class UsageError(SegbotError):
    """The command's arguments are missing or malformed: the reply is its usage."""


class QueryError(SegbotError):
    """A rule that cannot be used: the reason, then the rule with a caret under the place."""

    def __init__(self, error: RuleError, text: str) -> None:
        super().__init__(f"{error}\n{error.pointer(text)}")  # both short, whatever the rule


def reply_for(error: SegbotError) -> str:
    """The HTML reply for an expected error (a rule's caret needs monospace), in one
    message: a line that repeats what was typed (a 5,000-character id) is cut short."""
    if isinstance(error, QueryError):
        return f"<pre>{fitting(str(error), limit=MAX_MESSAGE - len('<pre></pre>'))}</pre>"
    return fitting(str(error))


@dataclass(frozen=True, slots=True)
class Call(UsesContext):
    """One admin command being handled: with what arguments, and who with what means
    (`ctx`; `call.admin`, `call.session`... name its parts)."""

    message: Message
    command: "AdminCommand"
    catalog: "Catalog"
    args: str  # everything after the command, stripped
    ctx: AdminContext

    @property
    def chat_id(self) -> int:
        return self.message.chat.id

    def usage(self, problem: str | None = None) -> UsageError:
        """The error to raise for bad arguments: the problem, then the usage line."""
        lines = [problem] if problem else []
        lines.append(f"Usage: {self.command.usage}")
        lines.append(self.command.summary)
        return UsageError("\n".join(lines))

    def single(self, what: str) -> str:
        """The one word a command takes (an id, or a name that holds no space); the usage,
        naming `what` and what was missing or more than that, otherwise."""
        words = self.args.split()
        if not words:
            raise self.usage(f"Give {what}.")
        if len(words) > 1:
            more = excerpt(" ".join(words[1:]))
            raise self.usage(f"Give only {what}, one word: {more!r} is more than that.")
        return words[0]

    async def reply(self, text: str) -> Message:
        return await self.message.answer(text)


Run = Callable[[Call], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class AdminCommand:
    name: str
    permission: Permission
    usage: str  # e.g. "/segment NAME|QUERY"
    summary: str  # one line, for /help and the command menu
    run: Run


class Catalog:
    """Every admin command by name, in the order /help lists them: `order` names each of
    `commands` once (a command left out, named twice or unknown is a mistake here)."""

    def __init__(self, order: Iterable[str], commands: Iterable[AdminCommand]) -> None:
        listed, commands = list(order), list(commands)
        known = {command.name: command for command in commands}
        problems = [
            *(f"{name} is not listed" for name in sorted(known.keys() - set(listed))),
            *(f"{name} is no command" for name in sorted(set(listed) - known.keys())),
            *(f"{name} is listed twice" for name in sorted(set(listed)) if listed.count(name) > 1),
            *(["two commands share a name"] if len(known) < len(commands) else []),
        ]
        if problems:
            raise ValueError("the admin command catalogue: " + "; ".join(problems))
        self.by_name = {name: known[name] for name in listed}

    def for_role(self, role: AdminRole) -> list[AdminCommand]:
        granted = GRANTS[role]
        return [command for command in self.by_name.values() if command.permission in granted]


class CommandAllowed(BaseFilter):
    """After `Command(...)`: the table's command, if the sender's role grants it."""

    def __init__(self, catalog: Catalog) -> None:
        self._commands = catalog.by_name

    async def __call__(
        self,
        message: Message,
        command: CommandObject,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        event_from_user: User | None = None,  # none on an update without a sender
    ) -> bool | dict[str, object]:
        entry = self._commands.get(command.command)
        if entry is None:
            return False
        admin = await admin_behind(event_from_user, sessionmaker=sessionmaker, settings=settings)
        if admin is None or not admin.can(entry.permission):
            return False
        return {"admin": admin, "entry": entry}
