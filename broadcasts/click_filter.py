"""Which hits on a tracked link are a person clicking, and which are a machine fetching it.

Many things request a link nobody has clicked yet: Telegram draws a preview card for
every message it delivers, mail and chat scanners (Outlook Safe Links, Slack, Mastodon,
Iframely) check it, browsers prefetch it, scripts fetch it with an HTTP library. All of
them are still redirected, so a scanner never breaks the link; none of them is a click,
so click rates, inferred reads and click tags stay about people. Nor are they kept as
events of another kind: Telegram's own preview alone would add one per delivery with a link,
and none of them says anything about the person the link was sent to.

The lists below are matched as lower-case substrings of the User-Agent (and of the
purpose headers). To recognise another machine, add a fragment to the right list; keep
fragments specific enough that no browser's User-Agent contains them.
"""

import enum
from collections.abc import Mapping


class NotAClick(enum.StrEnum):
    """Why a hit on a tracked link was redirected without being counted."""

    HEAD = "head"  # asks whether the link works, not for the page
    PREFETCH = "prefetch"  # a browser fetching ahead, before anyone chose the link
    NO_USER_AGENT = "no_user_agent"  # every browser sends one
    HTTP_LIBRARY = "http_library"  # a script or a server, not a browser
    SCANNER = "scanner"  # a link previewer, unfurler, crawler or safety scanner


# Headers a browser adds when it fetches a page speculatively, and the values that say so.
PURPOSE_HEADERS = ("sec-purpose", "purpose", "x-purpose", "x-moz")
PURPOSE_VALUES = ("prefetch", "prerender", "preview")

# Link previewers, unfurlers, crawlers and safety scanners
SCANNERS = (
    # Messengers and social networks drawing a preview card
    "telegrambot",
    "twitterbot",
    "facebookexternalhit",
    "facebot",
    "meta-externalagent",
    "whatsapp",
    "discordbot",
    "linkedinbot",
    "skypeuripreview",  # Skype and Microsoft Teams
    "slackbot",
    "slack-imgproxy",
    "mastodon",
    "vkshare",
    "redditbot",
    "pinterestbot",
    "embedly",
    "iframely",
    # Mail and office safety checks (Outlook Safe Links, Office's "does it exist" probe)
    "microsoft office",
    "ms-office",
    "msoffice",
    "bingpreview",
    # Search engines and other crawlers, which also say so in general terms below
    "googlebot",
    "bingbot",
    "applebot",
    "yandexbot",
    "duckduckbot",
    "slurp",  # Yahoo
    # General marks of a robot: a "…bot/1.0" product or a "; bot;" comment, a contact URL
    # ("+https://…", or without the +: no browser names a URL)
    "bot/",
    "bot;",
    "crawler",
    "spider",
    "http://",
    "https://",
)

# Scripts and servers, and headless browsers (sandboxes that open a link to test it)
HTTP_LIBRARIES = (
    "curl/",
    "wget/",
    "python-requests",
    "python-urllib",
    "python-httpx",
    "aiohttp/",
    "go-http-client",
    "okhttp",
    "java/",
    "java-http-client",
    "dalvik/",  # Android's HttpURLConnection (its web views say Mozilla)
    "apache-httpclient",
    "jakarta commons-httpclient",
    "libwww-perl",
    "node-fetch",
    "axios/",
    "undici",
    "guzzlehttp",
    "dart:io",
    "http.rb",
    "reqwest",
    "httpie/",
    "deno/",
    "bun/",
    "postmanruntime",
    "scrapy",
    "headlesschrome",
    "phantomjs",
)

# Libraries whose whole User-Agent is one word (Ruby's Net::HTTP says "Ruby")
BARE_LIBRARY_AGENTS = frozenset({"ruby", "java", "python", "perl"})


def not_a_click(*, method: str, headers: Mapping[str, str]) -> NotAClick | None:
    """Why this hit is not a person's click, or None if it is one."""
    if method.upper() == "HEAD":
        return NotAClick.HEAD
    lowered = {name.lower(): value.lower() for name, value in headers.items()}
    if any(
        value in lowered.get(header, "") for header in PURPOSE_HEADERS for value in PURPOSE_VALUES
    ):
        return NotAClick.PREFETCH
    agent = lowered.get("user-agent", "").strip()
    if not agent:
        return NotAClick.NO_USER_AGENT
    if agent in BARE_LIBRARY_AGENTS:
        return NotAClick.HTTP_LIBRARY
    if any(fragment in agent for fragment in SCANNERS):
        return NotAClick.SCANNER
    if any(fragment in agent for fragment in HTTP_LIBRARIES):
        return NotAClick.HTTP_LIBRARY
    return None
