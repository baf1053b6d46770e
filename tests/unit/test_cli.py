"""The real ``covenant`` CLI, run in a subprocess: help, exit codes, error output."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

import covenant


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVENANT_")}
    env.update(extra)
    return env


def _covenant(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "covenant", *args],
        cwd=cwd,
        env=_env() if env is None else env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _flat(text: str) -> str:
    """Help text is wrapped to the terminal width; compare without line breaks."""
    return " ".join(text.split())


def _no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stdout + result.stderr, result.stderr


HELP_CASES: list[tuple[tuple[str, ...], str]] = [
    ((), "Keeps a system of services honest, from the contract to the alert."),
    (("config",), "Inspect the configuration."),
    (("config", "show"), "Print the resolved configuration"),
    (("stack",), "Run the engines Covenant needs"),
    (("stack", "up"), "Start every engine that is not running"),
    (("stack", "down"), "Stop the engines this stack started"),
    (("stack", "status"), "Each engine with its URL, pid and health."),
    (("serve",), "Serve the HTTP API"),
    (("demo",), "Bring the local stack up, verify every reference"),
    (("verify",), "Replay every pact of PROVIDER against it"),
    (("fuzz",), "Fuzz each service's OpenAPI endpoints with Schemathesis"),
    (("db",), "The broker's PostgreSQL schema."),
    (("db", "upgrade"), "Apply pending broker migrations"),
    (("contracts",), "Contracts: publish pacts to the broker"),
    (("contracts", "publish"), "Publish every pact in DIRECTORY"),
    (("contracts", "compare"), "Check every HTTP interaction of the pacts"),
    (("can-i-deploy",), "Ask the broker whether VERSION of PACTICIPANT"),
    (("record-deployment",), "Tell the broker VERSION of PACTICIPANT"),
]


@pytest.mark.parametrize(
    ("command", "description"),
    HELP_CASES,
    ids=[" ".join(command) or "covenant" for command, _ in HELP_CASES],
)
def test_help(tmp_path: Path, command: tuple[str, ...], description: str) -> None:
    result = _covenant(*command, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage:")
    assert description in _flat(result.stdout)
    _no_traceback(result)


def test_root_help_lists_every_command(tmp_path: Path) -> None:
    result = _covenant("-h", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for command in ("config", "stack", "serve", "demo"):
        assert f"\n  {command} " in result.stdout
    assert "--config" in result.stdout
    assert "--version" in result.stdout


def test_stack_help_lists_its_subcommands(tmp_path: Path) -> None:
    result = _covenant("stack", "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for command in ("up", "down", "status"):
        assert f"\n  {command} " in result.stdout


def test_version(tmp_path: Path) -> None:
    result = _covenant("--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"covenant {covenant.__version__}"
    assert covenant.__version__ == importlib.metadata.version("covenant")


def test_config_show_defaults(tmp_path: Path) -> None:
    result = _covenant("config", "show", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "(defaults only)" in result.stdout
    assert "port: 8080" in result.stdout


def test_config_show_reads_covenant_yaml_in_cwd(tmp_path: Path) -> None:
    (tmp_path / "covenant.yaml").write_text("server:\n  port: 9123\n", encoding="utf-8")
    result = _covenant("config", "show", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "port: 9123" in result.stdout
    assert "# source: covenant.yaml" in result.stdout


def test_config_show_applies_env_overrides(tmp_path: Path) -> None:
    result = _covenant("config", "show", cwd=tmp_path, env=_env(COVENANT_SERVER__PORT="9124"))
    assert result.returncode == 0, result.stderr
    assert "port: 9124" in result.stdout


def test_invalid_value_in_covenant_yaml_exits_2(tmp_path: Path) -> None:
    (tmp_path / "covenant.yaml").write_text(
        "log_level: info\nserver:\n  port: abc\n", encoding="utf-8"
    )
    result = _covenant("config", "show", cwd=tmp_path)
    assert result.returncode == 2
    assert "server.port" in result.stderr
    assert "covenant.yaml:3" in result.stderr
    assert "valid integer" in result.stderr
    _no_traceback(result)


def test_yaml_syntax_error_exits_2(tmp_path: Path) -> None:
    (tmp_path / "covenant.yaml").write_text(
        "server:\n  port: 8080\n  host: [unclosed\nstack: {}\n", encoding="utf-8"
    )
    result = _covenant("config", "show", cwd=tmp_path)
    assert result.returncode == 2
    assert "covenant.yaml:4" in result.stderr
    assert "invalid YAML" in result.stderr
    _no_traceback(result)


def test_missing_variable_in_covenant_yaml_exits_2(tmp_path: Path) -> None:
    (tmp_path / "covenant.yaml").write_text(
        "engines:\n  loki:\n    url: ${COVENANT_TEST_UNSET_LOKI}\n", encoding="utf-8"
    )
    result = _covenant("config", "show", cwd=tmp_path)
    assert result.returncode == 2
    assert "covenant.yaml:3" in result.stderr
    assert "engines.loki.url" in result.stderr
    _no_traceback(result)


def test_invalid_env_override_exits_2(tmp_path: Path) -> None:
    result = _covenant("config", "show", cwd=tmp_path, env=_env(COVENANT_SERVER__PORT="not-a-port"))
    assert result.returncode == 2
    assert "COVENANT_SERVER__PORT" in result.stderr
    assert "server.port" in result.stderr
    _no_traceback(result)


def test_missing_config_option_file_exits_2(tmp_path: Path) -> None:
    result = _covenant("--config", "absent.yaml", "config", "show", cwd=tmp_path)
    assert result.returncode == 2
    assert "absent.yaml" in result.stderr
    _no_traceback(result)


def test_config_option_selects_the_file(tmp_path: Path) -> None:
    (tmp_path / "covenant.yaml").write_text("server:\n  port: 9001\n", encoding="utf-8")
    (tmp_path / "alt.yaml").write_text("server:\n  port: 9002\n", encoding="utf-8")
    result = _covenant("-c", "alt.yaml", "config", "show", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "port: 9002" in result.stdout


def test_config_show_masks_secrets(tmp_path: Path) -> None:
    (tmp_path / "covenant.yaml").write_text(
        'engines: {postgres: {url: "postgresql://u:hunter2@db:5432/x"}, '
        'grafana: {url: "http://g:3000", token: "tok-secret"}}\n',
        encoding="utf-8",
    )
    result = _covenant("config", "show", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "hunter2" not in output
    assert "tok-secret" not in output
    assert "***" in result.stdout
    assert "postgresql://u:***@db:5432/x" in result.stdout
    assert "http://g:3000" in result.stdout


def test_unknown_command_is_a_usage_error(tmp_path: Path) -> None:
    result = _covenant("frobnicate", cwd=tmp_path)
    assert result.returncode == 2
    _no_traceback(result)


def test_error_text_with_brackets_is_shown_verbatim(tmp_path: Path) -> None:
    """Rich markup in an error message must not swallow text like ``[smhd]``."""
    (tmp_path / "covenant.yaml").write_text("fuzz:\n  rate_limit: bogus\n")
    result = _covenant("config", "show", cwd=tmp_path)
    assert result.returncode == 2
    assert "[smhd]" in result.stderr
