"""The kernel's shared mappings: engine keys of service names, sibling database URLs."""

from __future__ import annotations

from pathlib import Path

import pytest

from covenant.kernel.config import REFERENCE_SERVICES
from covenant.kernel.endpoints import engine_key, service_name, stack_service_url
from covenant.kernel.postgres import create_database, database_url, sibling_url
from covenant.kernel.stackstate import EngineRecord, StackState, save_state


@pytest.mark.parametrize(
    ("service", "engine"),
    [
        ("hono-api", "hono_api"),
        ("baml-extractor", "baml_extractor"),
        ("event-worker", "event_worker"),
        ("postgres", "postgres"),
        ("hono_api", "hono_api"),
    ],
)
def test_engine_key(service: str, engine: str) -> None:
    assert engine_key(service) == engine


def test_service_name_round_trips_the_reference_services() -> None:
    for engine in REFERENCE_SERVICES:
        assert "_" not in service_name(engine)
        assert engine_key(service_name(engine)) == engine


def test_sibling_url_replaces_only_the_database() -> None:
    url = "postgresql://covenant:s3cret@127.0.0.1:5432/covenant"
    assert sibling_url(url, "other") == "postgresql://covenant:s3cret@127.0.0.1:5432/other"
    assert database_url(url) == "postgresql://covenant:s3cret@127.0.0.1:5432/postgres"


@pytest.mark.parametrize(
    "name", ["", "1abc", 'x"; DROP DATABASE covenant; --', "with-dash", "a b", "x" * 64]
)
def test_create_database_refuses_names_that_are_not_plain(name: str) -> None:
    # Refused before any connection is tried: the server URL is never reached.
    with pytest.raises(ValueError, match="not a plain database name"):
        create_database("postgresql://u:p@127.0.0.1:1/db", name)


def test_stack_service_url_reads_the_stacks_record_by_service_or_engine_name(
    tmp_path: Path,
) -> None:
    record = EngineRecord("hono_api", 1, 4321, "http://127.0.0.1:4321", 0.0, 0, "hono.log")
    save_state(tmp_path, StackState(engines={"hono_api": record}))
    assert stack_service_url(tmp_path, "hono-api") == "http://127.0.0.1:4321"
    assert stack_service_url(tmp_path, "hono_api") == "http://127.0.0.1:4321"
    assert stack_service_url(tmp_path, "baml-extractor") is None
    assert stack_service_url(tmp_path / "never-started", "hono-api") is None
