"""JSON logs, one object per line on stdout (reference/API.md conventions)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime

__all__ = ["log"]

SERVICE = "event-worker"


def log(level: str, msg: str, **fields: object) -> None:
    record = {
        "ts": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "level": level,
        "service": SERVICE,
        "msg": msg,
        **{k: v for k, v in fields.items() if v is not None},
    }
    sys.stdout.write(json.dumps(record, default=str) + "\n")
    sys.stdout.flush()
