"""What can become of a claimed message: the messenger's outcomes, and the sender's own
(timed out, never sent, refused, unrenderable), as values the writer records."""

from dataclasses import dataclass
from datetime import datetime

from broadcasts.messenger import Outcome


@dataclass(frozen=True, slots=True)
class TimedOut:
    """No answer within the send timeout; the request went out, so it may have arrived."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Unsent:
    """Claimed but never handed over (its run stopped, or the claim is no longer ours)."""


@dataclass(frozen=True, slots=True)
class Refused:
    """Marked attempted, yet certainly not delivered (flood control went on too long, or
    its run stopped before it went): back in the queue."""


@dataclass(frozen=True, slots=True)
class Deferred:
    """Claimed while its subscriber's quiet hours are on (they began after the run was
    planned, or the run was paused into them): back in the queue, not before `until`."""

    until: datetime


@dataclass(frozen=True, slots=True)
class Unrenderable:
    """Its template cannot be filled in for this subscriber: failed, never sent."""

    reason: str


Ended = Outcome | TimedOut | Unrenderable  # a final status (RetryAfter never ends one)
Final = Ended | Unsent | Refused | Deferred


@dataclass(frozen=True, slots=True)
class Result:
    """How one claimed delivery ended, for the writer."""

    delivery_id: int
    subscriber_id: int
    run_id: int
    paid: bool
    final: Final
