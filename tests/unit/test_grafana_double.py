"""The Grafana double: provisioning, data sources and their health, dashboards, ds/query
frames, the alert rule provisioning API and rule evaluation, against a stub Prometheus."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from observability import assets
from observability.doubles._grafana_provisioning import ProvisioningError
from observability.doubles.grafana import create_grafana_app
from tests.conftest import wait_until

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class StubServer:
    """A tiny HTTP server on 127.0.0.1 standing in for Prometheus or Loki: answers a
    request whose ``query`` parameter is in ``by_query`` from there, any other from
    ``routes`` by path (status, JSON or text), and records what it was asked."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, Any]] = {}
        self.by_query: dict[str, tuple[int, Any]] = {}
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def answer(self, method: str, params: dict[str, list[str]]) -> None:
                path = urlsplit(self.path).path
                stub.requests.append((method, path, params))
                query = (params.get("query") or [""])[0]
                status, body = stub.by_query.get(query) or stub.routes.get(
                    path, (404, "404 page not found")
                )
                raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                kind = "text/plain" if isinstance(body, str) else "application/json"
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                self.answer("GET", parse_qs(urlsplit(self.path).query))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.answer("POST", parse_qs(self.rfile.read(length).decode()))

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def unreachable_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


DATASOURCES = """\
apiVersion: 1
datasources:
  - name: Prometheus
    type: prometheus
    uid: prom
    access: proxy
    url: http://prometheus:9090
    isDefault: true
    jsonData:
      timeInterval: 15s
  - name: Loki
    type: loki
    uid: logs
    url: http://loki:3100
  - name: Extra
    type: testdata
    uid: extra
    url: ${EXTRA_URL}/path
"""

ALERT_RULES = """\
apiVersion: 1
groups:
  - orgId: 1
    name: pipeline
    folder: Covenant ${FOLDER_SUFFIX}
    interval: 30s
    rules:
      - uid: worker-down
        title: Worker down
        condition: B
        for: 5m
        labels:
          severity: critical
        annotations:
          summary: "{{ $labels.job }} is down"
        data:
          - refId: A
            datasourceUid: prom
            relativeTimeRange: {from: 600, to: 0}
            model:
              expr: up{job="worker"} == 0
              instant: true
          - refId: B
            datasourceUid: __expr__
            model:
              type: threshold
              expression: A
              conditions:
                - evaluator: {type: gt, params: [0]}
"""

DASHBOARD = {"uid": "pipe", "title": "Covenant pipeline", "tags": ["covenant"], "panels": []}


@pytest.fixture
def prometheus() -> Iterator[StubServer]:
    stub = StubServer()
    stub.routes["/-/ready"] = (200, "Prometheus Server is Ready.\n")
    yield stub
    stub.close()


@pytest.fixture
def provisioning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EXTRA_URL", "http://extra.example")
    monkeypatch.setenv("FOLDER_SUFFIX", "alerts")
    (tmp_path / "datasources").mkdir()
    (tmp_path / "datasources" / "ds.yaml").write_text(DATASOURCES)
    (tmp_path / "alerting").mkdir()
    (tmp_path / "alerting" / "rules.yaml").write_text(ALERT_RULES)
    (tmp_path / "dashboards").mkdir()
    (tmp_path / "dashboards" / "pipe.json").write_text(json.dumps(DASHBOARD))
    return tmp_path


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(provisioning: Path, prometheus: StubServer, clock: Clock) -> Iterator[TestClient]:
    app = create_grafana_app(
        prometheus_url=prometheus.url,
        loki_url=prometheus.url,  # the stub answers Loki paths too
        provisioning_dir=provisioning,
        dashboards_dir=provisioning / "dashboards",
        token=TOKEN,
        clock=clock,
        evaluate_on_timer=False,  # the tests evaluate with evaluate(), at the fake clock
    )
    with TestClient(app, headers=AUTH) as test_client:
        yield test_client


def evaluate(client: TestClient) -> None:
    """One scheduler tick: every rule evaluated once, at the app's clock."""
    app: Any = client.app
    asyncio.run(app.state.alerting.evaluate_all())


def test_health_is_open_and_the_rest_needs_the_token(client: TestClient) -> None:
    health = client.get("/api/health", headers={"Authorization": ""})
    assert health.status_code == 200
    assert health.json() == {
        "commit": "covenant-double",
        "database": "ok",
        "version": "11.x-double",
    }
    # Open whatever the token: served before authentication (pkg/api/http_server.go).
    assert client.get("/api/health", headers={"Authorization": "Bearer wrong"}).status_code == 200
    # pkg/services/authn: no credentials is authn's "auth.unauthorized"; a token that is
    # not a valid key is the API key client's "api-key.invalid"; both errutil public
    # errors.
    missing = client.get("/api/datasources", headers={"Authorization": ""})
    assert (missing.status_code, missing.json()) == (
        401,
        {
            "message": "Unauthorized",
            "messageId": "auth.unauthorized",
            "statusCode": 401,
            "traceID": "",
        },
    )
    wrong = client.get("/api/datasources", headers={"Authorization": "Bearer wrong"})
    assert (wrong.status_code, wrong.json()) == (
        401,
        {
            "message": "Invalid API key",
            "messageId": "api-key.invalid",
            "statusCode": 401,
            "traceID": "",
        },
    )
    assert client.get("/api/datasources").status_code == 200


