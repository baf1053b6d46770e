"""Read check files (``schedules/*.yaml``) with errors that name file, line and key.

One file may hold one check (a mapping) or several (a list of mappings). Every
problem of every file is collected, so ``covenant check validate`` reports them
all at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from covenant.kernel.errors import CovenantError, ErrorKind
from covenant.kernel.yamlpos import (
    KeyPath,
    PositionedDocument,
    YamlSyntaxError,
    format_key_path,
    read_positioned,
)
from schedules import _model
from schedules._model import Check, KeyedValueError

#: Largest check file read (bytes).
MAX_FILE_BYTES = 1024 * 1024

__all__ = ["CheckFileError", "LoadedCheck", "load_checks", "load_file"]


@dataclass(frozen=True)
class LoadedCheck:
    check: Check
    source: str  # file:line of the check


class CheckFileError(CovenantError):
    """Every problem found, one ``file:line: key: what`` per line."""

    kind = ErrorKind.CONFIG

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def _describe(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key"
    message = str(error["msg"]).removeprefix("Value error, ")
    shown = repr(error.get("input"))
    if (
        error["type"] not in ("missing",)
        and len(shown) <= 60
        and not isinstance(error.get("input"), dict | list)
    ):
        message += f" (got {shown})"
    return message


def _is_tag(part: str | int) -> bool:
    """A name pydantic adds to an error location for a union member or a validator
    (``KafkaTraffic``, ``function-after[...]``), not a key of the file."""
    text = str(part)
    return text in _MODEL_NAMES or text.startswith(("function-", "tagged-union["))


_MODEL_NAMES = frozenset(
    name
    for name, value in vars(_model).items()
    if isinstance(value, type) and issubclass(value, BaseModel)
)


def _validate(doc: PositionedDocument, item: Any, base: KeyPath) -> tuple[Check | None, list[str]]:
    try:
        return Check.model_validate(item), []
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            # Union/tagged members add their model name to loc; keep the key path only.
            loc: KeyPath = tuple(p for p in error["loc"] if not _is_tag(p))
            cause = (error.get("ctx") or {}).get("error")
            if isinstance(cause, KeyedValueError):
                loc = (*loc, *cause.key)  # a rule across keys names the key it blames
            path = (*base, *loc)
            problems.append(f"{doc.location_of(path)}: {format_key_path(path)}: {_describe(error)}")
        return None, problems


def _unknown_connections(
    doc: PositionedDocument, check: Check, base: KeyPath, connections: frozenset[str]
) -> list[str]:
    """Connection names the configuration does not define (``checks.connections``)."""
    named: list[tuple[KeyPath, str]] = []
    if check.traffic.sql is not None:
        named.append((("traffic", "sql", "connection"), check.traffic.sql.connection))
    for index, expectation in enumerate(check.expect):
        if expectation.sql is not None:
            named.append((("expect", index, "sql", "connection"), expectation.sql.connection))
    known = ", ".join(sorted(connections))
    return [
        f"{doc.location_of((*base, *key))}: {format_key_path((*base, *key))}:"
        f" no connection named '{name}' (checks.connections has: {known})"
        for key, name in named
        if name not in connections
    ]


def load_file(
    path: Path, connections: frozenset[str] | None = None
) -> tuple[list[LoadedCheck], list[str]]:
    """The checks of one file and the problems found in it; with ``connections``, also
    every SQL connection name that is not one of them."""
    try:
        doc = read_positioned(path, max_bytes=MAX_FILE_BYTES)
    except YamlSyntaxError as exc:
        where = f"{exc.source}:{exc.line}" if exc.line else exc.source
        return [], [f"{where}: invalid YAML: {exc.problem}"]
    except OSError as exc:
        return [], [f"{path}: cannot read: {exc.strerror}"]
    if doc.data is None:
        return [], [f"{path}: empty file (expected a check or a list of checks)"]
    items: list[tuple[KeyPath, Any]]
    if isinstance(doc.data, dict):
        items = [((), doc.data)]
    elif isinstance(doc.data, list):
        items = [((index,), item) for index, item in enumerate(doc.data)]
    else:
        return [], [f"{doc.location_of(())}: expected a check (a mapping) or a list of checks"]
    loaded: list[LoadedCheck] = []
    problems: list[str] = []
    for base, item in items:
        if not isinstance(item, dict):
            problems.append(f"{doc.location_of(base)}: {format_key_path(base)}: not a mapping")
            continue
        check, found = _validate(doc, item, base)
        if check is not None and connections is not None:
            found += _unknown_connections(doc, check, base, connections)
        problems += found
        if check is not None:
            loaded.append(LoadedCheck(check, doc.location_of(base)))
    return loaded, problems


def load_checks(
    directory: Path,
    files: list[Path] | None = None,
    *,
    connections: frozenset[str] | None = None,
) -> list[LoadedCheck]:
    """Every check in ``directory/*.yaml`` (or ``files``); raise with every problem.
    ``connections``: the SQL connection names the configuration defines."""
    if files is None:
        if not directory.is_dir():
            raise CheckFileError([f"{directory}: no such directory of checks"])
        files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    loaded: list[LoadedCheck] = []
    problems: list[str] = []
    for path in files:
        found, file_problems = load_file(path, connections)
        loaded += found
        problems += file_problems
    seen: dict[str, str] = {}
    for item in loaded:
        if item.check.name in seen:
            problems.append(
                f"{item.source}: name: '{item.check.name}' is already the name of the check"
                f" at {seen[item.check.name]}"
            )
        seen.setdefault(item.check.name, item.source)
    if problems:
        raise CheckFileError(problems)
    return loaded
