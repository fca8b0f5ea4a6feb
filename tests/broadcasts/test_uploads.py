"""A local file goes up once per sender that meets it first, then every message sends the
file id; the id is kept for other senders and restarts."""

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.media import sha256_of
from broadcasts.messenger import (
    Blocked,
    Media,
    MediaKind,
    Outcome,
    OutgoingMessage,
    Rejected,
    Sent,
    TransientError,
)
from broadcasts.models import Delivery, DeliveryStatus, UploadedFile
from broadcasts.pacing import LocalSlots, RateBudget
from broadcasts.planner import plan_run
from broadcasts.sender import BatchResult, Sender, SenderSettings
from broadcasts.uploads import HOLD_SECONDS, SETTLE_SECONDS, FileIds, UploadOnce
from tests.broadcasts.audience import NOW, add_subscribers, campaign_from
from tests.broadcasts.media_files import JPEG_HEAD, MP4_HEAD, media_file
from tests.polling import until


class Platform:
    """A messenger double: an upload waits for `release` and gets a new file id; a message
    by file id goes at once. `refuse` answers the next uploads with these outcomes."""

    def __init__(self) -> None:
        self.requests: list[OutgoingMessage] = []
        self.release = asyncio.Event()
        self.release.set()
        self.refuse: list[Outcome] = []
        self.uploads = 0

    async def send(
        self, message: OutgoingMessage, *, on_written: Callable[[], None] | None = None
    ) -> Outcome:
        self.requests.append(message)
        if on_written is not None:  # as the real one: once its request is on its way
            on_written()
        if not any(item.local for item in message.media):
            return Sent(len(self.requests), tuple(item.ref for item in message.media))
        self.uploads += 1
        number = self.uploads
        await self.release.wait()
        if self.refuse:
            return self.refuse.pop(0)
        ids = tuple(
            f"id-{number}-{n}" if item.local else item.ref for n, item in enumerate(message.media)
        )
        return Sent(len(self.requests), ids)

    def sent_by_id(self) -> list[str]:
        return [item.ref for message in self.requests for item in message.media if not item.local]


def video(path: Path, chat_id: int) -> OutgoingMessage:
    media = Media(MediaKind.VIDEO, str(path), local=True, sha256=sha256_of(path))
    return OutgoingMessage(chat_id, "Watch", media=(media,))


@pytest.fixture
def promo(tmp_path: Path) -> Path:
    return media_file(tmp_path, "promo.mp4", MP4_HEAD)


async def kept(sessionmaker: async_sessionmaker[AsyncSession]) -> list[tuple[str, str, str]]:
    async with sessionmaker() as session:
        rows = await session.execute(
            select(UploadedFile.sha256, UploadedFile.kind, UploadedFile.file_id)
        )
        return [(sha256, kind, file_id) for sha256, kind, file_id in rows.all()]


def once(
    platform: Platform, sessionmaker: async_sessionmaker[AsyncSession], patience: float = 5.0
) -> UploadOnce:
    return UploadOnce(platform, FileIds(sessionmaker), patience=patience)


async def send_all(sender: UploadOnce, messages: Sequence[OutgoingMessage]) -> list[Outcome]:
    return list(await asyncio.gather(*(sender.send(message) for message in messages)))


async def test_twenty_messages_at_once_upload_the_file_once(
    sessionmaker: async_sessionmaker[AsyncSession], promo: Path
) -> None:
    platform = Platform()
    platform.release.clear()
    sender = once(platform, sessionmaker)
    sending = asyncio.ensure_future(send_all(sender, [video(promo, chat) for chat in range(20)]))
    await until(lambda: platform.uploads == 1, what="the first upload")
    await asyncio.sleep(0.1)  # the others meet it on its way
    platform.release.set()
    outcomes = await sending
    assert all(isinstance(outcome, Sent) for outcome in outcomes)
    assert platform.uploads == 1
    assert platform.sent_by_id() == ["id-1-0"] * 19
    assert await kept(sessionmaker) == [(sha256_of(promo), "video", "id-1-0")]


