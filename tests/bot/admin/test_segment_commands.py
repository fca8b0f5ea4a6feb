"""The segment commands in the admin chat, with rules of any size: a rule beyond the
language's limits is answered with the place and the limit, a long rule is quoted cut
short, and every reply fits in one Telegram message (the emulator refuses longer ones,
which the bot would answer with its apology)."""

import pytest

from segments.rules.limits import MAX_LENGTH
from tests.bot.admin.console import Chat

pytestmark = [pytest.mark.e2e]

TELEGRAM_LIMIT = 4_096
SORRY = "Sorry, something went wrong on our side."  # the apology (bot.errors)
NINES = "9" * 5_000
LONG_CITY = 'city = "' + "x" * (MAX_LENGTH - 9) + '"'  # a valid rule of the longest length


def fits(reply: str) -> str:
    assert len(reply) <= TELEGRAM_LIMIT
    assert SORRY not in reply
    return reply


# The rules: each was answered "Sorry, something went wrong".
BEYOND = [
    ("(" * 990 + "lang = es" + ")" * 990, "at column 21: a rule nests at most 20 levels"),
    ("not " * 5_000 + "lang = es", "at column 10001: a rule is at most 10,000 characters"),
    ("not " * 21 + "lang = es", "at column 81: a rule nests at most 20 levels"),
    (f"age > {NINES}", "at column 7: a number is between -10^15 and 10^15"),
    (f"clicked >= {NINES}", "at column 12: a number is between -10^15 and 10^15"),
    (f"seen within {NINES}d", "at column 13: a duration is at most 36500d"),
    (" or ".join(["lang = es"] * 2_000), "at column 10001: a rule is at most 10,000"),
    (" or ".join(["tag:a"] * 31), "at column 271: a rule has at most 30 conditions"),
    (f"lang in ({', '.join(['es'] * 1_001)})", "at column 4010: an `in` list has at most 1,000"),
    (f"lang in ({', '.join(str(n) for n in range(50_000))})", "at column 10001: a rule is at"),
    (" or ".join(["clicked within 7d"] * 20_000), "at column 10001: a rule is at most 10,000"),
]


@pytest.mark.parametrize(("rule", "answer"), BEYOND, ids=range(len(BEYOND)))
async def test_a_rule_beyond_the_limits_is_answered_with_where_and_why(
    owner: Chat, rule: str, answer: str
) -> None:
    reply = fits(await owner.reply(f"/segment {rule}"))
    assert reply.startswith(answer), reply[:200]
    shown, caret = reply.splitlines()[1:3]
    assert caret.strip() == "^"
    assert len(shown) < 100


async def test_a_long_rule_is_quoted_cut_short(owner: Chat) -> None:
    query = fits(await owner.reply(f"/segment {LONG_CITY}"))
    assert query.startswith(f"Query\n{LONG_CITY[:100]}")
    assert "0 subscribers match now" in query
    saved = fits(await owner.reply(f"/segment_save longest {LONG_CITY}"))
    assert saved.startswith("Saved longest (version 1): city = ")
    about, history = await owner.say("/segment longest", replies=2)
    assert fits(about.plain_text).startswith("Segment longest\ncity = ")
    assert fits(history.plain_text).startswith("No size history yet")
    listed = fits(await owner.reply("/segments"))
    assert "longest: city = " in listed


async def test_an_error_without_a_place_quotes_the_rule_cut_short(owner: Chat) -> None:
    reply = fits(await owner.reply(f'/segment in segment nosuch or {LONG_CITY[:9_000]}"'))
    assert reply.startswith("no segment named 'nosuch'")
    assert "…" in reply
