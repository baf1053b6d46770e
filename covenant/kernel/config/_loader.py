"""Load the configuration once: explicit argument > environment > file > default.

- The file is ``--config PATH``, else ``$COVENANT_CONFIG``, else ``./covenant.yaml``
  when present; no file at all is fine (every field has a default).
- ``${VAR}`` and ``${VAR:-default}`` in string values of the file are replaced
  from the environment; ``$${`` writes a literal ``${``.
- ``COVENANT_SECTION__KEY=value`` overrides ``section.key`` (``__`` nests);
  a value is converted to the key's type (``8080`` for a port, ``true`` for a
  flag), ``[a, b]`` is a list, and an empty value means unset.
- Every error names where the bad value came from (``file:line`` or the
  environment variable), its key path, and what was expected.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from covenant.kernel.config import _model
from covenant.kernel.config._model import CovenantConfig
from covenant.kernel.errors import ConfigError
from covenant.kernel.yamlpos import (
    KeyPath,
    PositionedDocument,
    YamlSyntaxError,
    format_key_path,
    read_positioned,
)

__all__ = ["ENV_PREFIX", "load_config", "resolve_config_path"]

ENV_PREFIX = "COVENANT_"
CONFIG_ENV = "COVENANT_CONFIG"
DEFAULT_FILE = Path("covenant.yaml")

_VAR = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
#: Largest configuration file read (bytes).
MAX_FILE_BYTES = 1024 * 1024
_SECRET_WORDS = ("token", "password", "secret", "url")


def resolve_config_path(
    explicit: Path | None = None, environ: Mapping[str, str] | None = None
) -> Path | None:
    """Which file the configuration comes from, or ``None`` for defaults only."""
    env = os.environ if environ is None else environ
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError("configuration file not found", location=str(explicit))
        return explicit
    if env.get(CONFIG_ENV):
        path = Path(env[CONFIG_ENV])
        if not path.is_file():
            raise ConfigError(
                f"configuration file not found (from ${CONFIG_ENV})", location=str(path)
            )
        return path
    return DEFAULT_FILE if DEFAULT_FILE.is_file() else None


def _interpolate(value: Any, path: KeyPath, doc: PositionedDocument, env: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, (*path, k), doc, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, (*path, i), doc, env) for i, v in enumerate(value)]
    if not isinstance(value, str) or "$" not in value:
        return value

    unmatched = _VAR.sub("", value)
    if "${" in unmatched:
        raise ConfigError(
            "malformed ${...} reference (write ${NAME} or ${NAME:-default}; $${ for a literal ${)",
            location=doc.location_of(path),
            key=format_key_path(path),
        )

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise ConfigError(
            f"environment variable ${{{name}}} is not set (set it, or write ${{{name}:-default}})",
            location=doc.location_of(path),
            key=format_key_path(path),
        )

    return _VAR.sub(substitute, value)


def _env_overrides(env: Mapping[str, str]) -> list[tuple[KeyPath, Any, str]]:
    overrides: list[tuple[KeyPath, Any, str]] = []
    for name in sorted(env):
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV:
            continue
        key_path = tuple(part.lower() for part in name[len(ENV_PREFIX) :].split("__"))
        if not all(key_path):
            raise ConfigError("malformed override name (empty key between '__')", location=name)
        raw = env[name]
        value: Any = raw
        if not raw.strip():
            value = None
        elif raw.lstrip().startswith(("[", "{")):
            # Lists and mappings as YAML flow: COVENANT_STACK__ENGINES=[postgres, kafka]
            try:
                value = yaml.safe_load(raw)
            except yaml.YAMLError as exc:
                raise ConfigError(f"invalid YAML flow value: {exc}", location=name) from None
        # Scalars stay strings: the typed model converts "8080" to a number where a
        # number is expected, and an all-digit password stays a password.
        overrides.append((key_path, value, name))
    return overrides


def _set_path(target: dict[str, Any], path: KeyPath, value: Any, origin: str) -> None:
    node = target
    for index, part in enumerate(path[:-1]):
        child = node.get(str(part))
        if child is None:
            child = node[str(part)] = {}
        if not isinstance(child, dict):
            raise ConfigError(
                f"cannot set a nested key under a {type(child).__name__} value",
                location=origin,
                key=format_key_path(path[: index + 1]),
            )
        node = child
    node[str(path[-1])] = value


def _is_tag(part: str | int) -> bool:
    text = str(part)
    return isinstance(part, str) and (
        text.startswith(("function-", "literal[", "tagged-union[")) or text in _MODEL_NAMES
    )


_MODEL_NAMES = frozenset(
    name
    for name, value in vars(_model).items()
    if isinstance(value, type) and issubclass(value, BaseModel)
)


def _describe_error(error: Any, show_input: bool) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key"
    message = str(error["msg"]).removeprefix("Value error, ")
    if show_input:
        shown = repr(error.get("input"))
        if len(shown) <= 60:
            message += f" (got {shown})"
    return message


def load_config(
    path: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> CovenantConfig:
    """Load, interpolate, override and validate the configuration.

    ``overrides`` maps dotted key paths (``server.port``) to values given as
    explicit arguments, for instance CLI options; they win over everything.
    """
    env = os.environ if environ is None else environ
    file = resolve_config_path(path, env)
    doc = PositionedDocument(source="(defaults)", data={})
    if file is not None:
        try:
            doc = read_positioned(file, max_bytes=MAX_FILE_BYTES)
        except YamlSyntaxError as exc:
            where = f"{exc.source}:{exc.line}" if exc.line else exc.source
            raise ConfigError(f"invalid YAML: {exc.problem}", location=where) from None
        except OSError as exc:
            raise ConfigError(f"cannot read: {exc.strerror}", location=str(file)) from None
        if doc.data is None:
            doc.data = {}
        if not isinstance(doc.data, dict):
            raise ConfigError(
                f"expected a mapping of settings at the top level, got {type(doc.data).__name__}",
                location=doc.location_of(()),
            )
    data: dict[str, Any] = _interpolate(doc.data, (), doc, env)

    origins: dict[KeyPath, str] = {}
    for key_path, value, origin in _env_overrides(env):
        _set_path(data, key_path, value, origin)
        origins[key_path] = origin
    for dotted, value in (overrides or {}).items():
        key_path = tuple(dotted.split("."))
        _set_path(data, key_path, value, f"--{dotted}")
        origins[key_path] = f"argument {dotted}"

    try:
        return CovenantConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            # Union members add tags such as literal['a','b'] to loc; keep the key path.
            loc: KeyPath = tuple(p for p in error["loc"] if not _is_tag(p))
            override = next(
                (origins[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in origins),
                None,
            ) or next((o for path, o in origins.items() if path[: len(loc)] == loc), None)
            location = override or doc.location_of(loc)
            secret = any(word in str(part).lower() for part in loc for word in _SECRET_WORDS)
            problems.append(
                f"{location}: {format_key_path(loc)}: {_describe_error(error, not secret)}"
            )
        raise ConfigError(
            "invalid configuration:\n  " + "\n  ".join(problems),
            location=str(file) if file else None,
        ) from None
