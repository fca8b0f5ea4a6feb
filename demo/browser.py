"""What a subscriber's phone does with a tracked link in the demo: Telegram's preview
fetcher may request it first (not a click), then the person's browser opens it."""

import aiohttp

BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1"
PREVIEW = "TelegramBot (like TwitterBot)"


async def open_link(url: str, *, agents: tuple[str, ...] = (BROWSER,)) -> None:
    """Request `url` as each of `agents` in turn, without following the redirect."""
    async with aiohttp.ClientSession() as http:
        for agent in agents:
            async with http.get(url, allow_redirects=False, headers={"User-Agent": agent}):
                pass