async def test_another_sender_and_a_restart_send_the_kept_id(
    sessionmaker: async_sessionmaker[AsyncSession], promo: Path
) -> None:
    first = Platform()
    await once(first, sessionmaker).send(video(promo, 1))
    later = Platform()
    outcome = await once(later, sessionmaker).send(video(promo, 2))
    assert isinstance(outcome, Sent)
    assert (later.uploads, later.sent_by_id()) == (0, ["id-1-0"])


async def test_an_upload_that_brings_no_id_is_made_again_by_the_next_message(
    sessionmaker: async_sessionmaker[AsyncSession], promo: Path
) -> None:
    platform = Platform()
    platform.refuse = [Blocked()]
    sender = once(platform, sessionmaker)
    assert await sender.send(video(promo, 1)) == Blocked()
    assert isinstance(await sender.send(video(promo, 2)), Sent)
    assert isinstance(await sender.send(video(promo, 3)), Sent)
    assert platform.uploads == 2
    assert platform.sent_by_id() == ["id-2-0"]


async def test_a_file_telegram_refused_three_times_is_not_uploaded_again(
    sessionmaker: async_sessionmaker[AsyncSession], promo: Path
) -> None:
    """A photo Telegram cannot process fails for everyone: after three refusals the rest
    are refused at once, without an upload each that holds every send of the bot."""
    platform = Platform()
    refused: list[Outcome] = [Rejected("Bad Request: IMAGE_PROCESS_FAILED")] * 3
    platform.refuse = [*refused, Blocked()]
    sender = once(platform, sessionmaker)
    outcomes = [await sender.send(video(promo, chat)) for chat in range(20)]
    assert platform.uploads == 3
    assert outcomes[:3] == [Rejected("Bad Request: IMAGE_PROCESS_FAILED")] * 3
    assert (
        outcomes[3:]
        == [Rejected("Bad Request: IMAGE_PROCESS_FAILED (its file was refused 3 times)")] * 17
    )


async def test_a_refusal_of_the_bot_is_not_held_against_the_file(
    sessionmaker: async_sessionmaker[AsyncSession], promo: Path
) -> None:
    platform = Platform()
    platform.refuse = [Rejected("Unauthorized")] * 3
    sender = once(platform, sessionmaker)
    for chat in range(4):
        await sender.send(video(promo, chat))
    assert platform.uploads == 4
    assert platform.sent_by_id() == []


async def test_a_message_that_waits_too_long_for_the_upload_did_not_go(
    sessionmaker: async_sessionmaker[AsyncSession], promo: Path
) -> None:
    platform = Platform()
    platform.release.clear()
    sender = once(platform, sessionmaker, patience=0.1)
    uploading = asyncio.ensure_future(sender.send(video(promo, 1)))
    await until(lambda: platform.uploads == 1, what="the first upload")
    waited = await sender.send(video(promo, 2))
    assert waited == TransientError("waiting for the first upload of its file", sent=False)
    assert len(platform.requests) == 1  # it never went out
    platform.release.set()
    assert isinstance(await uploading, Sent)


async def test_an_upload_whose_sender_stopped_waiting_still_keeps_its_id(
    sessionmaker: async_sessionmaker[AsyncSession], promo: Path
) -> None:
    """The send timeout cancels the first message's wait: it went out (its delivery is
    unknown), and the file id its answer brings still serves everyone after."""
    platform = Platform()
    platform.release.clear()
    sender = once(platform, sessionmaker)
    first = asyncio.ensure_future(sender.send(video(promo, 1)))
    await until(lambda: platform.uploads == 1, what="the first upload")
    first.cancel()  # as the sender's send timeout does
    with pytest.raises(asyncio.CancelledError):
        await first
    platform.release.set()
    assert isinstance(await sender.send(video(promo, 2)), Sent)
    assert platform.uploads == 1
    assert platform.sent_by_id() == ["id-1-0"]


