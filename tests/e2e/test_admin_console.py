"""The admin console's commands through the emulator: every command for a role that may
use it and for one that may not (who gets the ordinary subscriber reply), bad input
answered with usage, admins managed by owners, menus per role, and the audit log."""

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.admin import CATALOG
from broadcasts.campaigns import save_campaign
from broadcasts.spec import parse_campaign
from core.clock import utcnow
from core.models import AuditLog, Subscriber
from segments.saved import save_segment
from telegram_emulator import Emulator
from telegram_emulator.json_types import JSONObject
from tests.bot.admin.console import (
    MARKETER,
    NOT_A_COMMAND,
    OPERATOR,
    OWNER,
    STRANGER,
    VIEWER,
    Chat,
    add_people,
    add_staff,
    chat_scope,
    running_console,
)
from tests.polling import until

pytestmark = [pytest.mark.e2e]

# command line, a role that may use it, one that may not, how many replies the allowed get
ROUNDS = [
    ("/help", VIEWER, STRANGER, 1),
    ("/stats", VIEWER, STRANGER, 2),
    ("/segments", VIEWER, STRANGER, 1),
    ("/segment spanish", VIEWER, STRANGER, 2),
    ("/segment_save vip lang = es", MARKETER, VIEWER, 1),
    ("/segment_delete vip", MARKETER, OPERATOR, 1),
    ("/rfm", VIEWER, STRANGER, 1),
    ("/ladder", VIEWER, STRANGER, 2),
    ("/export spanish", MARKETER, OPERATOR, 1),
    ("/ai_segments", VIEWER, STRANGER, 1),
    ("/lookalike spanish 1", MARKETER, OPERATOR, 1),
    ("/persona_create es | busy | text | warm | free delivery | spanish", MARKETER, OPERATOR, 1),
    ("/personas", VIEWER, STRANGER, 1),
    ("/persona es", VIEWER, STRANGER, 1),
    ("/persona_from spanish", MARKETER, VIEWER, 1),
    ("/persona_delete es", MARKETER, OPERATOR, 1),
    ("/campaigns", VIEWER, STRANGER, 1),
    ("/campaign 1", VIEWER, STRANGER, 1),
    ("/report 1", VIEWER, STRANGER, 3),
    ("/broadcast", MARKETER, OPERATOR, 1),
    ("/cancel", MARKETER, VIEWER, 1),
    ("/journeys", VIEWER, STRANGER, 1),
    ("/console", VIEWER, STRANGER, 1),  # on http: how to sign in from a browser
    ("/journey welcome", VIEWER, STRANGER, 1),  # none yet: "no journey named ..."
    ("/find @ana", OPERATOR, MARKETER, 1),
    ("/tag 1001 vip", OPERATOR, VIEWER, 1),
    ("/untag 1001 vip", OPERATOR, VIEWER, 1),
    ("/sync", OPERATOR, MARKETER, 1),
    ("/admins list", OWNER, MARKETER, 1),
    ("/audit", OWNER, OPERATOR, 1),
]
CAMPAIGN = "name: welcome\naudience:\n  - segment: spanish\n    text: Hola {{ first_name }}\n"


@pytest.fixture(scope="module")
async def emulator(database_url: str, engine: AsyncEngine) -> AsyncIterator[Emulator]:
    async with running_console(database_url) as emulator:
        yield emulator


@pytest.fixture
async def shop(session: AsyncSession, emulator: Emulator) -> int:
    """Staff, three subscribers, two segments and a campaign; the campaign's id."""
    await add_staff(session)
    await add_people(
        session, emulator,
        {"telegram_id": 1001, "first_name": "Ana", "username": "ana", "language_code": "es",
         "phone": "+34600111222", "email": "ana@example.com", "source": "promo"},
        {"telegram_id": 1002, "language_code": "ru"},
        {"telegram_id": 1003, "language_code": "en"},
    )  # fmt: skip
    await save_segment(session, name="spanish", rule_text="lang = es", now=utcnow())
    await save_segment(session, name="russian", rule_text="lang = ru", now=utcnow())
    campaign = await save_campaign(session, spec=parse_campaign(CAMPAIGN), now=utcnow())
    return campaign.id


