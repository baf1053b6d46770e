"""What a check file says, as typed objects.

A check sends one piece of synthetic traffic (a Kafka message, SQL statements,
or HTTP requests chained as steps; or nothing, to only watch) carrying a run id
and a W3C ``traceparent``, then waits for each expected signal (a Prometheus
condition or counter increase, a Loki line, an alert state, Grafana health, a
database row) under one deadline.

Templates: ``{{ run_id }}``, ``{{ trace_id }}``, ``{{ traceparent }}``,
``{{ event_id }}`` (a fresh UUID) and ``{{ now }}`` (RFC 3339, UTC) in traffic
values, keys, headers and Loki filters, plus every value an earlier HTTP step
captured (``capture: {eventId: $.eventId}`` -> ``{{ eventId }}``); SQL reads the
same names as ``%(run_id)s`` parameters, so values never become SQL text.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from schedules._base import (
    MAX_DURATION_S,
    TEMPLATE_NAMES,
    Duration,
    KeyedValueError,
    check_templates,
    parse_duration,
    render,
    sql_parameter_names,
    template_names,
    unknown_names,
)
from schedules._base import Strict as _Strict
from schedules._http_model import (
    BodyCondition,
    HttpStep,
    Retry,
    StepAssert,
    templated_strings,
)

__all__ = [
    "MAX_DURATION_S",
    "TEMPLATE_NAMES",
    "AlertExpectation",
    "BodyCondition",
    "Check",
    "Expectation",
    "GrafanaExpectation",
    "HttpStep",
    "HttpTraffic",
    "KafkaTraffic",
    "KeyedValueError",
    "LokiExpectation",
    "NoTraffic",
    "PrometheusExpectation",
    "Retry",
    "SqlExpectation",
    "SqlTraffic",
    "StepAssert",
    "Traffic",
    "parse_duration",
    "render",
]

_check_templates = check_templates
#: A Kafka topic name, as Kafka itself allows them.
_TOPIC = r"^[A-Za-z0-9._-]{1,249}$"


# -- traffic ------------------------------------------------------------------------


class KafkaTraffic(_Strict):
    kind: Literal["kafka"] = "kafka"
    topic: str = Field(pattern=_TOPIC, description="A Kafka topic name: letters, digits, . _ -.")
    key: str | None = None
    value: str = Field(description="Template of the message value (usually JSON).")
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("key", "value")
    @classmethod
    def _templates(cls, value: str | None) -> str | None:
        return _check_templates(value) if value is not None else None

    @field_validator("headers")
    @classmethod
    def _header_templates(cls, value: dict[str, str]) -> dict[str, str]:
        for text in value.values():
            _check_templates(text)
        return value


class SqlTraffic(_Strict):
    kind: Literal["sql"] = "sql"
    connection: str = Field(
        default="postgres",
        description="engines.postgres ('postgres') or a name under checks.connections.",
    )
    statements: tuple[str, ...] = Field(min_length=1)


class NoTraffic(_Strict):
    """``traffic: none``: the check sends nothing and only watches (for example that
    an alert a drill made fire has resolved)."""

    kind: Literal["none"] = "none"


class HttpTraffic(_Strict):
    """``traffic: {http: STEP}`` (one request) or ``traffic: {steps: [STEP, ...]}``:
    requests sent in order, each step's captures feeding the later steps and the
    expectations. The run's ``traceparent`` and ``covenant-run-id`` go with every one."""

    kind: Literal["http"] = "http"
    steps: tuple[HttpStep, ...] = Field(min_length=1, max_length=50)


