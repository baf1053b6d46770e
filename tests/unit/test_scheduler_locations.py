"""Which checks an instance schedules: its place, and only valid files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import yaml

from covenant.kernel.config import CovenantConfig
from schedules import CheckScheduler, slot_of


def check(name: str, location: str | None = None) -> dict[str, object]:
    found: dict[str, object] = {
        "name": name,
        "interval": "60s",
        "traffic": {"sql": {"statements": ["SELECT 1"]}},
        "expect": [{"name": "row", "sql": {"query": "SELECT 1"}}],
    }
    if location:
        found["location"] = location
    return found


def scheduler(tmp_path: Path, location: str | None) -> CheckScheduler:
    (tmp_path / "checks.yaml").write_text(
        yaml.safe_dump([check("everywhere"), check("eu-only", "eu"), check("us-only", "us")])
    )
    config = CovenantConfig.model_validate(
        {
            "checks": {"dir": str(tmp_path), "location": location},
            "stack": {"state_dir": str(tmp_path / "state")},
        }
    )
    return CheckScheduler(config)


def test_an_instance_runs_the_checks_of_its_place_and_the_placeless_ones(tmp_path: Path) -> None:
    eu = scheduler(tmp_path, "eu")
    eu.reload(force=True)
    assert set(eu.checks) == {"everywhere", "eu-only"}
    nowhere = scheduler(tmp_path, None)
    nowhere.reload(force=True)
    assert set(nowhere.checks) == {"everywhere"}


def test_a_broken_file_keeps_the_running_schedule(tmp_path: Path) -> None:
    eu = scheduler(tmp_path, "eu")
    eu.reload(force=True)
    (tmp_path / "broken.yaml").write_text("name: [unclosed\n")
    assert eu.reload() is False
    assert set(eu.checks) == {"everywhere", "eu-only"}
    assert eu.problems and "invalid YAML" in eu.problems[0]


def test_slots_are_aligned_to_the_epoch_and_tolerate_a_late_fire() -> None:
    on_time = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)
    late = datetime(2026, 11, 21, 12, 0, 7, tzinfo=UTC)
    assert slot_of(on_time, 60) == slot_of(late, 60) == on_time
    assert slot_of(datetime(2026, 11, 21, 12, 0, 2, 900000, tzinfo=UTC), 5) == datetime(
        2026, 11, 21, 12, 0, 5, tzinfo=UTC
    )
