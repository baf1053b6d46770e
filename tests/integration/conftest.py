"""One local stack of real engines for the whole integration session."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from covenant.kernel.config import CovenantConfig
from covenant.kernel.endpoints import Endpoint, resolve_endpoints
from covenant.kernel.stackstate import load_state
from covenant.stack._ports import free_port
from covenant.stack.manager import StackManager
from tests.conftest import wait_until


def make_state_dir(prefix: str) -> Path:
    """A state directory the 'postgres' user can traverse when tests run as root."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o711)
    return path


def stack_config(state_dir: Path, **stack: object) -> CovenantConfig:
    return CovenantConfig.model_validate(
        {
            "stack": {"state_dir": str(state_dir), "scrape_interval_s": 1, **stack},
            "server": {"health_timeout_s": 3},
        }
    )


@dataclass
class RunningStack:
    manager: StackManager
    config: CovenantConfig
    state_dir: Path

    def endpoints(self) -> dict[str, Endpoint]:
        return resolve_endpoints(self.config)

    def url(self, engine: str) -> str:
        """Address of an engine or reference service, as recorded by the stack."""
        return load_state(self.state_dir).engines[engine].url


@pytest.fixture(scope="session")
def stack() -> Iterator[RunningStack]:
    state_dir = make_state_dir("covenant-it-")
    config = stack_config(state_dir)
    manager = StackManager(config)
    try:
        manager.up()
        yield RunningStack(manager, config, state_dir)
    finally:
        manager.down(purge=True)
        if not os.environ.get("COVENANT_KEEP_TEST_STATE"):
            shutil.rmtree(state_dir, ignore_errors=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.path):
            item.add_marker(pytest.mark.integration)


@contextmanager
def variant(
    stack: RunningStack, service: str, fault: str, ready_path: str = "/health"
) -> Iterator[str]:
    """Another instance of ``service`` wired to the stack, with COVENANT_FAULT set."""
    port = free_port()
    argv, env = stack.manager.launch_spec(service, port)
    env["COVENANT_FAULT"] = fault
    log = stack.state_dir / "logs" / f"{service}-{fault}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"{service} exited:\n{log.read_text()[-2000:]}")
        try:
            return httpx.get(f"{base}{ready_path}", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(healthy, timeout=60, what=f"{service} ({fault}) to answer {ready_path}")
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