def test_datasources_are_provisioned_with_env_and_url_overrides(
    client: TestClient, prometheus: StubServer
) -> None:
    listed = client.get("/api/datasources").json()
    assert [(d["uid"], d["type"], d["url"]) for d in listed] == [
        ("prom", "prometheus", prometheus.url),
        ("logs", "loki", prometheus.url),
        ("extra", "testdata", "http://extra.example/path"),
    ]
    assert listed[0]["isDefault"] is True
    assert listed[0]["jsonData"] == {"timeInterval": "15s"}
    one = client.get("/api/datasources/uid/logs").json()
    assert one["name"] == "Loki"
    assert {"secureJsonFields", "version", "readOnly", "access"} <= set(one)
    missing = client.get("/api/datasources/uid/nope")
    assert (missing.status_code, missing.json()) == (404, {"message": "Data source not found"})


def test_datasource_health_probes_the_backend(provisioning: Path, prometheus: StubServer) -> None:
    app = create_grafana_app(
        prometheus_url=prometheus.url,
        loki_url=unreachable_url(),
        alertmanager_url=unreachable_url(),
        provisioning_dir=provisioning,
        evaluate_on_timer=False,
    )
    prometheus.routes["/api/v1/query"] = (
        200,
        {"status": "success", "data": {"resultType": "scalar", "result": [4, "2"]}},
    )
    with TestClient(app) as client:
        # pkg/promlib/healthcheck.go: an instant query of 1+1, with the data source's
        # credentials and method (POST).
        ok = client.get("/api/datasources/uid/prom/health")
        assert ok.status_code == 200
        assert ok.json() == {"status": "OK", "message": "Successfully queried the Prometheus API."}
        assert prometheus.requests == [("POST", "/api/v1/query", {"query": ["1+1"]})]

        # pkg/tsdb/loki/healthcheck.go: a fixed message, the cause only in the log.
        down = client.get("/api/datasources/uid/logs/health")
        assert (down.status_code, down.json()) == (
            400,
            {
                "status": "ERROR",
                "message": "Unable to connect with Loki. Please check the server logs for more "
                "details.",
            },
        )

        # getHealthCheckMessage: "<error> - <message>".
        prometheus.routes["/api/v1/query"] = (503, "Service Unavailable")
        not_ready = client.get("/api/datasources/uid/prom/health")
        assert not_ready.status_code == 400
        assert set(not_ready.json()) == {"status", "message"}
        assert not_ready.json()["status"] == "ERROR"
        message = not_ready.json()["message"]
        assert message.endswith(" - There was an error returned querying the Prometheus API.")
        assert "/api/v1/query: HTTP 503: Service Unavailable" in message

        # The alertmanager plugin has no backend: Plugin.CheckHealth is
        # ErrPluginUnavailable, written as an errutil public error.
        frontend_only = client.get("/api/datasources/uid/alertmanager/health")
        assert (frontend_only.status_code, frontend_only.json()) == (
            500,
            {
                "message": "Plugin unavailable",
                "messageId": "plugin.unavailable",
                "statusCode": 500,
                "traceID": "",
            },
        )
        # pkg/api/datasources.go CheckDatasourceHealthWithUID: no such data source.
        unknown = client.get("/api/datasources/uid/nope/health")
        assert (unknown.status_code, unknown.json()) == (
            500,
            {"message": "Unable to load datasource metadata"},
        )
        # ... and first, a uid that pkg/util IsValidShortUID refuses.
        invalid = client.get("/api/datasources/uid/not.a%20uid/health")
        assert (invalid.status_code, invalid.json()) == (400, {"message": "UID is invalid"})


def test_search_and_dashboard_by_uid(client: TestClient) -> None:
    hits = client.get("/api/search", params={"type": "dash-db", "query": "pipeline"}).json()
    assert hits == [
        {
            "id": 1,
            "uid": "pipe",
            "orgId": 1,
            "title": "Covenant pipeline",
            "uri": "db/covenant-pipeline",
            "url": "/d/pipe/covenant-pipeline",
            "slug": "",
            "type": "dash-db",
            "tags": ["covenant"],
            "isStarred": False,
            "sortMeta": 0,
        }
    ]
    assert client.get("/api/search", params={"type": "dash-db", "query": "nope"}).json() == []
    folders = client.get("/api/search", params={"type": "dash-folder"}).json()
    assert [(f["uid"], f["title"]) for f in folders] == [("covenant-alerts", "Covenant alerts")]

    body = client.get("/api/dashboards/uid/pipe").json()
    assert body["dashboard"]["title"] == "Covenant pipeline"
    assert body["dashboard"]["uid"] == "pipe"
    assert body["meta"]["provisioned"] is True
    assert body["meta"]["url"] == "/d/pipe/covenant-pipeline"
    missing = client.get("/api/dashboards/uid/nope")
    assert (missing.status_code, missing.json()) == (404, {"message": "Dashboard not found"})


def test_ds_query_forwards_promql_and_answers_data_frames(
    client: TestClient, prometheus: StubServer
) -> None:
    prometheus.routes["/api/v1/query_range"] = (
        200,
        {
            "status": "success",
            "data": {
                "resultType": "matrix",
                "result": [
                    {
                        "metric": {"job": "worker"},
                        "values": [[1700000000, "1"], [1700000015, "NaN"]],
                    }
                ],
            },
        },
    )
    body = {
        "from": "now-5m",
        "to": "now",
        "queries": [
            {
                "refId": "A",
                "datasource": {"uid": "prom", "type": "prometheus"},
                "expr": "up",
                "intervalMs": 15000,
                "maxDataPoints": 100,
                "legendFormat": "{{job}}",
            }
        ],
    }
    response = client.post("/api/ds/query", json=body)
    assert response.status_code == 200, response.text
    result = response.json()["results"]["A"]
    assert result["status"] == 200
    (frame,) = result["frames"]
    time_field, value_field = frame["schema"]["fields"]
    assert (time_field["name"], time_field["type"]) == ("Time", "time")
    assert (value_field["name"], value_field["type"]) == ("Value", "number")
    assert value_field["labels"] == {"job": "worker"}
    assert value_field["config"] == {"displayNameFromDS": "worker"}
    assert frame["schema"]["refId"] == "A"
    assert frame["schema"]["meta"]["type"] == "timeseries-multi"
    assert frame["data"]["values"] == [[1700000000000, 1700000015000], [1.0, None]]
    assert frame["data"]["entities"] == [None, {"NaN": [1]}]

    method, path, params = prometheus.requests[-1]
    assert (method, path, params["query"], params["step"]) == (
        "POST",
        "/api/v1/query_range",
        ["up"],
        ["15.0"],
    )
    assert float(params["end"][0]) - float(params["start"][0]) == pytest.approx(300)


