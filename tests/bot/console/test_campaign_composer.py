"""The campaign composer's form becomes the campaign `segbot campaign create` would read:
targets, A/B variants, albums, per-language texts and button labels, personas, schedules;
what it gets wrong is answered with the campaign parser's own words or the form's."""

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from bot.console.campaign_form import MAX_TARGETS, edit, read_form
from bot.console.campaign_messages import campaign_messages, send_to_self, sendable
from bot.console.campaign_spec import CampaignFormError, compose_campaign
from broadcasts.messenger import ChatNotFound, Rejected, RetryAfter, Sent
from broadcasts.spec import parse_campaign
from core.errors import SegbotError
from segments.ai.personas import create_persona
from segments.models import ContentFormat
from segments.saved import save_segment
from tests.broadcasts.fake_messenger import FakeMessenger

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
TWO_TARGETS = {
    "name": "summer",
    "targets": "2",
    "language": "en",
    "other_languages": "ES, de,es",
    "t0-audience": "segment:vip",
    "t0-variants": "1",
    "t0-v0-text-en": "Summer, <b>{{ first_name }}</b>",
    "t0-v0-text-es": "Verano",
    "t0-v0-media": "https://cdn.example/a.jpg\r\nvideo https://cdn.example/b.mp4",
    "t1-audience": "query",
    "t1-query": "lang = es",
    "t1-label": "spanish",
    "t1-variants": "1",
    "t1-v0-text-en": "Hi",
    "t1-v0-text-es": "Hola",
    "t1-v0-buttons": "Shop | https://shop.example/  Sale | https://shop.example/sale\nHelp | tg://x",
    "t1-v0-labels-es": "Tienda\nRebajas\nAyuda",
    "t1-v0-link-preview": "off",
    "when": "now",
    "unsubscribe": "on",
}


async def test_the_form_makes_the_campaign_a_file_would(session: AsyncSession) -> None:
    composed = await compose_campaign(session, read_form(TWO_TARGETS), now=NOW)
    assert parse_campaign(composed.yaml_text) == composed.spec  # the file says the same
    spec = composed.spec
    vip, spanish = spec.audience
    assert vip.segment == "vip"
    [album] = vip.variants
    assert album.kind == "album"
    assert [item.media.kind.value for item in album.album or []] == ["photo", "video"]
    assert album.caption == {"en": "Summer, <b>{{ first_name }}</b>", "es": "Verano"}
    [text] = spanish.variants
    assert (spanish.query, spanish.label) == ("lang = es", "spanish")
    assert [[b.text for b in row] for row in text.buttons] == [["Shop", "Sale"], ["Help"]]
    assert [[b.texts for b in row] for row in text.buttons][1] == [{"es": "Ayuda"}]
    assert text.link_preview is False
    assert spec.schedule is not None
    assert spec.schedule.now


async def test_each_message_in_each_language_is_composed_for_the_preview(
    session: AsyncSession,
) -> None:
    spec = (await compose_campaign(session, read_form(TWO_TARGETS), now=NOW)).spec
    targets = campaign_messages(spec, chat_id=7002)
    assert [(t.label, [v.language for v in t.variants[0].versions]) for t in targets] == [
        ("vip", ["en", "es"]),
        ("spanish", ["en", "es"]),
    ]
    messages = sendable(targets)
    assert [label for label, _ in messages] == [
        "vip/a (en)", "vip/a (es)", "spanish/a (en)", "spanish/a (es)",
    ]  # fmt: skip
    album, _, _, hola = (message for _, message in messages)
    assert len(album.media) == 2
    assert album.keyboard == ()  # an album carries no buttons
    assert hola.text == "Hola"
    assert [[b.text for b in row] for row in hola.keyboard] == [
        ["Tienda", "Rebajas"], ["Ayuda"], ["Darse de baja"],
    ]  # fmt: skip
    assert {message.chat_id for _, message in messages} == {7002}


async def test_a_template_that_cannot_render_is_shown_and_not_test_sent(
    session: AsyncSession,
) -> None:
    fields = TWO_TARGETS | {"t1-v0-text-en": "Hi {{ first_name"}
    spec = (await compose_campaign(session, read_form(fields), now=NOW)).spec
    spanish = campaign_messages(spec, chat_id=1)[1]
    [version] = spanish.variants[0].versions
    assert version.message is None
    assert version.error is not None
    assert "syntax" in version.error
    with pytest.raises(SegbotError, match="spanish/a"):
        sendable(campaign_messages(spec, chat_id=1))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"t1-label": ""}, "line 19, audience.1: a query target needs a label"),
        ({"name": "no spaces please"}, "line 1, name: String should match pattern"),
        ({"t0-v0-media": "/etc/passwd"}, "target 1: '/etc/passwd' is not a URL"),
        ({"t0-v0-media": "sticker ABC"}, "target 1: a media line is a URL or file_id"),
        ({"t1-v0-buttons": "Shop https://x"}, "target 2, buttons line 1: write Label |"),
        ({"t1-v0-labels-es": "Tienda"}, "target 2: 1 button labels in es for 3 buttons"),
        ({"t1-v0-text-en": " "}, "target 2: write the message's text (en)"),
        ({"t0-audience": ""}, "target 1: choose who gets it"),
        ({"t0-audience": "default", "t1-audience": "default"}, "only one target"),
        ({"when": "at", "day": "2026-01-01", "time": "10:00"}, "has passed"),
        ({"when": "yesterday"}, "choose when it goes out"),
        ({"when": "local", "day": "2026-12-24"}, "when: give the time"),
        ({"when": "recurring", "cron": "0 9 * *"}, "a cron line has five fields"),
        ({"when": "recurring", "cron": "0 9 * * 1", "zone": "Mars/Base"}, "Unknown timezone"),
    ],
)
async def test_what_is_wrong_is_said(
    session: AsyncSession, change: dict[str, str], message: str
) -> None:
    with pytest.raises(CampaignFormError, match=re.escape(message)) as raised:
        await compose_campaign(session, read_form(TWO_TARGETS | change), now=NOW)
    if message.startswith("line"):
        assert raised.value.yaml_text is not None  # the lines the parser names


