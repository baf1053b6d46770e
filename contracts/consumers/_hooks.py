"""Run a non-Python consumer's real client code against a Pact mock server.

hono-api (TypeScript) and elixir-processor (Elixir) each ship a small command
that calls the provider through the same client module the service uses and
prints one JSON line ``{"status": int, "body": ...}``. The consumer tests run
it against the mock server, so the pact is written by the consumer's own code.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REFERENCE = Path(__file__).resolve().parents[2] / "reference"


@dataclass(frozen=True)
class HookAnswer:
    status: int
    body: Any


def run_hook(argv: list[str]) -> HookAnswer:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise AssertionError(
            f"{' '.join(argv[:2])} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    answer = json.loads(lines[-1])
    return HookAnswer(int(answer["status"]), answer.get("body"))


def hono_processor_client(base_url: str, op: str, **args: str) -> HookAnswer:
    """hono-api's processor client (reference/hono-api/src/processor-client.ts)."""
    argv = [
        "node",
        str(REFERENCE / "hono-api" / "dist" / "tools" / "call-processor.js"),
        "--base-url",
        base_url,
        "--op",
        op,
    ]
    for name, value in args.items():
        argv += [f"--{name}", value]
    return run_hook(argv)


def elixir_extractor_client(base_url: str, function: str, arguments: dict[str, Any]) -> HookAnswer:
    """elixir-processor's BAML client (reference/elixir-processor)."""
    return run_hook(
        [
            str(REFERENCE / "elixir-processor" / "bin" / "call-extractor"),
            "--base-url",
            base_url,
            "--function",
            function,
            "--args",
            json.dumps(arguments),
        ]
    )


def hono_message_handler(
    topic: str, value: str | bytes | None, metadata: dict[str, object]
) -> None:
    """Pass a message through hono-api's real handler; raise when it rejects it."""
    text = value.decode() if isinstance(value, bytes) else (value or "")
    argv = [
        "node",
        str(REFERENCE / "hono-api" / "dist" / "tools" / "handle-message.js"),
        "--topic",
        topic,
        "--value",
        text,
        "--metadata",
        json.dumps(metadata),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise AssertionError(f"hono-api rejected the {topic} message:\n{done.stdout}{done.stderr}")
