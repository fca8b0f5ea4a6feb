"""A campaign sent (or cancelled) already is not sent again, and each face says its own
way to a copy: the admin chat, the card's Duplicate; the command line, `segbot campaign
clone`."""

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.runs import RunStateError, cancel, check_not_sent
from core.clock import utcnow
from tests.bot.admin.console import Chat
from tests.bot.admin.test_campaign_lifecycle_hostile import answer_to
from tests.bot.admin.test_draft_send import ask, draft_of_sale
from tests.polling import until

pytestmark = [pytest.mark.e2e]


async def test_yes_to_a_campaign_cancelled_meanwhile_points_to_the_cards_duplicate(
    owner: Chat, session: AsyncSession
) -> None:
    draft = await draft_of_sale(session)
    (card,) = await owner.say(f"/campaign {draft.id}")
    question = await ask(owner, card)
    await cancel(session, campaign=draft, now=utcnow())
    refused = await answer_to(owner, question, f"admc:send:{draft.id}")
    assert refused == (
        "sale-copy is cancelled: a campaign is sent once; "
        "⧉ Duplicate on its card makes a copy to send"
    )
    await until(
        lambda: "⧉ Duplicate" in str(owner.current(card).callback_buttons()),
        what="the card redrawn, its Duplicate under it",
    )


async def test_the_command_line_keeps_its_own_way_to_a_copy(session: AsyncSession) -> None:
    draft = await draft_of_sale(session)
    await cancel(session, campaign=draft, now=utcnow())
    with pytest.raises(RunStateError) as refused:
        check_not_sent(draft)
    assert str(refused.value) == (
        "sale-copy is cancelled: a campaign is sent once; "
        "segbot campaign clone sale-copy NEW_NAME makes a copy to send"
    )
