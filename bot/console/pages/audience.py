"""The Audience page: subscribers over time, by source, activity level, ladder stage and
RFM segment (charts, each with its counts as a table), for everyone who may read reports;
and, for those who may look subscribers up (as `/find` in the chat console), the search
and the subscriber card with tagging (`/tag`, `/untag`).

The search is POSTed, so what was typed (a phone, an email) never is in a URL; the card's
address is the subscriber's row id, /console/audience/subscribers/{id}.
"""

from datetime import date

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.admin.permissions import Permission
from bot.admin.subscribers import (
    UnknownSubscriberError,
    add_tag,
    find_subscriber,
    remove_tag,
)
from bot.console import audience_charts
from bot.console.audience_card import subscriber_card
from bot.console.context import audit, posted, render, requires, services
from broadcasts.reports import audience_stats
from broadcasts.reports.trends import subscribers_by_day
from core.errors import SegbotError
from core.models import Subscriber
from segments.ladder import ladder
from segments.models import RfmRun, RfmScore
from segments.rfm.purchases import customers_with_orders
from segments.rfm.scoring import shortfall

routes = web.RouteTableDef()
GROWTH_DAYS = 30
MAX_SEARCH = 320  # the longest email address a subscriber can have
SEARCH_ERROR, TAG_ERROR = "find-error", "tag-error"  # where a refusal is shown
CARD = r"/audience/subscribers/{subscriber:\d{1,18}}"  # longer is no row id (a BIGINT)


@routes.get("/audience")
@requires(Permission.REPORTS)
async def audience(request: web.Request) -> web.Response:
    console = services(request)
    now = console.clock()
    async with console.sessionmaker() as session:
        stats = await audience_stats(session, now=now)
        daily = await subscribers_by_day(session, now=now, days=GROWTH_DAYS)
        stages = await ladder(session)
        rfm, as_of = await _rfm_segments(session)
        no_rfm = "" if rfm else await _why_no_rfm(request, session)
    panels = [
        audience_charts.growth_panel(daily, days=GROWTH_DAYS),
        audience_charts.sources_panel(stats),
        audience_charts.activity_panel(stats),
        audience_charts.ladder_panel(stages),
    ]
    if rfm:
        panels.append(audience_charts.rfm_panel(rfm, console.services.rfm_names, as_of=as_of))
    return render(
        request,
        "audience.html",
        figures=audience_charts.figures(stats),
        panels=panels,
        no_rfm=no_rfm,
        max_search=MAX_SEARCH,
    )


async def _rfm_segments(session: AsyncSession) -> tuple[dict[str, int], date | None]:
    """Customers per stored RFM segment, and the day the scores are as of: what `/rfm`
    counts from segments.rfm.store.rfm_table, counted in the database instead, since this
    page needs no customer's row (the table is read whole into pandas: most of the
    page's time with ten thousand customers scored)."""
    rows = await session.execute(select(RfmScore.segment, func.count()).group_by(RfmScore.segment))
    as_of = await session.scalar(
        select(RfmRun.as_of).order_by(RfmRun.scored_at.desc(), RfmRun.id.desc()).limit(1)
    )
    return {str(segment): int(count) for segment, count in rows.all()}, as_of


async def _why_no_rfm(request: web.Request, session: AsyncSession) -> str:
    """As `/rfm` says it when nobody is scored."""
    customers = await customers_with_orders(session, as_of=services(request).clock().date())
    minimum = services(request).services.segments.rfm.min_customers
    too_few = shortfall(customers, minimum=minimum)
    if customers and too_few is not None:
        return f"No RFM scores: {too_few} (rfm.min_customers in segbot.yaml)."
    return "No RFM scores yet: they are computed after each CRM sync (or segbot rfm)."


