"""Grafana 11/12 HTTP API conformance: each case a request and the answer Grafana gives,
with the documentation section (docs/sources/developers/http_api/, "the HTTP API docs")
or the source file of grafana/grafana it comes from.

Errors come in two shapes: ``pkg/api/response`` ``Error`` writes ``{"message": ...}``
(plus ``traceID``, and ``error`` outside production), and errutil errors
(``pkg/apimachinery/errutil`` ``Error.Public``, written by ``ErrOrFallback`` /
``WriteErrOrFallback``) ``{"message", "messageId", "statusCode"}`` (plus ``traceID``)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conformance.grafana.conftest import (
    ALERTMANAGER_UID,
    DASHBOARDS,
    DB_ERRORS_RULE,
    LOKI_UID,
    MISSING_UID,
    PROMETHEUS_UID,
    RULE_FOLDER,
    RULE_GROUP,
    RULE_GROUP_INTERVAL_S,
    STALLED_RULE,
    Grafana,
)
from tests.conftest import wait_until

NEVER = "0001-01-01T00:00:00Z"  # Go's zero time.Time: a rule not evaluated yet
PROMETHEUS_ERROR = " - There was an error returned querying the Prometheus API."
# Alertmanager API v2 (api/v2/openapi.yaml, gettableAlert): the required fields.
GETTABLE_ALERT_KEYS = {
    "annotations",
    "endsAt",
    "fingerprint",
    "receivers",
    "startsAt",
    "status",
    "updatedAt",
    "labels",
}


def _public_error(response: httpx.Response) -> dict[str, Any]:
    """An errutil public error without its ``traceID`` (empty unless tracing is on)."""
    body: dict[str, Any] = response.json()
    assert isinstance(body.pop("traceID", ""), str)
    return body


def _prometheus_query(expr: str, uid: str = PROMETHEUS_UID) -> dict[str, Any]:
    return {
        "from": "now-5m",
        "to": "now",
        "queries": [
            {
                "refId": "A",
                "datasource": {"type": "prometheus", "uid": uid},
                "expr": expr,
                "instant": True,
                "range": False,
                "intervalMs": 15000,
                "maxDataPoints": 100,
            }
        ],
    }


# --- health and authentication --------------------------------------------------------


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-grafana-token"])
def test_health_is_open(grafana: Grafana, authorization: str | None) -> None:
    # pkg/api/http_server.go apiHealthHandler: served ahead of authentication,
    # {"database": "ok", "version": ..., "commit": ...} (version and commit unless
    # [auth.anonymous] hide_version); pkg/api/health.go databaseHealthy ("failing", 503).
    headers = {"Authorization": authorization} if authorization else {}
    response = grafana.client.get("/api/health", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["database"] == "ok"
    assert isinstance(body["version"], str) and body["version"]
    assert isinstance(body["commit"], str) and body["commit"]


def test_missing_token_is_401_unauthorized(grafana: Grafana) -> None:
    # pkg/services/authn/authnimpl/service.go: no client can authenticate the request,
    # errCantAuthenticateReq = errutil.Unauthorized("auth.unauthorized") (public message:
    # the status, "Unauthorized"); pkg/middleware/auth.go notAuthorized writes it with
    # WriteErrOrFallback.
    response = grafana.client.get(f"/api/datasources/uid/{PROMETHEUS_UID}")
    assert response.status_code == 401
    assert _public_error(response) == {
        "message": "Unauthorized",
        "messageId": "auth.unauthorized",
        "statusCode": 401,
    }


def test_wrong_token_is_401_invalid_api_key(grafana: Grafana) -> None:
    # pkg/services/authn/clients/api_key.go: a bearer token that does not decode as a
    # key is errAPIKeyInvalid, errutil.Unauthorized("api-key.invalid",
    # WithPublicMessage("Invalid API key")).
    response = grafana.client.get(
        f"/api/datasources/uid/{PROMETHEUS_UID}",
        headers={"Authorization": "Bearer not-a-grafana-token"},
    )
    assert response.status_code == 401
    assert _public_error(response) == {
        "message": "Invalid API key",
        "messageId": "api-key.invalid",
        "statusCode": 401,
    }


# --- data sources ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uid", "name", "kind"),
    [
        (PROMETHEUS_UID, "Prometheus", "prometheus"),
        (LOKI_UID, "Loki", "loki"),
        (ALERTMANAGER_UID, "Alertmanager", "alertmanager"),
    ],
)
def test_datasource_by_uid(grafana: Grafana, uid: str, name: str, kind: str) -> None:
    # The HTTP API docs, data_source.md "Get a single data source by UID";
    # pkg/api/datasources.go GetDataSourceByUID / convertModelToDtos: secrets only as
    # secureJsonFields flags; provisioned with editable: false, so readOnly.
    response = grafana.get(f"/api/datasources/uid/{uid}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["uid"], body["name"], body["type"]) == (uid, name, kind)
    assert body["access"] == "proxy"
    assert body["readOnly"] is True
    assert body["isDefault"] is (uid == PROMETHEUS_UID)
    assert "secureJsonData" not in body
    assert all(flag is True for flag in body["secureJsonFields"].values())


def test_prometheus_datasource_settings(grafana: Grafana) -> None:
    # observability/grafana/provisioning/datasources/datasources.yml, as
    # pkg/api/datasources.go convertModelToDtos returns it.
    body = grafana.get(f"/api/datasources/uid/{PROMETHEUS_UID}").json()
    assert body["basicAuth"] is True
    assert body["jsonData"]["timeInterval"] == "15s"


def test_unknown_datasource_is_404(grafana: Grafana) -> None:
    # pkg/api/datasources.go GetDataSourceByUID: ErrDataSourceNotFound ->
    # response.Error(404, "Data source not found").
    response = grafana.get(f"/api/datasources/uid/{MISSING_UID}")
    assert response.status_code == 404
    assert response.json()["message"] == "Data source not found"


def test_prometheus_datasource_health(grafana: Grafana) -> None:
    # The HTTP API docs, data_source.md "Check data source health"; pkg/api/datasources.go
    # checkDatasourceHealth: {"status", "message"[, "details"]}, 200 when OK, else 400.
    # pkg/promlib/healthcheck.go: an instant query of 1+1; getHealthCheckMessage words a
    # failure "<error> - There was an error returned querying the Prometheus API.".
    response = grafana.get(f"/api/datasources/uid/{PROMETHEUS_UID}/health")
    body = response.json()
    if grafana.prometheus_up:
        assert response.status_code == 200, response.text
        assert body["status"] == "OK"
        assert body["message"] == "Successfully queried the Prometheus API."
    else:
        assert response.status_code == 400, response.text
        assert body["status"] == "ERROR"
        assert body["message"].endswith(PROMETHEUS_ERROR)
        assert len(body["message"]) > len(PROMETHEUS_ERROR)  # the error comes first


def test_unknown_datasource_health_is_500(grafana: Grafana) -> None:
    # pkg/api/datasources.go CheckDatasourceHealthWithUID: the data source cache cannot
    # find the uid -> response.Error(500, "Unable to load datasource metadata").
    response = grafana.get(f"/api/datasources/uid/{MISSING_UID}/health")
    assert response.status_code == 500
    assert response.json()["message"] == "Unable to load datasource metadata"


def test_invalid_datasource_uid_health_is_400(grafana: Grafana) -> None:
    # pkg/api/datasources.go CheckDatasourceHealthWithUID: before any lookup, a uid that
    # pkg/util IsValidShortUID refuses (other characters than letters, digits, '-' and
    # '_') -> response.Error(400, "UID is invalid").
    response = grafana.get("/api/datasources/uid/not.a.uid/health")
    assert response.status_code == 400
    assert response.json()["message"] == "UID is invalid"


def test_alertmanager_datasource_health_is_plugin_unavailable(grafana: Grafana) -> None:
    # public/app/plugins/datasource/alertmanager/plugin.json declares no backend, so
    # pkg/plugins/plugins.go Plugin.CheckHealth answers ErrPluginUnavailable
    # (pkg/plugins/errors.go: errutil.Internal("plugin.unavailable",
    # WithPublicMessage("Plugin unavailable"))), written by pkg/api/plugins.go
    # translatePluginRequestErrorToAPIError (ErrOrFallback). Reported in
    # grafana/grafana#83794 with this body.
    response = grafana.get(f"/api/datasources/uid/{ALERTMANAGER_UID}/health")
    assert response.status_code == 500
    assert _public_error(response) == {
        "message": "Plugin unavailable",
        "messageId": "plugin.unavailable",
        "statusCode": 500,
    }


# --- dashboards -----------------------------------------------------------------------


def test_search_finds_the_provisioned_dashboards(grafana: Grafana) -> None:
    # The HTTP API docs, folder_dashboard_search.md "Search folders and dashboards":
    # query matches titles, type=dash-db only dashboards; each hit has uid, title, type,
    # url (/d/<uid>/<slug>) and tags. The provisioned dashboards are in General (no
    # folder fields).
    response = grafana.get("/api/search", type="dash-db", query="Covenant")
    assert response.status_code == 200, response.text
    hits = {hit["uid"]: hit for hit in response.json()}
    for uid in ("covenant", "covenant-stack"):
        hit = hits[uid]
        assert hit["title"] == DASHBOARDS[uid]
        assert hit["type"] == "dash-db"
        # url is under the server's sub path, if it has one (root_url).
        assert hit["url"].endswith(f"/d/{uid}/{DASHBOARDS[uid].lower().replace(' ', '-')}")
        assert "covenant" in hit["tags"]
    assert "event-pipeline" not in hits  # "Event pipeline" does not match the query


def test_search_by_dashboard_uid(grafana: Grafana) -> None:
    # folder_dashboard_search.md: dashboardUIDs restricts the hits to those dashboards.
    response = grafana.get("/api/search", dashboardUIDs="event-pipeline")
    assert response.status_code == 200, response.text
    assert [(hit["uid"], hit["title"]) for hit in response.json()] == [
        ("event-pipeline", DASHBOARDS["event-pipeline"])
    ]


def test_dashboard_by_uid(grafana: Grafana) -> None:
    # The HTTP API docs, dashboard.md "Get dashboard by uid": {"dashboard": model,
    # "meta": {...}}; pkg/api/dashboard.go GetDashboard sets meta.provisioned for a
    # file-provisioned dashboard.
    response = grafana.get("/api/dashboards/uid/covenant-stack")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["dashboard"]["uid"] == "covenant-stack"
    assert body["dashboard"]["title"] == DASHBOARDS["covenant-stack"]
    meta = body["meta"]
    assert meta["provisioned"] is True
    assert meta["slug"] == "covenant-stack"
    assert meta["url"].endswith("/d/covenant-stack/covenant-stack")


def test_unknown_dashboard_is_404(grafana: Grafana) -> None:
    # pkg/api/dashboard.go getDashboardHelper: response.Error(404, "Dashboard not found").
    response = grafana.get(f"/api/dashboards/uid/{MISSING_UID}")
    assert response.status_code == 404
    assert response.json()["message"] == "Dashboard not found"


# --- POST /api/ds/query ---------------------------------------------------------------


def test_ds_query_of_prometheus(grafana: Grafana) -> None:
    # The HTTP API docs, data_source.md "Query a data source": {"results": {refId:
    # {"frames": [...]}}}. pkg/api/ds_query.go toJsonStreamingResponse: 200, or 400 when
    # a query failed (without the datasourceQueryMultiStatus feature).
    # pkg/promlib/querydata/request.go instantQuery: a request to Prometheus that got no
    # answer is a DataResponse with the Go client's error ("Post \"<url>\": ...", POST
    # being the default httpMethod) and status 502 (StatusBadGateway).
    response = grafana.post("/api/ds/query", json=_prometheus_query("1+1"))
    result = response.json()["results"]["A"]
    if grafana.prometheus_up:
        assert response.status_code == 200, response.text
        frame = result["frames"][0]
        assert frame["schema"]["refId"] == "A"
        assert frame["data"]["values"][-1] == [2]
    else:
        assert response.status_code == 400, response.text
        assert result["status"] == 502
        assert result["error"].startswith('Post "')
        assert "/api/v1/query" in result["error"]
        assert not result.get("frames")


def test_ds_query_of_an_unknown_datasource_is_404(grafana: Grafana) -> None:
    # pkg/api/ds_query.go handleQueryMetricsError: ErrDataSourceNotFound ->
    # response.Error(404, "Data source not found").
    response = grafana.post("/api/ds/query", json=_prometheus_query("1+1", uid=MISSING_UID))
    assert response.status_code == 404
    assert response.json()["message"] == "Data source not found"


def test_ds_query_malformed_body_is_400(grafana: Grafana) -> None:
    # pkg/api/ds_query.go QueryMetricsV2: web.Bind fails -> response.Error(400,
    # "bad request data").
    response = grafana.post(
        "/api/ds/query", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["message"] == "bad request data"


def test_ds_query_without_queries_is_400(grafana: Grafana) -> None:
    # pkg/services/query/errors.go ErrNoQueriesFound: errutil.BadRequest("query.noQueries",
    # WithPublicMessage("No queries found")).
    response = grafana.post("/api/ds/query", json={"from": "now-5m", "to": "now", "queries": []})
    assert response.status_code == 400
    assert _public_error(response) == {
        "message": "No queries found",
        "messageId": "query.noQueries",
        "statusCode": 400,
    }


# --- Grafana-managed alerting ---------------------------------------------------------


def _rule_group(grafana: Grafana) -> dict[str, Any]:
    response = grafana.get("/api/prometheus/grafana/api/v1/rules")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success"
    groups = [
        g for g in body["data"]["groups"] if (g["file"], g["name"]) == (RULE_FOLDER, RULE_GROUP)
    ]
    assert len(groups) == 1, body["data"]["groups"]
    return dict(groups[0])


def _rule(grafana: Grafana, name: str) -> dict[str, Any]:
    (rule,) = [r for r in _rule_group(grafana)["rules"] if r["name"] == name]
    return dict(rule)


def test_rules_in_the_prometheus_shape(grafana: Grafana) -> None:
    # pkg/services/ngalert/api/tooling/definitions/prom.go RuleResponse: {"status":
    # "success", "data": {"groups": [RuleGroup]}}; a group's file is its folder's title,
    # its interval in seconds; AlertingRule: state inactive/pending/firing, health,
    # type "alerting", duration (the rule's `for`, omitempty), labels, alerts
    # (omitempty). Built by pkg/services/ngalert/api/prometheus/api_prometheus.go.
    group = _rule_group(grafana)
    assert group["interval"] == RULE_GROUP_INTERVAL_S
    assert isinstance(group["evaluationTime"], int | float)
    rules = {rule["name"]: rule for rule in group["rules"]}
    assert set(rules) == {STALLED_RULE, DB_ERRORS_RULE}
    for rule in rules.values():
        assert rule["type"] == "alerting"
        assert rule["state"] in {"inactive", "pending", "firing"}
        assert rule["health"] in {"ok", "error", "nodata", "unknown"}
        assert isinstance(rule["query"], str) and rule["query"]
        assert isinstance(rule["lastEvaluation"], str)
        assert isinstance(rule["evaluationTime"], int | float)
        for alert in rule.get("alerts", []):
            assert {"labels", "annotations", "state", "activeAt", "value"} <= set(alert)
    assert rules[STALLED_RULE]["duration"] == 10
    assert "duration" not in rules[DB_ERRORS_RULE]  # for: 0s
    assert rules[STALLED_RULE]["labels"] == {"severity": "critical", "service": "event-worker"}


def test_rules_are_evaluated_on_the_scheduler(grafana: Grafana) -> None:
    # pkg/services/ngalert/schedule/schedule.go evaluates each group once per interval
    # (10s here). api_prometheus.go toRuleGroup: health "error" with lastError when the
    # evaluation failed (execErrState: Error makes the state Error), "ok" otherwise (the
    # query ends in `or on () vector(0)`, so it is never empty).
    def evaluated() -> dict[str, Any] | None:
        rule = _rule(grafana, STALLED_RULE)
        return rule if rule["lastEvaluation"] != NEVER else None

    rule = wait_until(evaluated, timeout=3 * RULE_GROUP_INTERVAL_S, what="an evaluation")
    if grafana.prometheus_up:
        assert rule["health"] == "ok", rule
    else:
        assert rule["health"] == "error", rule
        assert rule["lastError"]


def _prometheus_alerts(grafana: Grafana) -> list[dict[str, Any]]:
    response = grafana.get("/api/prometheus/grafana/api/v1/alerts")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success"
    alerts: list[dict[str, Any]] = body["data"]["alerts"]
    for alert in alerts:
        assert {"labels", "annotations", "state", "activeAt", "value"} <= set(alert), alert
    return alerts


def test_alerts_in_the_prometheus_shape(grafana: Grafana) -> None:
    # prom.go AlertResponse: {"status": "success", "data": {"alerts": [Alert]}}, each
    # with labels, annotations, state (state.FormatStateAndReason), activeAt, value.
    # With Prometheus unreachable the rule's instance is in state Error (execErrState).
    if grafana.prometheus_up:
        _prometheus_alerts(grafana)
        return

    def error_instance() -> list[dict[str, Any]]:
        return [
            alert
            for alert in _prometheus_alerts(grafana)
            if alert["labels"].get("alertname") == STALLED_RULE
            and alert["state"].startswith("Error")
        ]

    wait_until(error_instance, timeout=3 * RULE_GROUP_INTERVAL_S, what="the Error instance")


def _alertmanager_alerts(grafana: Grafana) -> list[dict[str, Any]]:
    response = grafana.get("/api/alertmanager/grafana/api/v2/alerts")
    assert response.status_code == 200, response.text
    alerts = response.json()
    assert isinstance(alerts, list)
    for alert in alerts:
        assert set(alert) >= GETTABLE_ALERT_KEYS, alert
    return alerts


def test_alertmanager_alerts(grafana: Grafana) -> None:
    # Grafana's Alertmanager, GET /api/v2/alerts (Alertmanager api/v2/openapi.yaml,
    # gettableAlerts): a list. pkg/services/ngalert/state/compat.go errorAlert: an Error
    # state is sent as alertname "DatasourceError" with the rule's title in "rulename".
    if grafana.prometheus_up:
        _alertmanager_alerts(grafana)
        return

    def datasource_error() -> list[dict[str, Any]]:
        return [
            alert
            for alert in _alertmanager_alerts(grafana)
            if alert["labels"].get("alertname") == "DatasourceError"
            and alert["labels"].get("rulename") == STALLED_RULE
        ]

    wait_until(datasource_error, timeout=3 * RULE_GROUP_INTERVAL_S, what="a DatasourceError alert")
