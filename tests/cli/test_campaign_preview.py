"""`segbot campaign preview`: what a real subscriber will see (styled, with buttons and
the Unsubscribe button), which target and variant they get and why, or why nothing."""

import re
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from broadcasts.campaigns import get_campaign
from broadcasts.models import Delivery, DeliveryStatus, Variant
from broadcasts.planner import place, plan_run
from cli.campaign import app
from core.clock import utcnow
from core.models import Subscriber, SubscriberStatus
from segments.saved import save_segment
from tests.broadcasts.audience import NOW, add_subscribers, campaign_from
from tests.cli.conftest import invoke

CAMPAIGN = """
name: spring
audience:
  - segment: spanish
    variants:
      - {name: a, split: 50, text: "<b>Hola</b> {{ first_name }}, oferta A"}
      - {name: b, split: 50, text: "<b>Hola</b> {{ first_name }}, oferta B"}
  - segment: german
    text: "Hallo {{ first_name }}"
default:
  text: 'Hi {{ first_name }}, <a href="https://shop.example/">sale</a> <tg-spoiler>-5%</tg-spoiler>'
  buttons: [{text: "Shop", url: "https://shop.example/"}]
"""


async def audience(session: AsyncSession, *, spanish: int = 4, english: int = 4) -> list[int]:
    """Spanish speakers (telegram ids from 100), English ones (from 200); nobody German.
    The first English speaker is @ann."""
    await save_segment(session, name="spanish", rule_text="lang = es", now=NOW)
    await save_segment(session, name="german", rule_text="lang = de", now=NOW)
    ids = await add_subscribers(session, spanish, first_id=100, language="es")
    ids += await add_subscribers(session, english, first_id=200, language="en")
    ann = Subscriber.telegram_id == 200
    await session.execute(update(Subscriber).where(ann).values(username="ann", first_name="Ann"))
    await session.commit()
    return ids


async def preview(runner: CliRunner, session: AsyncSession, *args: str) -> str:
    await campaign_from(session, CAMPAIGN)
    result = await invoke(runner, app, "preview", "spring", *args)
    assert result.exit_code == 0, result.output
    return result.stdout


async def test_one_subscriber_sees_their_message_as_telegram_shows_it(
    runner: CliRunner, session: AsyncSession
) -> None:
    await audience(session)
    shown = await preview(runner, session, "--subscriber", "@ann")
    assert "Ann @ann (id " in shown
    assert "target 3 of 3, default (everyone no earlier target took): the first" in shown
    assert "not in spanish (segment spanish); german (segment german)" in shown
    assert "variant a: the target's only message" in shown
    assert "Hi Ann, sale (https://shop.example/) -5%" in shown
    assert "Shop ↗" in shown  # the buttons, beneath
    assert "Unsubscribe" in shown
    assert "<a" not in shown
    assert "<tg-spoiler>" not in shown
    assert "Hola" not in shown  # only the message Ann gets
    assert "Hallo" not in shown


async def test_the_variant_named_is_the_one_the_run_sends(
    runner: CliRunner, session: AsyncSession
) -> None:
    await audience(session)
    shown = await preview(runner, session, "--subscriber", "tg:101")
    assert "target 1 of 3, spanish (segment spanish)" in shown
    campaign = await get_campaign(session, ref="spring")
    plan = await plan_run(session, campaign=campaign, now=utcnow())
    sent = await session.scalar(
        select(Variant.name)
        .join(Delivery, Delivery.variant_id == Variant.id)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.run_id == plan.run.id, Subscriber.telegram_id == 101)
    )
    assert sent is not None
    other = "b" if sent == "a" else "a"
    assert f"variant {sent}: 50% of the target get it" in shown
    assert f"Hola User101, oferta {sent.upper()}" in shown
    assert f"oferta {other.upper()}" not in shown


async def test_who_gets_nothing_is_told_why(runner: CliRunner, session: AsyncSession) -> None:
    await audience(session, english=30)
    await add_subscribers(session, 1, first_id=900, status=SubscriberStatus.BLOCKED)
    campaign = await campaign_from(
        session, CAMPAIGN.replace("name: spring", "name: spring\nholdout: 50")
    )
    blocked = await invoke(runner, app, "preview", "spring", "--subscriber", "tg:900")
    assert "gets nothing: they are blocked" in blocked.stdout

    placed = await place(session, campaign=campaign, now=utcnow())
    [held_out, *_] = [each.subscriber_id for each in placed if each.exclusion == "holdout"]
    holdout = await invoke(runner, app, "preview", "spring", "--subscriber", f"id:{held_out}")
    assert "gets nothing: in the holdout, the 50% of each target kept out" in holdout.stdout
    assert "the message they would have had:" in holdout.stdout

    [sending] = [each.subscriber_id for each in placed if each.exclusion is None][:1]
    earlier = await campaign_from(session, "name: earlier\ndefault: {text: hi}\n")
    run = await plan_run(session, campaign=earlier, now=utcnow() - timedelta(hours=1))
    await session.execute(
        update(Delivery)
        .where(Delivery.run_id == run.run.id, Delivery.subscriber_id == sending)
        .values(status=DeliveryStatus.SENT, claimed_at=utcnow() - timedelta(hours=1))
    )
    await session.commit()
    capped = await invoke(runner, app, "preview", "spring", "--subscriber", f"id:{sending}")
    assert "gets nothing: the frequency cap (1 per 24 h) is reached" in capped.stdout


async def test_a_sample_of_each_target(runner: CliRunner, session: AsyncSession) -> None:
    await audience(session)
    shown = await preview(runner, session, "--sample", "2")
    _, spanish, german, default = re.split(r"^target (?=\d of 3:)", shown, flags=re.MULTILINE)
    assert spanish.startswith("1 of 3: spanish (segment spanish)")
    assert spanish.count("Hola User10") == 2
    assert "Hi " not in spanish
    assert german.startswith("2 of 3: german")
    assert "nobody is in this target now" in german
    assert default.startswith("3 of 3: default")
    assert default.count("Hi ") == 2


async def test_by_default_every_variant_for_a_real_member(
    runner: CliRunner, session: AsyncSession
) -> None:
    await audience(session)
    shown = await preview(runner, session)
    assert "shown for User10" in shown
    assert ", a random member, who gets variant" in shown
    assert "variant a (50%):" in shown
    assert "variant b (50%):" in shown
    assert "oferta A" in shown
    assert "oferta B" in shown
    assert "nobody is in this target now: shown for the sample subscriber" in shown
    assert "│ Hallo " in shown  # the sample subscriber has a name of their own
    assert "--sample N" in shown  # how to see more


async def test_bad_names_and_messages_that_cannot_be_rendered_exit_non_zero(
    runner: CliRunner, session: AsyncSession, tmp_path: Path
) -> None:
    await audience(session)
    await campaign_from(session, "name: plans\ndefault: {text: 'Your plan: {{ attr.plan }}'}\n")
    unrenderable = await invoke(runner, app, "preview", "plans", "--subscriber", "@ann")
    assert unrenderable.exit_code == 1
    assert "cannot be sent to this person: cannot render the template" in unrenderable.stdout
    assert "the sender would skip them" in unrenderable.stderr
    unknown = await invoke(runner, app, "preview", "plans", "--subscriber", "@nobody")
    assert unknown.exit_code == 1
    assert "no subscriber is '@nobody'" in unknown.stderr
    both = await invoke(runner, app, "preview", "plans", "--subscriber", "@ann", "--sample", "2")
    assert both.exit_code == 2
    assert "give --subscriber or --sample, not both" in both.stderr
