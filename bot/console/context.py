"""What every console handler works with: the services (`services(request)`), the
signed-in admin (`admin(request)`), `render` for pages from Jinja templates with
autoescaping on, `@requires(permission)` for the role and CSRF checks, `posted` for a
request's form, and `audit` for the audit log entry of a change (the same log as the chat
console's).
"""

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache, wraps
from pathlib import Path
from typing import Any, cast

import jinja2
from aiogram import Bot
from aiohttp import web
from multidict import MultiDictProxy
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.admin import audit as audit_log
from bot.admin.permissions import GRANTS, Permission
from bot.admin.services import AdminServices
from bot.console.limits import RequestLimit
from broadcasts.messenger import Messenger
from core.clock import Clock
from core.models import AdminRole
from core.settings import Settings
from core.signing import same_secret

HERE = Path(__file__).parent
CSRF_HEADER = "X-CSRF-Token"
SESSION_COOKIE = "segbot_console"  # the desktop session (bot.console.identity)


@dataclass(slots=True)
class ConsoleServices:
    """What the console's handlers work with, built once by the composition root."""

    sessionmaker: async_sessionmaker[AsyncSession]
    settings: Settings
    services: AdminServices  # the same config, campaign scheduler and CRM hook as the chat
    messenger: Messenger  # test sends go out like any message
    bot: Bot
    clock: Clock
    secret: str
    count_limit: RequestLimit = field(default_factory=lambda: RequestLimit(per_second=4, burst=8))

    @property
    def max_age(self) -> timedelta:
        return timedelta(seconds=self.settings.console_max_age)


@dataclass(frozen=True, slots=True)
class ConsoleAdmin:
    """The admin a console request comes from."""

    user_id: int
    role: AdminRole
    name: str
    csrf: str  # what this sign-in's changes must carry

    def can(self, permission: Permission) -> bool:
        return permission in GRANTS[self.role]


SERVICES = web.AppKey("console", ConsoleServices)
ADMIN_KEY = web.RequestKey("console_admin", ConsoleAdmin)
# The session cookie a request was signed in by (none inside Telegram), for signing out.
SIGNED_IN_BY_COOKIE = web.RequestKey("console_cookie", str)
_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def services(request: web.Request) -> ConsoleServices:
    return request.app[SERVICES]


def admin(request: web.Request) -> ConsoleAdmin:
    """The signed-in admin (set by `authenticate`)."""
    found: ConsoleAdmin = request[ADMIN_KEY]
    return found


@cache
def static(name: str) -> str:
    """A static file's URL, versioned by its content so browsers never keep a stale one."""
    digest = hashlib.sha256((HERE / "static" / name).read_bytes()).hexdigest()[:12]
    return f"/console/static/{name}?v={digest}"


def render(
    request: web.Request, template: str, *, status: int = 200, **context: Any
) -> web.Response:
    """A page (or fragment) from `templates/`, every value escaped; the templates get
    `admin`, `can(permission)` and `Permission` besides what the handler passes."""
    signed_in = request.get(ADMIN_KEY)
    html = _templates.get_template(template).render(
        admin=signed_in,
        can=(lambda permission: signed_in is not None and signed_in.can(permission)),
        Permission=Permission,
        path=request.path,
        static=static,
        **context,
    )
    return web.Response(text=html, content_type="text/html", status=status)


def requires(permission: Permission) -> Callable[[Handler], Handler]:
    """Only for admins whose role grants `permission` (403 otherwise); a request that
    changes something must also carry the sign-in's CSRF token (403 otherwise)."""

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def checked(request: web.Request) -> web.StreamResponse:
            signed_in = admin(request)
            if not signed_in.can(permission):
                raise web.HTTPForbidden(text="your role does not allow this")
            if request.method not in ("GET", "HEAD"):
                sent = request.headers.get(CSRF_HEADER, "")
                if not same_secret(sent, signed_in.csrf):
                    raise web.HTTPForbidden(text="missing or wrong CSRF token")
            return await handler(request)

        return checked

    return decorate


async def posted(request: web.Request) -> MultiDictProxy[str]:
    """The request's form, every field text. A body no console page sends (a broken
    multipart body, an unknown charset, a file where text goes, a NUL character, which
    PostgreSQL's text cannot hold) is the client's mistake: 400 saying so, where reading
    it as it comes would be a 500 or a file's description taken for the field's text."""
    try:
        fields = await request.post()
    except (ValueError, LookupError) as error:  # LookupError: an unknown charset
        raise web.HTTPBadRequest(text=f"the form could not be read: {error}") from None
    for name, value in fields.items():
        if not isinstance(value, str):
            raise web.HTTPBadRequest(text=f"the form has a file where text goes: {name[:64]!r}")
        if "\x00" in value:
            raise web.HTTPBadRequest(text=f"the form's {name[:64]!r} has a NUL character")
    return cast(MultiDictProxy[str], fields)


async def audit(request: web.Request, action: str, **detail: Any) -> None:
    """One audit log entry for a change made in the console (action `console <action>`)."""
    console = services(request)
    await audit_log.record(
        console.sessionmaker,
        admin_id=admin(request).user_id,
        action=f"console {action}",
        now=console.clock(),
        **detail,
    )
