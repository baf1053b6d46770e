"""The stack's record of what it started: ``<state_dir>/stack.json``.

Only processes recorded here are ever stopped by ``covenant stack down``; the
recorded start time guards against a recycled pid belonging to someone else.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = ["EngineRecord", "StackState", "load_state", "save_state", "state_file"]


@dataclass
class EngineRecord:
    name: str
    pid: int
    port: int
    url: str
    started_at: float
    #: Kernel start time of the process (clock ticks since boot), from /proc.
    proc_start: int
    log: str
    #: Credentials the stack generated for the engine (the file is mode 0600).
    token: str | None = None
    username: str | None = None
    password: str | None = None
    #: Extra headers the engine demands, e.g. the Loki tenant's X-Scope-OrgID.
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class StackState:
    engines: dict[str, EngineRecord] = field(default_factory=dict)
    #: Ports ever assigned, so a restarted engine gets its old address back.
    ports: dict[str, int] = field(default_factory=dict)


def state_file(state_dir: Path) -> Path:
    return state_dir / "stack.json"


def load_state(state_dir: Path) -> StackState:
    path = state_file(state_dir)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return StackState()
    except (OSError, json.JSONDecodeError):
        # A torn or foreign file: treat as empty rather than refuse to start;
        # processes it named are orphaned, not killed blindly.
        return StackState()
    engines = {name: EngineRecord(**rec) for name, rec in raw.get("engines", {}).items()}
    return StackState(engines=engines, ports={k: int(v) for k, v in raw.get("ports", {}).items()})


def save_state(state_dir: Path, state: StackState) -> None:
    """Write atomically so a crash mid-write never leaves a torn record."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_file(state_dir)
    tmp = path.with_suffix(".json.tmp")
    payload = {
        "engines": {name: asdict(rec) for name, rec in state.engines.items()},
        "ports": state.ports,
    }
    tmp.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    tmp.chmod(0o600)  # URLs carry the generated PostgreSQL password
    tmp.replace(path)
