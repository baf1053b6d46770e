"""What a check file says, as typed objects.

A check sends one piece of synthetic traffic (a Kafka message or SQL
statements) carrying a run id and a W3C ``traceparent``, then waits for each
expected signal (a Prometheus condition or counter increase, a Loki line, an
alert state, Grafana health, a database row) under one deadline.

Templates: ``{{ run_id }}``, ``{{ trace_id }}``, ``{{ traceparent }}``,
``{{ event_id }}`` (a fresh UUID) and ``{{ now }}`` (RFC 3339, UTC) in traffic
values, keys, headers and Loki filters; SQL reads the same names as
``%(run_id)s`` parameters, so values never become SQL text.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

__all__ = [
    "TEMPLATE_NAMES",
    "AlertExpectation",
    "Check",
    "Expectation",
    "GrafanaExpectation",
    "KafkaTraffic",
    "LokiExpectation",
    "PrometheusExpectation",
    "SqlExpectation",
    "SqlTraffic",
    "Traffic",
    "parse_duration",
]

TEMPLATE_NAMES = ("run_id", "trace_id", "traceparent", "event_id", "now")
_TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(ms|s|m|h))+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
#: Longest duration a check file may give (interval, jitter, deadline, windows): 7 days.
MAX_DURATION_S = 7 * 24 * 3600.0
#: A Kafka topic name, as Kafka itself allows them.
_TOPIC = r"^[A-Za-z0-9._-]{1,249}$"


class KeyedValueError(ValueError):
    """A rule across several keys that names the key it blames (``key``, relative
    to the model that raised it), so the error points at a line of the file."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key: tuple[str, ...] = (key,)


def parse_duration(value: Any) -> float:
    """``90s``, ``1m30s``, ``500ms`` or a number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError("must be a duration such as 30s, 1m or 500ms")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and _DURATION.match(value.strip()):
        seconds = sum(float(n) * _UNITS[u] for n, u in _DURATION_PART.findall(value.strip()))
    elif isinstance(value, timedelta):
        seconds = value.total_seconds()
    else:
        raise ValueError("must be a duration such as 30s, 1m or 500ms")
    if not math.isfinite(seconds):
        raise ValueError("must be a finite duration such as 30s, 1m or 500ms")
    if seconds < 0:
        raise ValueError("must not be negative")
    if seconds > MAX_DURATION_S:
        raise ValueError(f"must be at most {MAX_DURATION_S / 86400:g} days")
    return seconds


Duration = Annotated[float, Field(ge=0)]


def _check_templates(text: str) -> str:
    if "{{" in _TEMPLATE.sub("", text):
        raise ValueError(
            "malformed template: write {{ name }} with a name of " + ", ".join(TEMPLATE_NAMES)
        )
    unknown = sorted({n for n in _TEMPLATE.findall(text) if n not in TEMPLATE_NAMES})
    if unknown:
        raise ValueError(
            f"unknown template name(s) {', '.join(unknown)}; known: {', '.join(TEMPLATE_NAMES)}"
        )
    return text


def render(text: str, values: dict[str, str]) -> str:
    """Replace ``{{ name }}`` with its value (names were checked when loading)."""
    return _TEMPLATE.sub(lambda m: values.get(m.group(1), m.group(0)), text)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_flag_for_a_number(cls, value: Any, info: ValidationInfo) -> Any:
        # pydantic reads true as 1; "window_before: true" is a mistake, not 1 s.
        numbers = (int, float, int | None, float | None)
        if (
            isinstance(value, bool)
            and info.field_name is not None
            and cls.model_fields[info.field_name].annotation in numbers
        ):
            raise ValueError("must be a number, not true or false")
        return value


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


class Traffic(_Strict):
    """Exactly one of ``kafka`` or ``sql``."""

    kafka: KafkaTraffic | None = None
    sql: SqlTraffic | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Traffic:
        if (self.kafka is None) == (self.sql is None):
            raise ValueError("give exactly one of kafka or sql")
        return self

    @property
    def step(self) -> KafkaTraffic | SqlTraffic:
        step = self.kafka or self.sql
        assert step is not None
        return step


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
        return _check_templates(value)


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
        return self

    @property
    def scheduled(self) -> bool:
        return self.enabled and (self.interval is not None or self.cron is not None)
