"""Formats shared by the doubles: Prometheus durations, Go's number formatting, label-set
fingerprints and timestamps, so that the strings they answer match the real servers'."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal

__all__ = [
    "format_go_exp",
    "format_go_float",
    "format_prom_duration",
    "label_fingerprint",
    "parse_prom_duration",
    "rfc3339",
]

_DURATION_RE = re.compile(
    r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$"
)
_DURATION_SECONDS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)
_FORMAT_UNITS_MS = (
    ("y", 365 * 86400 * 1000, True),
    ("w", 7 * 86400 * 1000, True),
    ("d", 86400 * 1000, False),
    ("h", 3600 * 1000, False),
    ("m", 60 * 1000, False),
    ("s", 1000, False),
    ("ms", 1, False),
)


def parse_prom_duration(text: str) -> float:
    """Seconds in a Prometheus duration (``5m``, ``1h30m``, ``0``), the syntax of LogQL
    ranges, Loki's ``step`` and Grafana's ``for``."""
    if text == "0":
        return 0.0
    match = _DURATION_RE.match(text)
    if not text or match is None or not any(match.groups()):
        raise ValueError(f"not a valid duration string: {text!r}")
    pairs = zip(match.groups(), _DURATION_SECONDS, strict=True)
    return float(sum(int(g) * unit for g, unit in pairs if g))


def format_prom_duration(seconds: float) -> str:
    """Prometheus' ``model.Duration.String``: years and weeks only when exact."""
    ms = round(seconds * 1000)
    if ms == 0:
        return "0s"
    text = ""
    for unit, mult, exact in _FORMAT_UNITS_MS:
        if exact and ms % mult:
            continue
        if ms >= mult:
            text += f"{ms // mult}{unit}"
            ms %= mult
    return text


def _special(value: float) -> str | None:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return None


def format_go_float(value: float) -> str:
    """Go's ``strconv.FormatFloat(v, 'f', -1, 64)``, which Prometheus and Loki use for
    sample values: shortest digits, never an exponent."""
    special = _special(value)
    if special is not None:
        return special
    if value.is_integer():
        return str(int(value))
    return format(Decimal(repr(value)), "f")


def format_go_exp(value: float) -> str:
    """Go's ``strconv.FormatFloat(v, 'e', -1, 64)`` (``1e+00``, ``2.5e-03``), the format of
    the ``value`` Grafana shows for an alert instance."""
    special = _special(value)
    if special is not None:
        return special
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    exp10 = exponent + len(digits) - 1 if any(digits) else 0
    mantissa = str(digits[0]) + ("." + "".join(map(str, digits[1:])) if len(digits) > 1 else "")
    return f"{'-' if sign else ''}{mantissa}e{'+' if exp10 >= 0 else '-'}{abs(exp10):02d}"


_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_MASK64 = (1 << 64) - 1


def label_fingerprint(labels: Mapping[str, str]) -> str:
    """Prometheus' label-set fingerprint (FNV-1a 64 over sorted names and values, each
    followed by byte 255), as Alertmanager shows it in ``fingerprint``."""
    digest = _FNV_OFFSET  # also the fingerprint of the empty label set
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in (*part.encode(), 255):
                digest = ((digest ^ byte) * _FNV_PRIME) & _MASK64
    return f"{digest:016x}"


def rfc3339(seconds: float) -> str:
    """UTC timestamp with milliseconds, as Alertmanager and Grafana write them."""
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
