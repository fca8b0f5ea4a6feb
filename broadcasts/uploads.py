"""A local file goes up once; every other message sends the file id the platform gave it.

`UploadOnce` wraps a Messenger. The first message that carries a file not uploaded yet
uploads it; the file id its answer brings is kept (`uploaded_files`, by content digest and
kind), and from then on every message, from any sender and after any restart, goes by
that id: a plain request, as fast as a text. While that first upload is on its way,
other messages with the same file wait for it (at most `patience` seconds, kept below
the send timeout; past it they did not go: TransientError, and the sender retries them).
If the upload does not bring a file id (that recipient blocked the bot, the request
failed), the next message uploads it. A file Telegram refused (`Rejected`) for
REFUSALS recipients before any upload of it went through is at fault, not they (a photo
Telegram cannot process): this sender does not upload it again, and every later message
that carries it is refused with Telegram's reason at once, holding nobody.

Messages that took their send slots go out at once when the upload they waited for ends,
all together; a burst like that would go past Telegram's limit. So with `pause` (the
sender's rate budget's) every send is held while the first upload is on its way (at most
`patience`), and if messages waited for it, for SETTLE_SECONDS after it: those few go in
a second of their own. A first upload costs the whole bot's sending its upload time, and
a second when others waited (benchmarks/media_upload.py measures it).

The upload runs on even if the sender stops waiting for it (its send timeout): its file
id is still kept, though its own recipient's delivery is then unknown. Two senders that
start on the same file at the same moment each upload it once; both ids work, the first
kept is the one every later message uses. So a file is uploaded once per sender that
meets it before any upload finished, plus once per upload that brought no file id.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.messenger import (
    Media,
    Messenger,
    Outcome,
    OutgoingMessage,
    Rejected,
    Sent,
    TransientError,
    refuses_the_bot,
)
from broadcasts.models import UploadedFile
from core.clock import Clock, utcnow
from core.db import upsert

logger = logging.getLogger(__name__)

FileKey = tuple[str, str]  # (sha256, kind)
# A sender's messages wait for another's upload this share of the send timeout at most,
# so the wait and their own request fit in it.
UPLOAD_PATIENCE = 0.8
HOLD_SECONDS = 0.5  # each pause while an upload is on its way, renewed every half of it
SETTLE_SECONDS = 1.0  # after an upload others waited for: their burst has a second alone
REFUSALS = 3  # a file refused this often is refused for its own sake
Pause = Callable[[float], Awaitable[None]]


class FileIds:
    """The file ids uploads brought, in the database (shared by senders) and in memory."""

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], *, clock: Clock = utcnow
    ) -> None:
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._known: dict[FileKey, str] = {}

    def get(self, key: FileKey) -> str | None:
        return self._known.get(key)

    async def load(self, keys: Sequence[FileKey]) -> None:
        """Read the ids of `keys` not known here (another sender may have uploaded them)."""
        missing = [key for key in keys if key not in self._known]
        if not missing:
            return
        async with self._sessionmaker() as session:
            rows = await session.execute(
                select(UploadedFile.sha256, UploadedFile.kind, UploadedFile.file_id).where(
                    tuple_(UploadedFile.sha256, UploadedFile.kind).in_(missing)
                )
            )
        self._known |= {(sha256, kind): file_id for sha256, kind, file_id in rows.all()}

    async def keep(self, key: FileKey, file_id: str) -> None:
        """Keep an upload's id; one kept before (by another sender) stays the shared one."""
        self._known.setdefault(key, file_id)
        now: datetime = self._clock()
        async with self._sessionmaker() as session:
            row = {"sha256": key[0], "kind": key[1], "file_id": file_id, "uploaded_at": now}
            await upsert(session, UploadedFile, [row], key=["sha256", "kind"], update=())
            await session.commit()


