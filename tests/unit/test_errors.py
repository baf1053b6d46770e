"""The error tree in ``covenant.kernel.errors`` names every subclass there is."""

from __future__ import annotations

import importlib
import pkgutil

import contracts
import schedules
import verifiers
from covenant import app, kernel
from covenant.kernel import errors
from covenant.kernel.errors import CovenantError, ErrorKind, exit_code_for


def _all_subclasses(cls: type[CovenantError]) -> set[type[CovenantError]]:
    found: set[type[CovenantError]] = set()
    sub: type[CovenantError]
    for sub in cls.__subclasses__():
        found |= {sub, *_all_subclasses(sub)}
    return found


def _import_everything() -> None:
    for package in (kernel, contracts, verifiers, schedules, app):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if ".consumers" not in info.name:
                importlib.import_module(info.name)


def test_every_subclass_is_drawn_in_the_tree() -> None:
    _import_everything()
    drawn = errors.__doc__ or ""
    missing = sorted(c.__name__ for c in _all_subclasses(CovenantError) if c.__name__ not in drawn)
    assert missing == []


def test_check_file_problems_are_configuration_errors() -> None:
    from schedules import CheckFileError

    error = CheckFileError(["a.yaml:3: name: missing", "b.yaml:1: unknown key"])
    assert error.kind is ErrorKind.CONFIG
    assert exit_code_for(error) == 2
    assert str(error) == "a.yaml:3: name: missing\nb.yaml:1: unknown key"


def test_the_status_pages_unavailable_database_is_in_the_tree() -> None:
    from covenant.app._status_data import StatusUnavailable

    error = StatusUnavailable("the database is unavailable")
    assert isinstance(error, CovenantError)
    assert error.kind is ErrorKind.UNREACHABLE
    assert str(error) == error.message == "the database is unavailable"
    assert exit_code_for(error) == 3
