"""`/journeys` and `/journey NAME`: every journey with its status and counts, and one
journey's state with its counts per step, Pause or Resume for those whose role allows
changing campaigns, and Refresh for everyone who may read reports.

Pausing and resuming go through journeys.store.set_status, which writes the audit entry
(`journey.pause`, `journey.resume`, by the admin) with the change; a press that is
refused (the journey is no longer live, say) is audited here with its reason. The
counts come from journeys.reports; this module only presents them.
"""

from html import escape

from aiogram import Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.admin import audit
from bot.admin.context import AdminContext
from bot.admin.monospace import bold, table
from bot.admin.permissions import AdminUser, Allowed, Permission
from bot.admin.registry import AdminCommand, Call
from core.errors import SegbotError
from core.ids import Id
from journeys.models import Journey, JourneyStatus
from journeys.reports import JourneyReport, journey_report
from journeys.reports.counts import Entries, entries
from journeys.reports.words import entries_line, heading, lift_line
from journeys.store import UnknownJourneyError, get_journey, list_journeys, set_status

SHOWN_STEPS = 30  # a view lists this many steps at most: /report journey has them all
_CHANGES = {"pause": (JourneyStatus.PAUSED, "Paused."), "resume": (JourneyStatus.LIVE, "Resumed.")}


class JourneyAction(CallbackData, prefix="admj"):
    action: str  # show, refresh, pause, resume
    journey_id: Id


def _button(text: str, action: str, journey_id: int) -> InlineKeyboardButton:
    data = JourneyAction(action=action, journey_id=journey_id).pack()
    return InlineKeyboardButton(text=text, callback_data=data)


def view_text(report: JourneyReport) -> str:
    """The journey's state and its counts per step (the first SHOWN_STEPS)."""
    rows = [
        (row.step if row.in_latest else f"{row.step}*", row.places.reached, row.places.waiting,
         row.messages.sent, row.messages.clicked, row.places.converted)
        for row in report.steps[:SHOWN_STEPS]
    ]  # fmt: skip
    lines = [
        bold(f"Journey {report.journey}"),
        escape(heading(report)),
        escape(entries_line(report)),
        table(["step", "reached", "now", "sent", "clicked", "conv"], rows),
    ]
    if len(report.steps) > SHOWN_STEPS:
        more = len(report.steps) - SHOWN_STEPS
        lines.append(f"{more} more steps: /report journey {escape(report.journey)}")
    if any(not row.in_latest for row in report.steps):
        lines.append("* a step only an older version has")
    if report.lift is not None:
        lines.append(escape(lift_line(report.lift)))
    return "\n".join(lines)


def view_markup(report: JourneyReport, journey_id: int, admin: AdminUser) -> InlineKeyboardMarkup:
    row = []
    if admin.can(Permission.CAMPAIGNS):
        if report.status is JourneyStatus.LIVE:
            row.append(_button("⏸ Pause", "pause", journey_id))
        if report.status is JourneyStatus.PAUSED:
            row.append(_button("▶ Resume", "resume", journey_id))
    row.append(_button("↻ Refresh", "refresh", journey_id))
    return InlineKeyboardMarkup(inline_keyboard=[row])


async def _view(ctx: AdminContext, journey: Journey) -> tuple[str, InlineKeyboardMarkup]:
    window = ctx.services.reports.attribution_window
    report = await journey_report(ctx.session, name=journey.name, now=ctx.clock(), window=window)
    return view_text(report), view_markup(report, journey.id, ctx.admin)


def list_text(journeys: list[Journey], counts: dict[int, Entries]) -> str:
    rows = []
    for journey in journeys:
        entered = counts.get(journey.id, Entries())
        rows.append(
            (journey.name, journey.status.value, entered.entered - entered.holdout,
             entered.inside, entered.converted)
        )  # fmt: skip
    return (
        f"{bold('Journeys')} ({len(journeys)})\n"
        f"{table(['name', 'status', 'entered', 'inside', 'converted'], rows)}\n"
        "Tap one, or /journey NAME."
    )


async def journeys_command(call: Call) -> None:
    if call.args:
        raise call.usage("/journeys takes no arguments.")
    journeys = await list_journeys(call.session)
    if not journeys:
        await call.reply("No journeys yet: segbot journey create FILE.yaml makes one.")
        return
    counts = await entries(call.session, journey_ids=[journey.id for journey in journeys])
    buttons = [[_button(journey.name, "show", journey.id)] for journey in journeys]
    await call.message.answer(
        list_text(journeys, counts), reply_markup=InlineKeyboardMarkup(inline_keyboard=buttons)
    )


async def journey_command(call: Call) -> None:
    journey = await get_journey(call.session, name=call.single("the journey's name"))
    text, markup = await _view(call.ctx, journey)
    await call.message.answer(text, reply_markup=markup)


async def _journey(session: AsyncSession, journey_id: int) -> Journey:
    journey = await session.get(Journey, journey_id)
    if journey is None:
        raise UnknownJourneyError("that journey no longer exists")
    return journey


async def _control(query: CallbackQuery, callback_data: JourneyAction, ctx: AdminContext) -> None:
    status, done = _CHANGES[callback_data.action]
    try:
        journey = await _journey(ctx.session, callback_data.journey_id)
        await set_status(
            ctx.session, name=journey.name, status=status, now=ctx.clock(), actor=ctx.admin.user_id
        )
    except SegbotError as error:
        await ctx.session.rollback()
        done = str(error)
        await audit.record(
            ctx.sessionmaker,
            admin_id=ctx.admin.user_id,
            action=f"journey.{callback_data.action}",
            now=ctx.clock(),
            target=f"journey {callback_data.journey_id}",
            outcome=f"refused: {done}",
        )
    await query.answer(done[:200])
    await _redraw(query, callback_data.journey_id, ctx)


async def _show(query: CallbackQuery, callback_data: JourneyAction, ctx: AdminContext) -> None:
    await query.answer()
    if callback_data.action == "show" and isinstance(query.message, Message):
        text, markup = await _view(ctx, await _journey(ctx.session, callback_data.journey_id))
        await query.message.answer(text, reply_markup=markup)
        return
    await _redraw(query, callback_data.journey_id, ctx)


async def _redraw(query: CallbackQuery, journey_id: int, ctx: AdminContext) -> None:
    """Show the journey's state in the pressed message."""
    if not isinstance(query.message, Message):
        return
    try:
        text, markup = await _view(ctx, await _journey(ctx.session, journey_id))
        await query.message.edit_text(text, reply_markup=markup)
    except UnknownJourneyError as error:
        await query.message.edit_text(escape(str(error)))
    except TelegramBadRequest as error:  # Refresh with nothing new to show
        if "not modified" not in error.message:
            raise


async def _is_control(query: CallbackQuery, callback_data: JourneyAction) -> bool:
    return callback_data.action in _CHANGES


async def _is_view(query: CallbackQuery, callback_data: JourneyAction) -> bool:
    return callback_data.action in ("show", "refresh")


def register_buttons(router: Router) -> None:
    router.callback_query.register(
        _control, JourneyAction.filter(), _is_control, Allowed(Permission.CAMPAIGNS)
    )
    router.callback_query.register(
        _show, JourneyAction.filter(), _is_view, Allowed(Permission.REPORTS)
    )


COMMANDS = (
    AdminCommand(
        "journeys",
        Permission.REPORTS,
        "/journeys",
        "Every journey with its status, entries and conversions",
        journeys_command,
    ),
    AdminCommand(
        "journey",
        Permission.REPORTS,
        "/journey NAME",
        "A journey's state and counts per step, with pause and resume",
        journey_command,
    ),
)
