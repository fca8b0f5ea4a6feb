"""Operator commands: `/find` (the subscriber card), `/tag`, `/untag` and `/sync`."""

from html import escape

from bot.admin.monospace import bold, code, pieces, table
from bot.admin.permissions import Permission
from bot.admin.registry import AdminCommand, Call
from bot.admin.subscriber_card import card
from bot.admin.subscribers import add_tag, find_subscriber, remove_tag
from core.models import Subscriber
from crm_sync.jobs import sync_configured
from segments.rules.errors import excerpt


async def _subscriber(call: Call, ref: str) -> Subscriber:
    region = call.services.crm.rules_for().default_region
    return await find_subscriber(call.session, ref=ref, region=region)


async def find_command(call: Call) -> None:
    if not call.args:
        raise call.usage("Give the subscriber to show.")
    subscriber = await _subscriber(call, call.args)
    lines = await card(
        call.session, subscriber=subscriber, clock=call.clock, rfm_names=call.services.rfm_names
    )
    for text in pieces(lines, separator="\n"):
        await call.reply(text)


def _user_and_tag(call: Call) -> tuple[str, str]:
    words = call.args.split()
    if not words:
        raise call.usage("Give the subscriber and one tag.")
    if len(words) == 1:
        raise call.usage(f"Give the tag after the subscriber {excerpt(words[0])!r}.")
    if len(words) > 2:
        more = excerpt(" ".join(words[2:]))
        raise call.usage(f"A tag is one word without spaces: {more!r} is more than one tag.")
    return words[0], words[1]


async def tag_command(call: Call) -> None:
    ref, tag = _user_and_tag(call)
    subscriber = await _subscriber(call, ref)
    added = await add_tag(call.session, subscriber=subscriber, tag=tag, now=call.clock())
    verdict = "tagged" if added else "already had the tag"
    await call.reply(f"{code(str(subscriber.telegram_id))} {verdict} {code(tag)}.")


async def untag_command(call: Call) -> None:
    ref, tag = _user_and_tag(call)
    subscriber = await _subscriber(call, ref)
    removed = await remove_tag(call.session, subscriber=subscriber, tag=tag)
    verdict = "no longer has" if removed else "did not have"
    await call.reply(f"{code(str(subscriber.telegram_id))} {verdict} the tag {code(tag)}.")


async def sync_command(call: Call) -> None:
    names = call.args.split()
    if not call.services.crm.connectors:
        await call.reply("No CRM connectors are configured (the crm: section of segbot.yaml).")
        return
    for name in names:
        call.services.crm.connector(name)  # an unknown name is refused before anything runs
    await call.reply(f"Syncing {escape(', '.join(names) or 'every connector')}…")
    summaries = await sync_configured(
        sessionmaker=call.sessionmaker,
        config=call.services.crm,
        names=names or None,
        on_synced=call.services.on_synced,
        clock=call.clock,
    )
    rows = [
        (
            s.connector,
            s.status,
            s.total("read"),
            s.total("inserted"),
            s.total("updated"),
            s.total("rejected"),
        )
        for s in summaries
    ]
    lines = [bold("CRM sync"), table(["connector", "status", "read", "new", "upd", "rej"], rows)]
    for summary in summaries:
        if summary.error:
            lines.append(f"{escape(summary.connector)}: {escape(summary.error)}")
        elif summary.matching is not None:
            match = summary.matching
            lines.append(
                f"{escape(summary.connector)}: {match.linked} newly matched to subscribers, "
                f"{match.unlinked} unlinked, {match.conflicts} conflicts"
            )
    await call.reply("\n".join(lines))


COMMANDS = (
    AdminCommand(
        "find",
        Permission.SUBSCRIBERS,
        "/find USER",
        "A subscriber's card (USER: Telegram id, @username, +phone or email)",
        find_command,
    ),
    AdminCommand("tag", Permission.SUBSCRIBERS, "/tag USER TAG", "Tag a subscriber", tag_command),
    AdminCommand("untag", Permission.SUBSCRIBERS, "/untag USER TAG", "Remove a tag", untag_command),
    AdminCommand(
        "sync",
        Permission.SYNC,
        "/sync [CONNECTOR...]",
        "Run the CRM sync now (every connector, or those named), then a summary",
        sync_command,
    ),
)
