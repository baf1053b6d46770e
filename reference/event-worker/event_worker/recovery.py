"""How the worker reports and recovers from a dependency outage.

Pure parts, testable without servers: the state of each dependency (Kafka,
PostgreSQL) with the time it became degraded, the reconnection backoff, the
decision which consumer positions a broker that lost its data invalidated, and
the ``/health`` body built from the states.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

__all__ = [
    "DATABASE_STATES",
    "KAFKA_STATES",
    "Backoff",
    "Dependency",
    "beyond_end",
    "health_body",
    "stuck",
]

#: The Kafka consumer's states; only ``consuming`` is healthy.
#:   connecting -- connecting to the broker, creating the topics, starting the clients;
#:   joining    -- connected, joining the consumer group (no partition assigned yet);
#:   consuming  -- partitions assigned, messages are read;
#:   retrying   -- the last attempt failed, waiting (bounded backoff) before the next.
KAFKA_STATES = ("connecting", "joining", "consuming", "retrying")
#: PostgreSQL's states; only ``connected`` is healthy.
DATABASE_STATES = ("connected", "unreachable")

K = TypeVar("K")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Dependency:
    """One dependency's state, and since when it has been healthy or degraded.

    ``since`` changes only when the dependency turns from healthy to degraded or
    back, so a consumer that goes connecting -> retrying -> connecting -> joining
    reports the moment it stopped consuming, not its last state change.
    """

    name: str
    state: str
    healthy_states: frozenset[str]
    clock: Callable[[], float] = time.time
    since: float = field(default=0.0)
    error: str | None = None
    #: Failed attempts since the dependency was last healthy.
    failures: int = 0

    def __post_init__(self) -> None:
        if not self.since:
            self.since = self.clock()

    @property
    def healthy(self) -> bool:
        return self.state in self.healthy_states

    def set(self, state: str, error: str | None = None) -> bool:
        """Enter ``state``; True when this turned the dependency healthy or degraded."""
        was = self.healthy
        self.state = state
        if error is not None:
            self.error = error[:300]
            self.failures += 1
        turned = was != self.healthy
        if turned:
            self.since = self.clock()
        if self.healthy:
            self.error = None
            self.failures = 0
        return turned

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.healthy else "degraded",
            "state": self.state,
            "since": _iso(self.since),
            "error": self.error,
            "failures": self.failures,
        }


def health_body(service: str, dependencies: Sequence[Dependency]) -> dict[str, Any]:
    """The ``/health`` answer: ``ok`` when every dependency is healthy, else ``degraded``.

    ``degraded`` names the dependencies that are not healthy and ``since`` the
    earliest moment one of them became so (null when ``ok``). ``checks`` keeps the
    shape every reference service shares (``"ok"`` or ``"error: ..."``)."""
    down = [d for d in dependencies if not d.healthy]
    checks = {
        d.name: "ok" if d.healthy else f"error: {d.state}" + (f": {d.error}" if d.error else "")
        for d in dependencies
    }
    return {
        "status": "degraded" if down else "ok",
        "service": service,
        "degraded": [d.name for d in down],
        "since": _iso(min(d.since for d in down)) if down else None,
        "checks": checks,
        "dependencies": {d.name: d.as_dict() for d in dependencies},
    }


@dataclass
class Backoff:
    """Exponential backoff with jitter, bounded by ``cap``.

    Each delay is drawn from [ceiling/2, ceiling] where ceiling doubles from
    ``initial`` up to ``cap``: never zero (no busy loop against a dead broker),
    never above ``cap`` (the pipeline resumes within ``cap`` seconds of its
    broker coming back), and spread so that several workers do not retry in step.
    """

    initial: float = 0.25
    cap: float = 2.0
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def next(self) -> float:
        ceiling = min(self.cap, self.initial * 2 ** min(self.attempt, 30))
        self.attempt += 1
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)

    def reset(self) -> None:
        self.attempt = 0


def beyond_end(positions: Mapping[K, int], ends: Mapping[K, int]) -> list[K]:
    """Partitions whose position is past the broker's end offset.

    A broker that restarted without its data (a memory-backed one, or a restored
    cluster) starts the topic again at offset 0 while the consumer waits at its
    old position: it would silently skip every new message until the topic grew
    past it. Those partitions must be read again from the beginning."""
    return [p for p, position in positions.items() if p in ends and position > ends[p]]


def stuck(
    previous: Mapping[K, tuple[int, float]],
    positions: Mapping[K, int],
    ends: Mapping[K, int],
    now: float,
    after_s: float,
) -> tuple[dict[K, tuple[int, float]], list[K]]:
    """Track when each partition's position last moved; name those stuck behind their end.

    ``previous`` maps a partition to (position, when it was first seen there).
    Returns the updated map and the partitions that have had messages waiting
    (position < end) without moving for ``after_s`` seconds: a consumer that is
    assigned but no longer fetches, which only a fresh consumer cures."""
    seen: dict[K, tuple[int, float]] = {}
    late: list[K] = []
    for p, position in positions.items():
        before = previous.get(p)
        first = before[1] if before is not None and before[0] == position else now
        seen[p] = (position, first)
        if p in ends and position < ends[p] and now - first >= after_s:
            late.append(p)
    return seen, late