class Traffic(_Strict):
    """Exactly one of ``kafka``, ``sql``, ``http``, ``steps`` or ``none``."""

    kafka: KafkaTraffic | None = None
    sql: SqlTraffic | None = None
    http: HttpStep | None = None
    steps: tuple[HttpStep, ...] | None = Field(default=None, min_length=1, max_length=50)
    none: bool | None = Field(default=None, description="true: send nothing, only watch.")

    @model_validator(mode="before")
    @classmethod
    def _none_shorthand(cls, value: Any) -> Any:
        # ``traffic: none`` reads as {none: true}
        return {"none": True} if value == "none" else value

    @model_validator(mode="after")
    def _exactly_one(self) -> Traffic:
        given = [k for k in ("kafka", "sql", "http", "steps") if getattr(self, k) is not None]
        if self.none is False:
            raise KeyedValueError("none", "none: false means nothing; give the traffic instead")
        if self.none:
            given.append("none")
        if len(given) != 1:
            raise ValueError(
                "give exactly one of kafka, sql, http, steps or none"
                + (f" (got {', '.join(given)})" if given else "")
            )
        return self

    @property
    def http_steps(self) -> tuple[HttpStep, ...]:
        """The HTTP steps, in order (empty for Kafka, SQL or no traffic)."""
        if self.http is not None:
            return (self.http,)
        return self.steps or ()

    @property
    def step_key(self) -> str:
        """The key the HTTP steps sit under in the file: ``http`` or ``steps``."""
        return "http" if self.http is not None else "steps"

    @property
    def step(self) -> KafkaTraffic | SqlTraffic | HttpTraffic | NoTraffic:
        if self.kafka is not None:
            return self.kafka
        if self.sql is not None:
            return self.sql
        if self.http_steps:
            return HttpTraffic(steps=self.http_steps)
        return NoTraffic()


# -- expectations ---------------------------------------------------------------------


class PrometheusExpectation(_Strict):
    """``condition``: a PromQL expression that must return a non-empty result;
    ``increase``: a counter selector whose sum must rise above its value before
    the traffic was sent. Never put run ids in metric labels: a label per run is
    a new series per run."""

    kind: Literal["prometheus"] = "prometheus"
    condition: str | None = None
    increase: str | None = None

    @model_validator(mode="after")
    def _one(self) -> PrometheusExpectation:
        if (self.condition is None) == (self.increase is None):
            raise ValueError("give exactly one of condition or increase")
        return self


class LokiExpectation(_Strict):
    """A LogQL stream selector; the run id is added as a line filter."""

    kind: Literal["loki"] = "loki"
    selector: str = Field(
        # At least one matcher: {label="value"}, =, !=, =~ or !~ ("{}" selects nothing).
        pattern=r'^\{\s*[A-Za-z_][A-Za-z0-9_]*\s*(=|!=|=~|!~)\s*"(.|\n)*\}$'
    )
    contains: str = Field(
        default="{{ run_id }}", description="Line filter (template); the run id by default."
    )
    window_before: Duration = Field(
        default=5.0,
        le=MAX_DURATION_S,
        allow_inf_nan=False,
        description="Seconds before the send the query window starts.",
    )

    @field_validator("contains")
    @classmethod
    def _templates(cls, value: str) -> str:
        template_names(value)  # the names are checked by the check (captures count)
        return value


class AlertExpectation(_Strict):
    kind: Literal["alert"] = "alert"
    name: str = Field(min_length=1, description="The alert name (alertname label).")
    state: Literal["firing", "not_firing"] = "firing"
    source: Literal["prometheus", "alertmanager", "grafana"] = "prometheus"
    labels: dict[str, str] = Field(default_factory=dict, description="Extra labels to match.")


class GrafanaExpectation(_Strict):
    kind: Literal["grafana"] = "grafana"
    datasource: str | None = Field(default=None, description="A datasource uid that is healthy.")
    dashboard: str | None = Field(
        default=None, description="A dashboard uid that exists and whose panels return data."
    )

    @model_validator(mode="after")
    def _something(self) -> GrafanaExpectation:
        if self.datasource is None and self.dashboard is None:
            raise ValueError("give datasource, dashboard or both")
        return self


class SqlExpectation(_Strict):
    kind: Literal["sql"] = "sql"
    connection: str = "postgres"
    query: str = Field(
        min_length=1, description="Seen when it returns a row; %(run_id)s etc. are parameters."
    )


