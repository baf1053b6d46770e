"""Loading Grafana provisioning files, and the alert rule shape shared with the HTTP API.

Formats followed:

* data sources: https://grafana.com/docs/grafana/latest/administration/provisioning/#data-sources
  (``apiVersion: 1``, ``datasources: [...]``, ``$VAR`` / ``${VAR}`` interpolation of every
  string value, ``$$`` for a literal ``$``);
* alert rules: https://grafana.com/docs/grafana/latest/alerting/set-up/provision-alerting-resources/file-provisioning/
  (``groups: [{orgId, name, folder, interval, rules}]``). Like Grafana, environment
  variables are interpolated in names, titles and labels but not in annotations or query
  models, which hold ``$labels``-style templates;
* the alert rule JSON of the provisioning HTTP API:
  https://grafana.com/docs/grafana/latest/developers/http_api/alerting_provisioning/#provisionedalertrule
"""

from __future__ import annotations

import json
import os
import re
import secrets
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from observability.doubles._common import format_prom_duration, parse_prom_duration
from observability.doubles._grafana_credentials import SECURE_KEY

__all__ = [
    "ProvisioningError",
    "RuleValidationError",
    "interpolate_env",
    "load_alert_rules",
    "load_dashboards",
    "load_datasources",
    "normalize_rule",
    "slugify",
]

_ENV_RE = re.compile(r"\$\$|\$\{([^}]*)\}|\$([a-zA-Z_][a-zA-Z0-9_]*)")
_UID_RE = re.compile(r"^[a-zA-Z0-9\-_]{1,40}$")
NO_DATA_STATES = ("Alerting", "NoData", "OK", "KeepLast")
EXEC_ERR_STATES = ("OK", "Alerting", "Error", "KeepLast")
TYPE_NAMES = {"prometheus": "Prometheus", "loki": "Loki", "alertmanager": "Alertmanager"}


class ProvisioningError(ValueError):
    """A provisioning file Grafana would refuse; the message names the file."""


class RuleValidationError(ValueError):
    """An alert rule the provisioning API answers 400 for."""


def interpolate_env(value: Any, env: Mapping[str, str]) -> Any:
    """Grafana's provisioning interpolation: ``$VAR``/``${VAR}`` in every string (unset
    variables become empty), ``$$`` a literal dollar."""
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            if match.group() == "$$":
                return "$"
            return env.get(match.group(1) or match.group(2), "")

        return _ENV_RE.sub(replace, value)
    if isinstance(value, list):
        return [interpolate_env(v, env) for v in value]
    if isinstance(value, dict):
        return {k: interpolate_env(v, env) for k, v in value.items()}
    return value


