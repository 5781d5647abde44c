"""Drop events whose id was already accepted within the dedupe horizon.

:class:`Dedupe` is plain logic over any mutable mapping ``event_id -> first-seen ms``. The
stream agent backs it with the store of a changelogged Faust table (so it survives restarts);
tests back it with a dict.

Marking is the caller's job and must come late: an id is marked seen only after the event's
output was acknowledged by the broker, so a crash in between re-delivers the event instead of
losing it.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping

DAY_MS = 24 * 3600 * 1000


class Dedupe:
    """Seen event ids, each with the epoch milliseconds it was first accepted."""

    def __init__(self, seen: MutableMapping[str, int], horizon_s: float) -> None:
        if horizon_s <= 0:
            raise ValueError("dedupe horizon must be positive")
        self._seen = seen
        self.horizon_ms = int(horizon_s * 1000)

    def __len__(self) -> int:
        return len(self._seen)

    def is_duplicate(self, event_id: str) -> bool:
        """Whether ``event_id`` was accepted before (and has not expired yet)."""
        return event_id in self._seen

    def mark_seen(self, event_id: str, now_ms: int) -> bool:
        """Record ``event_id`` as accepted at ``now_ms``; False if it was already known.

        The first-seen time is kept on a repeat, so the horizon counts from the first accept.
        """
        if event_id in self._seen:
            return False
        self._seen[event_id] = now_ms
        return True

    def mark_all(self, event_ids: Iterable[str], now_ms: int) -> list[str]:
        """Mark every id; returns the ones that were new."""
        return [e for e in event_ids if self.mark_seen(e, now_ms)]

    def expired(self, now_ms: int) -> list[str]:
        """Ids first seen more than the horizon before ``now_ms`` (nothing is removed)."""
        cutoff = now_ms - self.horizon_ms
        return [event_id for event_id, first in self._seen.items() if first < cutoff]

    def expire(self, now_ms: int) -> list[str]:
        """Forget ids older than the horizon; returns the ids removed."""
        old = self.expired(now_ms)
        for event_id in old:
            del self._seen[event_id]
        return old
