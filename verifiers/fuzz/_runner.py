"""Run the Schemathesis CLI for one service and collect what it found.

Schemathesis's engine is not public API, so Covenant drives its CLI (the
documented interface): phases, checks, budget, seed and rate limit become
options; Covenant's own checks load through ``SCHEMATHESIS_HOOKS``; headers
(which may carry credentials) go through a generated config file whose values
are environment references, so no secret appears on the command line; their
names join Schemathesis's sanitised keys, and their values are scrubbed from its
output and from the reports it writes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from covenant.kernel.redact import redact_url
from verifiers.fuzz._events import Masker, read_events
from verifiers.fuzz._model import FuzzOptions, FuzzResult

__all__ = ["build_command", "run_fuzz", "spec_reachable", "write_config"]

HOOKS_MODULE = "verifiers.fuzz.checks"


def _schemathesis() -> str:
    return str(Path(sys.executable).parent / "schemathesis")


def build_command(options: FuzzOptions, report_dir: Path, config_file: Path | None) -> list[str]:
    argv = [_schemathesis()]
    if config_file is not None:
        argv += ["--config-file", str(config_file)]
    argv += [
        "run",
        options.spec,
        "--phases", ",".join(options.phases),
        "--checks", "all",
        "--max-examples", str(options.max_examples),
        "--seed", str(options.seed),
        "--request-timeout", str(options.request_timeout_s),
        "--workers", str(options.workers),
        "--report", "junit,ndjson",
        "--report-dir", str(report_dir),
        "--report-junit-path", str(report_dir / "junit.xml"),
        "--report-ndjson-path", str(report_dir / "events.ndjson"),
        "--output-sanitize", "true",
        "--generation-database", "none",
    ]  # fmt: skip
    if options.base_url:
        argv += ["--url", options.base_url]
    if options.max_time_s:
        argv += ["--max-time", str(options.max_time_s)]
    if options.rate_limit:
        argv += ["--rate-limit", options.rate_limit]
    return argv


#: Schemathesis's own default for positive_data_acceptance (its config reference).
POSITIVE_DATA_DEFAULT = ("2xx", "3xx", "401", "403", "404", "409", "429", "5xx")
#: Schemathesis's default ``output.sanitization.sensitive-markers`` (setting the list
#: replaces it, so it is repeated; a unit test keeps it equal to Schemathesis's).
SENSITIVE_MARKERS_DEFAULT = (
    "token",
    "key",
    "secret",
    "password",
    "auth",
    "session",
    "passwd",
    "credential",
)


def _toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def write_config(options: FuzzOptions, directory: Path) -> tuple[Path, dict[str, str]]:
    """A schemathesis.toml for what has no safe command-line form: headers (as
    environment references, so secrets stay off argv and out of the file), the
    extra statuses positive_data_acceptance allows, and the headers' names as
    sensitive markers, so Schemathesis masks their values in what it prints and
    writes (``X-Tenant`` is not among the names it masks by itself).

    Always written, even empty: without ``--config-file`` Schemathesis looks for a
    schemathesis.toml in the working directory and its parents, and a stray one
    would silently change the run."""
    lines: list[str] = []
    env: dict[str, str] = {}
    if options.headers:
        entries = []
        for index, (name, value) in enumerate(sorted(options.headers.items())):
            variable = f"COVENANT_FUZZ_HEADER_{index}"
            env[variable] = value
            entries.append(f"{_toml_string(name)} = " + _toml_string(f"${{{variable}}}"))
        lines.append("headers = { " + ", ".join(entries) + " }")
    if options.accepted_statuses:
        statuses = [*POSITIVE_DATA_DEFAULT, *options.accepted_statuses]
        lines.append("[checks.positive_data_acceptance]")
        lines.append("expected-statuses = [" + ", ".join(map(_toml_string, statuses)) + "]")
    if options.headers:
        names = sorted({name.lower() for name in options.headers} - set(SENSITIVE_MARKERS_DEFAULT))
        markers = [*SENSITIVE_MARKERS_DEFAULT, *names]
        lines.append("[output.sanitization]")
        lines.append("sensitive-markers = [" + ", ".join(map(_toml_string, markers)) + "]")
    path = directory / "schemathesis.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, env


def spec_reachable(
    spec: str, timeout: float = 5.0, headers: dict[str, str] | None = None
) -> str | None:
    """None when the spec can be read (with ``headers``, as Schemathesis will), else why not."""
    import httpx

    if not spec.startswith(("http://", "https://")):
        return None if Path(spec).is_file() else f"no such file: {spec}"
    try:
        response = httpx.get(spec, timeout=timeout, headers=headers)
    except httpx.TransportError as exc:
        return f"{redact_url(spec)} is not reachable: {exc or type(exc).__name__}"
    if response.status_code != 200:
        return f"{redact_url(spec)} answered {response.status_code}"
    return None


def run_fuzz(
    options: FuzzOptions,
    *,
    report_dir: Path,
    workdir: Path | None = None,
    on_output: Callable[[str], None] = lambda line: None,
) -> FuzzResult:
    """Fuzz one service; never raises for what the service does wrong.

    A run that did not go through is then told apart: ``unreachable`` when its spec
    cannot be read (checked after the run, so that a good run is not delayed by it),
    else ``error``.

    ``workdir`` is where Schemathesis runs and keeps its cache between runs
    (as it does in the directory a user runs it from); a fresh directory each
    time costs it noticeably more time and memory.
    """
    started = datetime.now(UTC)
    report_dir = report_dir.resolve()  # Schemathesis runs in a scratch directory
    report_dir.mkdir(parents=True, exist_ok=True)

    workdir = (workdir or report_dir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    masker = Masker.of(options.headers)
    with tempfile.TemporaryDirectory(prefix="covenant-fuzz-") as scratch:
        config_file, secret_env = write_config(options, Path(scratch))
        env = {
            **os.environ,
            **secret_env,
            "SCHEMATHESIS_HOOKS": HOOKS_MODULE,
            "COVENANT_FUZZ_RESPONSE_BUDGET_S": str(options.response_time_budget_s),
        }
        process = subprocess.Popen(
            build_command(options, report_dir, config_file),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=workdir,
        )
        assert process.stdout is not None
        transcript = []
        for line in process.stdout:
            line = masker.text(line)
            transcript.append(line)
            on_output(line.rstrip("\n"))
        code = process.wait()

    result = FuzzResult(options, started, datetime.now(UTC), "clean", report_dir=str(report_dir))
    events = report_dir / "events.ndjson"
    for written in (events, report_dir / "junit.xml"):
        masker.file(written)
    if events.exists():
        findings, operations, cases, errors = read_events(events, masker)
        result.findings, result.operations, result.test_cases = findings, operations, cases
        result.errors.extend(errors)
    (report_dir / "schemathesis.log").write_text("".join(transcript), encoding="utf-8")
    if result.findings:
        result.outcome = "findings"
    elif code not in (0, 1) or result.errors or not result.operations:
        # Only now is the spec asked for again: a run that went well needs no check
        # before it (it would delay every run), one that did not may have had no spec.
        problem = spec_reachable(options.spec, headers=options.headers)
        if problem is not None:
            result.outcome, result.errors = "unreachable", [problem]
        elif code not in (0, 1) or result.errors:
            result.outcome = "error"
            if not result.errors:
                result.errors.append(
                    f"schemathesis exited {code}: " + "".join(transcript[-15:]).strip()[-1500:]
                )
    return result
