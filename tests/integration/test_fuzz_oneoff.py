"""``covenant fuzz --spec ... --url ...`` against a third-party API started here, and
the baseline of known findings across three runs.

The API is Debian's Alertmanager (``prometheus-alertmanager``, installed by the set-up
for the local stack), behind basic auth as the stack runs it. Alertmanager does not
serve its OpenAPI document (``/api/v2/swagger.json`` and friends answer 404) and its package
ships none as a file, but the binary embeds it: go-swagger compiles the Swagger 2.0
document into the server (``restapi/embedded_spec.go``), and Schemathesis loads it.
Fuzzed with it, Alertmanager breaks its own document in ways that do not depend on the
generated data (500 to deleting a silence that does not exist, statuses it does not
document, such as 422 to a silence it cannot take), so the baseline is exercised by real
findings.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
import yaml

from covenant.stack._ports import free_port
from tests.conftest import CovenantCli
from tests.integration.conftest import RunningStack

#: Found on PATH, as the local stack finds it.
ALERTMANAGER = Path(shutil.which("prometheus-alertmanager") or "prometheus-alertmanager")
#: Each of the three runs takes about 10 s; a loaded machine gets some slack.
RUN_TIMEOUT_S = 180
START_DEADLINE_S = 30
#: The finding removed from the baseline before the third run: Alertmanager answers
#: 500 to deleting a silence it does not have (any generated id will do).
REMOVED = ("DELETE /silence/{silenceID}", "not_a_server_error")
NEW_LINE = re.compile(r"^\s+new\s+(F-[0-9a-f]{10}) ", re.MULTILINE)
KNOWN_LINE = re.compile(r"^\s+known\s+(F-[0-9a-f]{10}) ", re.MULTILINE)


def embedded_spec(binary: Path) -> dict[str, object]:
    """The Swagger 2.0 document go-swagger compiled into ``binary``: the JSON object
    around its first ``"swagger": "2.0"``."""
    data = binary.read_bytes()
    marker = data.find(b'"swagger": "2.0"')
    assert marker > 0, f"{binary} embeds no Swagger 2.0 document"
    decoder = json.JSONDecoder()
    start = data.rfind(b"{\n", 0, marker)
    while start > marker - 65536 and start >= 0:
        try:
            document, _ = decoder.raw_decode(
                data[start : start + 4_000_000].decode("utf-8", "replace")
            )
        except ValueError:
            document = None
        if isinstance(document, dict) and document.get("swagger") == "2.0":
            return document
        start = data.rfind(b"{\n", 0, start)
    raise AssertionError(f"no JSON object around the Swagger marker of {binary}")


@dataclass(frozen=True)
class Alertmanager:
    url: str
    user: str
    password: str


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Alertmanager]:
    """A fresh Alertmanager on a loopback port, behind basic auth."""
    import bcrypt

    assert ALERTMANAGER.exists(), "the set-up installs prometheus-alertmanager"
    home = tmp_path_factory.mktemp("alertmanager")
    user, password = "fuzzer", "am-" + secrets.token_urlsafe(12)
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    (home / "web.yml").write_text(yaml.safe_dump({"basic_auth_users": {user: hashed}}))
    (home / "alertmanager.yml").write_text("route:\n  receiver: none\nreceivers:\n  - name: none\n")
    port = free_port()
    log = (home / "alertmanager.log").open("wb")
    process = subprocess.Popen(
        [
            str(ALERTMANAGER),
            f"--config.file={home / 'alertmanager.yml'}",
            f"--storage.path={home / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--web.config.file={home / 'web.yml'}",
            "--cluster.listen-address=",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_DEADLINE_S
        while True:
            assert process.poll() is None, (home / "alertmanager.log").read_text()
            try:
                if httpx.get(f"{url}/-/ready", auth=(user, password), timeout=2).is_success:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "Alertmanager did not get ready in time"
            time.sleep(0.2)
        # The credentials are really needed.
        assert httpx.get(f"{url}/api/v2/status", timeout=5).status_code == 401
        yield Alertmanager(url, user, password)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def test_a_third_party_api_is_fuzzed_and_held_against_a_baseline(
    alertmanager: Alertmanager, cli: CovenantCli, stack: RunningStack, tmp_path: Path
) -> None:
    spec = tmp_path / "alertmanager-swagger.json"
    spec.write_text(json.dumps(embedded_spec(ALERTMANAGER)))
    probe = "probe-" + secrets.token_hex(8)
    name = f"alertmanager-{secrets.token_hex(3)}"
    baseline = tmp_path / "known-findings.yaml"
    reports = tmp_path / "reports"
    config = tmp_path / "covenant.yaml"
    # Timings are not what this test is about: a slow moment of a busy machine must
    # not make a finding in one run and none in the next. Stateful sequences follow
    # the ids Alertmanager hands out, so the phases whose cases the seed fixes.
    config.write_text(
        "fuzz:\n  response_time_budget_s: 60\n  phases: [examples, coverage, fuzzing]\n"
    )

    def fuzz(*extra: str) -> subprocess.CompletedProcess[str]:
        done = cli(
            *("fuzz", "--spec", str(spec), "--url", f"{alertmanager.url}/api/v2"),
            *("--auth", f"{alertmanager.user}:{alertmanager.password}"),
            *("-H", f"X-Covenant-Probe: {probe}", "--name", name),
            *("-n", "3", "--seed", "7", "-q", "--report-dir", str(reports)),
            *("--baseline", str(baseline), *extra),
            config=config,
            timeout=RUN_TIMEOUT_S,
        )
        for secret in (alertmanager.password, probe):
            assert secret not in done.stdout + done.stderr, "a secret reached the output"
        assert "Traceback" not in done.stderr, done.stderr[-3000:]
        return done

    # 1. The findings become the baseline (and so are all known: exit 0).
    first = fuzz("--update-baseline")
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-3000:]
    written = yaml.safe_load(baseline.read_text())
    entries = written["findings"]
    assert entries, f"Alertmanager yielded no findings: {first.stdout[-3000:]}"
    assert f"baseline {baseline} written: {len(entries)} findings" in first.stdout
    assert entries == sorted(
        entries, key=lambda e: (e["service"], e["operation"], e["check"], e["id"])
    )
    assert {e["service"] for e in entries} == {name}
    removed = next(e for e in entries if (e["operation"], e["check"]) == REMOVED)

    # 2. The same findings again, with ids that did not change: all known, exit 0.
    second = fuzz()
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-3000:]
    assert NEW_LINE.findall(second.stdout) == []
    assert sorted(KNOWN_LINE.findall(second.stdout)) == sorted(e["id"] for e in entries)
    assert f"baseline {baseline}: 0 new, {len(entries)} known, 0 not seen any more" in (
        second.stdout
    )

    # 3. One finding taken out of the baseline is new again: exit 1, named alone.
    written["findings"] = [e for e in entries if e["id"] != removed["id"]]
    baseline.write_text(yaml.safe_dump(written, sort_keys=False))
    third = fuzz()
    assert third.returncode == 1, third.stdout[-4000:] + third.stderr[-3000:]
    assert NEW_LINE.findall(third.stdout) == [removed["id"]], third.stdout[-4000:]
    assert f"baseline {baseline}: 1 new, {len(entries) - 1} known" in third.stdout

    # The secrets are nowhere: not in the reports Schemathesis and Covenant wrote,
    # the baseline, Schemathesis's cache, or the findings stored in PostgreSQL.
    pair = f"{alertmanager.user}:{alertmanager.password}".encode()
    secrets_given = (alertmanager.password, probe, base64.b64encode(pair).decode())
    written_files = [
        *(p for p in reports.rglob("*") if p.is_file()),
        baseline,
        *(p for p in (stack.state_dir / "fuzz" / name).rglob("*") if p.is_file()),
    ]
    assert any(p.name == "events.ndjson" for p in written_files)
    for path in written_files:
        text = path.read_bytes().decode("utf-8", "replace")
        assert not any(s in text for s in secrets_given), f"a secret in {path}"
    with psycopg.connect(stack.url("postgres")) as conn:
        rows = conn.execute(
            "SELECT f.id, f.request::text, coalesce(f.response::text, ''), f.curl, f.message"
            " FROM fuzz.findings f JOIN fuzz.runs r ON r.id = f.run_id WHERE r.service = %s",
            (name,),
        ).fetchall()
    assert {row[0] for row in rows} == {e["id"] for e in entries}, "three runs, stable ids"
    for row in rows:
        assert not any(s in " ".join(row) for s in secrets_given), row[0]
    assert any("Authorization: ${AUTHORIZATION}" in row[3] for row in rows)
