"""Loki's push validation, distributor then ingester, with Loki 3's default limits.

Order and messages follow the source:

1. pkg/loghttp/push/push.go ``ParseLokiRequest``: a stream whose labels do not parse
   fails the whole request, 400 ``couldn't parse labels: ...``; a stream without
   ``service_name`` gets one from the first of ``discover_service_name``
   (pkg/validation/limits.go defaults) that it has, else ``unknown_service``.
2. pkg/distributor/distributor.go ``Push``: no streams at all is 422
   ``error at least one valid stream is required for ingestion``; each entry is checked by
   pkg/distributor/validator.go ``ValidateEntry`` (reject_old_samples_max_age 168h,
   creation_grace_period 10m, max_line_size 256KB = 262144 bytes, c2h5oh/datasize) and
   ``ValidateLabels`` (max_label_names_per_series 15, name 1024 / value 2048 bytes);
   rejected entries are dropped, the others stored, and the messages joined as
   pkg/util/errors.go ``GroupedErrors`` does into one 400.
3. pkg/ingester/stream.go ``validateEntries``: an entry equal to the stream's last one
   (timestamp and line) is dropped silently; with unordered writes (Loki 3's default) an
   entry older than the stream's highest timestamp minus max_chunk_age/2 (2h/2 = 1h) is
   ``entry too far behind``; the ingester's error (``errorForFailedEntries``) replaces
   the distributor's in the answer, the accepted entries being stored anyway.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from observability.doubles._logql_lexer import LogQLParseError, tokenize
from observability.doubles._loki_store import Entry, TenantStore, label_key

__all__ = ["PushRejected", "parse_labels", "push_streams"]

NS = 1_000_000_000
REJECT_OLD_SAMPLES_MAX_AGE_NS = 168 * 3600 * NS
CREATION_GRACE_PERIOD_NS = 10 * 60 * NS
MAX_LINE_SIZE = 256 * 1024
MAX_LABEL_NAMES_PER_SERIES = 15
MAX_LABEL_NAME_LENGTH = 1024
MAX_LABEL_VALUE_LENGTH = 2048
MAX_CHUNK_AGE_NS = 2 * 3600 * NS
SERVICE_NAME = "service_name"
SERVICE_UNKNOWN = "unknown_service"
DISCOVER_SERVICE_NAME = (
    "service",
    "app",
    "application",
    "app_name",
    "name",
    "app_kubernetes_io_name",
    "container",
    "container_name",
    "k8s_container_name",
    "component",
    "workload",
    "job",
    "k8s_job_name",
)


@dataclass
class PushRejected(Exception):
    """Some or all entries were refused; ``message`` is Loki's body (without newline)."""

    message: str
    status: int = 400


def parse_labels(text: str) -> dict[str, str]:
    """Prometheus ``ParseMetric`` of a stream's labels string (``{a="1", b="2"}``)."""
    try:
        tokens = tokenize(text)
    except LogQLParseError as exc:
        raise PushRejected(f"couldn't parse labels: {exc}") from None
    labels: dict[str, str] = {}
    i = 0

    def fail(message: str) -> PushRejected:
        col = tokens[min(i, len(tokens) - 1)].col
        return PushRejected(f"couldn't parse labels: 1:{col}: parse error: {message}")

    if not tokens or tokens[0].text != "{":
        raise fail('unexpected input, expected "{"')
    i = 1
    while tokens[i].text != "}":
        if tokens[i].kind != "ident":
            raise fail(f"unexpected {tokens[i].text or 'end of input'!r} in label set")
        name = tokens[i].text
        if tokens[i + 1].text != "=" or tokens[i + 2].kind != "string":
            i += 1
            raise fail('unexpected label matcher, expected "=" and a string')
        labels[name] = tokens[i + 2].text
        i += 3
        if tokens[i].text == ",":
            i += 1
        elif tokens[i].text != "}":
            raise fail(f"unexpected {tokens[i].text or 'end of input'!r} in label set")
    if tokens[i + 1].kind != "eof":
        i += 1
        raise fail("unexpected input after label set")
    # ParseLabels drops empty values (pkg/logql/syntax/parser.go).
    return {k: v for k, v in labels.items() if v != ""}


def _discover_service_name(labels: dict[str, str]) -> dict[str, str]:
    if SERVICE_NAME in labels:
        return labels
    service = next((labels[n] for n in DISCOVER_SERVICE_NAME if labels.get(n)), SERVICE_UNKNOWN)
    return {**labels, SERVICE_NAME: service}


