"""Updates no handler can take skip the router tree.

Most updates a busy bot receives (reactions, stickers, replies to a broadcast) are taken by
no handler; aiogram still walks every router and checks every handler's filters for them,
and that walk was most of the bot's CPU per update (benchmarks/ingest.py). `Unhandled`, an
outer middleware on the update installed after the event log (so every update is still
logged), answers such an update `UNHANDLED` at once, as the walk would have.

The promise: an update some handler could take always goes down the tree. What can take an
update is read from the routers themselves, not from a list kept here, on the first update
(every router is included by then). A handler is ruled out only by a filter decided for
certain without running anything a handler could notice:

- `Command` (and `CommandStart`): a message whose text or caption does not begin with one
  of the filter's prefixes;
- `StateFilter`: the filter itself, with the FSM state already read for this update
  (`bot.conversation_state`; the admin wizard's steps, any conversation waiting for a text),
  or, when it names its states with strings, aiogram's own `State`s and `StatesGroup`s (whose
  answer depends on the state alone), whether the state is one of them, worked out once;
- a magic filter (`F.contact`), or a coroutine filter that takes the event alone
  (`bot.filters.has_contact`): the filter itself, on the event.

Any other filter (a role check that needs the database, say) may pass, so its handler may
take the update. A filter that fails while being decided counts as passing: the tree then
runs it for real and reports the error as before. An update type with a handler without
filters, with an outer middleware on its observer anywhere in the tree (it would run for
every such update), is never skipped.
"""

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Router
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.dispatcher.event.handler import FilterObject
from aiogram.filters import Command, StateFilter
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import Message, TelegramObject, Update

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
# Whether a handler may take the event, given the update's middleware data.
Check = Callable[[TelegramObject, dict[str, Any]], Awaitable[bool]]
_ALWAYS: tuple[Check, ...] = ()  # a handler that takes every event of its type


class Unhandled(BaseMiddleware):
    """Answers `UNHANDLED` for an update no handler in `root`'s tree can take; passes any
    other on (see the module's docstring for how that is decided)."""

    def __init__(self, root: Router) -> None:
        self._root = root
        self._candidates: dict[str, list[tuple[Check, ...]] | None] | None = None
        self.skipped = 0

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if isinstance(event, Update) and not await self._may_be_taken(event, data):
            self.skipped += 1
            return UNHANDLED
        return await handler(event, data)

    async def _may_be_taken(self, update: Update, data: dict[str, Any]) -> bool:
        if self._candidates is None:
            self._candidates = candidates(self._root)
        handlers = self._candidates.get(update.event_type, [])
        if handlers is None:
            return True
        event = update.event
        for checks in handlers:
            for check in checks:
                if not await check(event, data):
                    break
            else:
                return True
        return False


def candidates(root: Router) -> dict[str, list[tuple[Check, ...]] | None]:
    """Per update type, the checks of each handler in `root`'s tree that may take it (each a
    tuple of checks that must all pass); None for a type that is never to be skipped."""
    routers = list(root.chain_tail)
    found: dict[str, list[tuple[Check, ...]] | None] = {}
    for name in root.observers:
        if name in {"update", "error"}:
            continue
        observers = [router.observers[name] for router in routers if name in router.observers]
        if any(len(observer.outer_middleware) for observer in observers):
            found[name] = None
            continue
        handlers = [
            tuple(check for check in map(_check, handler.filters or ()) if check is not None)
            for observer in observers
            for handler in observer.handlers
        ]
        found[name] = None if _ALWAYS in handlers else handlers
    return found


def _check(event_filter: FilterObject) -> Check | None:
    """A check that rules the handler out when `event_filter` cannot pass, or None when this
    filter cannot be decided here (it may pass)."""
    callback = event_filter.callback
    if isinstance(callback, Command):
        return _command_check(callback)
    if isinstance(callback, StateFilter):
        return _state_check(callback)
    if event_filter.magic is not None:
        magic = event_filter.magic

        async def resolves(event: TelegramObject, _data: dict[str, Any]) -> bool:
            return bool(magic.resolve(event))

        return _passing_on_error(resolves)
    if event_filter.awaitable and len(event_filter.params) == 1 and not event_filter.varkw:

        async def on_event(event: TelegramObject, _data: dict[str, Any]) -> bool:
            return bool(await callback(event))

        return _passing_on_error(on_event)
    return None


def _state_check(state_filter: StateFilter) -> Check | None:
    names = _state_names(state_filter)
    if names is None:

        async def in_state(event: TelegramObject, data: dict[str, Any]) -> bool:
            return bool(await state_filter(event, raw_state=data.get("raw_state")))

        return _passing_on_error(in_state)
    if "*" in names:
        return None  # any state passes

    async def named(_event: TelegramObject, data: dict[str, Any]) -> bool:
        return data.get("raw_state") in names

    return named


def _state_names(state_filter: StateFilter) -> frozenset[str | None] | None:
    """The states `state_filter` passes, when it names them only with strings, aiogram's
    own `State`s and `StatesGroup`s, whose answer depends on the state alone; else None."""
    names: set[str | None] = set()
    for allowed in state_filter.states:
        if allowed is None or isinstance(allowed, str):
            names.add(allowed)
        elif type(allowed) is State:
            names.add(allowed.state)
        else:
            group = allowed if isinstance(allowed, type) else type(allowed)
            if not issubclass(group, StatesGroup) or group.__call__ is not StatesGroup.__call__:
                return None
            names.update(group.__all_states_names__)
    return frozenset(names)


def _command_check(command: Command) -> Check:
    prefixes = command.prefix

    async def starts_like_it(event: TelegramObject, _data: dict[str, Any]) -> bool:
        if not isinstance(event, Message):
            return False
        text = event.text or event.caption
        if not text:
            return False
        return text[0] in prefixes

    return starts_like_it


def _passing_on_error(check: Check) -> Check:
    """`check`, except that a filter failing counts as passing (the tree reports it)."""

    async def guarded(event: TelegramObject, data: dict[str, Any]) -> bool:
        try:
            return await check(event, data)
        except Exception:  # decided for real, and reported, by the router tree
            return True

    return guarded
