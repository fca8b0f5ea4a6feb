"""A run's unknown deliveries in the admin console, for owners only: the campaign card's
"Unknown" button lists who they were for and why, and offers to resend to them; resending
asks a second time, saying that some may get the message twice, and refuses if what would
be resent changed since. Each press is audited; anyone else's press (a stale or forged
button) falls through to the ordinary "This button is no longer active"."""

from html import escape

from aiogram import Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)

from bot.admin import audit
from bot.admin.context import AdminContext
from bot.admin.monospace import bold, table
from bot.admin.permissions import Allowed, Permission
from broadcasts.models import RunStatus
from broadcasts.unknowns import (
    Resend,
    UnknownDelivery,
    UnknownSummary,
    counted,
    resend_unknown,
    unknowns,
    unknowns_csv,
)
from core.errors import SegbotError
from core.ids import Id

# Owners only: the one permission no other role has. Resending may message people twice.
OWNER_ONLY = Permission.ADMINS
LISTED = 15  # rows in the message; all of them in a CSV file when there are more


class UnknownAction(CallbackData, prefix="admu"):
    action: str  # list, ask, resend, keep
    run_id: Id
    count: Id = 0  # ask, resend: how many the owner was shown would be resent


def unknown_button(run_id: int, count: int) -> InlineKeyboardButton:
    """The campaign card's button for owners, when its run has unknown deliveries."""
    data = UnknownAction(action="list", run_id=run_id).pack()
    return InlineKeyboardButton(text=f"❓ {count:,} unknown: who, resend", callback_data=data)


def reasons_text(counts: dict[str, int]) -> str:
    """`{"no_answer": 2}` as "no answer 2"."""
    return ", ".join(f"{reason.replace('_', ' ')} {count:,}" for reason, count in counts.items())


def _button(text: str, action: str, run_id: int, count: int = 0) -> InlineKeyboardButton:
    data = UnknownAction(action=action, run_id=run_id, count=count).pack()
    return InlineKeyboardButton(text=text, callback_data=data)


def _people(count: int) -> str:
    return f"{count:,} {'person' if count == 1 else 'people'}"


def _skipped_line(summary: UnknownSummary) -> str:
    if not summary.skipped:
        return ""
    return f"\nNot to resend (left since, or clicked: it arrived): {counted(summary.skipped)}."


def _row(row: UnknownDelivery) -> tuple[str, str, str, str]:
    return (str(row.telegram_id), row.name, row.reason, "yes" if row.skip is None else row.skip)


async def _list(query: CallbackQuery, data: UnknownAction, ctx: AdminContext) -> str:
    found = await unknowns(ctx.session, run_id=data.run_id, limit=LISTED)
    summary = found.summary
    message = query.message
    if not isinstance(message, Message):
        return "no message"
    if not summary.total:
        await message.answer(f"Run {found.run_id} has no unknown deliveries.")
        return "none"
    lines = [
        f"{bold(f'Run {found.run_id} of {found.campaign_name}')} — {found.run_status.value}",
        f"{summary.total:,} unknown: {escape(reasons_text(summary.by_reason))}. The message "
        "may or may not have reached them.",
        table(["telegram id", "name", "why", "resend"], [_row(row) for row in found.deliveries]),
    ]
    if not found.complete:
        lines.append(f"The first {len(found.deliveries)}; all {summary.total:,} in the file.")
    lines.append(f"To resend: {summary.resendable:,}.{_skipped_line(summary)}")
    markup = None
    if summary.resendable and found.run_status is not RunStatus.CANCELLED:
        label = f"↻ Resend to {summary.resendable:,} (some may get it twice)"
        markup = InlineKeyboardMarkup(
            inline_keyboard=[[_button(label, "ask", found.run_id, summary.resendable)]]
        )
    await message.answer("\n".join(lines), reply_markup=markup)
    if not found.complete:
        everyone = await unknowns(ctx.session, run_id=data.run_id)
        name = f"run-{found.run_id}-unknown.csv"
        csv = BufferedInputFile(unknowns_csv(everyone.deliveries).encode(), filename=name)
        await message.answer_document(csv)
    return f"{summary.total} unknown, {summary.resendable} to resend"