class UploadOnce:
    """A Messenger that uploads each local file once (see the module docstring)."""

    def __init__(
        self, messenger: Messenger, files: FileIds, *, patience: float, pause: Pause | None = None
    ) -> None:
        self._messenger = messenger
        self._files = files
        self._patience = patience
        self._pause = pause
        self._uploading: dict[FileKey, asyncio.Future[None]] = {}
        self._running: set[asyncio.Task[Outcome]] = set()
        self._waiting = 0  # messages waiting for an upload now
        self._refusals: dict[FileKey, list[str]] = {}  # why Telegram refused each upload

    async def send(
        self, message: OutgoingMessage, *, on_written: Callable[[], None] | None = None
    ) -> Outcome:
        keys = [_key(item) for item in message.media if item.local]
        if not keys:
            return await self._messenger.send(message, on_written=on_written)
        await self._files.load(keys)
        deadline = asyncio.get_running_loop().time() + self._patience
        while busy := [
            self._uploading[k] for k in _unknown(keys, self._files) if k in self._uploading
        ]:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return TransientError("waiting for the first upload of its file", sent=False)
            self._waiting += 1
            try:
                await asyncio.wait(busy, timeout=left)
            finally:
                self._waiting -= 1
        by_id = _by_id(message, self._files)
        todo = _unknown(keys, self._files)
        if not todo:
            return await self._messenger.send(by_id, on_written=on_written)
        for key in todo:
            refusals = self._refusals.get(key, [])
            if len(refusals) >= REFUSALS:
                return Rejected(f"{refusals[-1]} (its file was refused {len(refusals)} times)")
        mine = {key: asyncio.get_running_loop().create_future() for key in todo}
        self._uploading |= mine
        upload = asyncio.create_task(self._upload(by_id, mine, on_written))
        self._running.add(upload)
        upload.add_done_callback(self._finished)
        return await asyncio.shield(upload)

    def _finished(self, upload: asyncio.Task[Outcome]) -> None:
        """An upload ended; if nobody waited for it any more, say how a failure ended it."""
        self._running.discard(upload)
        if not upload.cancelled() and (error := upload.exception()) is not None:
            logger.warning("an upload failed: %s: %s", type(error).__name__, error)

    async def _upload(
        self,
        message: OutgoingMessage,
        claimed: dict[FileKey, asyncio.Future[None]],
        on_written: Callable[[], None] | None,
    ) -> Outcome:
        """Send `message`, uploading its files in `claimed`, every send held meanwhile;
        keep the ids it brings."""
        holding = None if self._pause is None else asyncio.create_task(self._hold(self._pause))
        try:
            outcome = await self._messenger.send(message, on_written=on_written)
            if isinstance(outcome, Sent):
                for item, file_id in zip(message.media, outcome.file_ids, strict=False):
                    if item.local and _key(item) in claimed:
                        await self._files.keep(_key(item), file_id)
            if isinstance(outcome, Rejected) and not refuses_the_bot(outcome):
                for key in claimed:
                    self._refusals.setdefault(key, []).append(outcome.description)
            return outcome
        finally:
            if holding is not None:
                holding.cancel()
                await asyncio.gather(holding, return_exceptions=True)
                if self._waiting and self._pause is not None:
                    await self._pause(SETTLE_SECONDS)
            for key, done in claimed.items():
                del self._uploading[key]
                done.set_result(None)

    async def _hold(self, pause: Pause) -> None:
        """Keep every send paused for `patience` at most (then the waiting give up)."""
        loop = asyncio.get_running_loop()
        until = loop.time() + self._patience
        while loop.time() < until:
            await pause(HOLD_SECONDS)
            await asyncio.sleep(HOLD_SECONDS / 2)


def _key(item: Media) -> FileKey:
    return (item.sha256 or item.ref, item.kind.value)


def _unknown(keys: Sequence[FileKey], files: FileIds) -> list[FileKey]:
    return [key for key in dict.fromkeys(keys) if files.get(key) is None]


def _by_id(message: OutgoingMessage, files: FileIds) -> OutgoingMessage:
    """`message` with each local file already uploaded given by its file id."""

    def resolved(item: Media) -> Media:
        file_id = files.get(_key(item)) if item.local else None
        return item if file_id is None else Media(item.kind, file_id)

    return replace(message, media=tuple(resolved(item) for item in message.media))
