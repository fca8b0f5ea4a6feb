"""Owner commands: `/admins` (list, add, remove) and `/audit`; and `/help` for every
admin, listing what their role may use."""

from dataclasses import replace
from html import escape

from aiogram.fsm.context import FSMContext
from sqlalchemy import select

from bot.admin import audit
from bot.admin.menu import publish_menu
from bot.admin.monospace import bold, code, pieces
from bot.admin.permissions import GRANTS, Permission
from bot.admin.registry import AdminCommand, Call
from core.ids import as_id
from core.models import Admin, AdminRole, Subscriber
from segments.rules.errors import excerpt

ASSIGNABLE = (AdminRole.MARKETER, AdminRole.OPERATOR, AdminRole.VIEWER)
ACTIONS = {"list": (0, "nothing more"), "add": (2, "a USER and a ROLE"), "remove": (1, "a USER")}
AUDIT_DEFAULT, AUDIT_MAX = 15, 50


async def help_command(call: Call) -> None:
    commands = call.catalog.for_role(call.admin.role)
    lines = [f"{bold('Admin console')} — your role: {bold(call.admin.role.value)}", ""]
    lines += [f"{escape(command.usage)}\n    {escape(command.summary)}" for command in commands]
    lines += ["", "Subscriber commands (/start, /profile, /stop...) work for you as for anyone."]
    await call.reply("\n".join(lines))


async def admins_command(call: Call) -> None:
    action, rest = _action(call)
    if action == "list":
        await _list(call)
    elif action == "add":
        await _add(call, rest[0], rest[1])
    else:
        await _remove(call, rest[0])


def _action(call: Call) -> tuple[str, list[str]]:
    """The action and its words, as many as it takes; the usage, saying which action is
    unknown or which words are missing or more, otherwise."""
    words = call.args.split()
    if not words:
        raise call.usage(f"Say what to do: {', '.join(ACTIONS)}.")
    action, rest = words[0].lower(), words[1:]
    if action not in ACTIONS:
        raise call.usage(f"{excerpt(words[0])!r} is not understood: {', '.join(ACTIONS)}.")
    count, takes = ACTIONS[action]
    if len(rest) > count:
        more = excerpt(" ".join(rest[count:]))
        raise call.usage(f"{action} takes {takes}: {more!r} is more than that.")
    if len(rest) < count:
        got = f"only {excerpt(' '.join(rest))!r}" if rest else "nothing"
        raise call.usage(f"{action} takes {takes}; got {got}.")
    return action, rest


async def _list(call: Call) -> None:
    owners = call.settings.admin_ids
    rows = (
        await call.session.execute(
            select(Admin).where(Admin.user_id.not_in(owners)).order_by(Admin.user_id)
        )
    ).scalars()
    lines = [bold("Admins")]
    lines += [f"{code(str(owner))} owner (SEGBOT_ADMIN_IDS)" for owner in owners]
    lines += [
        f"{code(str(admin.user_id))} {admin.role.value}, added {admin.added_at:%Y-%m-%d}"
        for admin in rows
    ]
    await call.reply("\n".join(lines))


async def _user_id(call: Call, ref: str) -> int:
    user_id = as_id(ref)
    if user_id:  # Telegram's user ids start at 1
        return user_id
    if ref.startswith("@") and len(ref) > 1:
        found = await call.session.scalar(
            select(Subscriber.telegram_id).where(Subscriber.username == ref[1:])
        )
        if found is not None:
            return found
        raise call.usage(f"No subscriber is {ref}: give their Telegram user id instead.")
    raise call.usage(f"{ref!r} is not a Telegram user id or @username.")


def _role(call: Call, name: str) -> AdminRole:
    for role in ASSIGNABLE:
        if role.value == name.lower():
            return role
    names = ", ".join(role.value for role in ASSIGNABLE)
    raise call.usage(f"Unknown role {name!r}: choose {names} (owners come from SEGBOT_ADMIN_IDS).")


async def _add(call: Call, user: str, role_name: str) -> None:
    user_id, role = await _user_id(call, user), _role(call, role_name)
    if user_id in call.settings.admin_ids:
        raise call.usage(f"{user_id} is an owner (SEGBOT_ADMIN_IDS) already.")
    admin = await call.session.get(Admin, user_id)
    if admin is None:
        admin = Admin(
            user_id=user_id, role=role, added_by=call.admin.user_id, added_at=call.clock()
        )
        call.session.add(admin)
    else:
        admin.role, admin.added_by = role, call.admin.user_id
    await call.session.commit()
    if Permission.CAMPAIGNS not in GRANTS[role]:
        await _end_wizard(call, user_id)
    await publish_menu(
        call.bot, call.catalog, user_id=user_id, role=role, public_url=call.settings.public_url
    )
    await call.reply(f"{code(str(user_id))} is now a {bold(role.value)}.")


async def _remove(call: Call, user: str) -> None:
    user_id = await _user_id(call, user)
    if user_id in call.settings.admin_ids:
        raise call.usage(f"{user_id} is an owner: remove them from SEGBOT_ADMIN_IDS instead.")
    admin = await call.session.get(Admin, user_id)
    if admin is None:
        raise call.usage(f"{user_id} is not an admin.")
    await call.session.delete(admin)
    await call.session.commit()
    await _end_wizard(call, user_id)
    await publish_menu(
        call.bot, call.catalog, user_id=user_id, role=None, public_url=call.settings.public_url
    )
    await call.reply(f"{code(str(user_id))} is no longer an admin.")


async def _end_wizard(call: Call, user_id: int) -> None:
    """Ends the broadcast wizard of someone who may no longer use it: their draft would
    otherwise carry on where it was if the role came back, days later."""
    key = replace(call.state.key, chat_id=user_id, user_id=user_id)  # their private chat
    await FSMContext(storage=call.state.storage, key=key).clear()


async def audit_command(call: Call) -> None:
    wanted = as_id(call.args or str(AUDIT_DEFAULT))
    if wanted is None:
        raise call.usage(f"{call.args!r} is not a number of entries.")
    limit = min(wanted, AUDIT_MAX)
    if limit == 0:
        raise call.usage("Ask for at least one entry.")
    entries = await audit.recent(call.session, limit=limit)
    if not entries:
        await call.reply("The audit log is empty.")
        return
    lines = [bold(f"Last {len(entries)} admin actions (newest first)")]
    for entry in entries:
        detail = entry.detail or {}
        what = " ".join(str(detail[key]) for key in ("args", "target") if detail.get(key))
        outcome = str(detail.get("outcome", ""))
        lines.append(
            f"{entry.occurred_at:%m-%d %H:%M} {code(str(entry.admin_user_id))} "
            f"{bold(entry.action)} {escape(what)} → {escape(outcome)}"
        )
    for text in pieces(lines, separator="\n"):
        await call.reply(text)


COMMANDS = (
    AdminCommand("help", Permission.REPORTS, "/help", "What you can do here", help_command),
    AdminCommand(
        "admins",
        Permission.ADMINS,
        "/admins list | add USER ROLE | remove USER",
        "List admins, give someone a role (marketer, operator, viewer) or take it away",
        admins_command,
    ),
    AdminCommand(
        "audit",
        Permission.ADMINS,
        "/audit [N]",
        "The last N admin actions (default 15)",
        audit_command,
    ),
)
