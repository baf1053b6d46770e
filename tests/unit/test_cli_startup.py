"""`covenant --help` and each command's start-up load only what the command needs:
the configuration model (pydantic), asyncio, HTTP clients, the web framework and the
engines' drivers are imported when a command runs, not when the CLI starts."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: Never imported by the CLI's start-up (a command imports what it uses).
HEAVY = (
    "pydantic",
    "asyncio",
    "httpx",
    "yaml",
    "fastapi",
    "starlette",
    "schemathesis",
    "pact",
    "psycopg",
    "aiokafka",
    "jsonschema",
    "covenant.kernel.config",
    "schedules",
    "verifiers",
    "contracts.broker",
)


def loaded_after(code: str) -> dict[str, bool]:
    check = f"{{m: m in sys.modules for m in {list(HEAVY)!r}}}"
    probe = f"import sys\n{code}\nimport json\nprint(json.dumps({check}))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    found: dict[str, bool] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def test_importing_the_cli_loads_nothing_heavy() -> None:
    loaded = loaded_after("import covenant.cli._main")
    assert not any(loaded.values()), sorted(m for m, there in loaded.items() if there)


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["check", "--help"],
        ["verify", "--help"],
        ["fuzz", "--help"],
        ["can-i-deploy", "--help"],
        ["contracts", "--help"],
        ["stack", "--help"],
    ],
)
def test_help_loads_nothing_heavy(args: list[str]) -> None:
    code = (
        "import sys\nfrom covenant.cli._main import app\n"
        f"sys.argv = ['covenant', *{args!r}]\n"
        "try:\n    app()\nexcept SystemExit as stop:\n    assert stop.code in (0, None), stop.code"
    )
    loaded = loaded_after(code)
    # Typer (0.29) itself imports pydantic to build a command's parameter types.
    loaded.pop("pydantic")
    assert not any(loaded.values()), sorted(m for m, there in loaded.items() if there)
