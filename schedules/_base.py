"""Pieces every part of a check file's model shares: strict models, durations,
templates, and the error that names the key it blames."""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

__all__ = [
    "MAX_DURATION_S",
    "TEMPLATE_NAMES",
    "Duration",
    "KeyedValueError",
    "Strict",
    "check_templates",
    "parse_duration",
    "render",
    "sql_parameter_names",
    "template_names",
]

TEMPLATE_NAMES = ("run_id", "trace_id", "traceparent", "event_id", "now")
_TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
#: ``%(name)s``: a psycopg named parameter.
_SQL_PARAMETER = re.compile(r"%\(([A-Za-z_][A-Za-z0-9_]*)\)s")
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(ms|s|m|h))+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
#: Longest duration a check file may give (interval, jitter, deadline, windows): 7 days.
MAX_DURATION_S = 7 * 24 * 3600.0


class KeyedValueError(ValueError):
    """A rule across several keys that names the key it blames (``key``, relative
    to the model that raised it: a name or a path of names and list indexes), so
    the error points at a line of the file."""

    def __init__(self, key: str | tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.key: tuple[str | int, ...] = (key,) if isinstance(key, str) else key


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


def template_names(text: str) -> set[str]:
    """The names ``text`` uses as ``{{ name }}``; raise for a malformed template."""
    if "{{" in _TEMPLATE.sub("", text):
        raise ValueError(
            "malformed template: write {{ name }} with a name of "
            + ", ".join(TEMPLATE_NAMES)
            + " or of an earlier step's capture"
        )
    return set(_TEMPLATE.findall(text))


def sql_parameter_names(text: str) -> set[str]:
    """The names ``text`` uses as ``%(name)s``."""
    return set(_SQL_PARAMETER.findall(text))


def unknown_names(used: set[str], known: set[str] | tuple[str, ...]) -> str | None:
    """The message for names used but not known, or None."""
    unknown = sorted(used - set(known))
    if not unknown:
        return None
    return f"unknown template name(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"


def check_templates(text: str) -> str:
    """``text`` when every ``{{ name }}`` in it is well formed and one of the run's names."""
    problem = unknown_names(template_names(text), TEMPLATE_NAMES)
    if problem:
        raise ValueError(problem)
    return text


def render(text: str, values: dict[str, str]) -> str:
    """Replace ``{{ name }}`` with its value (names were checked when loading)."""
    return _TEMPLATE.sub(lambda m: values.get(m.group(1), m.group(0)), text)


class Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, allow_inf_nan=False, populate_by_name=True
    )

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
