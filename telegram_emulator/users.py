"""What users do in their chats with the bot; each action queues the update Telegram sends."""

from telegram_emulator import updates
from telegram_emulator.errors import EmulatorError
from telegram_emulator.files import MediaKind
from telegram_emulator.json_types import JSONObject
from telegram_emulator.message_objects import bot_message, photo_content
from telegram_emulator.records import EmulatedUser
from telegram_emulator.state import ChatState, EmulatorState, PendingCallback
from telegram_emulator.update_queue import UpdateQueue


class UserActions:
    def __init__(self, state: EmulatorState, queue: UpdateQueue) -> None:
        self._state = state
        self._queue = queue

    def add_user(
        self,
        user_id: int,
        *,
        first_name: str = "Ann",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
    ) -> EmulatedUser:
        user = EmulatedUser(user_id, first_name, last_name, username, language_code)
        return self._state.add_user(user).user

    def send_text(
        self, user_id: int, text: str, *, forward: bool = False, reply_to: int | None = None
    ) -> JSONObject:
        """The user writes `text` (a blocked bot is unblocked first, as Telegram's Restart)."""
        if user_id not in self._state.chats:
            self.add_user(user_id)
        chat = self._active_chat(user_id)
        if chat.user.blocked:
            self.unblock(user_id)
        content = updates.text_content(text)
        if forward:
            content["forward_origin"] = {
                "type": "hidden_user",
                "sender_user_name": "Someone Else",
                "date": updates.unix_now(),
            }
        if reply_to is not None:
            content["reply_to_message"] = self._message_json(chat, reply_to)
        return self._post(chat, content)

    def send_photo(self, user_id: int, *, caption: str | None = None) -> JSONObject:
        """The user sends a photo (a new file the bot may send on by file_id)."""
        chat = self._active_chat(user_id)
        photo = self._state.files.add_received(MediaKind.PHOTO)
        return self._post(chat, photo_content(photo, caption))

    def share_contact(
        self,
        user_id: int,
        phone_number: str,
        *,
        contact_user_id: int | None = None,
        first_name: str | None = None,
    ) -> JSONObject:
        """The user shares a contact: their own (the default) or someone else's."""
        chat = self._active_chat(user_id)
        contact: JSONObject = {
            "phone_number": phone_number,
            "first_name": first_name or chat.user.first_name,
            "user_id": user_id if contact_user_id is None else contact_user_id,
        }
        if chat.user.last_name and contact_user_id in {None, user_id}:
            contact["last_name"] = chat.user.last_name
        return self._post(chat, {"contact": contact})

    def press_button(self, user_id: int, message_id: int, data: str, *, forged: bool) -> str:
        """Press an inline button of a message the bot sent; returns the callback query id.
        `forged`: a modified client's press, with `data` no button of the message carries
        (Telegram passes on whatever data a client sends)."""
        chat = self._active_chat(user_id)
        message = chat.sent.get(message_id)
        if message is None or message.deleted:
            raise EmulatorError(f"chat {user_id} has no message {message_id} from the bot")
        if not forged and data not in message.callback_data():
            raise EmulatorError(
                f"message {message_id} has no button with callback_data {data!r}; "
                f"it has {message.callback_data()!r}"
            )
        if chat.user.blocked:
            raise EmulatorError(f"user {user_id} blocked the bot; unblock first")
        query_id = self._state.new_callback_id()
        self._state.callbacks[query_id] = PendingCallback(chat.id, message_id)
        message_json = bot_message(message, chat, self._state.bot_user)
        query = updates.callback_query(query_id, chat.user, message_json, data)
        self._queue.push("callback_query", query)
        return query_id

    def block(self, user_id: int) -> None:
        self._set_blocked(self._active_chat(user_id), blocked=True)

    def unblock(self, user_id: int) -> None:
        self._set_blocked(self._active_chat(user_id), blocked=False)

    def deactivate(self, user_id: int) -> None:
        """The account is deleted: sends answer 403 "user is deactivated" from now on."""
        self._state.require_chat(user_id).user.deactivated = True

    def react(self, user_id: int, message_id: int, emoji: str | None = "👍") -> JSONObject:
        """Set (or with None, remove) the user's reaction to a message in their chat."""
        chat = self._active_chat(user_id)
        if not chat.has_message(message_id):
            raise EmulatorError(f"chat {user_id} has no message {message_id}")
        old = chat.reactions.get(message_id, [])
        new = [emoji] if emoji else []
        chat.reactions[message_id] = new
        reaction = updates.message_reaction(chat, message_id, old, new)
        self._queue.push("message_reaction", reaction)
        return reaction

    def _active_chat(self, user_id: int) -> ChatState:
        chat = self._state.require_chat(user_id)
        if chat.user.deactivated:
            raise EmulatorError(f"user {user_id} is deactivated")
        return chat

    def _message_json(self, chat: ChatState, message_id: int) -> JSONObject:
        if message_id in chat.incoming:
            return chat.incoming[message_id]
        sent = chat.sent.get(message_id)
        if sent is None or sent.deleted:
            raise EmulatorError(f"chat {chat.id} has no message {message_id}")
        return bot_message(sent, chat, self._state.bot_user)

    def _post(self, chat: ChatState, content: JSONObject) -> JSONObject:
        message_id = chat.next_message_id()
        message = updates.user_message(chat, message_id, content)
        chat.incoming[message_id] = message
        self._queue.push("message", message)
        return message

    def _set_blocked(self, chat: ChatState, *, blocked: bool) -> None:
        if chat.user.blocked == blocked:
            return
        chat.user.blocked = blocked
        old, new = ("member", "kicked") if blocked else ("kicked", "member")
        update = updates.my_chat_member(chat, self._state.bot_user, old_status=old, new_status=new)
        self._queue.push("my_chat_member", update)
