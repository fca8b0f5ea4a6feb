"""What a `segbot run` process does (`--role`): everything, or one part of it.

Kept apart from bot/runtime.py so the CLI can offer the choices without importing aiogram.
"""

import enum


class Role(enum.StrEnum):
    ALL = "all"  # the bot, the sender, the scheduler and the web server: one process
    BOT = "bot"  # receives updates (polling, or the webhook inbox) and answers users
    SENDER = "sender"  # delivers broadcasts from the outbox
    SCHEDULER = "scheduler"  # campaign schedules, CRM syncs, segment refreshes (one leads)
    WEB = "web"  # tracked-link redirects
