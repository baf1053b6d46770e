"""Check files: typed, validated, every problem named with file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from schedules import CheckFileError, load_checks, new_run_values, parse_duration
from schedules._model import render

ROOT = Path(__file__).resolve().parents[2]

GOOD = """\
name: orders-kafka
interval: 1m30s
jitter: 5s
deadline: 20s
traffic:
  kafka:
    topic: orders
    value: '{"id": "{{ run_id }}"}'
expect:
  - name: stored
    sql:
      query: SELECT 1 FROM orders WHERE run_id = %(run_id)s
"""


def write(tmp_path: Path, text: str, name: str = "check.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    write(tmp_path, text)
    with pytest.raises(CheckFileError) as caught:
        load_checks(tmp_path)
    return caught.value.problems


def test_the_example_checks_are_valid() -> None:
    loaded = load_checks(ROOT / "schedules")
    names = {item.check.name for item in loaded}
    assert {"pipeline-kafka", "database-sql"} <= names
    kafka = next(i.check for i in loaded if i.check.name == "pipeline-kafka")
    assert {e.kind for e in kafka.expect} == {"prometheus", "loki", "sql", "alert"}
    sql = next(i.check for i in loaded if i.check.name == "database-sql")
    assert {e.kind for e in sql.expect} == {"prometheus", "sql"}
    journey = next(i.check for i in loaded if i.check.name == "journey-http")
    assert [s.name for s in journey.traffic.http_steps] == [
        "scrape",
        "process",
        "processed",
        "read-back",
        "list",
    ]
    assert journey.captures == ("eventId", "jobId", "processJob")
    drill = next(i.check for i in loaded if i.check.name == "drill-database-write-errors")
    resolved = next(
        i.check for i in loaded if i.check.name == "drill-database-write-errors-resolved"
    )
    assert not drill.scheduled and not resolved.scheduled  # a drill pages people
    assert resolved.traffic.step.kind == "none"
    for check, state in ((drill, "firing"), (resolved, "not_firing")):
        alerts = [e.alert for e in check.expect if e.alert is not None]
        assert {(a.name, a.state, a.source) for a in alerts} == {
            ("DatabaseWriteErrors", state, source)
            for source in ("prometheus", "alertmanager", "grafana")
        }


def test_a_good_file_loads_with_durations_in_seconds(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    [item] = load_checks(tmp_path)
    assert (item.check.interval, item.check.jitter, item.check.deadline) == (90.0, 5.0, 20.0)
    assert item.source.endswith("check.yaml:1")


def test_an_unknown_key_is_named_with_its_line(tmp_path: Path) -> None:
    found = problems(tmp_path, GOOD.replace("    topic: orders", "    topic: orders\n    topik: x"))
    assert found == [f"{tmp_path / 'check.yaml'}:8: traffic.kafka.topik: unknown key"]


def test_a_bad_duration_and_an_unknown_template_are_both_reported(tmp_path: Path) -> None:
    text = GOOD.replace("deadline: 20s", "deadline: soon").replace("{{ run_id }}", "{{ runid }}")
    found = problems(tmp_path, text)
    assert any(":4: deadline: " in p and "duration" in p for p in found), found
    assert any(":8: traffic.kafka.value: " in p and "runid" in p for p in found), found


def test_an_expectation_needs_exactly_one_kind(tmp_path: Path) -> None:
    text = GOOD + "  - name: both\n    sql: {query: SELECT 1}\n    loki: {selector: '{a=\"b\"}'}\n"
    [problem] = problems(tmp_path, text)
    assert ":13: expect[1]: " in problem and "exactly one" in problem


def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, "name: x\ntraffic: [unclosed\n")
    assert problem.startswith(f"{tmp_path / 'check.yaml'}:") and "invalid YAML" in problem


def test_duplicate_names_across_files(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "a.yaml")
    write(tmp_path, GOOD, "b.yaml")
    with pytest.raises(CheckFileError) as caught:
        load_checks(tmp_path)
    assert "already the name of the check" in caught.value.problems[0]


def test_interval_and_cron_exclude_each_other_and_cron_is_checked(tmp_path: Path) -> None:
    assert any(
        "interval or cron" in p
        for p in problems(
            tmp_path, GOOD.replace("interval: 1m30s", "interval: 60s\ncron: '* * * * *'")
        )
    )
    assert any(
        "crontab" in p
        for p in problems(tmp_path, GOOD.replace("interval: 1m30s", "cron: 'every day'"))
    )


def test_durations() -> None:
    assert parse_duration("500ms") == 0.5
    assert parse_duration("1h2m3s") == 3723.0
    assert parse_duration(7) == 7.0
    with pytest.raises(ValueError):
        parse_duration("7 seconds")


def test_run_values_carry_a_w3c_traceparent() -> None:
    values = new_run_values()
    version, trace_id, span_id, flags = values["traceparent"].split("-")
    assert (version, flags, len(trace_id), len(span_id)) == ("00", "01", 32, 16)
    assert trace_id == values["trace_id"]
    assert render('{"id": "{{run_id}}", "t": "{{ traceparent }}"}', values) == (
        f'{{"id": "{values["run_id"]}", "t": "{values["traceparent"]}"}}'
    )