def slugify(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def _yaml_files(directory: Path) -> list[Path]:
    return sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ProvisioningError(f"{path.name}: not valid YAML: {exc}") from None
    if not isinstance(document, dict):
        raise ProvisioningError(f"{path.name}: expected a mapping at the top level")
    return document


def load_datasources(
    provisioning_dir: Path | None, url_overrides: Mapping[str, str], env: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Provisioned data sources in the ``GET /api/datasources/uid/:uid`` shape.

    ``url_overrides`` maps a type (prometheus, loki, alertmanager) to the URL every data
    source of that type gets; a type with an override but no provisioned data source
    gets one named after the type, with the type as uid."""
    raw: list[tuple[str, dict[str, Any]]] = []
    directory = provisioning_dir / "datasources" if provisioning_dir else None
    for path in _yaml_files(directory) if directory and directory.is_dir() else []:
        document = interpolate_env(_load_yaml(path), env)
        entries = document.get("datasources") or []
        if not isinstance(entries, list):
            raise ProvisioningError(f"{path.name}: datasources must be a list")
        raw.extend((path.name, entry) for entry in entries)
    for kind in url_overrides:
        if not any(isinstance(e, dict) and e.get("type") == kind for _, e in raw):
            raw.append(("(command line)", {"name": TYPE_NAMES[kind], "type": kind, "uid": kind}))
    datasources: list[dict[str, Any]] = []
    for index, (source, entry) in enumerate(raw, start=1):
        if not isinstance(entry, dict) or not entry.get("name") or not entry.get("type"):
            raise ProvisioningError(f"{source}: every data source needs a name and a type")
        kind = str(entry["type"])
        datasources.append(
            {
                "id": index,
                "uid": str(entry.get("uid") or slugify(str(entry["name"]))),
                "orgId": int(entry.get("orgId", 1)),
                "name": str(entry["name"]),
                "type": kind,
                "typeName": TYPE_NAMES.get(kind, kind),
                "typeLogoUrl": f"public/app/plugins/datasource/{kind}/img/logo.svg",
                "access": str(entry.get("access", "proxy")),
                "url": url_overrides.get(kind, str(entry.get("url", ""))),
                "user": str(entry.get("user", "")),
                "database": str(entry.get("database", "")),
                "basicAuth": bool(entry.get("basicAuth", False)),
                "basicAuthUser": str(entry.get("basicAuthUser", "")),
                "withCredentials": bool(entry.get("withCredentials", False)),
                "isDefault": bool(entry.get("isDefault", False)),
                "jsonData": dict(entry.get("jsonData") or {}),
                "secureJsonFields": dict.fromkeys(entry.get("secureJsonData") or {}, True),
                # Decrypted secrets, for upstream requests only (_grafana_credentials).
                SECURE_KEY: {
                    str(k): str(v) for k, v in (entry.get("secureJsonData") or {}).items()
                },
                "version": int(entry.get("version", 1)),
                "readOnly": not bool(entry.get("editable", False)),
            }
        )
    _check_unique(datasources, "name", "data source name")
    _check_unique(datasources, "uid", "data source uid")
    if sum(ds["isDefault"] for ds in datasources) > 1:
        raise ProvisioningError("only one data source per organization can be marked as default")
    if datasources and not any(ds["isDefault"] for ds in datasources):
        datasources[0]["isDefault"] = True
    return datasources


def _check_unique(items: list[dict[str, Any]], key: str, what: str) -> None:
    seen: set[object] = set()
    for item in items:
        if item[key] in seen:
            raise ProvisioningError(f"duplicate {what} {item[key]!r}")
        seen.add(item[key])


def load_dashboards(dashboards_dir: Path | None) -> dict[str, dict[str, Any]]:
    """Dashboards by uid: ``{"dashboard": json, "file": name, "id": n}``. The uid and
    title come from the JSON (the file name stands in when they are missing)."""
    dashboards: dict[str, dict[str, Any]] = {}
    files = sorted(dashboards_dir.glob("*.json")) if dashboards_dir else []
    for index, path in enumerate(files, start=1):
        try:
            model = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ProvisioningError(f"{path.name}: not valid JSON: {exc}") from None
        if not isinstance(model, dict):
            raise ProvisioningError(f"{path.name}: a dashboard must be a JSON object")
        uid = str(model.get("uid") or path.stem)
        if uid in dashboards:
            raise ProvisioningError(f"{path.name}: dashboard uid {uid!r} is used twice")
        model = {**model, "id": index, "uid": uid, "title": str(model.get("title") or path.stem)}
        model["version"] = int(model.get("version") or 1)
        dashboards[uid] = {"dashboard": model, "file": path.name, "id": index}
    return dashboards


def _string_map(value: object, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise RuleValidationError(f"invalid alert rule: {what} must map strings to strings")
    return {str(k): v for k, v in value.items()}


def normalize_rule(
    body: object, *, provenance: str, rule_id: int, default_exec_err: str = "Error"
) -> dict[str, Any]:
    """Validate an alert rule and return it in the ProvisionedAlertRule shape.
    ``default_exec_err`` is the ``execErrState`` of a rule that names none: file
    provisioning uses ``Alerting`` (and ``NoData`` for ``noDataState``), as
    ``pkg/services/provisioning/alerting/rules_types.go`` (``mapToModel``) does."""

    def fail(problem: str) -> RuleValidationError:
        return RuleValidationError(f"invalid alert rule: {problem}")

    if not isinstance(body, dict):
        raise fail("the body must be a JSON object")
    for name in ("title", "folderUID", "ruleGroup", "condition"):
        if not isinstance(body.get(name), str) or not body[name].strip():
            raise fail(f"{name} is required")
    if body.get("record") is not None:
        raise fail("recording rules are not supported by the Grafana double")
    data = body.get("data")
    if not isinstance(data, list) or not data:
        raise fail("no queries or expressions are found (data is empty)")
    queries: list[dict[str, Any]] = []
    for i, item in enumerate(data):
        if not isinstance(item, dict) or not item.get("refId") or not item.get("datasourceUid"):
            raise fail(f"data[{i}] needs a refId and a datasourceUid")
        if not isinstance(item.get("model", {}), dict):
            raise fail(f"data[{i}].model must be an object")
        queries.append(
            {
                "refId": str(item["refId"]),
                "queryType": str(item.get("queryType", "")),
                "relativeTimeRange": item.get("relativeTimeRange") or {"from": 0, "to": 0},
                "datasourceUid": str(item["datasourceUid"]),
                "model": item.get("model", {}),
            }
        )
    ref_ids = [q["refId"] for q in queries]
    if body["condition"] not in ref_ids:
        raise fail(f"condition {body['condition']} does not exist, must be one of {ref_ids}")
    uid = body.get("uid") or "".join(
        secrets.choice(string.ascii_lowercase + string.digits) for _ in range(14)
    )
    if not isinstance(uid, str) or not _UID_RE.match(uid):
        raise fail("uid must be 1 to 40 letters, digits, '-' or '_'")
    no_data = body.get("noDataState") or "NoData"
    exec_err = body.get("execErrState") or default_exec_err
    if no_data not in NO_DATA_STATES:
        raise fail(f"noDataState must be one of {list(NO_DATA_STATES)}")
    if exec_err not in EXEC_ERR_STATES:
        raise fail(f"execErrState must be one of {list(EXEC_ERR_STATES)}")
    try:
        for_seconds = parse_prom_duration(str(body.get("for") or "0s"))
    except ValueError as exc:
        raise fail(f"for: {exc}") from None
    return {
        "id": rule_id,
        "uid": uid,
        "orgID": int(body.get("orgID") or 1),
        "folderUID": body["folderUID"],
        "ruleGroup": body["ruleGroup"],
        "title": body["title"],
        "condition": body["condition"],
        "data": queries,
        "updated": "",
        "noDataState": no_data,
        "execErrState": exec_err,
        "for": format_prom_duration(for_seconds),
        "annotations": _string_map(body.get("annotations"), "annotations"),
        "labels": _string_map(body.get("labels"), "labels"),
        "provenance": provenance,
        "isPaused": bool(body.get("isPaused", False)),
        "notification_settings": body.get("notification_settings"),
        "record": None,
    }


def load_alert_rules(
    provisioning_dir: Path | None, env: Mapping[str, str] | None = None
) -> tuple[list[dict[str, Any]], dict[str, str], dict[tuple[str, str], float]]:
    """Rules (API shape, provenance ``file``), folders (uid -> title) and group intervals
    ((folderUID, group) -> seconds) from ``provisioning_dir/alerting``. A provisioned
    folder's uid is its slugified title."""
    env = os.environ if env is None else env
    rules: list[dict[str, Any]] = []
    folders: dict[str, str] = {}
    intervals: dict[tuple[str, str], float] = {}
    directory = provisioning_dir / "alerting" if provisioning_dir else None
    for path in _yaml_files(directory) if directory and directory.is_dir() else []:
        groups = _load_yaml(path).get("groups") or []
        if not isinstance(groups, list):
            raise ProvisioningError(f"{path.name}: groups must be a list")
        for group in groups:
            if not isinstance(group, dict) or not group.get("name") or not group.get("folder"):
                raise ProvisioningError(f"{path.name}: every group needs a name and a folder")
            name = interpolate_env(str(group["name"]), env)
            folder_title = interpolate_env(str(group["folder"]), env)
            folder_uid = slugify(folder_title) or "general"
            folders[folder_uid] = folder_title
            try:
                intervals[(folder_uid, name)] = parse_prom_duration(
                    str(group.get("interval", "1m"))
                )
            except ValueError as exc:
                raise ProvisioningError(f"{path.name}: group {name!r}: {exc}") from None
            for rule in group.get("rules") or []:
                if not isinstance(rule, dict) or not rule.get("uid"):
                    raise ProvisioningError(f"{path.name}: group {name!r}: rule has no UID set")
                body = {
                    **rule,
                    "title": interpolate_env(rule.get("title"), env),
                    "labels": interpolate_env(rule.get("labels"), env),
                    "folderUID": folder_uid,
                    "ruleGroup": name,
                    "orgID": group.get("orgId", 1),
                }
                annotations = dict(rule.get("annotations") or {})
                if rule.get("dashboardUid"):
                    annotations["__dashboardUid__"] = str(rule["dashboardUid"])
                    annotations["__panelId__"] = str(rule.get("panelId", ""))
                body["annotations"] = annotations
                try:
                    rules.append(
                        normalize_rule(
                            body,
                            provenance="file",
                            rule_id=len(rules) + 1,
                            default_exec_err="Alerting",
                        )
                    )
                except RuleValidationError as exc:
                    raise ProvisioningError(f"{path.name}: rule {rule['uid']!r}: {exc}") from None
    _check_unique(rules, "uid", "alert rule uid")
    return rules, folders, intervals