def _rfc3339(ns: int) -> str:
    """Go's ``Format(time.RFC3339)`` in UTC: whole seconds."""
    return datetime.fromtimestamp(ns // NS, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _go_time(ns: int) -> str:
    """Go's ``time.Time.String()`` in UTC, fraction without trailing zeros."""
    base = datetime.fromtimestamp(ns // NS, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
    fraction = f"{ns % NS:09d}".rstrip("0")
    return base + (f".{fraction}" if fraction else "") + " +0000 UTC"


def _labels_error(labels: dict[str, str]) -> str | None:
    key = label_key(labels)
    names = len(labels) - (SERVICE_NAME in labels)
    if names > MAX_LABEL_NAMES_PER_SERIES:
        return (
            f"entry for stream '{key}' has {names} label names; limit {MAX_LABEL_NAMES_PER_SERIES}"
        )
    for name, value in sorted(labels.items()):
        if len(name) > MAX_LABEL_NAME_LENGTH:
            return f"stream '{key}' has label name too long: '{name}'"
        if len(value) > MAX_LABEL_VALUE_LENGTH:
            return f"stream '{key}' has label value too long: '{value}'"
    return None


def _entry_error(key: str, entry: Entry, now_ns: int) -> str | None:
    ts, line, _ = entry
    oldest = now_ns - REJECT_OLD_SAMPLES_MAX_AGE_NS
    if ts < oldest:
        return (
            f"entry for stream '{key}' has timestamp too old: {_rfc3339(ts)}, "
            f"oldest acceptable timestamp is: {_rfc3339(oldest)}"
        )
    if ts > now_ns + CREATION_GRACE_PERIOD_NS:
        return f"entry for stream '{key}' has timestamp too new: {_rfc3339(ts)}"
    if len(line.encode()) > MAX_LINE_SIZE:
        return (
            f"Max entry size '{MAX_LINE_SIZE}' bytes exceeded for stream '{key}' while adding "
            f"an entry with length '{len(line.encode())}' bytes"
        )
    return None


def _grouped(errors: list[str]) -> str:
    """pkg/util/errors.go ``GroupedErrors.Error`` (insertion order for Go's map order)."""
    counts: dict[str, int] = {}
    for error in errors:
        counts[error] = counts.get(error, 0) + 1
    many = len(counts) > 1
    return "; ".join(
        (f"{n} errors like: " if many or n > 1 else "") + error for error, n in counts.items()
    )


def _ingest(
    store: TenantStore, tenant: str, labels: dict[str, str], entries: list[Entry]
) -> str | None:
    """The ingester's stream push; returns its error body, or None."""
    last = store.last(labels)
    highest = store.newest(labels)
    accepted: list[Entry] = []
    failed: list[tuple[Entry, str]] = []
    for entry in entries:
        ts, line, _ = entry
        if last is not None and (ts, line) == last:
            continue
        if highest is not None and ts < highest - MAX_CHUNK_AGE_NS // 2:
            cutoff = highest - MAX_CHUNK_AGE_NS // 2
            failed.append(
                (
                    entry,
                    f"entry too far behind, entry timestamp is: {_rfc3339(ts)}, "
                    f"oldest acceptable timestamp is: {_rfc3339(cutoff)}",
                )
            )
            continue
        accepted.append(entry)
        last = (ts, line)
        highest = ts if highest is None else max(highest, ts)
    store.push(labels, accepted)
    if not failed:
        return None
    body = "".join(
        f"entry with timestamp {_go_time(e[0])} ignored, reason: '{reason}',\n"
        for e, reason in failed
    )
    return body + (
        f"user '{tenant}', total ignored: {len(failed)} out of {len(entries)} "
        f"for stream: {label_key(labels)}"
    )


def push_streams(
    store: TenantStore,
    tenant: str,
    streams: list[tuple[dict[str, str], list[Entry]]],
    now_ns: int | None = None,
) -> None:
    """Validate and store a parsed push; raises PushRejected as Loki answers."""
    now = time.time_ns() if now_ns is None else now_ns
    if not streams:
        raise PushRejected("error at least one valid stream is required for ingestion", 422)
    errors: list[str] = []
    valid: list[tuple[dict[str, str], list[Entry]]] = []
    for raw_labels, entries in streams:
        if not entries:
            continue
        labels = _discover_service_name(raw_labels)
        problem = _labels_error(labels)
        if problem is not None:
            errors.append(problem)
            continue
        key = label_key(labels)
        kept = []
        for entry in entries:
            problem = _entry_error(key, entry, now)
            if problem is None:
                kept.append(entry)
            else:
                errors.append(problem)
        if kept:
            valid.append((labels, kept))
    ingester_error = None
    for labels, kept in valid:
        ingester_error = _ingest(store, tenant, labels, kept) or ingester_error
    if ingester_error is not None:
        raise PushRejected(ingester_error)
    if errors:
        raise PushRejected(_grouped(errors))