@routes.post("/audience/search")
@requires(Permission.SUBSCRIBERS)
async def search(request: web.Request) -> web.Response:
    console = services(request)
    typed = (await posted(request)).get("subscriber", "").strip()
    if not typed or len(typed) > MAX_SEARCH:
        raise _refused(
            request,
            f"Type a Telegram id, @username, +phone or email (up to {MAX_SEARCH} characters).",
            slot=SEARCH_ERROR,
        )
    region = console.services.crm.rules_for().default_region
    async with console.sessionmaker() as session:
        try:
            found = await find_subscriber(session, ref=typed, region=region)
        except UnknownSubscriberError as error:
            await audit(request, "find", outcome="not found")
            raise _refused(
                request, str(error), answer=web.HTTPNotFound, slot=SEARCH_ERROR
            ) from None
    await audit(request, "find", subscriber=found.id)
    response = await _card_page(request, found.id)
    # The card's own address (a row id), not what was typed, goes into the history.
    response.headers["HX-Push-Url"] = f"/console/audience/subscribers/{found.id}"
    return response


@routes.get(CARD)
@requires(Permission.SUBSCRIBERS)
async def card(request: web.Request) -> web.Response:
    return await _card_page(request, _subscriber_id(request))


@routes.post(CARD + "/tags")
@requires(Permission.SUBSCRIBERS)
async def tag(request: web.Request) -> web.Response:
    return await _change_tag(request, adding=True)


@routes.post(CARD + "/tags/remove")
@requires(Permission.SUBSCRIBERS)
async def untag(request: web.Request) -> web.Response:
    return await _change_tag(request, adding=False)


async def _change_tag(request: web.Request, *, adding: bool) -> web.Response:
    """`/tag` or `/untag` from the card; the card again, saying what happened."""
    console = services(request)
    subscriber_id = _subscriber_id(request)
    tag_name = (await posted(request)).get("tag", "").strip()
    action = "tag" if adding else "untag"
    async with console.sessionmaker() as session:
        subscriber = await _subscriber(request, session, subscriber_id)
        try:
            if adding:
                changed = await add_tag(
                    session, subscriber=subscriber, tag=tag_name, now=console.clock()
                )
            else:
                changed = await remove_tag(session, subscriber=subscriber, tag=tag_name)
        except SegbotError as error:
            await audit(request, action, subscriber=subscriber_id, outcome=f"refused: {error}")
            raise _refused(request, str(error), slot=TAG_ERROR) from None
    await audit(request, action, subscriber=subscriber_id, tag=tag_name, changed=changed)
    if adding:
        done = f"Tagged {tag_name}." if changed else f"Already had the tag {tag_name}."
    else:
        done = f"Removed the tag {tag_name}." if changed else f"Did not have the tag {tag_name}."
    return await _card_page(request, subscriber_id, done=done)


async def _card_page(request: web.Request, subscriber_id: int, *, done: str = "") -> web.Response:
    console = services(request)
    async with console.sessionmaker() as session:
        subscriber = await _subscriber(request, session, subscriber_id)
        found = await subscriber_card(
            session,
            subscriber=subscriber,
            now=console.clock(),
            rfm_names=console.services.rfm_names,
        )
    return render(request, "audience_card.html", card=found, done=done)


def _subscriber_id(request: web.Request) -> int:
    return int(request.match_info["subscriber"])


def _refused(
    request: web.Request,
    message: str,
    *,
    answer: type[web.HTTPClientError] = web.HTTPBadRequest,
    slot: str | None = None,
) -> web.HTTPClientError:
    """Why a request was refused, as HTML console.js puts in the page: in the element
    `slot` names (next to the form), else where the answer was to go."""
    html = render(request, "audience_refused.html", message=message).text or ""
    headers = {"HX-Retarget": f"#{slot}", "HX-Reswap": "innerHTML"} if slot else None
    return answer(text=html, content_type="text/html", headers=headers)


async def _subscriber(
    request: web.Request, session: AsyncSession, subscriber_id: int
) -> Subscriber:
    found = await session.get(Subscriber, subscriber_id)
    if found is None:
        raise _refused(request, "No subscriber has that id.", answer=web.HTTPNotFound)
    return found
