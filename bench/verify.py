"""Wall time of ``covenant verify`` against the raw ``pact verifier`` CLI.

Both verify the same pact (web-client -> hono-api, HTTP interactions only, so
the raw CLI needs no message producer) against the same running hono-api of
the local stack, with the same provider-state endpoint and teardown. Runs
alternate so drift on the machine hits both alike. Prints medians and ratios;
asserts nothing. Target: covenant / raw <= 1.10.

    .venv/bin/python bench/verify.py [--runs 7]

Two ratios are printed: the CLI (a Python interpreter start and imports
included) and in-process (``verify_provider()`` called directly), which shows
how much of the difference is interpreter start-up rather than verification.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from contracts.paths import PACTS_DIR  # noqa: E402
from covenant.kernel.config import load_config  # noqa: E402
from covenant.kernel.stackstate import load_state  # noqa: E402
from covenant.stack.manager import StackManager  # noqa: E402
from verifiers.provider import VerifyOptions, verify_provider  # noqa: E402

PACT = PACTS_DIR / "web-client-hono-api.json"
PROVIDER = "hono-api"


def timed(argv: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    config = load_config()
    StackManager(config, report=lambda m: print(f"stack: {m}")).up()
    base_url = load_state(config.stack.state_dir.resolve()).engines["hono_api"].url
    host, port = urlsplit(base_url).hostname or "127.0.0.1", urlsplit(base_url).port
    pact_cli = shutil.which("pact", path=str(Path(sys.executable).parent))
    if pact_cli is None:
        raise SystemExit("the `pact` CLI (PyPI pact-python-cli) is not installed")

    with tempfile.TemporaryDirectory() as tmp:
        only = Path(tmp)
        shutil.copy(PACT, only / PACT.name)
        covenant_cli = [
            sys.executable, "-m", "covenant", "verify", PROVIDER,
            "--base-url", base_url, "--pacts", str(only),
        ]  # fmt: skip
        raw_cli = [
            pact_cli, "verifier", "-f", str(PACT), "-h", str(host), "-p", str(port),
            "-n", PROVIDER, "-s", f"{base_url}/_pact/provider-states",
            "--state-change-teardown", "--no-colour",
        ]  # fmt: skip
        options = VerifyOptions(PROVIDER, base_url, pacts_dir=only)

        timed(raw_cli)  # warm caches
        timed(covenant_cli)
        raw, cov, inproc = [], [], []
        for run in range(args.runs):
            raw.append(timed(raw_cli))
            cov.append(timed(covenant_cli))
            started = time.perf_counter()
            result = verify_provider(options)
            inproc.append(time.perf_counter() - started)
            assert result.passed
            print(f"run {run + 1}: raw {raw[-1]:.3f}s  covenant {cov[-1]:.3f}s  "
                  f"in-process {inproc[-1]:.3f}s")  # fmt: skip

    interactions = len(result.outcomes)
    m_raw, m_cov, m_in = (statistics.median(x) for x in (raw, cov, inproc))
    print(f"\n{interactions} interactions of {PACT.name} against {PROVIDER}, {args.runs} runs")
    print(f"raw `pact verifier` CLI     median {m_raw:.3f}s")
    print(f"`covenant verify` CLI       median {m_cov:.3f}s   ratio {m_cov / m_raw:.2f}")
    print(f"verify_provider() in-process median {m_in:.3f}s   ratio {m_in / m_raw:.2f}")
    print("target: covenant / raw <= 1.10")


if __name__ == "__main__":
    main()
