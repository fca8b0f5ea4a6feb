"""One claimed message's way out: composed, marked attempted while it waits for its slot,
handed over, and retried as its answers call for. Nothing here waits on another message:
a slow answer holds up only its own.

- A message whose subscriber's local clock is in the campaign's quiet hours when it sets
  off (the run went on, or was resumed, into them) goes back in the queue until they end
  (`Deferred`); the planner's `not_before` only saw the hour the run was planned at.
- The mark (broadcasts/recorder.py `Marks`) is committed in the rate budget's `prepare`,
  before `take` returns; a message whose claim is no longer this sender's, whose
  subscriber left since the claim, or whose run stopped meanwhile, is not sent (`Unsent`,
  or `Refused` once marked: it never left). Before each retry that is checked again.
- The request has `send_timeout`; past it the outcome is `TimedOut` (it went out, so it
  may have arrived: `unknown`), unless it was never written (it waited for its file's
  first upload, or for a connection): then it goes again, no attempt spent.
- 429: every send pauses for retry_after (the budget is shared) and the message goes
  again, up to `flood_attempts` times, then back in the queue. 5xx and connections that
  never opened: retried `transient_attempts` times with backoff, then failed.
- An outage is not one message's bad luck: once `outage_after` requests in a row got no
  usable answer (a 5xx, no connection, no answer in time) the Bot API is taken to be down.
  Then every send pauses for `outage_pause`, again after each request that still gets
  none, and a message that certainly did not arrive goes back in the queue rather than
  being marked failed (one that may have arrived stays `unknown`). Any answer ends it.
"""

import asyncio
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from prometheus_client import Counter

from broadcasts.compose import PreparedVariant, Recipient, compose
from broadcasts.fault_log import FaultLog
from broadcasts.local_time import after_quiet_hours, clock_time, zone
from broadcasts.messenger import (
    ChatNotFound,
    Messenger,
    Outcome,
    OutgoingMessage,
    Rejected,
    RetryAfter,
    TransientError,
    Unknown,
    refuses_the_bot,
)
from broadcasts.models import Campaign
from broadcasts.outcomes import Deferred, Final, Refused, TimedOut, Unrenderable, Unsent
from broadcasts.pacing import RateBudget, Send
from broadcasts.recorder import Marks
from broadcasts.templates import TemplateLimitError
from core.clock import Clock
from core.metrics import MESSAGES, RETRY_AFTER


@dataclass(slots=True)
class Pending:
    """A claimed message on its way: which run, what, to whom, in which lane."""

    run_id: int
    campaign: Campaign
    variant: PreparedVariant
    recipient: Recipient
    paid: bool
    marked: bool = False  # attempted_at is committed: from here on it may go out
    due: bool = True  # False once its subscriber left (or its claim was lost) before a retry


@dataclass(frozen=True, slots=True)
class AttemptRules:
    public_url: str
    secret: str
    send_timeout: float
    transient_attempts: int
    backoff_seconds: float
    flood_attempts: int
    token_pause: float
    outage_after: int
    outage_pause: float


class Outage:
    """Whether the Bot API is down rather than one message unlucky: `after` requests in a
    row went unanswered (a 5xx, a connection that failed, no answer in time), with no
    answer in between. A message that never went (waiting for an upload) tells nothing."""

    def __init__(self, after: int) -> None:
        self._after = after
        self._unanswered = 0  # requests in a row

    def note(self, outcome: Outcome | TimedOut) -> bool:
        """Count one request's outcome; whether the Bot API is down now."""
        if isinstance(outcome, TransientError) and not outcome.sent:
            pass  # it never went
        elif isinstance(outcome, TransientError | Unknown | TimedOut):
            self._unanswered += 1
        else:
            self._unanswered = 0
        return self._unanswered >= self._after


@functools.cache
def _counted(outcome: str) -> Counter:
    """The MESSAGES counter of an outcome (its type's name), found once: a label lookup
    takes a lock and several dictionaries, and every message counts one."""
    return MESSAGES.labels(outcome=outcome.lower())


