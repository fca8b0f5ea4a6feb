"""A campaign's life after it is saved, probed with odd input and odd orders: markup in
rules and names, a clone name with a newline, two copies saved at once, a preview of a
subscriber who gets nothing anyway, a test message to someone who left."""

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from broadcasts.campaigns import CampaignStateError, save_campaign
from broadcasts.cloning import CampaignNameError, clone_campaign
from broadcasts.models import Campaign
from broadcasts.spec import NAME_PATTERN, parse_campaign
from cli.campaign import app
from core.models import SubscriberStatus
from core.subscribers import forget
from telegram_emulator import Emulator
from tests.broadcasts.audience import NOW, add_subscribers, campaign_from
from tests.cli.conftest import invoke, runner  # noqa: F401  (the CLI tests' runner)
from tests.cli.test_campaign_sending import TWO_VARIANTS, emulator  # noqa: F401
from tests.cli.test_rehearse import Stage, people_file, rehearse, stage  # noqa: F401

ODD_RULE = "name: sale\naudience:\n  - query: 'attr.x = \"[/]\"'\n    label: odd\n    text: hi\n"


async def campaigns(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Campaign)) or 0)


async def test_show_prints_a_rule_with_brackets_as_written(
    runner: CliRunner,  # noqa: F811
    session: AsyncSession,
) -> None:
    await campaign_from(session, ODD_RULE)
    result = await invoke(runner, app, "show", "sale")
    assert result.exit_code == 0, repr(result.exception)
    assert 'attr.x = "[/]"' in result.stdout


async def test_a_clone_name_ending_in_a_newline_is_refused(
    runner: CliRunner,  # noqa: F811
    session: AsyncSession,
) -> None:
    await campaign_from(session, "name: sale\ndefault: {text: Hi}\n")
    result = await invoke(runner, app, "clone", "sale", "copy\n")
    assert result.exit_code == 2
    assert "is not a campaign name" in result.stderr
    assert await campaigns(session) == 1