async def _ask(query: CallbackQuery, data: UnknownAction, ctx: AdminContext) -> str:
    text = (
        f"⚠️ {bold(f'Resend run {data.run_id} to {_people(data.count)}?')}\n"
        "Telegram may already have delivered the message to "
        f"{'this person' if data.count == 1 else 'some of them'}: "
        "they would get it twice. Who has since left, or clicked the message, is skipped."
    )
    markup = InlineKeyboardMarkup(
        inline_keyboard=[
            [
                _button(f"Yes, resend to {data.count:,}", "resend", data.run_id, data.count),
                _button("No", "keep", data.run_id),
            ]
        ]
    )
    await _edit(query, text, markup)
    return "asked"


async def _resend(query: CallbackQuery, data: UnknownAction, ctx: AdminContext) -> str:
    try:
        resent = await resend_unknown(
            ctx.session, run_id=data.run_id, now=ctx.clock(), expected=data.count
        )
    except SegbotError as error:  # a new message: a double tap leaves the first's answer
        await ctx.session.rollback()
        again = InlineKeyboardMarkup(
            inline_keyboard=[[_button("↻ Look again", "list", data.run_id)]]
        )
        if isinstance(query.message, Message):
            await query.message.answer(f"Nothing resent: {escape(str(error))}", reply_markup=again)
        return f"refused: {error}"
    await _edit(query, _resent_text(resent), None)
    return f"ok: {resent.requeued} queued"


def _resent_text(resent: Resend) -> str:
    state = {
        RunStatus.SENDING: f"run {resent.run_id} is sending them",
        RunStatus.PAUSED: f"run {resent.run_id} is paused: they go when it resumes",
    }.get(resent.run_status, f"run {resent.run_id} is {resent.run_status.value}")
    skipped = f"\nSkipped: {escape(counted(resent.skipped))}." if resent.skipped else ""
    reopened = " again" if resent.reopened else ""
    return f"✅ Queued {_people(resent.requeued)}; {state}{reopened}.{skipped}"


async def _keep(query: CallbackQuery, data: UnknownAction, ctx: AdminContext) -> str:
    await _edit(query, f"Nothing resent: run {data.run_id}'s unknown deliveries stay as they are.")
    return "ok"


_ACTIONS = {"list": _list, "ask": _ask, "resend": _resend, "keep": _keep}


async def _pressed(query: CallbackQuery, callback_data: UnknownAction, ctx: AdminContext) -> None:
    """Every press of an owner: do it, answer it, audit it (however it ends)."""
    act = _ACTIONS.get(callback_data.action)
    outcome = "failed"
    try:
        if act is None:
            outcome = "unknown action"
            await query.answer("This button is no longer active.")
            return
        await query.answer()
        outcome = await act(query, callback_data, ctx)
    except SegbotError as error:
        await ctx.session.rollback()
        outcome = f"refused: {error}"
        if isinstance(query.message, Message):
            await query.message.answer(escape(str(error)))
    finally:
        await audit.record(
            ctx.sessionmaker,
            admin_id=ctx.admin.user_id,
            action=f"unknown.{callback_data.action}",
            now=ctx.clock(),
            target=f"run {callback_data.run_id}",
            count=callback_data.count,
            outcome=outcome,
        )


async def _edit(
    query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None
) -> None:
    message = query.message
    if not isinstance(message, Message):
        return
    try:
        await message.edit_text(text, reply_markup=markup)
    except TelegramBadRequest as error:  # pressed twice: nothing new to show
        if "not modified" not in error.message:
            raise


def register_buttons(router: Router) -> None:
    router.callback_query.register(_pressed, UnknownAction.filter(), Allowed(OWNER_ONLY))
