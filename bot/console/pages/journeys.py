"""The Journeys page: every journey with its status and counts (`/journeys` in the chat
console), and one journey's state (`/journey NAME`): its counts per step, a read-only
diagram of its steps, and Pause or Resume for those who may change campaigns.

Pausing and resuming go through journeys.store.set_status, as in the chat, which writes
its audit entry (`journey.pause`, `journey.resume`) with the change; the console's own
entry says it came from here, and a refused change (the journey is no longer live, say)
is audited with its reason and answered 409 with it.
"""

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from bot.admin.permissions import Permission
from bot.console.context import admin, audit, render, requires, services
from bot.console.journey_diagram import diagram
from bot.console.journey_messages import step_messages
from core.errors import SegbotError
from journeys.models import Journey, JourneyStatus
from journeys.reports import journey_report
from journeys.reports.counts import Entries, entries
from journeys.reports.words import entries_line, heading, lift_line, outcomes_text
from journeys.spec import stored_spec
from journeys.store import latest_version, list_journeys, set_status

routes = web.RouteTableDef()
JOURNEY = r"/journeys/{journey:\d{1,18}}"  # longer is no row id (a BIGINT)
CHANGE_ERROR = "journey-error"  # where a refused pause or resume is shown
_CHANGES = {"pause": (JourneyStatus.PAUSED, "Paused."), "resume": (JourneyStatus.LIVE, "Resumed.")}


@routes.get("/journeys")
@requires(Permission.REPORTS)
async def journey_list(request: web.Request) -> web.Response:
    async with services(request).sessionmaker() as session:
        found = await list_journeys(session)
        counts = await entries(session, journey_ids=[journey.id for journey in found])
    rows = []
    for journey in found:
        entered = counts.get(journey.id, Entries())
        rows.append((journey, entered.entered - entered.holdout, entered.inside, entered.converted))
    return render(request, "journeys.html", rows=rows)


@routes.get(JOURNEY)
@requires(Permission.REPORTS)
async def journey_view(request: web.Request) -> web.Response:
    return await _journey_page(request, _journey_id(request))


@routes.post(JOURNEY + "/pause")
@requires(Permission.CAMPAIGNS)
async def pause(request: web.Request) -> web.Response:
    return await _change(request, "pause")


@routes.post(JOURNEY + "/resume")
@requires(Permission.CAMPAIGNS)
async def resume(request: web.Request) -> web.Response:
    return await _change(request, "resume")


async def _change(request: web.Request, action: str) -> web.Response:
    console = services(request)
    journey_id = _journey_id(request)
    status, done = _CHANGES[action]
    async with console.sessionmaker() as session:
        name = (await _journey(request, session, journey_id)).name
        try:
            await set_status(
                session, name=name, status=status, now=console.clock(), actor=admin(request).user_id
            )
        except SegbotError as error:
            await session.rollback()
            await audit(request, f"journey.{action}", journey=name, outcome=f"refused: {error}")
            raise _refused(
                request, str(error), answer=web.HTTPConflict, slot=CHANGE_ERROR
            ) from None
    await audit(request, f"journey.{action}", journey=name, outcome="done")
    return await _journey_page(request, journey_id, done=done)


async def _journey_page(request: web.Request, journey_id: int, *, done: str = "") -> web.Response:
    console = services(request)
    window = console.services.reports.attribution_window
    async with console.sessionmaker() as session:
        found = await _journey(request, session, journey_id)
        report = await journey_report(session, name=found.name, now=console.clock(), window=window)
        version = await latest_version(session, journey=found)
        messages = await step_messages(session, campaign_id=version.campaign_id)
    return render(
        request,
        "journeys_journey.html",
        journey=found,
        report=report,
        heading=heading(report),
        entries=entries_line(report),
        lift=None if report.lift is None else lift_line(report.lift),
        steps=[(row, outcomes_text(row.places.outcomes)) for row in report.steps],
        older_steps=any(not row.in_latest for row in report.steps),
        flow_items=diagram(
            stored_spec(version.spec), {row.step: row for row in report.steps}, messages
        ),
        done=done,
        pausable=report.status is JourneyStatus.LIVE,
        resumable=report.status is JourneyStatus.PAUSED,
    )


def _journey_id(request: web.Request) -> int:
    return int(request.match_info["journey"])


async def _journey(request: web.Request, session: AsyncSession, journey_id: int) -> Journey:
    found = await session.get(Journey, journey_id)
    if found is None:
        raise _refused(request, "No journey has that id.", answer=web.HTTPNotFound)
    return found


def _refused(
    request: web.Request,
    message: str,
    *,
    answer: type[web.HTTPClientError],
    slot: str | None = None,
) -> web.HTTPClientError:
    """Why a request was refused, as HTML console.js puts in the page: in the element
    `slot` names (by the buttons), else where the answer was to go."""
    html = render(request, "journeys_refused.html", message=message).text or ""
    headers = {"HX-Retarget": f"#{slot}", "HX-Reswap": "innerHTML"} if slot else None
    return answer(text=html, content_type="text/html", headers=headers)