def test_ds_query_instant_errors_and_unknown_datasource(
    client: TestClient, prometheus: StubServer
) -> None:
    prometheus.routes["/api/v1/query"] = (
        200,
        {
            "status": "success",
            "data": {
                "resultType": "vector",
                "result": [{"metric": {}, "value": [1700000000.5, "2"]}],
            },
        },
    )
    instant = {"refId": "I", "datasource": {"uid": "prom"}, "expr": "vector(2)", "instant": True}
    answer = client.post(
        "/api/ds/query", json={"from": "1700000000000", "to": "now", "queries": [instant]}
    )
    frame = answer.json()["results"]["I"]["frames"][0]
    assert frame["schema"]["meta"]["type"] == "numeric-multi"
    assert frame["data"]["values"] == [[1700000000500], [2.0]]

    prometheus.routes["/api/v1/query"] = (
        400,
        {"status": "error", "errorType": "bad_data", "error": "1:5: parse error"},
    )
    failed = client.post("/api/ds/query", json={"queries": [instant]})
    assert failed.status_code == 400
    assert failed.json()["results"]["I"] == {
        "error": "bad_data: 1:5: parse error",
        "errorSource": "downstream",
        "status": 400,
    }

    unknown = client.post(
        "/api/ds/query", json={"queries": [{"refId": "A", "datasource": {"uid": "x"}}]}
    )
    assert (unknown.status_code, unknown.json()) == (404, {"message": "Data source not found"})
    bad_time = client.post("/api/ds/query", json={"from": "yesterday", "queries": [instant]})
    assert bad_time.status_code == 400


def test_ds_query_logql_returns_a_log_frame(client: TestClient, prometheus: StubServer) -> None:
    prometheus.routes["/loki/api/v1/query_range"] = (
        200,
        {
            "status": "success",
            "data": {
                "resultType": "streams",
                "result": [{"stream": {"app": "w"}, "values": [["1700000000000000001", "hello"]]}],
            },
        },
    )
    query = {"refId": "L", "datasource": {"uid": "logs"}, "expr": '{app="w"}', "queryType": "range"}
    frame = client.post("/api/ds/query", json={"queries": [query]}).json()["results"]["L"][
        "frames"
    ][0]
    assert [f["name"] for f in frame["schema"]["fields"]] == [
        "labels",
        "Time",
        "Line",
        "tsNs",
        "id",
    ]
    values = frame["data"]["values"]
    assert values[:4] == [[{"app": "w"}], [1700000000000], ["hello"], ["1700000000000000001"]]
    method, path, params = prometheus.requests[-1]
    assert (method, path, params["query"], params["direction"]) == (
        "GET",
        "/loki/api/v1/query_range",
        ['{app="w"}'],
        ["backward"],
    )


def new_rule(**overrides: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "title": "Errors logged",
        "folderUID": "covenant-alerts",
        "ruleGroup": "pipeline",
        "condition": "A",
        "for": "1m",
        "labels": {"team": "qa"},
        "data": [{"refId": "A", "datasourceUid": "prom", "model": {"expr": "vector(1)"}}],
    }
    return rule | overrides


def test_alert_rule_provisioning_crud(client: TestClient) -> None:
    created = client.post("/api/v1/provisioning/alert-rules", json=new_rule(uid="errors"))
    assert created.status_code == 201, created.text
    rule = created.json()
    assert rule["uid"] == "errors"
    assert rule["provenance"] == "api"
    assert rule["for"] == "1m"
    assert (rule["noDataState"], rule["execErrState"]) == ("NoData", "Error")
    assert rule["data"][0]["relativeTimeRange"] == {"from": 0, "to": 0}

    assert client.get("/api/v1/provisioning/alert-rules/errors").json() == rule
    listed = client.get("/api/v1/provisioning/alert-rules").json()
    assert {r["uid"]: r["provenance"] for r in listed} == {"worker-down": "file", "errors": "api"}

    replaced = client.put(
        "/api/v1/provisioning/alert-rules/errors", json=new_rule(**{"for": "300s"})
    )
    assert replaced.status_code == 200
    assert replaced.json()["for"] == "5m"
    assert replaced.json()["id"] == rule["id"]

    assert client.delete("/api/v1/provisioning/alert-rules/errors").status_code == 204
    gone = client.get("/api/v1/provisioning/alert-rules/errors")
    assert (gone.status_code, gone.content) == (404, b"")
    assert client.put("/api/v1/provisioning/alert-rules/errors", json=new_rule()).status_code == 404

    generated = client.post("/api/v1/provisioning/alert-rules", json=new_rule())
    assert len(generated.json()["uid"]) == 14


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (new_rule(title=""), "title is required"),
        (new_rule(folderUID=None), "folderUID is required"),
        (new_rule(condition="Z"), "condition Z does not exist"),
        (new_rule(data=[]), "no queries or expressions"),
        (new_rule(noDataState="Maybe"), "noDataState must be one of"),
        (new_rule(**{"for": "five minutes"}), "for: not a valid duration"),
        (new_rule(title="Worker down"), "rule title under the same organisation and folder"),
    ],
)
def test_invalid_alert_rules_are_400(
    client: TestClient, rule: dict[str, Any], message: str
) -> None:
    response = client.post("/api/v1/provisioning/alert-rules", json=rule)
    assert response.status_code == 400
    assert message in response.json()["message"]


