"""The console's first page: the audience at a glance, where each role can go, and, in a
desktop browser signed in by a link, signing out."""

from aiohttp import web
from sqlalchemy import func, select

from bot.admin.permissions import Permission
from bot.console.context import SIGNED_IN_BY_COOKIE, render, requires, services
from broadcasts.models import Campaign, CampaignStatus
from core.models import Subscriber, SubscriberStatus
from journeys.models import Journey, JourneyStatus
from segments.models import Segment

routes = web.RouteTableDef()


@routes.get("/")
@requires(Permission.REPORTS)
async def home(request: web.Request) -> web.Response:
    async with services(request).sessionmaker() as session:
        figures = {
            "Subscribers": await session.scalar(
                select(func.count())
                .select_from(Subscriber)
                .where(Subscriber.status == SubscriberStatus.ACTIVE)
            ),
            "Segments": await session.scalar(select(func.count()).select_from(Segment)),
            "Campaigns scheduled": await session.scalar(
                select(func.count())
                .select_from(Campaign)
                .where(Campaign.status == CampaignStatus.SCHEDULED)
            ),
            "Journeys live": await session.scalar(
                select(func.count())
                .select_from(Journey)
                .where(Journey.status == JourneyStatus.LIVE)
            ),
        }
    return render(
        request, "home.html", figures=figures, can_sign_out=SIGNED_IN_BY_COOKIE in request
    )