def test_every_command_is_in_a_round() -> None:
    assert {line.split()[0][1:] for line, *_ in ROUNDS} == set(CATALOG.by_name)


async def test_each_command_for_an_allowed_and_a_refused_role(
    emulator: Emulator, shop: int, session: AsyncSession
) -> None:
    for line, allowed, refused, replies in ROUNDS:
        line = (
            line.replace(" 1", f" {shop}") if line.startswith(("/campaign ", "/report")) else line
        )
        answers = await Chat(emulator, allowed).say(line, replies=replies)
        assert NOT_A_COMMAND not in answers[0].plain_text, line
        assert not answers[0].plain_text.startswith("Usage"), (line, answers[0].plain_text)
        refusal = await Chat(emulator, refused).reply(line)
        if line == "/help":
            assert refusal.startswith("/start — subscribe"), refusal
        else:
            assert refusal == NOT_A_COMMAND, (line, refusal)
    by: set[tuple[int, str]] = set()

    async def all_audited() -> bool:  # written just after each command's reply
        by.update(await session.execute(select(AuditLog.admin_user_id, AuditLog.action)))
        return len(by) >= len(ROUNDS)

    await until(all_audited, what="every round in the audit log")
    for line, allowed, refused, _ in ROUNDS:
        name = line.split()[0][1:]
        assert (allowed, name) in by, line
        assert (refused, name) not in by, line


BAD_INPUT = [
    ("/segment_save", "Usage: /segment_save NAME QUERY"),
    ("/segment_save vip", "Give a one-word name and a query."),
    ("/segment lang = ", "at column 7: expected a value"),
    ("/segment nosuch", "no segment named 'nosuch'"),
    ("/segment_delete nosuch", "no segment named 'nosuch'"),
    ("/export nosuch", "no segment named 'nosuch'"),
    ("/find nobody@example.com", "No subscriber matches 'nobody@example.com'"),
    ("/find", "Usage: /find USER"),
    ("/tag 1001", "Usage: /tag USER TAG"),
    ("/campaign 999", "no campaign '999'"),
    ("/report nosuch", "no campaign 'nosuch'"),
    ("/admins promote 5", "Usage: /admins list"),
    ("/admins add 5 wizard", "Unknown role 'wizard'"),
    ("/admins remove 900001", "is an owner"),
    ("/audit many", "'many' is not a number"),
    ("/stats now", "/stats takes no arguments."),
    ("/sync nosuch", "No CRM connectors are configured"),
    # digits that are not ASCII, or more than an id holds: no such one, not an error
    ("/find ²", "No subscriber matches '²'"),
    ("/find 99999999999999999999", "No subscriber matches '99999999999999999999'"),
    ("/tag ² vip", "No subscriber matches '²'"),
    ("/campaign ²", "no campaign '²'"),
    ("/report 99999999999999999999", "no campaign '99999999999999999999'"),
    ("/admins add ² viewer", "'²' is not a Telegram user id"),
    ("/admins add 99999999999999999999 viewer", "is not a Telegram user id"),
    ("/admins add 0 viewer", "'0' is not a Telegram user id"),
    ("/audit ²", "'²' is not a number"),
]
LONG = "x" * 5000


async def test_bad_input_is_answered_with_what_was_expected(emulator: Emulator, shop: int) -> None:
    owner = Chat(emulator, OWNER)
    for line, expected in BAD_INPUT:
        assert expected in await owner.reply(line), line


@pytest.mark.parametrize(
    "line",
    [f"/find {LONG}", f"/persona {LONG}", f"/journey {LONG}", f"/campaign {LONG}",
     f"/export {LONG}", f"/lookalike {LONG} 5", f"/admins add {LONG} viewer"],
    ids=["find", "persona", "journey", "campaign", "export", "lookalike", "admins"],
)  # fmt: skip
async def test_an_error_repeating_a_long_argument_still_fits_in_one_message(
    emulator: Emulator, shop: int, line: str
) -> None:
    answer = await Chat(emulator, OWNER).reply(line)
    assert "x" * 100 in answer
    assert len(answer) <= 4096
    assert "Sorry, something went wrong" not in answer


