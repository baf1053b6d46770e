"""Cross-checks of Grafana's provisioning files for docker-compose.yml.

Grafana only reports a dangling data source uid or a wrong ``condition`` when a
panel is opened or a rule is evaluated, long after ``docker compose up`` said
everything started; these checks catch them from the files alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).parents[2]
GRAFANA = REPO_ROOT / "observability" / "grafana"
PROVISIONING = GRAFANA / "provisioning"
DASHBOARDS_DIR = GRAFANA / "dashboards"
PIPELINE_RULES = REPO_ROOT / "observability" / "prometheus" / "rules" / "pipeline.yml"
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"

#: Grafana's pseudo data source for server-side expressions (reduce, math, threshold).
EXPRESSION_UID = "__expr__"


def _yaml_files(directory: Path) -> list[Path]:
    return sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")])


def _load_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


def _datasources() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in _yaml_files(PROVISIONING / "datasources"):
        found.extend(_load_yaml(path).get("datasources") or [])
    return found


def _datasource_uids() -> set[str]:
    return {str(ds["uid"]) for ds in _datasources() if ds.get("uid")}


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels") or [])


def _alert_rules() -> list[tuple[Path, dict[str, Any], dict[str, Any]]]:
    """(file, group, rule) for every provisioned Grafana alert rule."""
    return [
        (path, group, rule)
        for path in _yaml_files(PROVISIONING / "alerting")
        for group in _load_yaml(path).get("groups") or []
        for rule in group.get("rules") or []
    ]


DASHBOARD_FILES = sorted(DASHBOARDS_DIR.glob("*.json"))
ALERTING_FILES = _yaml_files(PROVISIONING / "alerting")


def test_every_datasource_has_a_unique_uid() -> None:
    datasources = _datasources()
    assert datasources, "no provisioned data sources"
    missing = [ds.get("name") for ds in datasources if not ds.get("uid")]
    assert not missing, f"data sources without a uid: {missing}"
    uids = [ds["uid"] for ds in datasources]
    assert len(uids) == len(set(uids)), f"duplicate data source uids: {uids}"
    by_uid = {ds["uid"]: ds.get("type") for ds in datasources}
    assert by_uid.get("prometheus") == "prometheus", by_uid
    assert by_uid.get("loki") == "loki", by_uid


@pytest.mark.parametrize("dashboard_file", DASHBOARD_FILES, ids=[p.name for p in DASHBOARD_FILES])
def test_dashboard_panels_use_provisioned_datasources(dashboard_file: Path) -> None:
    dashboard = json.loads(dashboard_file.read_text(encoding="utf-8"))
    uids = _datasource_uids()
    panels = list(_panels(dashboard.get("panels") or []))
    assert panels, f"{dashboard_file.name} has no panels"
    for panel in panels:
        if panel.get("type") == "row":
            continue
        where = f"{dashboard_file.name}: panel {panel.get('title')!r}"
        uid = (panel.get("datasource") or {}).get("uid")
        assert uid in uids, f"{where} uses unknown data source {uid!r} (known: {sorted(uids)})"
        for target in panel.get("targets") or []:
            target_uid = (target.get("datasource") or {}).get("uid", uid)
            assert target_uid in uids, f"{where}: a query uses unknown data source {target_uid!r}"


def test_event_pipeline_dashboard() -> None:
    dashboard = json.loads((DASHBOARDS_DIR / "event-pipeline.json").read_text(encoding="utf-8"))
    assert dashboard["uid"] == "event-pipeline"
    queries = [
        (panel["type"], panel["datasource"]["uid"], target["expr"])
        for panel in _panels(dashboard["panels"])
        for target in panel.get("targets") or []
    ]
    exprs = " ".join(expr for _, _, expr in queries)
    for metric in (
        "event_worker_messages_total",
        "event_worker_db_write_errors_total",
        "event_worker_last_stored_timestamp_seconds",
        "event_worker_consumer_up",
    ):
        assert metric in exprs, f"no panel queries {metric}: {queries}"
    assert any("by (outcome)" in expr for _, _, expr in queries), "no per-outcome panel"
    assert ("logs", "loki", '{service="event-worker"}') in queries, f"no Loki logs panel: {queries}"


def test_there_are_provisioned_alert_rules() -> None:
    assert ALERTING_FILES, f"no alert rule files in {PROVISIONING / 'alerting'}"
    assert _alert_rules(), "no Grafana alert rules"


@pytest.mark.parametrize("alerting_file", ALERTING_FILES, ids=[p.name for p in ALERTING_FILES])
def test_alerting_file_shape(alerting_file: Path) -> None:
    document = _load_yaml(alerting_file)
    assert document.get("apiVersion") == 1, f"{alerting_file.name}: apiVersion must be 1"
    for group in document.get("groups") or []:
        for key in ("orgId", "name", "folder", "interval", "rules"):
            assert group.get(key), f"{alerting_file.name}: group {group.get('name')!r} has no {key}"


def test_alert_rules_reference_provisioned_datasources_and_their_condition() -> None:
    uids = _datasource_uids() | {EXPRESSION_UID}
    rule_uids: list[str] = []
    for path, group, rule in _alert_rules():
        where = f"{path.name}: {group['name']}/{rule.get('title')!r}"
        assert rule.get("uid"), f"{where} has no uid (it would change on every start)"
        rule_uids.append(rule["uid"])
        data = rule.get("data") or []
        assert data, f"{where} has no queries"
        ref_ids = [query.get("refId") for query in data]
        assert len(ref_ids) == len(set(ref_ids)), f"{where}: duplicate refIds {ref_ids}"
        assert rule.get("condition") in ref_ids, (
            f"{where}: condition {rule.get('condition')!r} is none of the refIds {ref_ids}"
        )
        for query in data:
            uid = query.get("datasourceUid")
            assert uid in uids, (
                f"{where}: query {query.get('refId')} uses unknown data source {uid!r}"
            )
            model = query.get("model") or {}
            model_uid = (model.get("datasource") or {}).get("uid", uid)
            assert model_uid == uid, f"{where}: query {query.get('refId')} names two data sources"
            if uid == EXPRESSION_UID:
                source = model.get("expression")
                assert source in ref_ids, (
                    f"{where}: expression {query.get('refId')} reads unknown refId {source!r}"
                )
            else:
                assert model.get("expr"), f"{where}: query {query.get('refId')} has no expr"
        for key in ("noDataState", "execErrState", "for"):
            assert key in rule, f"{where} has no {key}"
    assert len(rule_uids) == len(set(rule_uids)), f"duplicate alert rule uids: {rule_uids}"


def test_grafana_pipeline_rules_mirror_the_prometheus_rules() -> None:
    """Same names, labels and ``for`` as pipeline.yml, so either source can be checked."""
    prometheus = {
        rule["alert"]: rule
        for group in _load_yaml(PIPELINE_RULES)["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    grafana = {
        rule["title"]: (group, rule)
        for _, group, rule in _alert_rules()
        if group["name"] == "event-pipeline"
    }
    assert set(grafana) == {"EventPipelineStalled", "DatabaseWriteErrors"}, sorted(grafana)
    for title, (group, rule) in grafana.items():
        assert group["orgId"] == 1 and group["folder"] == "Covenant", group
        assert group["interval"] == "10s", group
        assert title in prometheus, f"{title} is not an alert in {PIPELINE_RULES.name}"
        assert rule["labels"] == prometheus[title]["labels"], title
        assert rule["for"] == prometheus[title]["for"], title
    stalled = grafana["EventPipelineStalled"][1]
    assert stalled["uid"] == "event-pipeline-stalled"
    assert stalled["condition"] == "C"
    assert stalled["for"] == "10s"


def test_compose_mounts_the_whole_provisioning_directory() -> None:
    """alerting/ is picked up only because the parent directory is mounted as a whole."""
    grafana = _load_yaml(COMPOSE_FILE)["services"]["grafana"]
    volumes = [str(v).split(":")[:2] for v in grafana.get("volumes") or []]
    assert ["./observability/grafana/provisioning", "/etc/grafana/provisioning"] in volumes, volumes
    assert ["./observability/grafana/dashboards", "/var/lib/grafana/dashboards"] in volumes, volumes
