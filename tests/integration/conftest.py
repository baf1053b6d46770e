"""One local stack of real engines for the whole integration session; the
``covenant`` CLI against it; fresh databases on its PostgreSQL; the scheduler
soak, started in the background as soon as collection is done."""

from __future__ import annotations

import os
import secrets
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
from covenant.kernel.endpoints import Credentials, Endpoint, resolve_endpoints, stack_credentials
from covenant.kernel.postgres import create_database
from covenant.kernel.stackstate import load_state
from covenant.stack._ports import free_port
from covenant.stack.manager import StackManager
from tests.conftest import CovenantCli, wait_until
from tests.integration._scheduler import SOAK_TEST, SchedulerSoak

#: The soak of a session that selected it (started by ``pytest_collection_finish``).
SOAK = pytest.StashKey[SchedulerSoak]()


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

    def credentials(self, engine: str) -> Credentials:
        """What the stack's engine demands (it generated them at its start)."""
        return stack_credentials(load_state(self.state_dir).engines[engine])

    def headers(self, engine: str) -> dict[str, str]:
        return self.credentials(engine).http_headers()


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


@pytest.fixture
def cli(stack: RunningStack) -> CovenantCli:
    """``covenant`` as a subprocess with the session's stack as its local stack."""
    return CovenantCli(stack.state_dir)


def fresh_database(stack: RunningStack, prefix: str) -> str:
    """A new database on the stack's PostgreSQL (``prefix`` and a random suffix);
    returns its URL."""
    return create_database(stack.url("postgres"), f"{prefix}_{secrets.token_hex(4)}")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the integration tests; run the scheduler soak last, so that it has run
    in the background for the rest of the session when its test comes."""
    for item in items:
        if "tests/integration" in str(item.path):
            item.add_marker(pytest.mark.integration)
    soak = [item for item in items if item.nodeid == SOAK_TEST]
    for item in soak:
        items.remove(item)
        items.append(item)


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.option.collectonly:
        return
    if any(item.nodeid == SOAK_TEST for item in session.items):
        soak = SchedulerSoak()
        session.config.stash[SOAK] = soak
        soak.start()


def pytest_sessionfinish(session: pytest.Session) -> None:
    soak = session.config.stash.get(SOAK, None)
    if soak is not None:
        soak.close()


@pytest.fixture
def scheduler_soak(request: pytest.FixtureRequest) -> SchedulerSoak:
    """The soak started when collection was done (or now, when it was not)."""
    soak = request.config.stash.get(SOAK, None)
    if soak is None:
        soak = request.config.stash[SOAK] = SchedulerSoak()
        soak.start()
    return soak


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
        # A throwaway copy: its graceful stop is not under test, and hono-api's waits
        # several seconds for idle keep-alive connections, so it gets little time.
        process.terminate()
        try:
            process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