def worker_down(value: str) -> tuple[int, Any]:
    series = {"metric": {"job": "worker", "instance": "w1"}, "value": [1700000000, value]}
    return 200, {"status": "success", "data": {"resultType": "vector", "result": [series]}}


def rule_entry(client: TestClient) -> dict[str, Any]:
    body = client.get("/api/prometheus/grafana/api/v1/rules").json()
    assert body["status"] == "success"
    (group,) = body["data"]["groups"]
    # Group and overall totals count rule states; a rule's totals count its instances.
    assert group["totals"] == body["data"]["totals"]
    assert group["totals"][group["rules"][0]["state"]] == 1
    # definitions/prom.go RuleGroup in 11.3: no folderUid (added to the API later).
    assert set(group) == {
        "name",
        "file",
        "rules",
        "totals",
        "interval",
        "lastEvaluation",
        "evaluationTime",
    }
    assert (group["name"], group["file"], group["interval"]) == (
        "pipeline",
        "Covenant alerts",
        30,
    )
    (rule,) = group["rules"]
    assert not {"uid", "folderUid", "isPaused"} & set(rule)  # not in 11.3's Rule either
    return dict(rule)


NEVER = "0001-01-01T00:00:00Z"  # Go's zero time: a rule not evaluated yet


def test_rule_evaluation_goes_pending_then_firing(
    client: TestClient, prometheus: StubServer, clock: Clock
) -> None:
    # schedule.go: rules are evaluated on the scheduler's ticks, never on read.
    before = rule_entry(client)
    assert (before["state"], before["health"], before["lastEvaluation"]) == (
        "inactive",
        "ok",
        NEVER,
    )
    assert prometheus.requests == []

    # eval.go: a query without series makes the evaluation NoData, labelled with the
    # query; noDataState NoData (the file provisioning default) keeps it as such.
    prometheus.routes["/api/v1/query"] = (
        200,
        {"status": "success", "data": {"resultType": "vector", "result": []}},
    )
    evaluate(client)
    method, path, params = prometheus.requests[-1]
    assert (method, path, params["query"]) == ("POST", "/api/v1/query", ['up{job="worker"} == 0'])
    quiet = rule_entry(client)
    assert (quiet["state"], quiet["health"], quiet["duration"]) == ("inactive", "nodata", 300)
    # Go's time.Time in JSON (RFC 3339, no zero fraction).
    assert quiet["lastEvaluation"] == "2023-11-14T22:13:20Z"
    (no_data,) = quiet["alerts"]
    assert no_data["state"] == "NoData"
    assert no_data["labels"] == {
        "datasource_uid": "prom",
        "ref_id": "A",
        "severity": "critical",
        "alertname": "Worker down",
        "grafana_folder": "Covenant alerts",
    }
    # state/compat.go: a NoData state goes to the Alertmanager as DatasourceNoData.
    (am_no_data,) = client.get("/api/alertmanager/grafana/api/v2/alerts").json()
    assert (am_no_data["labels"]["alertname"], am_no_data["labels"]["rulename"]) == (
        "DatasourceNoData",
        "Worker down",
    )

    # Two intervals later the series is back: it goes Pending for `for` (5m), and the
    # NoData instance, not evaluated for 2 intervals, is stale and removed.
    clock.now += 60
    prometheus.routes["/api/v1/query"] = worker_down("1")
    evaluate(client)
    pending = rule_entry(client)
    assert (pending["state"], pending["health"]) == ("pending", "ok")
    (alert,) = pending["alerts"]
    assert alert["state"] == "Pending"
    assert alert["value"] == "1e+00"
    assert alert["labels"] == {
        "job": "worker",
        "instance": "w1",
        "severity": "critical",
        "alertname": "Worker down",
        "grafana_folder": "Covenant alerts",
    }
    assert alert["annotations"] == {"summary": "{{ $labels.job }} is down"}
    assert client.get("/api/alertmanager/grafana/api/v2/alerts").json() == []

    clock.now += 299
    evaluate(client)
    assert rule_entry(client)["state"] == "pending"
    clock.now += 1
    evaluate(client)
    firing = rule_entry(client)
    assert firing["state"] == "firing"
    assert firing["alerts"][0]["state"] == "Alerting"
    assert firing["totals"] == {"alerting": 1}

    prom_alerts = client.get("/api/prometheus/grafana/api/v1/alerts").json()
    assert [a["state"] for a in prom_alerts["data"]["alerts"]] == ["Alerting"]

    (am_alert,) = client.get("/api/alertmanager/grafana/api/v2/alerts").json()
    assert set(am_alert) == {
        "annotations",
        "endsAt",
        "fingerprint",
        "receivers",
        "startsAt",
        "status",
        "updatedAt",
        "generatorURL",
        "labels",
    }
    assert am_alert["status"] == {"inhibitedBy": [], "silencedBy": [], "state": "active"}
    assert am_alert["labels"]["__alert_rule_uid__"] == "worker-down"
    # Alerting starts anew when the pending period is over: t0 + 60 s + 5 min.
    assert am_alert["startsAt"] == "2023-11-14T22:19:20.000Z"
    assert len(am_alert["fingerprint"]) == 16
    assert am_alert["generatorURL"].endswith("/alerting/grafana/worker-down/view?orgId=1")
    matched = client.get(
        "/api/alertmanager/grafana/api/v2/alerts", params={"filter": 'severity="critical"'}
    )
    assert len(matched.json()) == 1
    unmatched = client.get(
        "/api/alertmanager/grafana/api/v2/alerts", params={"filter": "severity=~warn.*"}
    )
    assert unmatched.json() == []

    clock.now += 30
    prometheus.routes["/api/v1/query"] = worker_down("0")
    evaluate(client)
    resolved = rule_entry(client)
    assert (resolved["state"], resolved["alerts"][0]["state"]) == ("inactive", "Normal")
    assert client.get("/api/alertmanager/grafana/api/v2/alerts").json() == []


