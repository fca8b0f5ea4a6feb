"""The console's pages, one module each; every module has `routes`, an aiohttp
RouteTableDef with paths under /console (the sub-app's root is "/")."""

from bot.console.pages import audience, campaigns, home, journeys, reports, segments, signin

ALL = (home, signin, audience, segments, campaigns, journeys, reports)
