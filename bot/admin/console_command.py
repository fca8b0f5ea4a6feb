"""`/console`: the Mini App console, from the chat.

Inside Telegram the console opens as a Mini App, from the button this answers with (and
from each admin's menu button, bot.admin.menu). Telegram opens Mini Apps only from https
URLs, so on a deployment whose SEGBOT_PUBLIC_URL is http the reply says so.
`/console link` sends a one-time sign-in link for a desktop browser instead: signed,
good for SEGBOT_CONSOLE_LINK_MINUTES, used once; the link carries a random nonce, never
who it is for.
"""

from datetime import timedelta

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, WebAppInfo

from bot.admin.permissions import Permission
from bot.admin.registry import AdminCommand, Call
from bot.console.identity import console_url, issue_link, sign_in_url
from core.errors import SegbotError
from segments.rules.errors import excerpt


def opens_in_telegram(public_url: str) -> bool:
    """Telegram opens Mini Apps only from https URLs."""
    return public_url.startswith("https://")


async def console_command(call: Call) -> None:
    settings = call.settings
    if call.args == "link":
        await _send_link(call)
        return
    if call.args:
        raise call.usage(
            f"{excerpt(call.args)!r} is not understood: /console opens the console, "
            "/console link sends a one-time sign-in link."
        )
    if not opens_in_telegram(settings.public_url):
        await call.reply(
            "The console opens inside Telegram only from an https address, and "
            "SEGBOT_PUBLIC_URL is not one. Send /console link for a one-time sign-in link "
            "to open it in a browser."
        )
        return
    button = InlineKeyboardButton(
        text="Open the console", web_app=WebAppInfo(url=console_url(settings.public_url))
    )
    await call.message.answer(
        "The console: audience, segments, campaigns, journeys and reports.\n"
        "On a desktop browser, send /console link for a one-time sign-in link.",
        reply_markup=InlineKeyboardMarkup(inline_keyboard=[[button]]),
    )


async def _send_link(call: Call) -> None:
    settings = call.settings
    if settings.secret_key is None:  # `segbot run` requires it; said for completeness
        raise SegbotError("SEGBOT_SECRET_KEY must be set to sign console links")
    token = await issue_link(
        call.session,
        admin_user_id=call.admin.user_id,
        secret=settings.secret_key.get_secret_value(),
        lifetime=timedelta(minutes=settings.console_link_minutes),
        now=call.clock(),
    )
    await call.session.commit()
    await call.message.answer(
        f"Your sign-in link, good once within {settings.console_link_minutes} minutes:\n"
        f"{sign_in_url(settings.public_url, token)}\n"
        "Do not forward it: whoever opens it first is signed in as you.",
        link_preview_options=LinkPreviewOptions(is_disabled=True),
    )


COMMANDS = (
    AdminCommand(
        "console",
        Permission.REPORTS,
        "/console [link]",
        "Open the console (a Mini App); `link`: a one-time sign-in link for a browser",
        console_command,
    ),
)