async def test_a_long_audit_log_and_a_long_card_come_in_several_messages(
    emulator: Emulator, shop: int, session: AsyncSession
) -> None:
    owner = Chat(emulator, OWNER)
    for number in range(15):  # refused queries of 190 characters, kept in the log
        await owner.reply(f"/segment lang = es and country = {'x' * 150} and ({number}")
    for number in range(70):
        await owner.reply(f"/tag 1001 tag{number:02d}_{'t' * 55}")

    async def all_audited() -> bool:  # written just after each command's reply
        return (await session.scalar(select(func.count()).select_from(AuditLog)) or 0) >= 85

    await until(all_audited, what="the commands in the audit log")
    before = len(owner.messages)
    await owner.say("/audit")
    await owner.say("/find 1001")
    await owner.say("/help")  # answered after every piece of the two replies before it
    replies = "\n".join(message.plain_text for message in owner.messages[before:])
    assert "Sorry, something went wrong" not in replies
    assert "Last 15 admin actions" in replies
    assert "Tags: tag00_" in replies


async def test_find_takes_a_subscriber_as_the_cli_names_them_too(
    emulator: Emulator, shop: int, session: AsyncSession
) -> None:
    ana = await session.scalar(select(Subscriber.id).where(Subscriber.telegram_id == 1001))
    owner = Chat(emulator, OWNER)
    cards = [await owner.reply(f"/find {who}") for who in ("1001", "tg:1001", f"id:{ana}")]
    assert cards[0].startswith("Ana")
    assert cards[1:] == cards[:1] * 2
    assert "No subscriber matches 'id:999999'" in await owner.reply("/find id:999999")


async def test_a_command_in_an_update_without_a_sender_is_skipped(emulator: Emulator) -> None:
    """A private message with no `from` (Telegram always sends one): nothing to check the
    role of, so no admin command runs, and nothing fails."""
    before = len(emulator.messages_to(OWNER))
    message: JSONObject = {
        "message_id": 9,
        "date": 1_790_000_000,
        "chat": {"id": OWNER, "type": "private", "first_name": "O"},
        "text": "/stats",
        "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
    }
    emulator.inject_update({"message": message})
    assert await Chat(emulator, OWNER).reply("/help")  # handled after the one before it
    replies = [message.plain_text for message in emulator.messages_to(OWNER)[before:]]
    assert not any("Sorry, something went wrong" in reply for reply in replies)
    assert not any(reply.startswith("Subscribers") for reply in replies)


async def test_owners_manage_admins_and_their_menus(
    emulator: Emulator, shop: int, session: AsyncSession
) -> None:
    owner, newcomer = Chat(emulator, OWNER), Chat(emulator, STRANGER)
    owner_menu = {c["command"] for c in emulator.my_commands(chat_scope(OWNER))}
    assert owner_menu == set(CATALOG.by_name)
    assert await newcomer.reply("/segments") == NOT_A_COMMAND
    assert "is now a marketer" in await owner.reply(f"/admins add {STRANGER} marketer")
    menu = {c["command"] for c in emulator.my_commands(chat_scope(STRANGER))}
    assert {"broadcast", "segments", "report"} <= menu
    assert not menu & {"admins", "audit", "find", "sync"}
    assert (await newcomer.reply("/segments")).startswith("Saved segments")
    assert "no longer an admin" in await owner.reply(f"/admins remove {STRANGER}")
    assert emulator.my_commands(chat_scope(STRANGER)) == []
    assert await newcomer.reply("/segments") == NOT_A_COMMAND

    async def both_audited() -> bool:  # written just after each command's reply
        actions = select(func.count()).where(AuditLog.action == "admins")
        return await session.scalar(actions) == 2

    await until(both_audited, what="both /admins commands in the audit log")
    audit = await owner.reply("/audit 3")
    assert f"admins remove {STRANGER} → ok" in audit
    assert f"admins add {STRANGER} marketer → ok" in audit
