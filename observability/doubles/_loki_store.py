"""The Loki double's bounded in-memory store and its query evaluation.

Entries are kept per (tenant, stream) in arrival order, plus one global arrival queue:
when the store holds more than ``max_entries`` (all tenants together), the oldest
arrivals are dropped first (each is the first entry of its stream's queue), so a long
run cannot exhaust memory. Tenants never see each other's streams, as in Loki, where
every ingester and store lookup is keyed by the tenant (pkg/ingester/instance.go). All
mutation happens under one lock; the asyncio server calls in from one thread anyway.
"""

from __future__ import annotations

import bisect
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from observability.doubles._common import format_go_float
from observability.doubles._logql import (
    LogQuery,
    MetricQuery,
    RangeAggregation,
    VectorAggregation,
)

__all__ = ["Entry", "LogStore", "Sample", "Series", "TenantStore", "label_key"]

NS = 1_000_000_000

Entry = tuple[int, str, dict[str, str]]  # (unix ns, line, structured metadata)
Sample = tuple[dict[str, str], int, str]  # (labels after the pipeline, unix ns, line)
Series = tuple[dict[str, str], list[tuple[float, float]]]  # (labels, [(unix s, value)])


def label_key(labels: Mapping[str, str]) -> str:
    """Loki's canonical label-set string, ``{a="1", b="2"}``."""
    inner = ", ".join(f'{k}="{_escape(labels[k])}"' for k in sorted(labels))
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@dataclass
class _Stream:
    labels: dict[str, str]
    entries: deque[Entry] = field(default_factory=deque)


