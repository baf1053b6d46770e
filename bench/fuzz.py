"""Throughput and peak memory of ``covenant fuzz`` against the plain ``schemathesis run``.

Same spec (the local stack's hono-api), phases, seed and example count; runs
alternate (which of the two goes first alternates too). Requests are counted from
each run's NDJSON events (recorded interactions); peak memory is the maximum
resident set of the whole command tree as GNU time reports it. Prints medians
and ratios; asserts nothing.
Target: covenant's throughput >= 0.95 of the plain CLI's.

    .venv/bin/python bench/fuzz.py [--runs 3] [--examples 20]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from covenant.kernel.config import load_config  # noqa: E402
from covenant.kernel.stackstate import load_state  # noqa: E402
from covenant.stack.manager import StackManager  # noqa: E402

PHASES = "examples,coverage,fuzzing"
SEED = "1234"


def requests_in(events: Path) -> int:
    count = 0
    with events.open() as stream:
        for line in stream:
            event = json.loads(line)
            if "ScenarioFinished" in event:
                count += len(
                    (event["ScenarioFinished"].get("recorder") or {}).get("interactions") or {}
                )
    return count


def measure(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of ``argv`` and its children."""
    with tempfile.NamedTemporaryFile("r") as rss:
        started = time.perf_counter()
        subprocess.run(
            ["/usr/bin/time", "-o", rss.name, "-f", "%M", *argv],
            env=env,
            cwd=cwd,
            capture_output=True,
            check=False,
        )
        elapsed = time.perf_counter() - started
        return elapsed, int(rss.read().strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--examples", type=int, default=20)
    args = parser.parse_args()

    config = load_config()
    StackManager(config, report=lambda m: print(f"stack: {m}")).up()
    spec = load_state(config.stack.state_dir.resolve()).engines["hono_api"].url + "/openapi.json"
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "NO_COLOR": "1"}
    results: dict[str, list[tuple[float, int, int]]] = {"schemathesis": [], "covenant": []}
    # Schemathesis keeps a cache in its working directory; covenant fuzz keeps one
    # per service under the stack's state directory. Give the plain CLI its own
    # persistent directory too, so both run warm, as a user's repeated runs do.
    plain_workdir = config.stack.state_dir.resolve() / "bench" / "schemathesis"
    plain_workdir.mkdir(parents=True, exist_ok=True)

    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            plain_events = Path(tmp) / "plain.ndjson"
            plain = [
                str(bin_dir / "schemathesis"),
                "run",
                spec,
                "--phases",
                PHASES,
                "--checks",
                "all",
                "--max-examples",
                str(args.examples),
                "--seed",
                SEED,
                "--workers",
                "1",
                "--generation-database",
                "none",
                "--report",
                "ndjson",
                "--report-ndjson-path",
                str(plain_events),
            ]
            report_dir = Path(tmp) / "covenant"
            ours = [
                str(bin_dir / "covenant"),
                "fuzz",
                "hono-api",
                "-q",
                "-n",
                str(args.examples),
                "--seed",
                SEED,
                "--report-dir",
                str(report_dir),
            ]
            ours_env = {**env, "COVENANT_FUZZ__PHASES": f"[{PHASES}]"}
            both = [
                ("schemathesis", plain, env, plain_workdir, plain_events),
                ("covenant", ours, ours_env, None, None),
            ]
            # Alternate which goes first, so that neither always meets the service
            # (and the machine) right after the other.
            for name, argv, run_env, cwd, events in both if run % 2 == 0 else both[::-1]:
                seconds, rss = measure(argv, run_env, cwd)
                if events is None:
                    events = next(report_dir.glob("*/hono-api/events.ndjson"))
                results[name].append((seconds, rss, requests_in(events)))
        for name, runs in results.items():
            seconds, rss, requests = runs[-1]
            print(
                f"run {run + 1} {name:13s} {requests:5d} requests in {seconds:6.2f}s "
                f"= {requests / seconds:7.1f} req/s, peak {rss / 1024:6.1f} MiB"
            )

    summary = {}
    for name, runs in results.items():
        summary[name] = (
            statistics.median(r[2] / r[0] for r in runs),
            statistics.median(r[1] for r in runs) / 1024,
        )
    (plain_rps, plain_mib), (ours_rps, ours_mib) = summary["schemathesis"], summary["covenant"]
    print(f"\nhono-api, phases {PHASES}, seed {SEED}, {args.examples} examples, {args.runs} runs")
    print(f"plain schemathesis run  median {plain_rps:7.1f} req/s  peak {plain_mib:6.1f} MiB")
    print(f"covenant fuzz           median {ours_rps:7.1f} req/s  peak {ours_mib:6.1f} MiB")
    print(
        f"throughput ratio {ours_rps / plain_rps:.2f} (target >= 0.95); "
        f"memory ratio {ours_mib / plain_mib:.2f}"
    )


if __name__ == "__main__":
    main()
