"""The reference services (reference/): the system under test, run by the stack.

Each is started from the repository checkout with the same environment
contract (``reference/API.md``): ``HOST``, ``PORT``, ``DATABASE_URL``, the
next service's URL, ``PACT_PROVIDER_STATES`` and, for Covenant's own tests,
``COVENANT_FAULT``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from covenant.kernel.errors import EngineError

__all__ = ["REFERENCE_COMMANDS", "reference_command", "reference_root"]


def reference_root() -> Path:
    """``reference/`` of the checkout Covenant runs from (an editable install)."""
    root = Path(__file__).resolve().parents[2] / "reference"
    if not root.is_dir():
        raise EngineError(
            "reference", f"the reference services are not in this installation ({root})"
        )
    return root


def _baml(root: Path) -> list[str]:
    return [sys.executable, str(root / "baml-extractor" / "gateway.py")]


def _elixir(root: Path) -> list[str]:
    return [str(root / "elixir-processor" / "bin" / "run")]


def _hono(root: Path) -> list[str]:
    return ["node", str(root / "hono-api" / "dist" / "server.js")]


def _worker(root: Path) -> list[str]:
    return [sys.executable, str(root / "event-worker" / "main.py")]


REFERENCE_COMMANDS: Mapping[str, Callable[[Path], list[str]]] = {
    "baml_extractor": _baml,
    "elixir_processor": _elixir,
    "hono_api": _hono,
    "event_worker": _worker,
}

#: Which built artefact must exist before a service can start, and how to build it.
_BUILT: Mapping[str, tuple[str, str]] = {
    "elixir_processor": ("elixir-processor/bin/run", "bash reference/elixir-processor/setup.sh"),
    "hono_api": ("hono-api/dist/server.js", "bash reference/hono-api/setup.sh"),
    "baml_extractor": ("baml-extractor/gateway.py", "pip install baml-py"),
    "event_worker": ("event-worker/main.py", "make setup"),
}


def reference_command(name: str) -> list[str]:
    """The argv that starts reference service ``name``; says how to build it if missing."""
    root = reference_root()
    artefact, build = _BUILT[name]
    if not (root / artefact).exists():
        raise EngineError(name, f"not built: {root / artefact} is missing (run `{build}`)")
    return REFERENCE_COMMANDS[name](root)
