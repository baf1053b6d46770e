"""JSON logs, one object per line on stdout (reference/API.md conventions).

stdout stays the primary output. When ``LOKI_URL`` is set, main.py also attaches
a sink (event_worker.loki) that receives every line; the sink must not block,
since ``log`` is called from the asyncio loop that handles messages.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from datetime import UTC, datetime
from typing import Protocol

__all__ = ["LineSink", "format_line", "log", "log_local", "set_sink"]

SERVICE = "event-worker"


class LineSink(Protocol):
    """Somewhere else to send each formatted line (Loki); ``submit`` must not block."""

    def submit(self, line: str, level: str) -> None: ...


_sink: LineSink | None = None
# The Loki pusher's thread reports its own trouble on stdout too: keep lines whole.
_write_lock = threading.Lock()


def set_sink(sink: LineSink | None) -> None:
    global _sink
    _sink = sink


def format_line(level: str, msg: str, **fields: object) -> str:
    record = {
        "ts": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "level": level,
        "service": SERVICE,
        "msg": msg,
        **{k: v for k, v in fields.items() if v is not None},
    }
    return json.dumps(record, default=str)


def log_local(level: str, msg: str, **fields: object) -> str:
    """Write one line to stdout only; return it."""
    line = format_line(level, msg, **fields)
    with _write_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    return line


def log(level: str, msg: str, **fields: object) -> None:
    """Write one line to stdout and hand it to the sink, if one is attached."""
    line = log_local(level, msg, **fields)
    sink = _sink
    if sink is not None:
        with contextlib.suppress(Exception):  # a log shipper must never fail the caller
            sink.submit(line, level)
