"""Flakiness: run a test selection N times and print the failure rate of each test.

    .venv/bin/python bench/flake.py [--runs 5] [--hog 2] [-- PYTEST ARGS]

Each run is a fresh ``pytest`` process (default selection: ``tests/integration``,
the tests that talk to real engines) writing a JUnit report; the summary lists
every test that failed or errored at least once, with its rate, and the wall
time of each run. ``--hog N`` keeps N processes spinning on the CPU for the
whole measurement, as a busy CI machine would (they are stopped at the end,
also on Ctrl-C). ``TEST_SCHEDULER_SOAK_S`` is passed through, so the
ten-minute soak can be shortened for a quick measure. Exit status: 0 when
every run passed, 1 otherwise. Measures; asserts nothing about time.

``make flake`` runs it with the defaults.
"""

from __future__ import annotations

import argparse
import multiprocessing
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _spin(deadline: float) -> None:
    while time.monotonic() < deadline:
        pass


def _outcomes(report: Path) -> dict[str, str]:
    """test id -> passed | failed | error | skipped, from a JUnit XML report."""
    if not report.exists():
        return {}
    found: dict[str, str] = {}
    for case in ET.parse(report).iter("testcase"):  # noqa: S314 - our own pytest report
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed"}.get(child.tag, child.tag)
        found[name] = outcome
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="how many runs (default 5)")
    parser.add_argument("--hog", type=int, default=0, help="CPU-spinning processes beside")
    parser.add_argument("pytest_args", nargs="*", help="after --: what pytest runs")
    options = parser.parse_args()
    selection = options.pytest_args or ["tests/integration"]
    hogs = [
        multiprocessing.Process(target=_spin, args=(time.monotonic() + 6 * 3600,), daemon=True)
        for _ in range(options.hog)
    ]
    for hog in hogs:
        hog.start()
    failures: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    walls: list[tuple[int, float, int]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="covenant-flake-") as scratch:
            for run in range(1, options.runs + 1):
                report = Path(scratch) / f"run-{run}.xml"
                started = time.monotonic()
                print(f"==> run {run}/{options.runs}: pytest {' '.join(selection)}", flush=True)
                result = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "pytest",
                        "-q",
                        "-p",
                        "no:cacheprovider",
                        f"--junitxml={report}",
                        *selection,
                    ],
                    cwd=REPO,
                    check=False,
                )
                wall = time.monotonic() - started
                walls.append((run, wall, result.returncode))
                print(f"<== run {run}: exit {result.returncode} in {wall:.0f} s", flush=True)
                for name, outcome in _outcomes(report).items():
                    seen[name] += 1
                    if outcome in ("failed", "error"):
                        failures[name] += 1
    finally:
        for hog in hogs:
            hog.terminate()
    print()
    print(f"runs: {options.runs}, CPU hogs beside: {options.hog}, tests seen: {len(seen)}")
    for run, wall, code in walls:
        print(f"  run {run}: exit {code}, {wall:.0f} s")
    if not failures:
        print("no test failed in any run: failure rate 0 for every test")
    else:
        print("tests that failed at least once (failures / runs that ran it):")
        for name, count in failures.most_common():
            print(f"  {count}/{seen[name]}  {100 * count / seen[name]:5.1f} %  {name}")
    return 0 if all(code == 0 for _, _, code in walls) else 1


if __name__ == "__main__":
    sys.exit(main())