def test_rule_evaluation_reports_an_unreachable_prometheus(provisioning: Path) -> None:
    app = create_grafana_app(
        prometheus_url=unreachable_url(), loki_url=None, provisioning_dir=provisioning
    )
    with TestClient(app) as client:
        # The scheduler's first tick evaluates every group as the app starts.
        def evaluated() -> dict[str, Any] | None:
            rule = rule_entry(client)
            return rule if rule["lastEvaluation"] != NEVER else None

        rule = wait_until(evaluated, timeout=10, what="the first rule evaluation")
        am_alerts = client.get("/api/alertmanager/grafana/api/v2/alerts").json()
    # The failed query is an Error result without labels (eval.go NewResultFromError);
    # execErrState defaults to Alerting for file-provisioned rules, so the instance goes
    # Pending for `for` with the reason Error (state/manager.go), keeping the error:
    # the rule's health is error with the query's error, and its totals count the error
    # too (api_prometheus.go toRuleGroup). The failed query's ref_id and datasource_uid
    # are annotations, not labels (state.go AddErrorInformation, grafana/grafana#91594).
    assert (rule["state"], rule["health"]) == ("pending", "error")
    (alert,) = rule["alerts"]
    assert alert["state"] == "Pending (Error)"
    assert alert["labels"] == {
        "severity": "critical",
        "alertname": "Worker down",
        "grafana_folder": "Covenant alerts",
    }
    assert alert["annotations"]["Error"] == rule["lastError"]
    assert (alert["annotations"]["ref_id"], alert["annotations"]["datasource_uid"]) == (
        "A",
        "prom",
    )
    assert alert["annotations"]["summary"] == "{{ $labels.job }} is down"
    assert alert["value"] == ""  # no values yet (state.go SetNextValues)
    assert rule["totals"] == {"pending": 1, "error": 1}
    assert rule["lastError"].startswith("[sse.dataQueryError] failed to execute query [A]: Post ")
    assert "/api/v1/query" in rule["lastError"]
    assert am_alerts == []  # a Pending state is not sent to the Alertmanager


def test_repository_provisioning_files_load(tmp_path: Path) -> None:
    grafana_dir = assets.root() / "grafana"
    app = create_grafana_app(
        prometheus_url="http://127.0.0.1:9090",
        loki_url="http://127.0.0.1:3100",
        alertmanager_url="http://127.0.0.1:9093",
        provisioning_dir=grafana_dir / "provisioning",
        dashboards_dir=grafana_dir / "dashboards",
    )
    with TestClient(app) as client:
        urls = {d["type"]: d["url"] for d in client.get("/api/datasources").json()}
        assert urls == {
            "prometheus": "http://127.0.0.1:9090",
            "loki": "http://127.0.0.1:3100",
            "alertmanager": "http://127.0.0.1:9093",
        }
        stack = client.get("/api/dashboards/uid/covenant-stack")
        assert stack.status_code == 200
        assert stack.json()["meta"]["provisionedExternalId"] == "covenant-stack.json"


def test_defaults_without_provisioning_files() -> None:
    app = create_grafana_app(prometheus_url="http://127.0.0.1:9090", loki_url=None)
    with TestClient(app) as client:
        listed = client.get("/api/datasources").json()
    assert [(d["uid"], d["name"], d["isDefault"]) for d in listed] == [
        ("prometheus", "Prometheus", True)
    ]


@pytest.mark.parametrize(
    ("relative", "content", "message"),
    [
        ("alerting/r.yaml", "groups: [{name: g, folder: f, rules: [{title: t}]}]", "no UID"),
        (
            "alerting/r.yaml",
            "groups: [{name: g, folder: f, rules: [{uid: u, title: t}]}]",
            "condition",
        ),
        ("datasources/d.yaml", "datasources: [{name: a}]", "a name and a type"),
        ("datasources/d.yaml", "datasources: [: bad", "not valid YAML"),
    ],
)
def test_provisioning_files_grafana_would_refuse(
    tmp_path: Path, relative: str, content: str, message: str
) -> None:
    path = tmp_path / relative
    path.parent.mkdir(parents=True)
    path.write_text(content)
    with pytest.raises(ProvisioningError, match=message):
        create_grafana_app(prometheus_url=None, loki_url=None, provisioning_dir=tmp_path)


# --- Grafana 11.3's scheduler, evaluation and state manager, in detail ---------------------


@pytest.fixture
def bare(tmp_path: Path, prometheus: StubServer, clock: Clock) -> Iterator[TestClient]:
    """The data sources only: each test creates its rules through the provisioning API
    (in a group of its own, evaluated every 60 s)."""
    (tmp_path / "datasources").mkdir()
    (tmp_path / "datasources" / "ds.yaml").write_text(DATASOURCES.replace("${EXTRA_URL}", "x"))
    app = create_grafana_app(
        prometheus_url=prometheus.url,
        loki_url=None,
        provisioning_dir=tmp_path,
        token=TOKEN,
        clock=clock,
        evaluate_on_timer=False,
    )
    with TestClient(app, headers=AUTH) as test_client:
        yield test_client


