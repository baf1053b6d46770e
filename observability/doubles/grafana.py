"""An in-process double of the parts of Grafana's HTTP API that Covenant's checks use.

Data sources, dashboards and Grafana-managed alert rules come from provisioning files;
queries and data source health are answered by the real Prometheus and Loki behind the
data sources. Errors are JSON ``{"message": ...}`` as Grafana writes them. See
``_grafana_alerting`` for how alert rules are evaluated.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import os
import re
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from observability.doubles._common import rfc3339
from observability.doubles._grafana_alerting import AlertRules
from observability.doubles._grafana_credentials import public_view
from observability.doubles._grafana_provisioning import (
    RuleValidationError,
    load_alert_rules,
    load_dashboards,
    load_datasources,
    normalize_rule,
    slugify,
)
from observability.doubles._grafana_query import (
    QueryRequestError,
    check_health,
    public_error_body,
    run_queries,
)

__all__ = ["VERSION", "create_grafana_app"]

VERSION = "11.x-double"
COMMIT = "covenant-double"
# pkg/util/shortid_generator.go IsValidShortUID (the legacy pattern).
_SHORT_UID = re.compile(r"[a-zA-Z0-9\-_]*")
_MATCHER = re.compile(r'^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"?(.*?)"?\s*$')


def _message(status: int, message: str) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status)


def _matches(labels: dict[str, str], matchers: list[tuple[str, str, str]]) -> bool:
    for name, op, value in matchers:
        actual = labels.get(name, "")
        ok = actual == value if op in ("=", "!=") else re.fullmatch(value, actual) is not None
        if ok != (op in ("=", "=~")):
            return False
    return True


def create_grafana_app(
    *,
    prometheus_url: str | None,
    loki_url: str | None,
    alertmanager_url: str | None = None,
    provisioning_dir: Path | None = None,
    dashboards_dir: Path | None = None,
    token: str | None = None,
    clock: Callable[[], float] = time.time,
    evaluate_on_timer: bool = True,
) -> FastAPI:
    """The Grafana double. The URLs override those of provisioned data sources of their
    type (and create one when none is provisioned). With ``token`` every ``/api/*`` but
    ``/api/health`` needs ``Authorization: Bearer <token>``. ``clock`` (unix seconds)
    stamps alert evaluations. With ``evaluate_on_timer`` (the default) alert rules are
    evaluated in the background once per group interval while the app runs (its
    lifespan); without it only ``app.state.alerting.evaluate_all()`` evaluates. Raises
    ``ProvisioningError`` for files Grafana would refuse."""
    overrides = {
        kind: url
        for kind, url in (
            ("prometheus", prometheus_url),
            ("loki", loki_url),
            ("alertmanager", alertmanager_url),
        )
        if url
    }
    datasources = load_datasources(provisioning_dir, overrides, os.environ)
    dashboards = load_dashboards(dashboards_dir)
    rules, folders, intervals = load_alert_rules(provisioning_dir)
    alerting = AlertRules(rules, folders, intervals, clock=clock, datasources=datasources)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # pkg/services/ngalert/schedule/schedule.go: rules run on the scheduler's timer.
        task = asyncio.create_task(alerting.run()) if evaluate_on_timer else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app = FastAPI(
        title="Grafana double",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.alerting = alerting
    app.state.datasources = datasources

    @app.middleware("http")
    async def authenticate(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        path = request.url.path
        if token and path.startswith("/api/") and path != "/api/health":
            header = request.headers.get("authorization", "")
            scheme, _, given = header.partition(" ")
            if not header.strip():
                # pkg/middleware/auth.go notAuthorized with no token: errutil's public
                # error of pkg/services/authn "auth.unauthorized".
                return _public_error(401, "auth.unauthorized", "Unauthorized")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip(), token):
                # pkg/services/authn/clients/api_key.go errAPIKeyInvalid
                return _public_error(401, "api-key.invalid", "Invalid API key")
        return await call_next(request)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        return _message(exc.status_code, "Not found" if exc.status_code == 404 else str(exc.detail))

    async def json_body(request: Request) -> Any:
        try:
            return json.loads(await request.body())
        except ValueError:
            return None

    def datasource(uid: str) -> dict[str, Any] | None:
        return next((ds for ds in datasources if ds["uid"] == uid), None)

    @app.get("/api/health")
    async def health() -> Response:
        """Grafana HTTP API: `GET /api/health`
        (https://grafana.com/docs/grafana/latest/developers/http_api/other/#health-api)."""
        return JSONResponse({"commit": COMMIT, "database": "ok", "version": VERSION})

    @app.get("/api/datasources")
    async def list_datasources() -> Response:
        """Grafana HTTP API: `GET /api/datasources`
        (https://grafana.com/docs/grafana/latest/developers/http_api/data_source/#get-all-data-sources)."""
        omit = ("basicAuthUser", "withCredentials", "secureJsonFields", "version")
        return JSONResponse([public_view(ds, omit) for ds in datasources])

    @app.get("/api/datasources/uid/{uid}")
    async def get_datasource(uid: str) -> Response:
        """Grafana HTTP API: `GET /api/datasources/uid/:uid`
        (https://grafana.com/docs/grafana/latest/developers/http_api/data_source/#get-a-single-data-source-by-uid)."""
        found = datasource(uid)
        if found is None:
            return _message(404, "Data source not found")
        return JSONResponse(public_view(found, ("typeName",)))

    @app.get("/api/datasources/uid/{uid}/health")
    async def datasource_health(uid: str) -> Response:
        """Grafana HTTP API: `GET /api/datasources/uid/:uid/health`
        (https://grafana.com/docs/grafana/latest/developers/http_api/data_source/#check-data-source-health).
        As ``pkg/api/datasources.go`` CheckDatasourceHealthWithUID answers: a uid of
        other characters than ``pkg/util`` IsValidShortUID allows is 400 "UID is
        invalid", an unknown one 500 "Unable to load datasource metadata"; a data source
        whose plugin has no backend (alertmanager) is 500 ``plugin.unavailable``. A
        failed check is 400 with ``status: ERROR``; see ``check_health``."""
        if not _SHORT_UID.fullmatch(uid):
            return _message(400, "UID is invalid")
        found = datasource(uid)
        if found is None:
            return _message(500, "Unable to load datasource metadata")
        status, payload = await check_health(found)
        return JSONResponse(payload, status_code=status)

    @app.get("/api/search")
    async def search(request: Request) -> Response:
        """Grafana HTTP API: `GET /api/search`
        (https://grafana.com/docs/grafana/latest/developers/http_api/folder_dashboard_search/),
        with ``query``, ``type`` (``dash-db``, ``dash-folder``), ``tag``, ``dashboardUIDs``
        and ``limit``."""
        params = request.query_params
        text = params.get("query", "").lower()
        kind = params.get("type")
        tags = set(params.getlist("tag"))
        uids = {u for value in params.getlist("dashboardUIDs") for u in value.split(",") if u}
        hits: list[dict[str, Any]] = []
        if kind in (None, "", "dash-folder") and not tags and not uids:
            for uid, title in alerting.folders.items():
                if text in title.lower():
                    hits.append(_folder_hit(uid, title))
        if kind in (None, "", "dash-db"):
            for uid, entry in dashboards.items():
                model = entry["dashboard"]
                if text not in model["title"].lower() or not tags <= set(model.get("tags") or []):
                    continue
                if uids and uid not in uids:
                    continue
                hits.append(_dashboard_hit(entry))
        hits.sort(key=lambda h: (h["type"] != "dash-folder", h["title"].lower()))
        limit = int(params.get("limit") or 1000)
        return JSONResponse(hits[:limit])

    @app.get("/api/dashboards/uid/{uid}")
    async def get_dashboard(uid: str) -> Response:
        """Grafana HTTP API: `GET /api/dashboards/uid/:uid`
        (https://grafana.com/docs/grafana/latest/developers/http_api/dashboard/#get-dashboard-by-uid)."""
        entry = dashboards.get(uid)
        if entry is None:
            return _message(404, "Dashboard not found")
        return JSONResponse({"dashboard": entry["dashboard"], "meta": _dashboard_meta(entry)})

    @app.post("/api/ds/query")
    async def ds_query(request: Request) -> Response:
        """Grafana HTTP API: `POST /api/ds/query`
        (https://grafana.com/docs/grafana/latest/developers/http_api/data_source/#query-a-data-source).
        PromQL is forwarded to Prometheus, LogQL to Loki; answers are data frames per
        ``refId``; 400 with the per-query errors when one failed. An empty body binds
        to an empty request (``web.Bind`` ignores EOF): no queries."""
        body = await json_body(request) if (await request.body()).strip() else {}
        try:
            status, payload = await run_queries(body, datasources)
        except QueryRequestError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        return JSONResponse(payload, status_code=status)

    @app.get("/api/prometheus/grafana/api/v1/rules")
    async def prometheus_rules() -> Response:
        """Grafana-managed rules in the Prometheus rules shape (Prometheus HTTP API,
        https://prometheus.io/docs/prometheus/latest/querying/api/#rules, as Grafana 11.3
        extends it: ``totals``, ``totalsFiltered``, every instance in ``alerts``, Normal
        ones included; ``pkg/services/ngalert/api/prometheus/api_prometheus.go``): the
        state of the last timed evaluation."""
        return JSONResponse(alerting.prometheus_rules())

    @app.get("/api/prometheus/grafana/api/v1/alerts")
    async def prometheus_alerts() -> Response:
        """Grafana-managed alert instances in the Prometheus alerts shape (Prometheus HTTP
        API, https://prometheus.io/docs/prometheus/latest/querying/api/#alerts); Grafana's
        states with their reasons, Normal instances included."""
        return JSONResponse(alerting.prometheus_alerts())

    @app.get("/api/alertmanager/grafana/api/v2/alerts")
    async def alertmanager_alerts(request: Request) -> Response:
        """Grafana's built-in Alertmanager, Alertmanager API v2 `GET /api/v2/alerts`
        (https://github.com/prometheus/alertmanager/blob/main/api/v2/openapi.yaml):
        the Alerting instances; ``filter`` label matchers and ``active`` honoured."""
        matchers: list[tuple[str, str, str]] = []
        for raw in request.query_params.getlist("filter"):
            match = _MATCHER.match(raw)
            if match is None:
                return _message(400, f"bad matcher format: {raw}")
            name, op, value = match.groups()
            if op in ("=~", "!~"):
                try:
                    re.compile(value)
                except re.error as exc:
                    return _message(400, f"bad matcher format: {raw}: {exc}")
            matchers.append((name, op, value))
        if request.query_params.get("active", "true").lower() == "false":
            return JSONResponse([])
        alerts = alerting.alertmanager_alerts(str(request.base_url))
        return JSONResponse([a for a in alerts if _matches(a["labels"], matchers)])

    @app.get("/api/v1/provisioning/alert-rules")
    async def list_rules() -> Response:
        """Alerting provisioning HTTP API: `GET /api/v1/provisioning/alert-rules`
        (https://grafana.com/docs/grafana/latest/developers/http_api/alerting_provisioning/#alert-rules)."""
        return JSONResponse(list(alerting.rules.values()))

    @app.get("/api/v1/provisioning/alert-rules/{uid}")
    async def get_rule(uid: str) -> Response:
        """Alerting provisioning HTTP API: `GET /api/v1/provisioning/alert-rules/:uid`;
        404 with an empty body when missing, as Grafana answers."""
        rule = alerting.rules.get(uid)
        return Response(status_code=404) if rule is None else JSONResponse(rule)

    async def store_rule(request: Request, uid: str | None) -> Response:
        body = await json_body(request)
        if uid is not None and isinstance(body, dict):
            body = {**body, "uid": uid}
        provenance = "" if "x-disable-provenance" in request.headers else "api"
        existing = alerting.rules.get(uid) if uid else None
        rule_id = existing["id"] if existing else alerting.next_id
        try:
            rule = normalize_rule(body, provenance=provenance, rule_id=rule_id)
        except RuleValidationError as exc:
            return _message(400, str(exc))
        if uid is None and rule["uid"] in alerting.rules:
            return _message(400, f"a conflicting alert rule is found: uid {rule['uid']} exists")
        if alerting.title_taken(rule):
            return _message(
                400,
                "a conflicting alert rule is found: rule title under the same organisation "
                "and folder should be unique",
            )
        if uid is None:
            alerting.next_id += 1
        stored = alerting.put(rule)
        return JSONResponse(stored, status_code=200 if uid else 201)

    @app.post("/api/v1/provisioning/alert-rules")
    async def create_rule(request: Request) -> Response:
        """Alerting provisioning HTTP API: `POST /api/v1/provisioning/alert-rules`; 201
        with the stored rule, 400 ``{"message": ...}`` when invalid. The folder need not
        exist (the double has no folder API): an unknown ``folderUID`` becomes a folder
        titled with it."""
        return await store_rule(request, None)

    @app.put("/api/v1/provisioning/alert-rules/{uid}")
    async def replace_rule(uid: str, request: Request) -> Response:
        """Alerting provisioning HTTP API: `PUT /api/v1/provisioning/alert-rules/:uid`;
        200 with the stored rule, 404 when missing. File-provisioned rules may be
        replaced too (Grafana would refuse a provenance change)."""
        if uid not in alerting.rules:
            return Response(status_code=404)
        return await store_rule(request, uid)

    @app.delete("/api/v1/provisioning/alert-rules/{uid}")
    async def delete_rule(uid: str) -> Response:
        """Alerting provisioning HTTP API: `DELETE /api/v1/provisioning/alert-rules/:uid`;
        204 whether or not it existed."""
        alerting.delete(uid)
        return Response(status_code=204)

    return app


def _public_error(status: int, message_id: str, message: str) -> JSONResponse:
    """An errutil public error as ``pkg/util/errhttp`` writes it."""
    return JSONResponse(public_error_body(status, message_id, message), status_code=status)


def _folder_hit(uid: str, title: str) -> dict[str, Any]:
    slug = slugify(title)
    return {
        "id": 10_000 + zlib.crc32(uid.encode()) % 90_000,  # stable; dashboards count from 1
        "uid": uid,
        "orgId": 1,
        "title": title,
        "uri": f"db/{slug}",
        "url": f"/dashboards/f/{uid}/{slug}",
        "slug": "",
        "type": "dash-folder",
        "tags": [],
        "isStarred": False,
        "sortMeta": 0,
    }


def _dashboard_hit(entry: dict[str, Any]) -> dict[str, Any]:
    model = entry["dashboard"]
    slug = slugify(model["title"])
    return {
        "id": entry["id"],
        "uid": model["uid"],
        "orgId": 1,
        "title": model["title"],
        "uri": f"db/{slug}",
        "url": f"/d/{model['uid']}/{slug}",
        "slug": "",
        "type": "dash-db",
        "tags": list(model.get("tags") or []),
        "isStarred": False,
        "sortMeta": 0,
    }


def _dashboard_meta(entry: dict[str, Any]) -> dict[str, Any]:
    model = entry["dashboard"]
    slug = slugify(model["title"])
    loaded = rfc3339(time.time())
    return {
        "type": "db",
        "canSave": True,
        "canEdit": True,
        "canAdmin": True,
        "canStar": True,
        "canDelete": True,
        "slug": slug,
        "url": f"/d/{model['uid']}/{slug}",
        "expires": "0001-01-01T00:00:00Z",
        "created": loaded,
        "updated": loaded,
        "updatedBy": "Anonymous",
        "createdBy": "Anonymous",
        "version": model["version"],
        "hasAcl": False,
        "isFolder": False,
        "folderId": 0,
        "folderUid": "",
        "folderTitle": "General",
        "folderUrl": "",
        "provisioned": True,
        "provisionedExternalId": entry["file"],
        "annotationsPermissions": {
            "dashboard": {"canAdd": True, "canEdit": True, "canDelete": True},
            "organization": {"canAdd": True, "canEdit": True, "canDelete": True},
        },
    }
