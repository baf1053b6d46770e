"""Malformed check files (tests/corpus/checks/cases.jsonl): each is refused with an
exit-2 class error naming the file, the line and the key path; none is a
traceback, none is accepted.

Regenerate the corpus with ``.venv/bin/python tests/corpus/generate_checks.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from schedules import CheckFileError, load_checks

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "corpus" / "checks" / "cases.jsonl"
CASES: list[dict[str, Any]] = [json.loads(line) for line in CORPUS.read_text().splitlines()]
CLASSES = {"error-with-location", "error-with-line", "error-with-file"}


def _write(case: dict[str, Any], directory: Path) -> Path:
    path = directory / "check.yaml"
    if "bytes_hex" in case:
        path.write_bytes(bytes.fromhex(case["bytes_hex"]))
    else:
        path.write_text(case["text"] * case.get("repeat", 1), encoding="utf-8")
    return path


def _connections(case: dict[str, Any]) -> frozenset[str] | None:
    return frozenset(case["connections"]) if "connections" in case else None


def _assert_located(case: dict[str, Any], path: Path, message: str) -> None:
    assert "Traceback" not in message
    assert f"{path}" in message, message
    if case["expect"] in ("error-with-location", "error-with-line"):
        assert f"{path}:" in message, f"no line in: {message}"
    if case["line"] is not None:
        lines = range(case["line"], case["last_line"] + 1)
        assert any(f"{path}:{n}:" in message for n in lines), (
            f"expected line {case['line']}..{case['last_line']} in: {message}"
        )
    if case["key"]:
        assert f": {case['key']}" in message, f"expected key {case['key']} in: {message}"


def test_the_corpus_is_large_and_well_formed() -> None:
    assert len(CASES) >= 200
    assert {case["expect"] for case in CASES} <= CLASSES
    assert len({case["id"] for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_each_case_is_refused_with_its_location(case: dict[str, Any], tmp_path: Path) -> None:
    path = _write(case, tmp_path)
    with pytest.raises(CheckFileError) as caught:
        load_checks(tmp_path, [path], connections=_connections(case))
    _assert_located(case, path, "\n".join(caught.value.problems) + "\n")


#: One case of each kind through ``covenant check validate``.
SAMPLE = sorted({case["id"].split("/")[0]: case["id"] for case in CASES}.values())


@pytest.mark.parametrize("case_id", SAMPLE)
def test_check_validate_exits_2_without_a_traceback(case_id: str, tmp_path: Path) -> None:
    case = next(c for c in CASES if c["id"] == case_id)
    path = _write(case, tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVENANT_")}
    env["COLUMNS"] = "500"  # one problem per line
    result = subprocess.run(
        [sys.executable, "-m", "covenant", "check", "validate", str(path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    _assert_located(case, path, result.stderr)