def prom_query(ref_id: str, expr: str, **model: Any) -> dict[str, Any]:
    return {
        "refId": ref_id,
        "datasourceUid": "prom",
        "relativeTimeRange": {"from": 300, "to": 0},
        "model": {"expr": expr, "instant": True, **model},
    }


def expression(ref_id: str, **model: Any) -> dict[str, Any]:
    return {"refId": ref_id, "datasourceUid": "__expr__", "model": {"refId": ref_id, **model}}


def vector(*series: tuple[dict[str, str], str]) -> tuple[int, Any]:
    result = [{"metric": labels, "value": [1700000000, value]} for labels, value in series]
    return 200, {"status": "success", "data": {"resultType": "vector", "result": result}}


FAILED = (400, {"status": "error", "errorType": "bad_data", "error": "boom"})


def create(client: TestClient, **rule: Any) -> None:
    """A rule through the provisioning API: by default, A is the instant query ``q``."""
    body = new_rule(**{"for": "0s", "labels": {}, "data": [prom_query("A", "q")], **rule})
    response = client.post("/api/v1/provisioning/alert-rules", json=body)
    assert response.status_code == 201, response.text


def rule_named(client: TestClient, title: str) -> dict[str, Any]:
    body = client.get("/api/prometheus/grafana/api/v1/rules").json()
    (rule,) = [r for g in body["data"]["groups"] for r in g["rules"] if r["name"] == title]
    return dict(rule)


def alerts_by_instance(client: TestClient, title: str) -> dict[str, dict[str, Any]]:
    """The rule's alerts in /rules by their ``instance`` label, after checking that
    /api/v1/alerts lists the same instances in the same states."""
    alerts = rule_named(client, title).get("alerts", [])
    listed = client.get("/api/prometheus/grafana/api/v1/alerts").json()["data"]["alerts"]
    mine = [a for a in listed if a["labels"]["alertname"] == title]
    assert sorted((a["state"], sorted(a["labels"].items())) for a in mine) == sorted(
        (a["state"], sorted(a["labels"].items())) for a in alerts
    )
    return {a["labels"].get("instance", ""): a for a in alerts}


class _Stop(Exception):
    """Ends the scheduler loop of a test."""


