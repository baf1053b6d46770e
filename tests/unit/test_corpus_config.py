"""Malformed configuration files (tests/corpus/config/cases.jsonl): each is refused
with exit-2 class error naming the file, the line and the key; none is a traceback,
none is accepted.

Regenerate the corpus with ``.venv/bin/python tests/corpus/generate_config.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from covenant.kernel.config import load_config
from covenant.kernel.errors import ConfigError, exit_code_for

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "corpus" / "config" / "cases.jsonl"
CASES: list[dict[str, Any]] = [json.loads(line) for line in CORPUS.read_text().splitlines()]
CLASSES = {"error-with-location", "error-with-line", "error-with-file"}


def _write(case: dict[str, Any], directory: Path) -> Path:
    path = directory / "covenant.yaml"
    if "bytes_hex" in case:
        path.write_bytes(bytes.fromhex(case["bytes_hex"]))
    else:
        path.write_text(case["text"] * case.get("repeat", 1), encoding="utf-8")
    return path


def _assert_located(case: dict[str, Any], path: Path, message: str) -> None:
    assert "Traceback" not in message
    assert f"{path}" in message, message
    if case["expect"] in ("error-with-location", "error-with-line"):
        assert f"{path}:" in message, f"no line in: {message}"
    if case["line"] is not None:
        lines = range(case["line"], case["last_line"] + 1)
        assert any(f"{path}:{n}:" in message or f"{path}:{n}\n" in message for n in lines), (
            f"expected line {case['line']}..{case['last_line']} in: {message}"
        )
    if case["key"]:
        assert f": {case['key']}" in message, f"expected key {case['key']} in: {message}"


def test_the_corpus_is_large_and_well_formed() -> None:
    assert len(CASES) >= 400
    assert {case["expect"] for case in CASES} <= CLASSES
    assert len({case["id"] for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_each_case_is_refused_with_its_location(case: dict[str, Any], tmp_path: Path) -> None:
    path = _write(case, tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert exit_code_for(caught.value) == 2
    _assert_located(case, path, caught.value.message + "\n")


#: One case of each kind through the real command line.
SAMPLE = sorted({case["id"].split("/")[0]: case["id"] for case in CASES}.values())


@pytest.mark.parametrize("case_id", SAMPLE)
def test_the_command_line_exits_2_without_a_traceback(case_id: str, tmp_path: Path) -> None:
    case = next(c for c in CASES if c["id"] == case_id)
    path = _write(case, tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVENANT_")}
    env["COLUMNS"] = "500"  # one problem per line
    result = subprocess.run(
        [sys.executable, "-m", "covenant", "--config", str(path), "config", "show"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    _assert_located(case, path, result.stderr)


def test_the_example_configuration_is_not_malformed() -> None:
    """The refusals above still let the documented example through (empty
    ``${VAR:-}`` defaults mean unset)."""
    config = load_config(ROOT / "covenant.example.yaml", environ={})
    assert config.engines.postgres.url is None
    assert config.engines.grafana.token is None
