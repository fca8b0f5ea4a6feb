"""`segbot subscribers find|show`, and naming a subscriber by id, Telegram id or @username
everywhere one is taken (here `segments explain`; `campaign preview` in its own tests)."""

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from broadcasts.planner import plan_run
from cli import segments
from cli.subscribers import app
from core.models import Event, EventType, Subscriber, SubscriberTag
from crm_sync.models import Customer
from segments.saved import save_segment
from tests.broadcasts.audience import NOW, add_subscribers, campaign_from
from tests.cli.conftest import invoke


async def people(session: AsyncSession) -> list[int]:
    """Ann (Spanish, a customer, tagged, sent a campaign), Bob and Carla; ids in order."""
    ids = await add_subscribers(session, 3, first_id=7_770_001)  # ids apart from row ids
    details: list[dict[str, str | None]] = [
        {"first_name": "Ann", "last_name": "Lee", "username": "AnnLee", "language_code": "es",
         "phone": "+34600111222", "email": "ann@shop.example", "source": "instagram"},
        {"first_name": "Bob", "last_name": None, "username": "bob", "phone": "+34600999888"},
        {"first_name": "Carla", "last_name": "Annunziata", "username": None},
    ]  # fmt: skip
    for subscriber_id, values in zip(ids, details, strict=True):
        await session.execute(
            update(Subscriber).where(Subscriber.id == subscriber_id).values(**values)
        )
    await session.commit()
    return ids


async def test_find_searches_names_usernames_telegram_ids_phones_and_emails(
    runner: CliRunner, session: AsyncSession
) -> None:
    await people(session)
    by_name = await invoke(runner, app, "find", "ANN")
    assert by_name.exit_code == 0, by_name.output
    assert "Ann Lee" in by_name.stdout
    assert "Carla Annunziata" in by_name.stdout
    assert "Bob" not in by_name.stdout
    by_phone = await invoke(runner, app, "find", "600 999-8")
    assert "Bob" in by_phone.stdout
    assert "Ann" not in by_phone.stdout
    by_email = await invoke(runner, app, "find", "ann@shop")
    assert "Ann Lee" in by_email.stdout
    assert "Carla" not in by_email.stdout
    by_username = await invoke(runner, app, "find", "@annlee")
    assert "@AnnLee" in by_username.stdout
    by_telegram_id = await invoke(runner, app, "find", "770003")
    assert "Carla" in by_telegram_id.stdout
    assert "Bob" not in by_telegram_id.stdout
    limited = await invoke(runner, app, "find", "ann", "--limit", "1")
    assert "1 of 2 matches: --limit shows more" in limited.stdout
    nobody = await invoke(runner, app, "find", "zelda")
    assert (nobody.exit_code, nobody.stderr.strip()) == (1, "error: no subscriber matches 'zelda'")


async def test_show_is_everything_known_of_one_subscriber(
    runner: CliRunner, session: AsyncSession
) -> None:
    ann, *_ = await people(session)
    await save_segment(session, name="spanish", rule_text="lang = es", now=NOW)
    await save_segment(session, name="english", rule_text="lang = en", now=NOW)
    session.add(SubscriberTag(subscriber_id=ann, tag="vip", added_at=NOW))
    session.add(Event(subscriber_id=ann, type=EventType.LINK_CLICK, occurred_at=NOW, campaign_id=7))
    await session.execute(
        insert(Customer).values(
            source="shop", external_id="C-1", subscriber_id=ann, matched_by="phone",
            orders_count=3, total_spent=120.5, created_at=NOW, updated_at=NOW,
        )
    )  # fmt: skip
    await session.commit()
    campaign = await campaign_from(session, "name: spring\ndefault: {text: hi}\n")
    await plan_run(session, campaign=campaign, now=NOW)
    shown = await invoke(runner, app, "show", "@annlee")
    assert shown.exit_code == 0, shown.output
    for fact in (
        "Ann Lee @AnnLee",
        "source: instagram",
        "phone, email: +34600111222 · ann@shop.example",
        "tags: vip",
        "crm: shop/C-1 (phone): 3 orders, 120.50 spent · no RFM score",
        "stage: unaware · activity not computed yet",
        "spanish: lang = es",
        "spring",
        "default/a",
        "queued",
        "link_click",
    ):
        assert fact in shown.stdout
    assert "english" not in shown.stdout


async def test_a_subscriber_is_named_by_id_telegram_id_or_username_everywhere(
    runner: CliRunner, session: AsyncSession
) -> None:
    ann, bob, _ = await people(session)
    await save_segment(session, name="spanish", rule_text="lang = es", now=NOW)
    for name in (str(ann), f"id:{ann}", "tg:7770001", "@annlee", " @ANNLEE "):
        explained = await invoke(runner, segments.app, "explain", "spanish", name)
        assert explained.exit_code == 0, explained.output
        assert f"subscriber {ann} is in spanish: lang = es" in explained.stdout
    unknown = await invoke(runner, segments.app, "explain", "spanish", "@nobody")
    assert unknown.exit_code == 1
    assert "no subscriber is '@nobody'" in unknown.stderr
    assert "`segbot subscribers find TEXT`" in unknown.stderr
    for garbage in ("Ann Lee", "tg:abc", "id:-1", "@ann lee", "@@annlee"):
        malformed = await invoke(runner, app, "show", garbage)
        assert malformed.exit_code == 2  # an argument to fix, not a subscriber missing
        assert f"{garbage!r} does not name a subscriber" in malformed.stderr

    # Bob's Telegram id is Ann's row id: bare digits are ambiguous, id: and tg: are not.
    await session.execute(update(Subscriber).where(Subscriber.id == bob).values(telegram_id=ann))
    await session.commit()
    ambiguous = await invoke(runner, app, "show", str(ann))
    assert ambiguous.exit_code == 1
    assert f"write id:{ann} or tg:{ann}" in ambiguous.stderr
    assert "Ann Lee @AnnLee" in ambiguous.stderr
    assert "Bob @bob" in ambiguous.stderr
    assert "Ann Lee" in (await invoke(runner, app, "show", f"id:{ann}")).stdout
    assert "Bob @bob" in (await invoke(runner, app, "show", f"tg:{ann}")).stdout

    # Two rows with one username (someone took a name another gave up): both listed.
    await session.execute(update(Subscriber).where(Subscriber.id == bob).values(username="annlee"))
    await session.commit()
    shared = await invoke(runner, segments.app, "explain", "spanish", "@AnnLee")
    assert shared.exit_code == 1
    assert "'@AnnLee' fits 2 subscribers" in shared.stderr
