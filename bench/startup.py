"""Start-up time of the CLI: ``covenant --help`` and each command's ``--help``, against
the Rust ``pact --help`` and a bare interpreter (``python -c pass``: the floor every
Python CLI pays) run in the same loop. Prints medians and ratios; asserts nothing.

    .venv/bin/python bench/startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "pact --help": [str(BIN / "pact"), "--help"],
    "covenant --help": [str(BIN / "covenant"), "--help"],
    "covenant check --help": [str(BIN / "covenant"), "check", "--help"],
    "covenant verify --help": [str(BIN / "covenant"), "verify", "--help"],
    "covenant fuzz --help": [str(BIN / "covenant"), "fuzz", "--help"],
    "covenant can-i-deploy --help": [str(BIN / "covenant"), "can-i-deploy", "--help"],
    "covenant config show": [str(BIN / "covenant"), "config", "show"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.runs):
        for name, argv in COMMANDS.items():  # interleaved: the same machine state for all
            started = time.perf_counter()
            subprocess.run(argv, capture_output=True, check=True, timeout=60)
            times[name].append(time.perf_counter() - started)
    floor = statistics.median(times["python -c pass"])
    pact = statistics.median(times["pact --help"])
    print(f"{args.runs} runs each; target: every covenant line within 0.15 s")
    print(f"{'command':<30}{'median':>9}{'x python':>10}{'x pact':>9}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<30}{median:>8.3f}s{median / floor:>9.1f}x{median / pact:>8.1f}x")


if __name__ == "__main__":
    main()
