"""The demo's last act: an owner opens the admin console in the emulated chat, runs
/stats, /report and /report journey, and the chart images the bot sent are saved into
the folder it is given (`segbot demo`: ./segbot-demo/charts), which it names.

`segbot demo` calls `show_admin_console(emulator, admin_id, into=folder)` while the bot
is running; `admin_id` must be in the demo settings' `admin_ids`.
"""

from pathlib import Path

from rich.console import Console

from bot.admin.campaign_commands import CampaignAction
from cli.tables import SafeConsole
from telegram_emulator import Emulator, SentMessage

STEP_TIMEOUT = 15.0


async def _ask(emulator: Emulator, admin_id: int, line: str, replies: int) -> list[SentMessage]:
    before = len(emulator.messages_to(admin_id))
    await emulator.send_text(admin_id, line)
    received = await emulator.wait_for_messages(admin_id, before + replies, timeout=STEP_TIMEOUT)
    return received[before:]


def _latest_campaign(listing: SentMessage) -> int | None:
    """The first campaign /campaigns offers (the newest), from its button."""
    for _text, data in listing.callback_buttons():
        return CampaignAction.unpack(data).campaign_id
    return None


def _save_charts(messages: list[SentMessage], folder: Path, prefix: str) -> list[Path]:
    saved = []
    for number, message in enumerate(messages, 1):
        if message.photo is not None and message.file_content:
            path = folder / f"{prefix}-{number}.png"
            path.write_bytes(message.file_content)
            saved.append(path)
    return saved


async def show_admin_console(
    emulator: Emulator,
    admin_id: int,
    *,
    into: Path,
    campaign_id: int | None = None,
    journey: str | None = None,
    console: Console | None = None,
) -> Path:
    """Run /stats and /report (of `campaign_id`, else the newest campaign), and with
    `journey` /report journey NAME, as `admin_id`; print the replies, save the chart images
    into the existing folder `into` and return it."""
    console = console or SafeConsole()
    emulator.add_user(admin_id, first_name="Owner")
    console.print("Admin console: the owner sends /stats")
    stats = await _ask(emulator, admin_id, "/stats", replies=2)
    console.print(stats[0].plain_text)
    charts = _save_charts(stats, into, "stats")
    if campaign_id is None:
        (listing,) = await _ask(emulator, admin_id, "/campaigns", replies=1)
        campaign_id = _latest_campaign(listing)
    if campaign_id is None:
        console.print("No campaign yet, so no /report.")
    else:
        console.print(f"The owner sends /report {campaign_id}")
        report = await _ask(emulator, admin_id, f"/report {campaign_id}", replies=3)
        console.print(report[0].plain_text)
        charts += _save_charts(report, into, f"report-{campaign_id}")
    if journey is not None:
        console.print(f"The owner sends /report journey {journey}")
        report = await _ask(emulator, admin_id, f"/report journey {journey}", replies=3)
        console.print(report[0].plain_text)
        charts += _save_charts(report, into, f"journey-{journey}")
    console.print(f"Saved {len(charts)} chart image(s) the admin received to {into}")
    return into