class Expectation(_Strict):
    """One expected signal: a name and exactly one kind."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    prometheus: PrometheusExpectation | None = None
    loki: LokiExpectation | None = None
    alert: AlertExpectation | None = None
    grafana: GrafanaExpectation | None = None
    sql: SqlExpectation | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Expectation:
        given = [k for k in ("prometheus", "loki", "alert", "grafana", "sql") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of prometheus, loki, alert, grafana or sql"
                + (f" (got {', '.join(given)})" if given else "")
            )
        return self

    @property
    def spec(
        self,
    ) -> (
        PrometheusExpectation
        | LokiExpectation
        | AlertExpectation
        | GrafanaExpectation
        | SqlExpectation
    ):
        found = self.prometheus or self.loki or self.alert or self.grafana or self.sql
        assert found is not None
        return found

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def signal(self) -> str:
        """The label of ``covenant_signal_latency_seconds``: kind and name."""
        return f"{self.kind}:{self.name}"


# -- a check --------------------------------------------------------------------------


class Check(_Strict):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    interval: Duration | None = Field(default=None, description="Run every so often.")
    cron: str | None = Field(default=None, description="Or a crontab line (minute first).")
    jitter: Duration = Field(default=0.0, description="Random delay up to this many seconds.")
    deadline: Duration = Field(default=30.0, gt=0, description="How long signals may take.")
    location: str | None = Field(default=None, description="Only instances at this location.")
    enabled: bool = True
    traffic: Traffic
    expect: tuple[Expectation, ...] = Field(min_length=1)

    @field_validator("interval", "jitter", "deadline", mode="before")
    @classmethod
    def _durations(cls, value: Any) -> Any:
        return None if value is None else parse_duration(value)

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(value)
        except ValueError as exc:
            raise ValueError(f"not a crontab line: {exc}") from None
        return value

    @model_validator(mode="after")
    def _schedule(self) -> Check:
        if self.interval is not None and self.cron is not None:
            raise KeyedValueError("cron", "give interval or cron, not both")
        if self.interval is not None and self.interval < 1:
            raise KeyedValueError("interval", "interval must be at least 1s")
        names = [e.name for e in self.expect]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise KeyedValueError(
                "expect", f"expectation names must be unique: {', '.join(duplicates)}"
            )
        if self.interval is not None and self.deadline > self.interval:
            raise KeyedValueError("deadline", "deadline must not exceed the interval")
        self._check_steps_and_names()
        return self

    def _check_steps_and_names(self) -> None:
        """Names used in templates must be the run's or an earlier step's capture;
        step and expectation names share one namespace (a run stores each once)."""
        known = set(TEMPLATE_NAMES)
        key = self.traffic.step_key
        single = self.traffic.http is not None
        seen_names: dict[str, str] = {}
        for index, step in enumerate(self.traffic.http_steps):
            base: tuple[str | int, ...] = ("traffic", key) if single else ("traffic", key, index)
            if step.name in seen_names:
                raise KeyedValueError((*base, "name"), f"step name '{step.name}' is used twice")
            seen_names[step.name] = "step"
            for path, text in templated_strings(step):
                problem = unknown_names(template_names(text), known)
                if problem:
                    raise KeyedValueError((*base, *path), problem)
            known |= set(step.capture)
        for index, expectation in enumerate(self.expect):
            if seen_names.get(expectation.name) == "step":
                raise KeyedValueError(
                    ("expect", index, "name"),
                    f"'{expectation.name}' is already the name of a step",
                )
            if expectation.loki is not None:
                problem = unknown_names(template_names(expectation.loki.contains), known)
                if problem:
                    raise KeyedValueError(("expect", index, "loki", "contains"), problem)
            if expectation.sql is not None:
                problem = unknown_names(sql_parameter_names(expectation.sql.query), known)
                if problem:
                    raise KeyedValueError(
                        ("expect", index, "sql", "query"), problem.replace("template", "parameter")
                    )

    @property
    def captures(self) -> tuple[str, ...]:
        """Every name the HTTP steps capture, in order."""
        return tuple(name for step in self.traffic.http_steps for name in step.capture)

    @property
    def scheduled(self) -> bool:
        return self.enabled and (self.interval is not None or self.cron is not None)