class LogStore:
    def __init__(self, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._streams: dict[tuple[str, str], _Stream] = {}
        # (tenant, stream key) of every stored entry, oldest first
        self._arrivals: deque[tuple[str, str]] = deque()

    def __len__(self) -> int:
        return len(self._arrivals)

    def push(self, tenant: str, labels: Mapping[str, str], entries: Iterable[Entry]) -> None:
        key = (tenant, label_key(labels))
        with self._lock:
            stream = self._streams.setdefault(key, _Stream(dict(labels)))
            for entry in entries:
                stream.entries.append(entry)
                self._arrivals.append(key)
            while len(self._arrivals) > self.max_entries:
                oldest = self._arrivals.popleft()
                victim = self._streams[oldest]
                victim.entries.popleft()
                if not victim.entries:
                    del self._streams[oldest]

    def _snapshot(self, tenant: str) -> list[tuple[dict[str, str], list[Entry]]]:
        with self._lock:
            return [(s.labels, list(s.entries)) for k, s in self._streams.items() if k[0] == tenant]

    def newest(self, tenant: str, labels: Mapping[str, str]) -> int | None:
        """The highest timestamp stored for a stream (the ingester's ``highestTs``)."""
        with self._lock:
            stream = self._streams.get((tenant, label_key(labels)))
            return max((e[0] for e in stream.entries), default=None) if stream else None

    def last(self, tenant: str, labels: Mapping[str, str]) -> tuple[int, str] | None:
        """The stream's most recently appended entry (the ingester's ``lastLine``)."""
        with self._lock:
            stream = self._streams.get((tenant, label_key(labels)))
            if not stream or not stream.entries:
                return None
            ts, line, _ = stream.entries[-1]
            return ts, line

    def stream_labels(self, tenant: str, start_ns: int, end_ns: int) -> list[dict[str, str]]:
        """Label sets of the tenant's streams with at least one entry in ``[start, end]``."""
        return [
            labels
            for labels, entries in self._snapshot(tenant)
            if any(start_ns <= ts <= end_ns for ts, _, _ in entries)
        ]

    def samples(self, tenant: str, query: LogQuery, start_ns: int, end_ns: int) -> list[Sample]:
        """Entries in ``[start, end)`` of the selected streams that pass the pipeline,
        duplicates (same stream, timestamp and line) counted once, as Loki does."""
        found: list[Sample] = []
        for labels, entries in self._snapshot(tenant):
            if not query.selects(labels):
                continue
            seen: set[tuple[int, str]] = set()
            for ts, line, metadata in entries:
                if not start_ns <= ts < end_ns or (ts, line) in seen:
                    continue
                seen.add((ts, line))
                # Loki 3 answers structured metadata merged into the stream's labels
                # (without the X-Loki-Response-Encoding-Flags: categorize-labels header).
                processed = query.process({**labels, **metadata}, line)
                if processed is not None:
                    found.append((processed[0], ts, processed[1]))
        return found


class TenantStore:
    """One tenant's view of the store: what a request, once authenticated, can see."""

    def __init__(self, store: LogStore, tenant: str) -> None:
        self.store = store
        self.tenant = tenant

    def push(self, labels: Mapping[str, str], entries: Iterable[Entry]) -> None:
        self.store.push(self.tenant, labels, entries)

    def newest(self, labels: Mapping[str, str]) -> int | None:
        return self.store.newest(self.tenant, labels)

    def last(self, labels: Mapping[str, str]) -> tuple[int, str] | None:
        return self.store.last(self.tenant, labels)

    def stream_labels(self, start_ns: int, end_ns: int) -> list[dict[str, str]]:
        return self.store.stream_labels(self.tenant, start_ns, end_ns)

    def samples(self, query: LogQuery, start_ns: int, end_ns: int) -> list[Sample]:
        return self.store.samples(self.tenant, query, start_ns, end_ns)


def select_streams(
    store: TenantStore, query: LogQuery, start_ns: int, end_ns: int, limit: int, forward: bool
) -> list[dict[str, object]]:
    """A log query's ``result``: the ``limit`` newest (backward) or oldest (forward)
    matching entries across all streams, grouped by label set."""
    samples = store.samples(query, start_ns, end_ns)
    samples.sort(key=lambda s: s[1], reverse=not forward)
    grouped: dict[str, tuple[dict[str, str], list[list[str]]]] = {}
    for labels, ts, line in samples[:limit]:
        grouped.setdefault(label_key(labels), (labels, []))[1].append([str(ts), line])
    return [{"stream": labels, "values": values} for labels, values in grouped.values()]


class _Window:
    """One series' samples, sorted, with prefix sums of line sizes for bytes_*."""

    def __init__(self, labels: dict[str, str]) -> None:
        self.labels = labels
        self.times: list[int] = []
        self.sizes: list[int] = []
        self.prefix: list[int] = [0]

    def finish(self) -> None:
        order = sorted(range(len(self.times)), key=self.times.__getitem__)
        self.times = [self.times[i] for i in order]
        self.sizes = [self.sizes[i] for i in order]
        for size in self.sizes:
            self.prefix.append(self.prefix[-1] + size)

    def value_at(self, function: str, range_ns: int, t_ns: int) -> float | None:
        """Loki's range semantics: entries with ``t - range < ts <= t``."""
        lo = bisect.bisect_right(self.times, t_ns - range_ns)
        hi = bisect.bisect_right(self.times, t_ns)
        if hi == lo:
            return None
        count = hi - lo
        size = self.prefix[hi] - self.prefix[lo]
        range_s = range_ns / NS
        return {
            "count_over_time": float(count),
            "rate": count / range_s,
            "bytes_over_time": float(size),
            "bytes_rate": size / range_s,
        }[function]


def _windows(store: TenantStore, query: MetricQuery, lo_ns: int, hi_ns: int) -> list[_Window]:
    if isinstance(query, VectorAggregation):
        return _windows(store, query.inner, lo_ns, hi_ns)
    range_ns = round(query.range_seconds * NS)
    windows: dict[str, _Window] = {}
    for labels, ts, line in store.samples(query.query, lo_ns - range_ns + 1, hi_ns + 1):
        window = windows.setdefault(label_key(labels), _Window(labels))
        window.times.append(ts)
        window.sizes.append(len(line.encode()))
    for window in windows.values():
        window.finish()
    return list(windows.values())


def _evaluate(query: MetricQuery, windows: list[_Window], t_ns: int) -> list[Series]:
    if isinstance(query, RangeAggregation):
        range_ns = round(query.range_seconds * NS)
        out: list[Series] = []
        for window in windows:
            value = window.value_at(query.function, range_ns, t_ns)
            if value is not None:
                out.append((window.labels, [(t_ns / NS, value)]))
        return out
    groups: dict[str, tuple[dict[str, str], list[float]]] = {}
    for labels, points in _evaluate(query.inner, windows, t_ns):
        if query.grouping is None:
            kept: dict[str, str] = {}
        elif query.without:
            kept = {k: v for k, v in labels.items() if k not in query.grouping}
        else:
            kept = {k: v for k, v in labels.items() if k in query.grouping}
        groups.setdefault(label_key(kept), (kept, []))[1].append(points[0][1])
    return [
        (labels, [(t_ns / NS, _reduce(query.operation, values))])
        for labels, values in groups.values()
    ]


def _reduce(operation: str, values: list[float]) -> float:
    if operation == "sum":
        return sum(values)
    if operation == "count":
        return float(len(values))
    if operation == "min":
        return min(values)
    if operation == "max":
        return max(values)
    return sum(values) / len(values)  # avg


def _point(t_s: float, value: float) -> list[object]:
    return [int(t_s) if t_s.is_integer() else t_s, format_go_float(value)]


def instant_vector(store: TenantStore, query: MetricQuery, t_ns: int) -> list[dict[str, object]]:
    """An instant metric query's ``result`` (``resultType: vector``)."""
    series = _evaluate(query, _windows(store, query, t_ns, t_ns), t_ns)
    series.sort(key=lambda s: label_key(s[0]))
    return [{"metric": labels, "value": _point(*points[0])} for labels, points in series]


def range_matrix(
    store: TenantStore, query: MetricQuery, start_ns: int, end_ns: int, step_ns: int
) -> list[dict[str, object]]:
    """A range metric query's ``result`` (``resultType: matrix``): the query evaluated at
    ``start``, ``start + step``, ... up to ``end``, as Prometheus steps."""
    windows = _windows(store, query, start_ns, end_ns)
    merged: dict[str, Series] = {}
    t_ns = start_ns
    while t_ns <= end_ns:
        for labels, points in _evaluate(query, windows, t_ns):
            merged.setdefault(label_key(labels), (labels, []))[1].extend(points)
        t_ns += step_ns
    return [
        {"metric": labels, "values": [_point(*p) for p in points]}
        for _, (labels, points) in sorted(merged.items())
    ]
