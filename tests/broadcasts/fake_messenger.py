"""A Messenger double: records what it was asked to send and answers from a script."""

from collections.abc import Awaitable, Callable

from broadcasts.messenger import Outcome, OutgoingMessage, Sent


class FakeMessenger:
    def __init__(self) -> None:
        self.sent: list[OutgoingMessage] = []
        self.calls: list[OutgoingMessage] = []
        self.script: dict[int, list[Outcome]] = {}  # chat id -> answers before success
        self.before_answer: Callable[[OutgoingMessage], Awaitable[None]] | None = None

    async def send(
        self, message: OutgoingMessage, *, on_written: Callable[[], None] | None = None
    ) -> Outcome:
        self.calls.append(message)
        if on_written is not None:
            on_written()
        if self.before_answer is not None:
            await self.before_answer(message)
        scripted = self.script.get(message.chat_id)
        if scripted:
            return scripted.pop(0)
        self.sent.append(message)
        return Sent(message_id=len(self.sent))

    def to(self, chat_id: int) -> list[OutgoingMessage]:
        return [message for message in self.sent if message.chat_id == chat_id]