async def test_two_senders_starting_together_upload_once_each_and_share_the_first_id(
    sessionmaker: async_sessionmaker[AsyncSession], promo: Path
) -> None:
    one, two = Platform(), Platform()
    one.release.clear()
    two.release.clear()
    first, second = once(one, sessionmaker), once(two, sessionmaker)
    sending = asyncio.gather(
        send_all(first, [video(promo, chat) for chat in range(5)]),
        send_all(second, [video(promo, chat) for chat in range(5, 10)]),
    )
    await until(lambda: one.uploads == two.uploads == 1, what="both uploads")
    one.release.set()

    async def first_kept() -> bool:
        return bool(await kept(sessionmaker))

    await until(first_kept, what="the first upload's id kept")
    two.release.set()
    await sending
    assert (one.uploads, two.uploads) == (1, 1)
    assert await kept(sessionmaker) == [(sha256_of(promo), "video", "id-1-0")]
    later = Platform()
    await once(later, sessionmaker).send(video(promo, 11))
    assert later.sent_by_id() == ["id-1-0"]


async def test_an_album_uploads_each_new_file_and_reuses_the_known_ones(
    sessionmaker: async_sessionmaker[AsyncSession], promo: Path, tmp_path: Path
) -> None:
    photo = media_file(tmp_path, "summer.jpg", JPEG_HEAD)
    platform = Platform()
    sender = once(platform, sessionmaker)
    await sender.send(video(promo, 1))
    album = OutgoingMessage(
        2,
        "Summer",
        media=(
            Media(MediaKind.PHOTO, str(photo), local=True, sha256=sha256_of(photo)),
            *video(promo, 2).media,
        ),
    )
    await sender.send(album)
    await sender.send(album)
    assert platform.uploads == 2
    [_, first_album, second_album] = platform.requests
    assert [item.local for item in first_album.media] == [True, False]
    assert [item.ref for item in second_album.media] == ["id-2-0", "id-1-0"]


async def test_every_send_is_held_while_the_first_upload_is_out_and_a_second_after(
    sessionmaker: async_sessionmaker[AsyncSession], promo: Path
) -> None:
    """Messages that took their slots and waited for the upload all go when it ends:
    the rate budget gives nobody else a slot meanwhile, nor for a second after."""
    platform = Platform()
    platform.release.clear()
    pauses: list[float] = []

    async def pause(seconds: float) -> None:
        pauses.append(seconds)

    # Patience far beyond the test's own pace: on a busy machine the two waiting sends
    # must not give up before the upload ends (then nobody waits, and nothing settles).
    sender = UploadOnce(platform, FileIds(sessionmaker), patience=600.0, pause=pause)
    sending = asyncio.ensure_future(send_all(sender, [video(promo, chat) for chat in range(3)]))
    await until(lambda: platform.uploads == 1 and bool(pauses), what="the upload, held")
    assert set(pauses) == {HOLD_SECONDS}
    platform.release.set()
    await sending
    assert pauses[-1] == SETTLE_SECONDS
    alone = UploadOnce(Platform(), FileIds(sessionmaker), patience=5.0, pause=pause)
    pauses.clear()
    await alone.send(video(promo, 9))  # by the kept id: nothing held
    assert pauses == []


async def test_messages_that_wait_out_a_slow_first_upload_are_sent_not_failed(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession], promo: Path
) -> None:
    """The first upload takes three times the others' patience: they did not go each time
    they stopped waiting, so they wait again (no attempt is spent) and go by its file id."""
    await add_subscribers(session, 12)
    campaign = await campaign_from(session, f"name: slow\ndefault: {{video: '{promo}'}}\n")
    plan = await plan_run(session, campaign=campaign, now=NOW)
    platform = Platform()
    platform.release.clear()
    settings = SenderSettings(
        public_url="http://bot.test", secret="s", send_timeout=0.5, transient_attempts=1
    )
    budget = RateBudget(1000, chat_spacing=0, slots=LocalSlots(start_after=0))
    sending = asyncio.ensure_future(
        Sender(sessionmaker, platform, budget, settings).deliver(plan.run.id)
    )
    await until(lambda: platform.uploads == 1, what="the first upload")
    await asyncio.sleep(3 * 0.8 * 0.5)
    platform.release.set()
    assert await sending is BatchResult.FINISHED
    statuses = await session.scalars(select(Delivery.status).where(Delivery.run_id == plan.run.id))
    counted = Counter(statuses.all())
    # the first upload outlasted its own send timeout: it may have arrived
    assert counted == {DeliveryStatus.SENT: 11, DeliveryStatus.UNKNOWN: 1}
    assert platform.uploads == 1
    assert platform.sent_by_id() == ["id-1-0"] * 11
