"""Driving the console in real headless Chromium (Debian's `chromium`, through Playwright).

Telegram's Mini App script is routed to `telegram_stub.js`, which gives the page the
`initData` a test signed with the test bot token (`init_data`), as Telegram would, and
records what the page does with the back and main buttons. Screenshots of each page, at
a phone's size, go to SCREENSHOTS: build/console, which git ignores, or the folder the
SEGBOT_SCREENSHOTS variable names (docs/console refreshes the ones the README links).
"""

import hashlib
import hmac
import json
import os
import shutil
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
from playwright.async_api import Browser, Page, Route, ViewportSize

from tests.e2e.conftest import BOT_TOKEN

STUB = Path(__file__).with_name("telegram_stub.js")
SCREENSHOTS = Path(__file__).parents[3] / os.environ.get("SEGBOT_SCREENSHOTS", "build/console")
PHONE = ViewportSize(width=390, height=844)  # an iPhone 12-15's viewport, in CSS pixels
TELEGRAM_SCRIPT = "https://telegram.org/js/telegram-web-app.js*"


def chromium_path() -> str:
    """Debian's chromium; under CI it must be there (.ci/run installs it), elsewhere the
    browser tests are skipped, visibly, without it."""
    found = os.environ.get("SEGBOT_CHROMIUM") or shutil.which("chromium")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


def init_data(
    user_id: int,
    *,
    first_name: str = "Admin",
    auth_date: int | None = None,
    token: str = BOT_TOKEN,
) -> str:
    """A Mini App's initData for `user_id`, signed as Telegram signs it."""
    fields = {
        "query_id": "AAHdF6IQAAAAAN0XohDhrOrc",
        "user": json.dumps({"id": user_id, "first_name": first_name, "language_code": "en"}),
        "auth_date": str(int(time.time()) if auth_date is None else auth_date),
    }
    check = "\n".join(f"{key}={fields[key]}" for key in sorted(fields))
    secret = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    return urlencode(fields)


async def open_console(browser: Browser, url: str, *, signed: str) -> Page:
    """A phone-sized page on the console at `url`, inside "Telegram" with `signed`
    initData."""
    context = await browser.new_context(viewport=PHONE, device_scale_factor=2)
    script = STUB.read_text().replace("__INIT_DATA__", json.dumps(signed))

    async def telegram(route: Route) -> None:
        await route.fulfill(status=200, content_type="application/javascript", body=script)

    await context.route(TELEGRAM_SCRIPT, telegram)
    page = await context.new_page()
    await page.goto(url)
    return page


async def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)
