"""Reports: the campaigns and journeys to report on, a campaign's report (funnel per
target and variant, conversions, revenue, lift, A/B), a journey's per step, and their
CSV files, the same as `segbot report campaign|journey --csv` writes.

Every number comes from the domain reports (broadcasts.reports, journeys.reports) that
`/report` and `segbot report` use, with the attribution window of segbot.yaml; the pages
only lay them out (bot.console.report_campaign, bot.console.report_journey).

The CSV links are signed download links (bot.console.report_downloads): a plain GET
carries no console credential, so the link is its own, for one file, one admin and a few
minutes, and the admin's role is checked again when the file is fetched.
"""

import re

from aiohttp import web

from bot.admin.permissions import GRANTS, Permission, role_of
from bot.console.context import ConsoleServices, admin, render, requires, services
from bot.console.report_campaign import campaign_view
from bot.console.report_downloads import (
    Download,
    DownloadError,
    DownloadKind,
    download_url,
    read_download,
)
from bot.console.report_journey import journey_view
from broadcasts.campaigns import UnknownCampaignError, get_campaign, list_campaigns
from broadcasts.reports import CampaignReport, campaign_report, report_csv, results_csv
from core.errors import SegbotError
from journeys.reports import JourneyReport, journey_csv, journey_report
from journeys.store import UnknownJourneyError, list_journeys

routes = web.RouteTableDef()
CAMPAIGN_ID = r"{campaign:\d{1,18}}"  # longer is no id (and no database's integer)
JOURNEY_NAME = r"{journey:[A-Za-z0-9_.-]{1,48}}"  # as journeys.spec allows


@routes.get("/reports")
@requires(Permission.REPORTS)
async def reports(request: web.Request) -> web.Response:
    async with services(request).sessionmaker() as session:
        campaigns = await list_campaigns(session)
        journeys = await list_journeys(session)
    return render(request, "reports.html", campaigns=campaigns, journeys=journeys)


@routes.get(f"/reports/campaigns/{CAMPAIGN_ID}")
@requires(Permission.REPORTS)
async def campaign(request: web.Request) -> web.Response:
    try:
        report = await _campaign_report(services(request), request.match_info["campaign"])
    except UnknownCampaignError as error:
        return _missing(request, error)
    ref, name = str(report.campaign_id), report.campaign
    downloads = []
    if report.runs:  # before its first run, `segbot report` has nothing to write either
        downloads.append(_link(request, "Funnel CSV", DownloadKind.FUNNEL, ref, name))
    if report.lift or report.ab:
        downloads.append(_link(request, "Lift and A/B CSV", DownloadKind.RESULTS, ref, name))
    return render(
        request,
        "reports_campaign.html",
        report=report,
        view=campaign_view(report),
        downloads=downloads,
    )


@routes.get(f"/reports/journeys/{JOURNEY_NAME}")
@requires(Permission.REPORTS)
async def journey(request: web.Request) -> web.Response:
    try:
        report = await _journey_report(services(request), request.match_info["journey"])
    except UnknownJourneyError as error:
        return _missing(request, error)
    name = report.journey
    return render(
        request,
        "reports_journey.html",
        report=report,
        view=journey_view(report),
        downloads=[_link(request, "Steps CSV", DownloadKind.JOURNEY, name, name)],
    )


# Open (bot.console.app.OPEN_PATHS): the signed token stands for the admin, whose role is
# looked up again here, so no `requires`.
@routes.get("/reports/download/{token}")
async def download(request: web.Request) -> web.Response:
    console = services(request)
    try:
        wanted = read_download(
            request.match_info["token"], secret=console.secret, now=console.clock()
        )
    except DownloadError as error:
        raise web.HTTPForbidden(text=str(error)) from None
    async with console.sessionmaker() as session:
        role = await role_of(
            session, user_id=wanted.admin_user_id, owners=console.settings.admin_ids
        )
    if role is None or Permission.REPORTS not in GRANTS[role]:
        raise web.HTTPForbidden(text="your role does not allow this")
    try:
        name, text = await _csv(console, wanted)
    except (UnknownCampaignError, UnknownJourneyError) as error:  # deleted since
        raise web.HTTPNotFound(text=str(error)) from None
    return web.Response(
        body=text.encode(),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


async def _csv(console: ConsoleServices, wanted: Download) -> tuple[str, str]:
    """The file's name and text."""
    if wanted.kind is DownloadKind.JOURNEY:
        steps = await _journey_report(console, wanted.ref)
        return _file_name(wanted, steps.journey), journey_csv(steps)
    report = await _campaign_report(console, wanted.ref)
    text = report_csv(report) if wanted.kind is DownloadKind.FUNNEL else results_csv(report)
    return _file_name(wanted, report.campaign), text


async def _campaign_report(console: ConsoleServices, ref: str) -> CampaignReport:
    """UnknownCampaignError for no campaign (a journey's hidden one included)."""
    async with console.sessionmaker() as session:
        found = await get_campaign(session, ref=ref)
        return await campaign_report(
            session,
            campaign_id=found.id,
            now=console.clock(),
            window=console.services.reports.attribution_window,
        )


async def _journey_report(console: ConsoleServices, name: str) -> JourneyReport:
    """UnknownJourneyError for no journey of that name."""
    async with console.sessionmaker() as session:
        return await journey_report(
            session,
            name=name,
            now=console.clock(),
            window=console.services.reports.attribution_window,
        )


def _missing(request: web.Request, error: SegbotError) -> web.Response:
    """404 with the domain's words, as a page (console.js shows a refusal's HTML)."""
    return render(request, "reports_missing.html", status=404, message=str(error))


def _link(
    request: web.Request, label: str, kind: DownloadKind, ref: str, name: str
) -> tuple[str, str, str]:
    """(label, file name, URL) of a link to one CSV file, for the signed-in admin."""
    console = services(request)
    wanted = Download(kind, ref, admin(request).user_id)
    url = download_url(wanted, secret=console.secret, now=console.clock())
    return label, _file_name(wanted, name), url


def _file_name(wanted: Download, name: str) -> str:
    """The names `/report` gives the same files; a campaign's name is the marketer's
    text, so only its safe characters are kept."""
    if wanted.kind is DownloadKind.JOURNEY:
        return f"journey-{name}.csv"  # [A-Za-z0-9_.-] only (journeys.spec)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    suffix = "report" if wanted.kind is DownloadKind.FUNNEL else "results"
    return f"{safe}-{suffix}.csv"