async def test_ab_variants_split_evenly_and_a_default_goes_last(session: AsyncSession) -> None:
    form = read_form(TWO_TARGETS | {"t0-audience": "default"})
    edit(form, "add-variant-1")
    edit(form, "add-variant-1")
    assert [(v.name, v.split) for v in form.targets[1].variants] == [
        ("a", "34"), ("b", "33"), ("c", "33"),
    ]  # fmt: skip
    edit(form, "remove-variant-1-1")
    assert [(v.name, v.split) for v in form.targets[1].variants] == [("a", "50"), ("c", "50")]
    for variant in form.targets[1].variants:
        variant.texts["en"] = f"Text {variant.name}"
    spec = (await compose_campaign(session, form, now=NOW)).spec
    assert [t.name for t in spec.audience] == ["spanish"]
    assert spec.default is not None
    assert [(v.name, v.split) for v in spec.audience[0].variants] == [("a", 50), ("c", 50)]


def test_the_form_buttons_edit_within_limits() -> None:
    form = read_form({"targets": "999"})
    assert len(form.targets) == MAX_TARGETS  # a count past the limit is the limit
    edit(form, "add-target")
    assert len(form.targets) == MAX_TARGETS
    for _ in range(MAX_TARGETS):
        edit(form, "remove-target-0")
    assert len(form.targets) == 1  # the last target stays
    edit(form, "remove-target-5")
    edit(form, "nonsense")
    assert len(form.targets) == 1


async def test_a_persona_becomes_its_segment_labelled_after_it(session: AsyncSession) -> None:
    await save_segment(session, name="bargain", rule_text="lang = es", now=NOW)
    await create_persona(
        session, name="Deal hunters", main_problem="price", preferred_format=ContentFormat.TEXT,
        tone="direct", best_offer="-20%", example_customer="Ana", now=NOW, segment="bargain",
    )  # fmt: skip
    fields = TWO_TARGETS | {"t0-audience": "persona:Deal hunters"}
    spec = (await compose_campaign(session, read_form(fields), now=NOW)).spec
    assert (spec.audience[0].segment, spec.audience[0].label) == ("bargain", "Deal_hunters")
    nobody = read_form(TWO_TARGETS | {"t0-audience": "persona:Nobody"})
    with pytest.raises(CampaignFormError, match="no persona named 'Nobody'"):
        await compose_campaign(session, nobody, now=NOW)


async def test_a_test_send_says_how_each_went_and_stops_where_all_would_fail(
    session: AsyncSession,
) -> None:
    spec = (await compose_campaign(session, read_form(TWO_TARGETS), now=NOW)).spec
    messages = sendable(campaign_messages(spec, chat_id=7002))
    messenger = FakeMessenger()
    messenger.script[7002] = [RetryAfter(0.01), Sent(1), Rejected("Bad Request: no photo"),
                              ChatNotFound()]  # fmt: skip
    results = await send_to_self(messenger, messages)
    assert results == [
        ("vip/a (en)", "sent", True),  # after waiting out flood control
        ("vip/a (es)", "not sent: Telegram refused it (Bad Request: no photo)", False),
        ("spanish/a (en)", "not sent: open the bot in Telegram and press Start (or unblock "
         "it) first", False),
        ("spanish/a (es)", "not tried: it would fail the same way", False),
    ]  # fmt: skip
    assert len(messenger.calls) == 4


async def test_a_test_send_is_a_few_messages(session: AsyncSession) -> None:
    fields = TWO_TARGETS | {"other_languages": "es de fr it pt nl pl ru", "t1-variants": "2"}
    fields |= {"t1-v0-split": "50", "t1-v1-name": "b", "t1-v1-split": "50", "t1-v1-text-en": "B"}
    for language in ("de", "fr", "it", "pt", "nl", "pl", "ru"):
        fields |= {f"t0-v0-text-{language}": "x", f"t1-v0-text-{language}": "y"}
    # 9 languages of the album, 9 of variant a, 1 of variant b: 19 messages, then one more
    fields |= {"t1-v1-text-es": "B es"}
    spec = (await compose_campaign(session, read_form(fields), now=NOW)).spec
    assert len(sendable(campaign_messages(spec, chat_id=1))) == 20
    fields |= {"t1-v1-text-de": "B de"}
    spec = (await compose_campaign(session, read_form(fields), now=NOW)).spec
    with pytest.raises(SegbotError, match="a test send is at most 20 messages"):
        sendable(campaign_messages(spec, chat_id=1))
