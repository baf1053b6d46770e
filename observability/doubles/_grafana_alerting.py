"""Grafana-managed alert rules in the Grafana double: the rule store, the evaluation
scheduler and the state manager, as Grafana 11.3 runs them.

* Scheduling (``pkg/services/ngalert/schedule/schedule.go``): every rule group is
  evaluated on a timer, once per group ``interval``, never on read. ``run`` is the loop
  (the first evaluation right away, where Grafana waits for its next 10 s tick);
  ``evaluate_all`` evaluates every rule once (tests drive it with a fake clock).
* Evaluation (``pkg/services/ngalert/eval/eval.go``, see ``_grafana_rule_query``): all
  queries and expressions; the condition's series are the results.
* State (``pkg/services/ngalert/state/manager.go``, ``state.go``, ``cache.go``):
  ``Alerting`` results go ``Pending`` for the rule's ``for``, then ``Alerting``;
  ``NoData`` and ``Error`` results are mapped by ``noDataState`` / ``execErrState``
  (``Alerting``, ``NoData`` or ``Error``, ``OK`` = ``Normal``, ``KeepLast``), with the
  result's state as the state reason (``Alerting (NoData)``). With ``Alerting``, ``OK``
  or ``KeepLast`` the NoData / Error result is applied to every existing instance of
  the rule (``setNextStateForAll``: the ``alertingNoDataErrorExecution`` feature, on by
  default in 11.x). A series that stops coming back keeps its state until
  ``lastEvaluation + 2 * interval <= now`` (``stateIsStale``: it is still listed after
  one evaluation without it), then it is resolved as ``Normal (MissingSeries)`` and
  deleted from the cache (``deleteStaleStatesFromCache``), so no API lists it any more.
  Normal instances stay listed.

Annotations are returned as written (templates are not expanded); nothing is sent to an
Alertmanager, the double's own Alertmanager API lists what Grafana would have sent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from observability.doubles._common import (
    format_go_exp,
    label_fingerprint,
    parse_prom_duration,
    rfc3339,
)
from observability.doubles._grafana_rule_query import (
    EXPRESSION_UIDS,
    EvalResult,
    evaluate_rule_data,
)

__all__ = ["AlertRules", "Instance"]

DEFAULT_INTERVAL_S = 60.0
DEFAULT_RECEIVER = "grafana-default-email"
RESEND_DELAY_S = 30.0  # pkg/services/ngalert/state/state.go ResendDelay
EVALUATION_TIMEOUT_S = 10.0
_DATASOURCE_ALERTS = {"Error": "DatasourceError", "NoData": "DatasourceNoData"}


def go_time(seconds: float) -> str:
    """A Go ``time.Time`` in JSON (RFC 3339 with the fraction's trailing zeros dropped,
    ``time.RFC3339Nano``), in UTC; 0 is Go's zero time ``0001-01-01T00:00:00Z``."""
    if not seconds:
        return "0001-01-01T00:00:00Z"
    whole = int(seconds // 1)
    micros = round((seconds - whole) * 1e6)
    if micros >= 1_000_000:
        whole, micros = whole + 1, micros - 1_000_000
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    fraction = f"{micros:06d}".rstrip("0")
    return f"{stamp}.{fraction}Z" if fraction else f"{stamp}Z"


@dataclass
class Instance:
    """One alert instance (``state.State``)."""

    labels: dict[str, str]  # result labels, rule labels, alertname, grafana_folder (the key)
    state: str  # Normal, Pending, Alerting, NoData, Error
    starts_at: float
    last_eval: float
    reason: str = ""
    value: float | None = None  # the condition's value (GetLastEvaluationValuesForCondition)
    error: str = ""  # State.Error
    ends_at: float = 0.0
    # State.AddErrorInformation: ref_id / datasource_uid of a failed query, labels of an
    # Error state (added after the cache key was computed), else annotations; with the
    # "Error" annotation.
    error_labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def display_state(self) -> str:
        """``state.FormatStateAndReason``: ``Alerting (NoData)``."""
        return f"{self.state} ({self.reason})" if self.reason else self.state

    @property
    def shown_labels(self) -> dict[str, str]:
        return {**self.labels, **self.error_labels}

    @property
    def active_at(self) -> float:
        return self.starts_at


@dataclass
class _Status:
    evaluation_time: float = 0.0
    instances: dict[str, Instance] = field(default_factory=dict)

    @property
    def last_eval(self) -> float:
        """api_prometheus.go toRuleGroup: the latest LastEvaluationTime of the rule's
        states (Go's zero time when it has none)."""
        return max((i.last_eval for i in self.instances.values()), default=0.0)

    @property
    def health(self) -> str:
        """api_prometheus.go toRuleGroup: ``error`` when an instance has an error or is
        Error, ``nodata`` when one is NoData, else ``ok``."""
        states = {i.state for i in self.instances.values()}
        if "Error" in states or any(i.error for i in self.instances.values()):
            return "error"
        return "nodata" if "NoData" in states else "ok"

    @property
    def last_error(self) -> str:
        return next((i.error for i in self.instances.values() if i.error), "")


class AlertRules:
    """Rules by uid (ProvisionedAlertRule shape), folders, group intervals and state."""

    def __init__(
        self,
        rules: Iterable[dict[str, Any]],
        folders: dict[str, str],
        intervals: dict[tuple[str, str], float],
        clock: Callable[[], float] = time.time,
        datasources: Iterable[dict[str, Any]] = (),
    ) -> None:
        self.rules: dict[str, dict[str, Any]] = {r["uid"]: r for r in rules}
        self.folders = folders
        self.intervals = intervals
        self.clock = clock
        self.datasources = {ds["uid"]: ds for ds in datasources}
        self.status: dict[str, _Status] = {}
        self.next_id = max((r["id"] for r in self.rules.values()), default=0) + 1
        for rule in self.rules.values():
            rule["updated"] = rfc3339(clock())

    def put(self, rule: dict[str, Any]) -> dict[str, Any]:
        """Store a created or replaced rule; a replaced rule's state starts over."""
        self.folders.setdefault(rule["folderUID"], rule["folderUID"])
        self.intervals.setdefault((rule["folderUID"], rule["ruleGroup"]), DEFAULT_INTERVAL_S)
        rule["updated"] = rfc3339(self.clock())
        self.rules[rule["uid"]] = rule
        self.status.pop(rule["uid"], None)
        return rule

    def delete(self, uid: str) -> None:
        self.rules.pop(uid, None)
        self.status.pop(uid, None)

    def title_taken(self, rule: dict[str, Any]) -> bool:
        return any(
            other["uid"] != rule["uid"]
            and other["folderUID"] == rule["folderUID"]
            and other["title"] == rule["title"]
            for other in self.rules.values()
        )

    def interval_of(self, rule: dict[str, Any]) -> float:
        return self.intervals.get((rule["folderUID"], rule["ruleGroup"]), DEFAULT_INTERVAL_S)

    async def run(
        self,
        tick_s: float = 0.5,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """The scheduler (schedule.go): evaluates each group when its interval has passed
        since its last evaluation (the first right away), whether or not anything reads
        the state. Runs until cancelled; ``monotonic`` and ``sleep`` are for tests."""
        due: dict[tuple[str, str], float] = {}
        while True:
            now = monotonic()
            groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
            for rule in self.rules.values():
                groups.setdefault((rule["folderUID"], rule["ruleGroup"]), []).append(rule)
            ready = [key for key in groups if due.get(key, 0.0) <= now]
            for key in ready:
                due[key] = now + self.intervals.get(key, DEFAULT_INTERVAL_S)
            if ready:
                await self._evaluate_rules([r for key in ready for r in groups[key]])
            await sleep(tick_s)

    async def evaluate_all(self) -> None:
        """Evaluate every rule once, now."""
        await self._evaluate_rules(list(self.rules.values()))

    async def _evaluate_rules(self, rules: list[dict[str, Any]]) -> None:
        async with httpx.AsyncClient(timeout=EVALUATION_TIMEOUT_S, trust_env=False) as client:
            await asyncio.gather(*(self._evaluate(rule, client) for rule in rules))

    async def _evaluate(self, rule: dict[str, Any], client: httpx.AsyncClient) -> None:
        status = self.status.setdefault(rule["uid"], _Status())
        if rule["isPaused"]:  # schedule.go: paused rules are not evaluated, state dropped
            status.instances.clear()
            return
        started = time.perf_counter()
        now = self.clock()
        results = await evaluate_rule_data(rule, self.datasources, client, now)
        if self.rules.get(rule["uid"]) is not rule:
            return  # replaced or deleted while evaluating
        self._process(rule, status, results, now)
        status.evaluation_time = time.perf_counter() - started

    def _labels(self, rule: dict[str, Any], result_labels: dict[str, str]) -> dict[str, str]:
        # state/cache.go expandAnnotationsAndLabels: result labels, rule labels, then the
        # reserved alertname and grafana_folder.
        return {
            **result_labels,
            **rule["labels"],
            "alertname": rule["title"],
            "grafana_folder": self.folders.get(rule["folderUID"], rule["folderUID"]),
        }

    def _process(
        self, rule: dict[str, Any], status: _Status, results: list[EvalResult], now: float
    ) -> None:
        """state/manager.go ProcessEvalResults: setNextStateForRule, then stale states."""
        interval = self.interval_of(rule)
        exceptional = results[0].state if results else ""
        apply_to_all = (
            status.instances
            and all(r.state == exceptional for r in results)
            and (
                (exceptional == "NoData" and rule["noDataState"] in _APPLIED_TO_ALL)
                or (exceptional == "Error" and rule["execErrState"] in _APPLIED_TO_ALL)
            )
        )
        if apply_to_all:
            # manager.go setNextStateForAll (applyNoDataAndErrorToAllStates, the
            # alertingNoDataErrorExecution feature toggle, enabled by default in 11.x):
            # the first result is applied to every instance of the rule, none is created.
            for instance in status.instances.values():
                _set_next_state(instance, rule, results[0], now, interval)
        else:
            for result in results:
                labels = self._labels(rule, result.labels)
                key = label_fingerprint(labels)
                current = status.instances.get(key)
                if current is None:  # state.go newState: Normal, StartsAt = EndsAt = now
                    current = Instance(labels, "Normal", starts_at=now, last_eval=now)
                    current.ends_at = now
                    status.instances[key] = current
                current.annotations = {}  # cache.go getOrCreate: annotations expanded anew
                _set_next_state(current, rule, result, now, interval)
        for key, instance in list(status.instances.items()):
            if instance.last_eval + 2 * interval <= now:  # manager.go stateIsStale
                # manager.go deleteStaleStatesFromCache: resolved as Normal
                # (MissingSeries), sent to the Alertmanager as resolved (EndsAt = now) and
                # removed from the cache: no API lists it any more.
                del status.instances[key]

    def rule_state(self, uid: str) -> str:
        """api_prometheus.go toRuleGroup: ``firing`` / ``pending`` / ``inactive``."""
        states = {i.state for i in self._status(uid).instances.values()}
        return (
            "firing" if "Alerting" in states else "pending" if "Pending" in states else "inactive"
        )

    def _status(self, uid: str) -> _Status:
        return self.status.get(uid) or _Status()

    def prometheus_rules(self) -> dict[str, Any]:
        """``GET /api/prometheus/grafana/api/v1/rules`` body
        (``pkg/services/ngalert/api/prometheus/api_prometheus.go``)."""
        grouped: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for rule in self.rules.values():
            title = self.folders.get(rule["folderUID"], rule["folderUID"])
            grouped.setdefault((title, rule["folderUID"], rule["ruleGroup"]), []).append(rule)
        groups: list[dict[str, Any]] = []
        totals: dict[str, int] = {}
        for (folder_title, folder_uid, name), rules in sorted(grouped.items()):
            # As in Grafana: a group's totals count its rules' states (and error or
            # nodata health), each rule's totals count its alert instances' states.
            group_totals: dict[str, int] = {}
            entries = [self._rule_entry(rule) for rule in rules]
            for entry in entries:
                health = entry["health"] if entry["health"] in ("error", "nodata") else None
                for key in (entry["state"], health):
                    if key:
                        group_totals[key] = group_totals.get(key, 0) + 1
                        totals[key] = totals.get(key, 0) + 1
            groups.append(
                {
                    "name": name,
                    "file": folder_title,
                    "rules": entries,
                    "totals": group_totals,
                    "interval": self.intervals.get((folder_uid, name), DEFAULT_INTERVAL_S),
                    # toRuleGroup: the group's are those of its last rule.
                    "lastEvaluation": entries[-1]["lastEvaluation"],
                    "evaluationTime": entries[-1]["evaluationTime"],
                }
            )
        return {"status": "success", "data": {"groups": groups, "totals": totals}}

    def _rule_entry(self, rule: dict[str, Any]) -> dict[str, Any]:
        status = self._status(rule["uid"])
        alerts = [self._alert(rule, i) for i in _by_importance(status.instances.values())]
        rule_totals: dict[str, int] = {}
        for instance in status.instances.values():
            key = instance.state.lower()
            rule_totals[key] = rule_totals.get(key, 0) + 1
            # toRuleGroup: "Do not add error twice when execution error state is Error".
            if instance.error and rule["execErrState"] != "Error":
                rule_totals["error"] = rule_totals.get("error", 0) + 1
        firing = [i.active_at for i in status.instances.values() if i.state == "Alerting"]
        entry: dict[str, Any] = {
            "state": self.rule_state(rule["uid"]),
            "name": rule["title"],
            "query": " | ".join(
                str(q["model"].get("expr"))
                for q in rule["data"]
                if q["datasourceUid"] not in EXPRESSION_UIDS and q["model"].get("expr")
            ),
            "duration": parse_prom_duration(rule["for"]),
            "annotations": rule["annotations"],
            "activeAt": go_time(min(firing)) if firing else None,
            "alerts": alerts,
            "totals": rule_totals,
            "totalsFiltered": dict(rule_totals),
            "labels": rule["labels"],
            "health": status.health,
            "lastError": status.last_error,
            "type": "alerting",
            "lastEvaluation": go_time(status.last_eval),
            "evaluationTime": status.evaluation_time if status.instances else 0,
        }
        # Grafana's Go structs mark these omitempty.
        omit_empty = ("duration", "annotations", "activeAt", "alerts", "totals", "totalsFiltered")
        for key in (*omit_empty, "labels", "lastError"):
            if not entry[key]:
                del entry[key]
        return entry

    def _alert(self, rule: dict[str, Any], instance: Instance) -> dict[str, Any]:
        # api_prometheus.go: the value only for Alerting and Pending (formatValues, the
        # condition's value in Go's %e form), the state with its reason
        # (state.FormatStateAndReason), the state's annotations.
        shown = instance.state in ("Alerting", "Pending") and instance.value is not None
        return {
            "labels": instance.shown_labels,
            "annotations": {**rule["annotations"], **instance.annotations},
            "state": instance.display_state,
            "activeAt": go_time(instance.active_at),
            "value": format_go_exp(instance.value) if shown and instance.value is not None else "",
        }

    def prometheus_alerts(self) -> dict[str, Any]:
        """``GET /api/prometheus/grafana/api/v1/alerts`` body: every instance
        (api_prometheus.go RouteGetAlertStatuses), Normal ones included."""
        alerts = [
            self._alert(self.rules[uid], instance)
            for uid in self.rules
            for instance in self._status(uid).instances.values()
        ]
        return {"status": "success", "data": {"alerts": alerts}}

    def alertmanager_alerts(self, base_url: str) -> list[dict[str, Any]]:
        """Alertmanager v2 ``GET /api/v2/alerts`` items: what the state manager sends
        (``pkg/services/ngalert/state/compat.go`` StateToPostableAlert): Alerting, and
        NoData / Error states as ``DatasourceNoData`` / ``DatasourceError`` alerts with
        the rule's title in ``rulename``. Resolved alerts are not listed (Alertmanager's
        getAlertsHandler skips them)."""
        out: list[dict[str, Any]] = []
        now = self.clock()
        for uid, rule in self.rules.items():
            for instance in self._status(uid).instances.values():
                if instance.state not in ("Alerting", "NoData", "Error"):
                    continue
                if instance.ends_at and instance.ends_at <= now:
                    continue
                labels = {
                    **instance.shown_labels,
                    "__alert_rule_uid__": uid,
                    "__alert_rule_namespace_uid__": rule["folderUID"],
                }
                annotations = {**rule["annotations"], **instance.annotations}
                if instance.state in _DATASOURCE_ALERTS:
                    labels["rulename"] = labels["alertname"]
                    labels["alertname"] = _DATASOURCE_ALERTS[instance.state]
                out.append(
                    {
                        "annotations": annotations,
                        "endsAt": rfc3339(instance.ends_at),
                        "fingerprint": label_fingerprint(labels),
                        "receivers": [{"name": DEFAULT_RECEIVER}],
                        "startsAt": rfc3339(instance.starts_at),
                        "status": {"inhibitedBy": [], "silencedBy": [], "state": "active"},
                        "updatedAt": rfc3339(instance.last_eval),
                        "generatorURL": f"{base_url}alerting/grafana/{uid}/view?orgId=1",
                        "labels": labels,
                    }
                )
        out.sort(key=lambda a: str(a["fingerprint"]))
        return out


_APPLIED_TO_ALL = ("Alerting", "OK", "KeepLast")
# definitions/prom.go stateByImportanceFromString: the state string as shown, lowercased;
# one with a reason ("alerting (nodata)") is unknown, -1, so it sorts first.
_IMPORTANCE = {"alerting": 0, "pending": 1, "error": 2, "nodata": 3, "normal": 4}


def _by_importance(instances: Iterable[Instance]) -> list[Instance]:
    """definitions/prom.go AlertsByImportance: state importance, then activeAt, then
    labels."""
    return sorted(
        instances,
        key=lambda i: (
            _IMPORTANCE.get(i.display_state.lower(), -1),
            i.starts_at,
            sorted(i.shown_labels.items()),
        ),
    )


def _next_ends(interval: float, now: float) -> float:
    """state.go nextEndsTime: four times the interval or the resend delay."""
    return now + 4 * max(interval, RESEND_DELAY_S)


def _set(instance: Instance, state: str, starts_at: float, ends_at: float, error: str = "") -> None:
    """state.go SetAlerting / SetPending / SetNoData / SetNormal (which clear the error) and
    SetError."""
    instance.state, instance.starts_at, instance.ends_at = state, starts_at, ends_at
    instance.error = error


def _result_normal(instance: Instance, now: float) -> None:
    """state.go resultNormal: Normal, StartsAt = EndsAt = now, unless already Normal."""
    if instance.state != "Normal":
        _set(instance, "Normal", now, now)


def _result_alerting(instance: Instance, rule: dict[str, Any], now: float, interval: float) -> None:
    """state.go resultAlerting: Pending for ``for``, then Alerting (a new StartsAt);
    Alerting is maintained (a later EndsAt, nothing else changes)."""
    hold = parse_prom_duration(rule["for"])
    if instance.state == "Alerting":
        instance.ends_at = _next_ends(interval, now)  # Maintain
    elif instance.state == "Pending":
        if now - instance.starts_at >= hold:
            _set(instance, "Alerting", now, _next_ends(interval, now))
    else:
        _set(instance, "Pending" if hold > 0 else "Alerting", now, _next_ends(interval, now))


def _result_keep_last(
    instance: Instance, rule: dict[str, Any], now: float, interval: float
) -> None:
    """state.go resultKeepLast: Alerting stays, Pending still becomes Alerting once ``for``
    has passed, Normal stays, anything else becomes Normal."""
    if instance.state == "Alerting":
        _result_alerting(instance, rule, now, interval)
    elif instance.state == "Pending":
        if now - instance.starts_at >= parse_prom_duration(rule["for"]):
            _result_alerting(instance, rule, now, interval)
    else:
        _result_normal(instance, now)


def _add_error_information(instance: Instance, result: EvalResult, as_labels: bool) -> None:
    """state.go AddErrorInformation: the "Error" annotation, and a failed query's ref_id
    and datasource_uid as labels (an Error state) or annotations."""
    if not result.error:
        return
    instance.annotations["Error"] = result.error
    if result.error_source:
        target = instance.error_labels if as_labels else instance.annotations
        target.update(result.error_source)
    else:
        instance.annotations.pop("ref_id", None)
        instance.annotations.pop("datasource_uid", None)


def _set_next_state(
    instance: Instance, rule: dict[str, Any], result: EvalResult, now: float, interval: float
) -> None:
    """state/manager.go setNextState for one result, with state.go's handlers."""
    instance.last_eval = now
    if result.state in ("NoData", "Error"):
        # state.go SetNextValues: the values known so far become the sentinel -1.
        instance.value = -1.0 if instance.value is not None else None
    else:
        instance.value = result.value
    if instance.state == "Error" and result.state != "Error":
        # manager.go: the ref_id / datasource_uid labels of an Error state are dropped.
        instance.error_labels = {}
    if result.state == "Normal":
        _result_normal(instance, now)
    elif result.state == "Alerting":
        _result_alerting(instance, rule, now, interval)
    elif result.state == "Error":
        mode = rule["execErrState"]
        if mode == "Alerting":
            # state.go resultError: Alerting (Pending for `for`), keeping the error; the
            # error information as annotations (grafana/grafana#91594, 11.3).
            _result_alerting(instance, rule, now, interval)
            instance.error = result.error
            _add_error_information(instance, result, as_labels=False)
        elif mode == "OK":
            _result_normal(instance, now)
        elif mode == "KeepLast":
            _result_keep_last(instance, rule, now, interval)
        elif instance.state == "Error":
            instance.error, instance.ends_at = result.error, _next_ends(interval, now)
            _add_error_information(instance, result, as_labels=True)
        else:
            _set(instance, "Error", now, _next_ends(interval, now), result.error)
            _add_error_information(instance, result, as_labels=True)
    else:  # NoData: state.go resultNoData
        mode = rule["noDataState"]
        if mode == "Alerting":
            _result_alerting(instance, rule, now, interval)
        elif mode == "OK":
            _result_normal(instance, now)
        elif mode == "KeepLast":
            _result_keep_last(instance, rule, now, interval)
        elif instance.state == "NoData":
            instance.ends_at = _next_ends(interval, now)
        else:
            _set(instance, "NoData", now, _next_ends(interval, now))
    # manager.go setNextState: the reason is the result's state when the state differs
    # from it and the result is NoData or Error (resultStateReason: ", KeepLast" appended
    # when either mode is KeepLast), else none.
    instance.reason = ""
    if instance.state != result.state and result.state in ("NoData", "Error"):
        keep_last = "KeepLast" in (rule["noDataState"], rule["execErrState"])
        instance.reason = result.state + (", KeepLast" if keep_last else "")
