"""Saving a journey checks everything first, one clear line per mistake, and saves nothing
when anything is wrong; its messages live in a hidden campaign that no campaign list shows;
status changes are audited and refused when they make no sense."""

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.campaigns import UnknownCampaignError, get_campaign, list_campaigns
from core.errors import SegbotError
from core.models import AuditLog
from journeys.checks import JourneyCheckError
from journeys.models import Journey, JourneyStatus
from journeys.spec import JourneyFileError, parse_journey
from journeys.store import JourneyStateError, get_journey, set_status
from tests.broadcasts.audience import campaign_from
from tests.journeys.harness import Journeys

GOOD = """
name: good
trigger: subscribed
steps:
  - id: hello
    send: {text: "Hi {{ first_name }}"}
"""


@pytest.mark.parametrize(
    ("text", "mistake"),
    [
        ("name: x\ntrigger: subscribed\nsteps: []", "steps: List should have at least 1 item"),
        (
            "name: x\ntrigger: {replied: , manual: true}\nsteps: [{id: a, wait: 1d}]",
            "line 2, trigger: give exactly one trigger",
        ),
        (
            "name: x\ntrigger: replied\nsteps:\n  - {id: a, wait: 1d, next: a}",
            "'a' is not a step below it (jumps go forward)",
        ),
        (
            "name: x\ntrigger: replied\nsteps:\n  - {id: a, wait: 1d}\n  - {id: a, wait: 2d}",
            "steps need different ids",
        ),
        (
            "name: x\ntrigger: replied\nsteps:\n  - {id: a, wait_for: clicked}",
            "line 4, steps.0: wait_for needs within",
        ),
        (
            "name: x\ntrigger: replied\nsteps:\n  - {id: a, wait: 5}",
            "line 4, steps.0.wait.duration: a duration is a number and a unit",
        ),
        (
            "name: x\ntrigger: replied\nentry: {reentry: often}\nsteps: [{id: a, wait: 1d}]",
            "entry.reentry: reentry is once, every_time or a duration such as 30d",
        ),
        ("name: x\ntrigger: [replied\n", "not valid YAML"),
    ],
)
def test_a_journey_file_with_a_mistake_says_where(text: str, mistake: str) -> None:
    with pytest.raises(JourneyFileError) as error:
        parse_journey(text, source="j.yaml")
    assert mistake in str(error.value)


@pytest.mark.parametrize(
    ("change", "mistake"),
    [
        (("trigger: subscribed", "trigger: {entered_segment: nope}"), "no segment named 'nope'"),
        (("trigger: subscribed", "trigger: {rfm: nope}"), "trigger.rfm: no 'nope'"),
        (("trigger: subscribed", "trigger: {stage: nope}"), "trigger.stage: no 'nope'"),
        (("trigger: subscribed", "trigger: subscribed\nentry: {rule: 'lang ='}"), "entry.rule"),
        (("{{ first_name }}", "{{ nope("), "step hello, default, variant a"),
    ],
)
async def test_saving_checks_names_rules_and_templates_and_saves_nothing_else(
    world: Journeys, change: tuple[str, str], mistake: str
) -> None:
    with pytest.raises(SegbotError) as error:
        await world.save(GOOD.replace(*change))
    assert mistake in str(error.value)
    async with world.sessionmaker() as session:
        assert (await session.scalars(select(Journey))).all() == []


async def test_every_name_that_cannot_be_used_is_named_at_once(world: Journeys) -> None:
    with pytest.raises(JourneyCheckError) as error:
        await world.save(
            GOOD.replace("trigger: subscribed", "trigger: {left_segment: gone}\nentry: {rule: 'x'}")
        )
    assert "line 3, trigger.left_segment: no segment named 'gone'" in str(error.value)
    assert "line 4, entry.rule:" in str(error.value)


LINED = """
name: lined
trigger: subscribed
steps:
  - id: hello
    send: {text: "Hello"}
  - id: check
    if: "buyer and lang = = en"
  - id: again
    send:
      audience:
        - segment: vip
          variants:
            - {name: a, split: 100, text: "{{ first_name }}"}
      default:
        text: |
          Hi,
          {{ first_name | upper }}
  - id: tell
    notify: "{{ first_name }}"
"""


@pytest.mark.parametrize(
    ("broken", "place"),
    [
        ('text: "{{ first_name }}"', "line 14, step again, vip, variant a"),
        ("{{ first_name | upper }}", "line 16, step again, default, variant a"),
        ('notify: "{{ first_name }}"', "line 20, step tell, notify"),
    ],
)
async def test_a_template_that_cannot_be_used_is_told_with_its_line(
    world: Journeys, broken: str, place: str
) -> None:
    with pytest.raises(SegbotError) as error:
        await world.save(LINED.replace(broken, broken.replace("}}", "}")))
    assert str(error.value).startswith(f"{place}: template syntax error")


async def test_a_name_or_rule_that_cannot_be_used_is_told_with_its_line(world: Journeys) -> None:
    with pytest.raises(JourneyCheckError) as error:
        await world.save(LINED)
    assert "line 8, step check, if: at column 18" in str(error.value)
    assert "line 12, step again, audience vip: no segment named 'vip'" in str(error.value)


async def test_a_journeys_messages_are_in_no_campaign_list(world: Journeys) -> None:
    saved = await world.save(GOOD)
    async with world.sessionmaker() as session:
        await campaign_from(session, "name: promo\ndefault: {text: Hi}\n")
        assert [c.name for c in await list_campaigns(session)] == ["promo"]
        with pytest.raises(UnknownCampaignError):
            await get_campaign(session, ref=saved.version.campaign_id)
        with pytest.raises(UnknownCampaignError):
            await get_campaign(session, ref="journey:good:v1")


async def change_good(
    session: AsyncSession, world: Journeys, status: JourneyStatus, *, actor: int
) -> None:
    """`set_status` of the journey `good`."""
    await set_status(session, name="good", status=status, now=world.clock(), actor=actor)


async def test_a_resume_that_came_while_the_journey_was_archived_is_refused(
    world: Journeys,
) -> None:
    await world.save(GOOD)
    async with world.sessionmaker() as session:
        await change_good(session, world, JourneyStatus.PAUSED, actor=7)

    async with world.sessionmaker() as resuming:
        await get_journey(resuming, name="good")  # as the console reads it before it acts
        async with world.sessionmaker() as archiving:
            await change_good(archiving, world, JourneyStatus.ARCHIVED, actor=7)
        with pytest.raises(JourneyStateError, match="is archived: only a paused journey"):
            await change_good(resuming, world, JourneyStatus.LIVE, actor=8)
    async with world.sessionmaker() as session:
        assert (await get_journey(session, name="good")).status is JourneyStatus.ARCHIVED


async def test_status_changes_are_audited_and_refused_when_they_make_no_sense(
    world: Journeys,
) -> None:
    await world.save(GOOD)
    async with world.sessionmaker() as session:
        await change_good(session, world, JourneyStatus.PAUSED, actor=7)
        with pytest.raises(JourneyStateError, match="only a live journey can be paused"):
            await change_good(session, world, JourneyStatus.PAUSED, actor=7)
        await change_good(session, world, JourneyStatus.ARCHIVED, actor=7)
        actions = (await session.scalars(select(AuditLog.action).order_by(AuditLog.id))).all()
    assert actions == ["journey.save", "journey.pause", "journey.archive"]
    with pytest.raises(JourneyStateError, match="archived: save it under a new name"):
        await world.save(GOOD)