async def test_two_copies_saved_at_once_both_get_a_free_name(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await campaign_from(session, "name: sale\ndefault: {text: Hi}\n")

    async def duplicate(name: str | None = None) -> str:
        async with sessionmaker() as operator:
            return (await clone_campaign(operator, ref="sale", name=name, now=NOW)).name

    names: list[str] = []
    for _ in range(3):  # two `segbot campaign clone sale` at the same moment, three times
        names += await asyncio.gather(duplicate(), duplicate())
    assert sorted(names) == ["sale-copy", *(f"sale-copy{n}" for n in range(2, 7))]

    same = await asyncio.gather(duplicate("spring"), duplicate("spring"), return_exceptions=True)
    assert sorted(map(type, same), key=str) == sorted([str, CampaignNameError], key=str)
    assert await campaigns(session) == 8


async def test_a_rehearsal_shows_names_and_rules_with_brackets_as_written(
    runner: CliRunner,  # noqa: F811
    stage: Stage,  # noqa: F811
    tmp_path: Path,
) -> None:
    async with stage.sessionmaker() as session:
        await campaign_from(session, ODD_RULE)
    people = "telegram_id,first_name\n5001,[/]\n5002,[bold]Al\n"
    result = await rehearse(runner, stage, "sale", people_file(tmp_path, people))
    assert result.exit_code == 0, repr(result.exception)
    assert (
        '[/] (5001): no audience: in none of the campaign\'s audiences (odd: rule attr.x = "[/]")'
        in (result.stdout)
    )
    assert "[bold]Al (5002): no audience" in result.stdout


async def test_a_preview_of_someone_who_gets_nothing_anyway_is_not_a_skipped_message(
    runner: CliRunner,  # noqa: F811
    session: AsyncSession,
) -> None:
    [erased, active] = await add_subscribers(session, 2)
    await campaign_from(session, "name: sale\ndefault: {text: 'Hi {{ attr.plan }}'}\n")
    await forget(session, telegram_id=1, now=NOW)  # their attributes are gone with them
    await session.commit()

    result = await invoke(runner, app, "preview", "sale", "--subscriber", f"id:{erased}")
    assert result.exit_code == 0, result.output
    assert "gets nothing: they are unsubscribed" in result.stdout
    assert "cannot be rendered for this person" in result.stdout

    result = await invoke(runner, app, "preview", "sale", "--subscriber", f"id:{active}")
    assert result.exit_code == 1  # the sender would skip an active one: still said
    assert "the sender would skip them" in result.stderr


@pytest.mark.parametrize("status", [SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.BLOCKED])
async def test_a_test_send_to_someone_who_left_is_refused(
    runner: CliRunner,  # noqa: F811
    session: AsyncSession,
    emulator: Emulator,  # noqa: F811
    status: SubscriberStatus,
) -> None:
    await add_subscribers(session, 1, first_id=1, status=status)
    await add_subscribers(session, 1, first_id=2)
    await campaign_from(session, TWO_VARIANTS)

    left = await invoke(runner, app, "test-send", "welcome", "--to", "1")
    assert left.exit_code == 1
    assert f"1 is a subscriber who is {status.value}" in left.stderr
    assert emulator.messages_to(1) == []

    stayed = await invoke(runner, app, "test-send", "welcome", "--to", "2")
    assert stayed.exit_code == 0, stayed.output
    assert len(emulator.messages_to(2)) == 2


async def test_odd_orders_are_refused_in_words(
    runner: CliRunner,  # noqa: F811
    session: AsyncSession,
) -> None:
    await campaign_from(session, "name: sale\ndefault: {text: Hi}\n")
    for command, said in [
        ("pause", "campaign 'sale' is not sending"),  # a draft
        ("resume", "campaign 'sale' is not paused"),
    ]:
        result = await invoke(runner, app, command, "sale")
        assert (result.exit_code, result.stderr) == (1, f"error: {said}\n")
    assert (await invoke(runner, app, "cancel", "sale")).exit_code == 0
    for command, said in [
        ("cancel", "campaign 'sale' is already cancelled"),
        ("resume", "campaign 'sale' is not paused"),
    ]:
        result = await invoke(runner, app, command, "sale")
        assert (result.exit_code, result.stderr) == (1, f"error: {said}\n")
    cloned = await invoke(runner, app, "clone", "sale", "Sale")  # differs only in case
    assert cloned.exit_code == 0, cloned.output
    taken = await invoke(runner, app, "clone", "Sale", "sale")
    assert "a campaign named 'sale' exists already" in taken.stderr
    beyond = await invoke(runner, app, "show", str(2**63))
    assert beyond.exit_code == 1
    assert f"no campaign '{2**63}'" in beyond.stderr


async def test_copies_of_a_longest_name_stay_names_past_the_hundredth(
    session: AsyncSession,
) -> None:
    longest = "a" * 64
    await campaign_from(session, f"name: {longest}\ndefault: {{text: Hi}}\n")
    names = [(await clone_campaign(session, ref=longest, now=NOW)).name for _ in range(101)]
    assert names[0] == f"{'a' * 59}-copy"
    assert names[-1] == f"{'a' * 56}-copy101"
    assert len(set(names)) == 101
    assert all(NAME_PATTERN.fullmatch(name) for name in names)


async def test_a_save_that_must_not_replace_refuses_a_taken_name_even_in_a_race(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """The wizard saves without replacing: a campaign of the same name that has not run is
    kept, also when two saves of one name meet (one wins, the other is told why)."""
    await campaign_from(session, "name: sale\ndefault: {text: Theirs}\n")
    spec = parse_campaign("name: sale\ndefault: {text: Mine}\n")
    with pytest.raises(CampaignStateError, match="a campaign named 'sale' exists already"):
        await save_campaign(session, spec=spec, now=NOW, replace=False)
    texts = await session.scalars(select(Campaign.name))
    assert texts.all() == ["sale"]

    async def save(name: str, text: str) -> str:
        async with sessionmaker() as own:
            try:
                await save_campaign(
                    own, spec=parse_campaign(f"name: {name}\ndefault: {{text: {text}}}\n"),
                    now=NOW, replace=False,
                )  # fmt: skip
            except CampaignStateError as error:
                return str(error)
            return "saved"

    for round_ in range(3):
        name = f"new{round_}"
        outcomes = await asyncio.gather(save(name, "A"), save(name, "B"))
        taken = f"a campaign named '{name}' exists already: save under another name"
        assert sorted(outcomes) == sorted(["saved", taken])
        async with sessionmaker() as own:
            assert await own.scalar(select(func.count()).where(Campaign.name == name)) == 1
