"""`/journey` without a journey's name is answered as every admin command's bad call is:
what was missing, then the usage and what the command does."""

import pytest

from tests.bot.admin.console import Chat

pytestmark = [pytest.mark.e2e]

JOURNEY_USAGE = "Usage: /journey NAME\nA journey's state and counts per step, with pause and resume"


@pytest.mark.parametrize("line", ["/journey", "/journey   "])
async def test_a_journey_without_a_name_says_the_name_is_missing(owner: Chat, line: str) -> None:
    assert await owner.reply(line) == f"Give the journey's name.\n{JOURNEY_USAGE}"
