"""Revision 0015 (rich messages) keeps what campaigns were: a photo variant's photo becomes
its one media item and each button a row of its own; downgrading gives them back, and
neither way loses a delivery."""

from sqlalchemy import JSON, column, func, select, table, text

import migrations
from broadcasts.message_content import MessageContent
from broadcasts.messenger import Button, Media, MediaKind
from broadcasts.models import Delivery, Variant
from broadcasts.planner import plan_run
from core.db import create_engine, create_sessionmaker
from tests.broadcasts.audience import NOW, add_subscribers, campaign_from

BEFORE = """
name: old
audience:
  - query: "lang = en"
    label: english
    photo: https://shop.example/p.jpg
    caption: "Hi {{ first_name }}"
    buttons:
      - {text: Shop, url: "https://shop.example/"}
      - {text: Later, data: later}
default: {text: Hello}
"""


async def test_campaigns_saved_before_rich_messages_read_as_they_were(
    fresh_database_url: str,
) -> None:
    engine = create_engine(fresh_database_url)
    old_variants = table(
        "campaign_variants", column("name"), column("photo"), column("buttons", JSON())
    )
    try:
        await migrations.upgrade(engine)
        sessionmaker = create_sessionmaker(engine)
        async with sessionmaker() as session:
            await add_subscribers(session, 3)
            campaign = await campaign_from(session, BEFORE)
            await plan_run(session, campaign=campaign, now=NOW)
        await migrations.downgrade(engine, "0014")
        async with engine.connect() as connection:
            rows = await connection.execute(select(old_variants).order_by(text("name")))
            before = [(photo, buttons) for _, photo, buttons in rows.all()]
        assert sorted(before, key=str) == sorted(
            [
                (
                    "https://shop.example/p.jpg",
                    [
                        {"text": "Shop", "url": "https://shop.example/"},
                        {"text": "Later", "data": "later"},
                    ],
                ),
                (None, []),
            ],
            key=str,
        )
        await migrations.upgrade(engine)
        async with sessionmaker() as session:
            variants = (await session.scalars(select(Variant).order_by(Variant.id))).all()
            contents = [MessageContent.of_variant(v, language="en") for v in variants]
            delivered = await session.scalar(select(func.count()).select_from(Delivery))
        photo, hello = contents
        assert (photo.kind, photo.media) == (
            "photo",
            (Media(MediaKind.PHOTO, "https://shop.example/p.jpg"),),
        )
        assert [[each.button for each in row] for row in photo.keyboard] == [
            [Button("Shop", url="https://shop.example/")],
            [Button("Later", data="later")],
        ]
        assert (hello.kind, hello.media, hello.keyboard, hello.link_preview) == (
            "text",
            (),
            (),
            None,
        )
        assert delivered == 3
    finally:
        await engine.dispose()
