"""The subscriber's own phone (the request_contact button) and email (/email ADDRESS).

Either one is normalised (crm_sync.identity), stored, and matched against CRM customers.
"""

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message, ReplyKeyboardRemove
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import AppConfig
from bot.filters import has_contact
from bot.i18n import Translator
from core.clock import Clock
from core.profiles import set_email, set_phone
from crm_sync.identity import normalize_email, normalize_phone
from crm_sync.matching import match_subscriber


async def contact(
    message: Message, session: AsyncSession, config: AppConfig, clock: Clock, t: Translator
) -> None:
    shared = message.contact
    if shared is None or message.from_user is None:
        return
    if shared.user_id != message.from_user.id:
        await message.answer(
            t("Please share your own number with the button below, not someone else's contact.")
        )
        return
    phone = normalize_phone(_international(shared.phone_number), region=config.phone_region)
    if phone is None:
        await message.answer(t("That does not look like a phone number."))
        return
    subscriber_id = await set_phone(
        session, telegram_id=message.from_user.id, phone=phone, now=clock()
    )
    await match_subscriber(session, subscriber_id=subscriber_id, clock=clock)
    await message.answer(t("Thank you! Your phone is saved."), reply_markup=ReplyKeyboardRemove())


def _international(number: str) -> str:
    """A shared contact's number: Telegram gives the whole international number, often
    without its "+" (`34600123456`), which would read as a national number of the
    default region."""
    return f"+{number}" if number.isascii() and number.isdigit() else number


async def email(
    message: Message, command: CommandObject, session: AsyncSession, clock: Clock, t: Translator
) -> None:
    if message.from_user is None:
        return
    address = normalize_email(command.args or "")
    if address is None:
        await message.answer(t("Send your email like this: /email you@example.com"))
        return
    subscriber_id = await set_email(
        session, telegram_id=message.from_user.id, email=address, now=clock()
    )
    await match_subscriber(session, subscriber_id=subscriber_id, clock=clock)
    await message.answer(t("Thank you! Your email is saved."))


def register(router: Router) -> None:
    """Adds this feature's handlers to `router` (the private-chat router)."""
    router.message.register(contact, has_contact)
    router.message.register(email, Command("email"))
