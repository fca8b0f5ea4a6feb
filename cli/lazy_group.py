"""Commands that are imported only when they run, so `segbot --help` answers at once.

A `Deferred` names a command, the "module:attribute" that defines it and its one-line
summary. `DeferredGroup` lists every deferred command (name and summary, for --help and
"did you mean" suggestions) without importing anything; only when a command is invoked,
its own --help included, is its module imported and the real command built, exactly as
`Typer.add_typer` (for a Typer app: a command group) or `Typer.command` (for a function)
would have built it.

The summary is written twice, here and in the command's own help; a test keeps the two
the same.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any, ClassVar

import typer
from typer.core import TyperCommand, TyperGroup
from typer.main import get_command, get_group

if TYPE_CHECKING:  # Typer's own copy of Click: what its commands are typed with
    from typer._click import Command, Context


# A line break inside a paragraph, unless the next line starts a list item.
_LINE_BREAK = re.compile(r"\n(?!\s*[-*] )")


@dataclass(frozen=True, slots=True)
class Deferred:
    name: str
    target: str  # "module:attribute": a Typer app (a command group) or a command function
    summary: str  # what `segbot --help` says of it, without importing it

    def load(self) -> Command:
        """Import the target and build its command (raises if the target is not one)."""
        module, _, attribute = self.target.partition(":")
        found = getattr(import_module(module), attribute)
        holder = typer.Typer(add_completion=False)
        if isinstance(found, typer.Typer):
            holder.add_typer(found, name=self.name)
            return _reflowed(get_group(holder).commands[self.name])
        if callable(found):
            holder.command(name=self.name)(found)
            return _reflowed(get_command(holder))
        raise TypeError(f"{self.target} is neither a Typer app nor a command function")


def _reflowed(command: Command) -> Command:
    """`command` (and each of its subcommands) with its help's paragraphs as flowing text:
    Typer keeps the line breaks of a docstring's later paragraphs, so a help wrapped at
    the source's width printed broken lines in the terminal's. A line that starts a list
    item (`- `) keeps its break."""
    if command.help:
        paragraphs = inspect.cleandoc(command.help).split("\n\n")
        command.help = "\n\n".join(_LINE_BREAK.sub(" ", each) for each in paragraphs)
    for each in getattr(command, "commands", {}).values():
        _reflowed(each)
    return command


class _Placeholder(TyperCommand):
    """Stands for a deferred command in its group: a name and a summary until it runs."""

    def __init__(self, deferred: Deferred) -> None:
        super().__init__(deferred.name, help=deferred.summary)
        self._deferred = deferred
        self._loaded: Command | None = None

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: Context | None = None,
        **extra: Any,
    ) -> Context:
        """The real command parses the arguments and runs (the group invokes the command
        of the context this returns)."""
        if self._loaded is None:
            self._loaded = self._deferred.load()
        return self._loaded.make_context(info_name, args, parent=parent, **extra)


class DeferredGroup(TyperGroup):
    """A Typer group whose `deferred` commands come first, in their order, then any
    registered the usual way (`add_typer`, `command`)."""

    deferred: ClassVar[tuple[Deferred, ...]] = ()

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        registered = dict(self.commands)
        self.commands.clear()
        for each in self.deferred:
            self.commands[each.name] = _Placeholder(each)
        self.commands.update(registered)
