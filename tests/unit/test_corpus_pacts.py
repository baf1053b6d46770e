"""Every malformed pact of ``tests/corpus/pacts/cases.jsonl`` through the CLI's doors.

``covenant verify --pacts DIR`` and ``covenant contracts publish DIR`` are run
in-process through the console script's own entry point (``covenant.cli.main``,
which maps errors to exit codes), so each case costs milliseconds; a few cases
also run as real subprocesses. Each must exit 2 with the file (and, for
structural problems, the line and the JSON pointer) in the message: never a
traceback, a hang or acceptance. The broker's door is
``tests/integration/broker/test_corpus_pacts_broker.py``.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from contracts.pactfile import MalformedPact, ReadLimits, read_pact_files
from covenant.cli import main

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "pacts"
CLOSED = "http://127.0.0.1:9"  # never contacted: the pacts are refused first


def load_cases() -> list[dict[str, Any]]:
    with (CORPUS / "cases.jsonl").open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def raw_of(case: dict[str, Any]) -> bytes:
    if "base64" in case:
        return base64.b64decode(case["base64"])
    return str(case["text"]).encode("utf-8", "surrogatepass")


def run_cli(*args: str) -> tuple[int, str]:
    """The console script's entry point in this process: (exit code, output)."""
    output = io.StringIO()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COVENANT_", "PACT_BROKER"))}
    with (
        mock.patch.object(sys, "argv", ["covenant", *args]),
        mock.patch.dict(os.environ, env, clear=True),
        redirect_stdout(output),
        redirect_stderr(output),
    ):
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, output.getvalue()


_PLACED = re.compile(r"case\.json:(\d+):(\d+): (/\S*): ")


def _related(found: str, expected: str) -> bool:
    """The reported pointer is the mutated value, inside it, or above it (never the root
    when the mutation was deeper: that would not help anyone find it)."""
    if found == expected or found.startswith(expected.rstrip("/") + "/"):
        return True
    return expected.startswith(found + "/") and (found not in ("", "/") or expected.count("/") <= 1)


def assert_refused(case: dict[str, Any], code: int, output: str) -> None:
    label = case["id"]
    assert "Traceback" not in output, (label, output)
    assert code == 2, (label, code, output)
    assert "error:" in output and "case.json" in output, (label, output)
    if case["expect"] == "location":
        placed = _PLACED.findall(" ".join(output.split()))
        assert placed, (label, output)
        if case["pointer"]:
            pointers = [pointer for _line, _column, pointer in placed]
            assert any(_related(p, case["pointer"]) for p in pointers), (
                label,
                case["pointer"],
                output,
            )


CASES = load_cases()


def _ids() -> Iterator[str]:
    return (case["id"] for case in CASES)


def test_the_corpus_is_what_its_generator_writes() -> None:
    sys.path.insert(0, str(CORPUS))
    try:
        import generate  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(CORPUS))
    assert (CORPUS / "cases.jsonl").read_text(encoding="utf-8") == generate.render(), (
        "tests/corpus/pacts/cases.jsonl is stale: run tests/corpus/pacts/generate.py"
    )
    assert len(CASES) >= 800
    assert {case["expect"] for case in CASES} == {"location", "file"}


def test_every_committed_consumer_pact_is_accepted() -> None:
    root = Path(__file__).resolve().parents[2]
    pacts = read_pact_files([root / "contracts" / "pacts"])
    assert len(pacts) == 5 and {p.spec for p in pacts} == {"4"}


@pytest.mark.parametrize("door", ["verify", "publish"])
def test_every_malformed_pact_is_refused_with_its_location(door: str, tmp_path: Path) -> None:
    pacts = tmp_path / "pacts"
    pacts.mkdir()
    target = pacts / "case.json"
    failures = []
    for case in CASES:
        target.write_bytes(raw_of(case))
        args: tuple[str, ...]
        if door == "verify":
            args = ("verify", "events-api", "--pacts", str(pacts), "--base-url", CLOSED)
        else:
            args = ("contracts", "publish", str(pacts), "--version", "1", "--broker", CLOSED)
        code, output = run_cli(*args)
        try:
            assert_refused(case, code, output)
        except AssertionError as exc:
            failures.append(str(exc)[:400])
    assert not failures, f"{len(failures)} of {len(CASES)} cases:\n" + "\n".join(failures[:20])


def test_a_fifo_is_refused_at_once_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "x.json"
    os.mkfifo(fifo)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "covenant",
            "verify",
            "p",
            "--pacts",
            str(tmp_path),
            "--base-url",
            CLOSED,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "x.json" in result.stderr and "FIFO" in result.stderr
    assert "Traceback" not in result.stderr


def test_other_files_that_are_not_regular_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a-directory.json").mkdir()
    (tmp_path / "device.json").symlink_to("/dev/zero")
    (tmp_path / "dangling.json").symlink_to(tmp_path / "nowhere")
    listener = socket.socket(socket.AF_UNIX)
    try:
        listener.bind(str(tmp_path / "socket.json"))
        with pytest.raises(MalformedPact) as caught:
            read_pact_files([tmp_path])
    finally:
        listener.close()
    text = caught.value.message
    assert "a-directory.json: is a directory" in text
    assert "device.json: is a character device" in text
    assert "dangling.json: cannot be read" in text
    assert "socket.json" in text and "regular file" in text
    assert len(caught.value.problems) == 4


def test_size_and_depth_limits_apply_and_are_configurable(tmp_path: Path) -> None:
    good = (
        Path(__file__).resolve().parents[2] / "contracts" / "pacts" / "hono-api-event-worker.json"
    )
    (tmp_path / "p.json").write_bytes(good.read_bytes())
    size = len(good.read_bytes())
    with pytest.raises(MalformedPact, match=f"is {size} bytes; the limit is 1024"):
        read_pact_files([tmp_path], limits=ReadLimits(max_file_bytes=1024))
    with pytest.raises(MalformedPact, match="levels deep; the limit is 4"):
        read_pact_files([tmp_path], limits=ReadLimits(max_depth=4))
    assert read_pact_files([tmp_path])  # within the defaults
    config = tmp_path / "covenant.yaml"
    config.write_text("pacts:\n  max_file_bytes: 1024\n", encoding="utf-8")
    code, output = run_cli(
        "--config",
        str(config),
        "verify",
        "hono-api",
        "--pacts",
        str(tmp_path),
        "--base-url",
        CLOSED,
    )
    assert code == 2 and "the limit is 1024" in output, output


def test_a_few_cases_through_the_real_console_script(tmp_path: Path) -> None:
    chosen = [
        c
        for c in CASES
        if c["id"]
        in {
            "v4-http: method='FETCH'",
            "v4-http: status='200'",
            "v3-message: messages='x'",
            "text: NaN",
        }
    ]
    assert len(chosen) == 4
    for case in chosen:
        (tmp_path / "case.json").write_bytes(raw_of(case))
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "covenant",
                "contracts",
                "publish",
                str(tmp_path),
                "--version",
                "1",
                "--broker",
                CLOSED,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert_refused(case, result.returncode, result.stdout + result.stderr)