def test_rules_are_evaluated_on_a_timer_per_group_interval(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pkg/services/ngalert/schedule/schedule.go: each group is evaluated once per its
    # interval by the scheduler's ticker, whether or not anything reads the state.
    create(client, uid="slow", title="Slow", ruleGroup="other")  # a new group: 60 s
    app: Any = client.app
    alerting = app.state.alerting
    evaluated: list[tuple[float, list[str]]] = []
    elapsed = [0.0]

    async def record(rules: list[dict[str, Any]]) -> None:
        evaluated.append((elapsed[0], sorted(r["uid"] for r in rules)))

    monkeypatch.setattr(alerting, "_evaluate_rules", record)
    for path in ("/rules", "/alerts"):
        assert client.get(f"/api/prometheus/grafana/api/v1{path}").status_code == 200
    assert client.get("/api/alertmanager/grafana/api/v2/alerts").status_code == 200
    assert evaluated == []  # reading evaluates nothing

    async def sleep(seconds: float) -> None:
        elapsed[0] += seconds
        if elapsed[0] > 125:
            raise _Stop

    with pytest.raises(_Stop):
        asyncio.run(alerting.run(0.5, monotonic=lambda: 5_000 + elapsed[0], sleep=sleep))
    assert evaluated == [
        (0, ["slow", "worker-down"]),  # every group once at start
        (30, ["worker-down"]),  # "pipeline": interval 30s
        (60, ["slow", "worker-down"]),  # "other": 60 s
        (90, ["worker-down"]),
        (120, ["slow", "worker-down"]),
    ]


def test_every_query_runs_and_the_expressions_and_condition_are_honoured(
    bare: TestClient, prometheus: StubServer
) -> None:
    # eval.go: every query and expression of `data` runs, in dependency order; the
    # condition's refId (here D, not the last one) gives the results, one per series.
    prometheus.by_query["errors"] = (
        200,
        {
            "status": "success",
            "data": {
                "resultType": "matrix",
                "result": [
                    {"metric": {"instance": "w1"}, "values": [[1, "3"], [2, "2"], [3, "1"]]},
                    {"metric": {"instance": "w2"}, "values": [[1, "0"], [2, "0"], [3, "0"]]},
                ],
            },
        },
    )
    prometheus.by_query["limit"] = vector(({"instance": "w1"}, "1.5"), ({"instance": "w2"}, "1.5"))
    create(
        bare,
        title="Combined",
        condition="D",
        data=[
            prom_query("A", "errors", instant=False, range=True, intervalMs=60000),
            prom_query("B", "limit"),
            # mean, not last: w1 is 2 (its last value, 1, is under the limit)
            expression("C", type="reduce", expression="A", reducer="mean"),
            expression("D", type="math", expression="$C > $B"),
            # the opposite of D: were it the condition, w2 would fire
            expression(
                "E",
                type="threshold",
                expression="C",
                conditions=[{"evaluator": {"type": "lt", "params": [1]}}],
            ),
        ],
    )
    evaluate(bare)
    asked = {(path, params["query"][0]) for _, path, params in prometheus.requests}
    assert asked == {("/api/v1/query_range", "errors"), ("/api/v1/query", "limit")}
    alerts = alerts_by_instance(bare, "Combined")
    assert (alerts["w1"]["state"], alerts["w1"]["value"]) == ("Alerting", "1e+00")
    assert (alerts["w2"]["state"], alerts["w2"]["value"]) == ("Normal", "")
    assert rule_named(bare, "Combined")["query"] == "errors | limit"


def test_nodata_and_errors_are_what_eval_go_makes_of_the_queries(
    bare: TestClient, prometheus: StubServer
) -> None:
    empty = vector()
    prometheus.by_query.update(
        {"empty1": empty, "empty2": empty, "up": vector(({"instance": "w1"}, "1"))}
    )
    prometheus.by_query["broken"] = FAILED
    gt0 = [{"evaluator": {"type": "gt", "params": [0]}}]
    # Two queries of one data source without series: one NoData result for it, its
    # refIds comma-joined (eval.go datasourceUIDsToRefIDs).
    create(
        bare,
        uid="empty",
        title="Empty",
        condition="C",
        data=[
            prom_query("A", "empty1"),
            prom_query("B", "empty2"),
            expression("C", type="math", expression="$A + $B"),
        ],
    )
    # A failed query that the condition does not use is no Error (FindConditionError),
    # but its response has no frames: NoData for it (IsNoData).
    create(
        bare,
        uid="aside",
        title="Failure aside",
        condition="C",
        data=[
            prom_query("A", "up"),
            prom_query("B", "broken"),
            expression("C", type="threshold", expression="A", conditions=gt0),
        ],
    )
    # A failed query the condition depends on: one Error result without labels; with
    # execErrState Error the state is Error, and state.go AddErrorInformation adds the
    # query's ref_id and datasource_uid as labels and the error as an annotation.
    create(
        bare,
        uid="failing",
        title="Failing",
        condition="B",
        execErrState="Error",
        data=[
            prom_query("A", "broken"),
            expression("B", type="threshold", expression="A", conditions=gt0),
        ],
    )
    evaluate(bare)
    base = {"grafana_folder": "covenant-alerts"}
    (empty_alert,) = rule_named(bare, "Empty")["alerts"]
    assert (empty_alert["state"], empty_alert["labels"]) == (
        "NoData",
        {"datasource_uid": "prom", "ref_id": "A,B", "alertname": "Empty", **base},
    )
    aside = rule_named(bare, "Failure aside")
    assert [(a["state"], a["labels"]["ref_id"]) for a in aside["alerts"]] == [("NoData", "B")]
    assert (aside["health"], aside["state"]) == ("nodata", "inactive")
    failing = rule_named(bare, "Failing")
    (error,) = failing["alerts"]
    assert error["state"] == "Error"
    assert error["labels"] == {
        "alertname": "Failing",
        "ref_id": "A",
        "datasource_uid": "prom",
        **base,
    }
    assert error["annotations"] == {"Error": failing["lastError"]}
    assert failing["lastError"] == "[sse.dataQueryError] failed to execute query [A]: boom"
    assert (failing["health"], failing["totals"]) == ("error", {"error": 1})
    # state/compat.go errorAlert: an Error state goes to the Alertmanager as
    # DatasourceError with the rule's title in rulename and the error annotation.
    (am_error,) = [
        a
        for a in bare.get("/api/alertmanager/grafana/api/v2/alerts").json()
        if a["labels"].get("rulename") == "Failing"
    ]
    assert am_error["labels"]["alertname"] == "DatasourceError"
    assert am_error["labels"]["ref_id"] == "A"
    assert am_error["annotations"]["Error"] == failing["lastError"]


@pytest.mark.parametrize(
    ("setting", "mode", "first", "second", "health"),
    [
        # state.go resultNoData / resultError; manager.go setNextState: the result's state
        # as the reason when the state differs from it, ", KeepLast" appended when either
        # setting is KeepLast.
        ("noDataState", "Alerting", "Pending (NoData)", "Alerting (NoData)", "ok"),
        ("noDataState", "NoData", "NoData", "NoData", "nodata"),
        ("noDataState", "OK", "Normal (NoData)", "Normal (NoData)", "ok"),
        ("noDataState", "KeepLast", "Normal (NoData, KeepLast)", "Normal (NoData, KeepLast)", "ok"),
        ("execErrState", "Alerting", "Pending (Error)", "Alerting (Error)", "error"),
        ("execErrState", "Error", "Error", "Error", "error"),
        ("execErrState", "OK", "Normal (Error)", "Normal (Error)", "ok"),
        ("execErrState", "KeepLast", "Normal (Error, KeepLast)", "Normal (Error, KeepLast)", "ok"),
    ],
)
def test_nodata_and_exec_error_states(
    bare: TestClient,
    prometheus: StubServer,
    clock: Clock,
    setting: str,
    mode: str,
    first: str,
    second: str,
    health: str,
) -> None:
    prometheus.by_query["q"] = vector() if setting == "noDataState" else FAILED
    create(bare, title="Mapped", **{"for": "1m", setting: mode})
    shown = []
    for _ in range(2):  # `for` is 1m: Pending, then Alerting one interval later
        evaluate(bare)
        (alert,) = alerts_by_instance(bare, "Mapped").values()
        shown.append(alert["state"])
        clock.now += 60
    assert shown == [first, second]
    rule = rule_named(bare, "Mapped")
    assert rule["health"] == health
    assert rule["state"] == {"P": "pending", "A": "firing"}.get(second[0], "inactive")
    # Covenant's alert probe: Grafana's state, lowercased, starting with "alerting".
    firing = [
        a
        for a in bare.get("/api/prometheus/grafana/api/v1/alerts").json()["data"]["alerts"]
        if a["state"].lower().startswith(("firing", "alerting"))
    ]
    assert len(firing) == (second.startswith("Alerting"))


def up_series(*instances: str) -> tuple[int, Any]:
    return vector(*(({"instance": i}, "1") for i in instances))


def test_nodata_and_errors_apply_to_every_instance_of_the_rule(
    bare: TestClient, prometheus: StubServer, clock: Clock
) -> None:
    # manager.go setNextStateForRule: with noDataState / execErrState Alerting, OK or
    # KeepLast the NoData / Error result is applied to every instance the rule has
    # (setNextStateForAll, the alertingNoDataErrorExecution feature, on in 11.x).
    prometheus.by_query["q"] = vector(({"instance": "w1"}, "1"), ({"instance": "w2"}, "0"))
    create(bare, title="Spread", execErrState="Alerting", **{"for": "1m"})
    create(bare, title="Own", execErrState="Error", **{"for": "1m"})
    evaluate(bare)
    prometheus.by_query["q"] = FAILED
    clock.now += 60
    evaluate(bare)
    spread = alerts_by_instance(bare, "Spread")
    assert {k: a["state"] for k, a in spread.items()} == {
        "w1": "Alerting (Error)",  # Pending since the first evaluation: `for` is over
        "w2": "Pending (Error)",  # was Normal
    }
    clock.now += 60
    evaluate(bare)
    spread = alerts_by_instance(bare, "Spread")
    assert {k: a["state"] for k, a in spread.items()} == {
        "w1": "Alerting (Error)",
        "w2": "Alerting (Error)",  # its `for` is over too
    }
    assert spread["w1"]["value"] == "-1e+00"  # state.go SetNextValues: the sentinel
    # With execErrState Error a label-less instance of its own is created instead; the
    # series' instances, no longer evaluated, are stale two intervals on and gone.
    own = alerts_by_instance(bare, "Own")
    assert {k: a["state"] for k, a in own.items()} == {"": "Error"}


def test_missing_series_stay_one_interval_then_are_resolved(
    bare: TestClient, prometheus: StubServer, clock: Clock
) -> None:
    # manager.go deleteStaleStatesFromCache / stateIsStale: a series that stops coming
    # back keeps its state while lastEvaluation + 2 * interval > now, then is resolved as
    # Normal (MissingSeries) and deleted from the cache: no API lists it afterwards.
    prometheus.by_query["q"] = up_series("w1", "w2", "w3")
    create(bare, title="Series")
    evaluate(bare)
    assert {k: a["state"] for k, a in alerts_by_instance(bare, "Series").items()} == {
        "w1": "Alerting",
        "w2": "Alerting",
        "w3": "Alerting",
    }

    def am_instances() -> set[str]:
        alerts = bare.get("/api/alertmanager/grafana/api/v2/alerts").json()
        return {a["labels"]["instance"] for a in alerts}

    prometheus.by_query["q"] = up_series("w1")
    clock.now += 60  # one interval without w2 and w3: kept as they were
    evaluate(bare)
    assert {k: a["state"] for k, a in alerts_by_instance(bare, "Series").items()} == {
        "w1": "Alerting",
        "w2": "Alerting",
        "w3": "Alerting",
    }
    assert am_instances() == {"w1", "w2", "w3"}
    prometheus.by_query["q"] = up_series("w1", "w3")  # w3 is back in time
    clock.now += 60  # two intervals without w2: stale
    evaluate(bare)
    alerts = alerts_by_instance(bare, "Series")
    assert {k: a["state"] for k, a in alerts.items()} == {"w1": "Alerting", "w3": "Alerting"}
    assert am_instances() == {"w1", "w3"}
    listed = bare.get("/api/prometheus/grafana/api/v1/alerts").json()["data"]["alerts"]
    assert all("MissingSeries" not in a["state"] for a in listed)


def test_normal_instances_are_listed_and_states_reported_as_grafana_does(
    bare: TestClient, prometheus: StubServer, clock: Clock
) -> None:
    # api_prometheus.go toRuleGroup / PrepareAlertStatuses (11.3): every state of the
    # rule is listed, Normal ones included (alertingNoNormalState is off by default);
    # the alert's state is state.FormatStateAndReason ("Normal", "Alerting (NoData)"),
    # the rule's state is lowercase firing / pending / inactive and its totals count
    # instances by their lowercased state; alerts are sorted by importance
    # (definitions/prom.go AlertsByImportance: alerting, pending, error, nodata, normal;
    # a state with a reason is no known importance and comes first).
    prometheus.by_query["q"] = vector(
        ({"instance": "w1"}, "0"), ({"instance": "w2"}, "1"), ({"instance": "w3"}, "0")
    )
    create(bare, title="Mixed", noDataState="Alerting")
    evaluate(bare)
    rule = rule_named(bare, "Mixed")
    assert rule["state"] == "firing"
    assert rule["totals"] == rule["totalsFiltered"] == {"alerting": 1, "normal": 2}
    assert [(a["labels"]["instance"], a["state"]) for a in rule["alerts"]] == [
        ("w2", "Alerting"),
        ("w1", "Normal"),
        ("w3", "Normal"),
    ]
    assert rule["activeAt"] == "2023-11-14T22:13:20Z"
    listed = bare.get("/api/prometheus/grafana/api/v1/alerts").json()["data"]["alerts"]
    assert sorted(a["state"] for a in listed) == ["Alerting", "Normal", "Normal"]
    # Then no data: noDataState Alerting applies to every instance (for: 0s).
    prometheus.by_query["q"] = vector()
    clock.now += 60
    evaluate(bare)
    rule = rule_named(bare, "Mixed")
    assert [a["state"] for a in rule["alerts"]] == ["Alerting (NoData)"] * 3
    assert (rule["state"], rule["health"], rule["totals"]) == ("firing", "ok", {"alerting": 3})
    # The Alerting (NoData) instances go to the Alertmanager as the rule's own alerts.
    am = bare.get("/api/alertmanager/grafana/api/v2/alerts").json()
    assert sorted(a["labels"]["alertname"] for a in am) == ["Mixed"] * 3
