"""A per-admin request limit for endpoints a page calls as someone types (the segment
builder's live count): a token bucket per admin, refilled at `per_second` up to `burst`.
Each process keeps its own buckets; the limit protects the database from one busy
browser, not a deployment from a determined admin."""

from dataclasses import dataclass, field


@dataclass(slots=True)
class RequestLimit:
    per_second: float
    burst: int
    _buckets: dict[int, tuple[float, float]] = field(default_factory=dict)  # tokens, at

    def take(self, admin_user_id: int, *, now: float) -> float:
        """0 when the request may go ahead (a token taken), else the seconds to wait."""
        tokens, at = self._buckets.get(admin_user_id, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.per_second)
        if tokens < 1:
            self._buckets[admin_user_id] = (tokens, now)
            return (1 - tokens) / self.per_second
        self._buckets[admin_user_id] = (tokens - 1, now)
        return 0.0
