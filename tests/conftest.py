"""Shared test helpers: deadlines for every wait, the repo root, the ``covenant`` CLI
as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

REPO_ROOT = Path(__file__).resolve().parents[1]

T = TypeVar("T")


def wait_until(
    probe: Callable[[], T | None],
    *,
    timeout: float = 20,
    interval: float = 0.2,
    what: str = "",
) -> T:
    """Call ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or probe}; last={last!r}")


def covenant_env(
    state_dir: Path | None = None,
    *,
    drop: tuple[str, ...] = ("COVENANT_",),
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a ``covenant`` subprocess: this one's without the variables
    starting with ``drop`` (every ``COVENANT_*`` variable is a configuration override,
    so none leaks in from the caller), the stack's state directory when given, wide
    enough lines that messages are not wrapped, then ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env["COLUMNS"] = "200"
    if state_dir is not None:
        env["COVENANT_STACK__STATE_DIR"] = str(state_dir)
    env.update(extra or {})
    return env


def covenant_argv(*args: str, config: Path | None = None) -> list[str]:
    """``python -m covenant [-c config] args...`` with this interpreter."""
    prefix = ["-c", str(config)] if config is not None else []
    return [sys.executable, "-m", "covenant", *prefix, *args]


@dataclass(frozen=True)
class CovenantCli:
    """Runs ``covenant`` as a subprocess (output captured as text, never raising on
    the exit code), against the stack of ``state_dir`` when given.

    ``cli("check", "run", "x")``; ``config`` is passed as ``-c``; ``env`` is added
    to the environment and ``drop`` names the prefixes of variables kept out of it."""

    state_dir: Path | None = None

    def __call__(
        self,
        *args: str,
        config: Path | None = None,
        cwd: Path | None = REPO_ROOT,
        timeout: float = 120,
        env: Mapping[str, str] | None = None,
        drop: tuple[str, ...] = ("COVENANT_",),
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            covenant_argv(*args, config=config),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=covenant_env(self.state_dir, drop=drop, extra=env),
            cwd=cwd,
        )