class Attempts:
    def __init__(
        self,
        messenger: Messenger,
        budget: RateBudget,
        marks: Marks,
        rules: AttemptRules,
        *,
        ahead: asyncio.Semaphore,
        sending: Callable[[int], bool],
        faults: FaultLog,
        clock: Clock,
    ) -> None:
        self._messenger = messenger
        self._clock = clock
        self._budget = budget
        self._marks = marks
        self._rules = rules
        self._ahead = ahead  # at most this many messages wait for a slot
        self._sending = sending  # is the run (by id) still sending?
        self._faults = faults
        self._outage = Outage(rules.outage_after)

    async def send(self, pending: Pending) -> Final:
        """Send the message until it has a final answer (or does not go after all). The
        caller holds one of `ahead`'s permits for it: given back once its slot is taken."""
        rules, delivery_id = self._rules, pending.recipient.delivery_id
        try:
            if (until := self._quiet_until(pending)) is not None:
                return Deferred(until)
            try:
                message = compose(
                    pending.recipient,
                    pending.variant,
                    public_url=rules.public_url,
                    secret=rules.secret,
                    unsubscribe_button=pending.campaign.unsubscribe_button,
                    paid=pending.paid,
                )
            except Exception as error:  # the template, or a filter, broke for this one alone
                self._faults.note("template errors", logging.WARNING, _unrenderable(pending, error))
                return Unrenderable("template")
            send = await self._take(pending, message.chat_id)
        finally:
            self._ahead.release()
        attempts = floods = 0
        while send is not None:
            outcome = await self._request(message, send)
            _counted(type(outcome).__name__).inc()
            down = self._outage.note(outcome)
            if isinstance(outcome, RetryAfter):
                RETRY_AFTER.labels(client="broadcasts").inc()
                self._faults.note(
                    "429s",
                    logging.WARNING,
                    f"429 for delivery {delivery_id}: every send paused for "
                    f"{outcome.seconds:g} s (retry_after)",
                )
                await self._budget.pause(outcome.seconds)
                floods += 1
                if floods >= rules.flood_attempts:
                    return Refused()
            elif refuses_the_bot(outcome):
                self._faults.note(
                    "token refusals",
                    logging.ERROR,
                    f"Telegram refuses SEGBOT_BOT_TOKEN ({outcome.description}): every send "
                    f"paused for {rules.token_pause:g} s, delivery {delivery_id} back in the "
                    "queue; nothing is marked failed (set a token Telegram knows)",
                )
                await self._budget.pause(rules.token_pause)
                return Refused()
            elif down and isinstance(outcome, TransientError | Unknown | TimedOut):
                self._faults.note(
                    "outages",
                    logging.ERROR,
                    f"the Bot API is not answering ({rules.outage_after}+ requests in a row, "
                    f"the last: {_unanswered(outcome)}): every send paused for "
                    f"{rules.outage_pause:g} s, delivery {delivery_id} "
                    + (
                        "back in the queue"
                        if isinstance(outcome, TransientError)
                        else "unknown (it may have arrived)"
                    ),
                )
                await self._budget.pause(rules.outage_pause)
                return Refused() if isinstance(outcome, TransientError) else outcome
            elif isinstance(outcome, TransientError) and not outcome.sent:
                pass  # it never went (its file's first upload outlasted the wait): again
            else:
                attempts += 1
                if not (
                    isinstance(outcome, TransientError) and attempts < rules.transient_attempts
                ):
                    self._log(delivery_id, outcome, attempts)
                    return outcome
                await asyncio.sleep(rules.backoff_seconds * 2 ** (attempts - 1))
            async with self._ahead:
                send = await self._take(pending, message.chat_id)
        return Refused() if pending.marked else Unsent()

    def _quiet_until(self, pending: Pending) -> datetime | None:
        """When the subscriber's quiet hours end, if they are on now (their timezone, else
        the campaign's)."""
        campaign = pending.campaign
        if campaign.quiet_start is None or campaign.quiet_end is None:
            return None
        now = self._clock()
        tz = zone(pending.recipient.context.timezone, campaign.timezone)
        start, end = clock_time(campaign.quiet_start), clock_time(campaign.quiet_end)
        until = after_quiet_hours(now, tz, start, end)
        return until if until > now else None

    async def _take(self, pending: Pending, chat_id: int) -> Send | None:
        """Wait for a send slot, the message marked attempted meanwhile; the send if it
        may go, else None."""
        prepare = partial(self._mark, pending)
        send = await self._budget.take(chat_id, paid=pending.paid, prepare=prepare)
        if pending.marked and pending.due and self._sending(pending.run_id):
            return send
        self._budget.unwritten(send)
        return None

    async def _mark(self, pending: Pending) -> None:
        if not self._sending(pending.run_id):
            return
        delivery_id = pending.recipient.delivery_id
        if pending.marked:  # tried before: whoever left meanwhile does not get it
            pending.due = await self._marks.still_due(delivery_id)
        else:
            pending.marked = await self._marks.mark(delivery_id)

    async def _request(self, message: OutgoingMessage, send: Send) -> Outcome | TimedOut:
        """The message's request, given `send_timeout` in all. Past it, the outcome is
        unknown if the request was written (it may have arrived); if it never was (it
        waited for its file's first upload, or for a connection), it did not go."""
        timeout = self._rules.send_timeout
        written = False

        def went_out() -> None:
            nonlocal written
            written = True
            self._budget.went_out(send)

        try:
            async with asyncio.timeout(timeout) as deadline:
                outcome = await self._messenger.send(message, on_written=went_out)
        except TimeoutError:
            return _past_deadline(timeout, written=written)
        finally:
            self._budget.unwritten(send)  # unless written: then it changes nothing
        # The messenger may answer the deadline's cancellation with its own no answer.
        if deadline.expired() and isinstance(outcome, Unknown):
            return _past_deadline(timeout, written=written)
        return outcome

    def _log(self, delivery_id: int, outcome: Outcome | TimedOut, attempts: int) -> None:
        """One line per fault (bursts summarised); 403s are counted when the run ends."""
        warning = logging.WARNING
        if isinstance(outcome, TimedOut):
            self._faults.note(
                "timeouts",
                warning,
                f"delivery {delivery_id}: no answer within {outcome.seconds:g} s: "
                "unknown (it may have arrived)",
            )
        elif isinstance(outcome, TransientError):
            self._faults.note(
                "server errors",
                warning,
                f"delivery {delivery_id} failed after {attempts} attempts: {outcome.description}",
            )
        elif isinstance(outcome, Unknown):
            self._faults.note(
                "unanswered",
                warning,
                f"delivery {delivery_id}: {outcome.description}: unknown (it may have arrived)",
            )
        elif isinstance(outcome, Rejected | ChatNotFound):
            why = outcome.description if isinstance(outcome, Rejected) else "chat not found"
            self._faults.note("refusals", warning, f"delivery {delivery_id} refused: {why}")


def _past_deadline(timeout: float, *, written: bool) -> TimedOut | TransientError:
    if written:
        return TimedOut(timeout)
    return TransientError(f"not written within {timeout:g} s", sent=False)


def _unanswered(outcome: TransientError | Unknown | TimedOut) -> str:
    if isinstance(outcome, TimedOut):
        return f"no answer within {outcome.seconds:g} s"
    return outcome.description


def _unrenderable(pending: Pending, error: Exception) -> str:
    """The log line of a message its template cannot be written for. Not the error's own
    words: they may quote the subscriber's values (`got the text '31/01/1990'`); the
    preview for that subscriber shows them to whoever may see them."""
    to = pending.recipient
    kind = "a template limit" if isinstance(error, TemplateLimitError) else type(error).__name__
    return (
        f"delivery {to.delivery_id}: the template cannot be filled in for its subscriber "
        f"({kind}); segbot campaign preview {pending.campaign.id} --subscriber "
        f"id:{to.subscriber_id} says why"
    )
