"""One local stack of real engines for the whole integration session."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from covenant.config import CovenantConfig
from covenant.endpoints import Endpoint, resolve_endpoints
from covenant.stack.manager import StackManager
from covenant.stack.state import load_state


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
