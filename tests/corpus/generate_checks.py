"""Write ``tests/corpus/checks/cases.jsonl``: malformed check files (``schedules/*.yaml``).

Run from the repository root: ``.venv/bin/python tests/corpus/generate_checks.py``.
The output is committed; ``tests/unit/test_corpus_checks.py`` feeds each case to
the check loader (and a sample to ``covenant check validate FILE``).

Each line is one case: ``id``; the file as ``text`` (``repeat`` times) or
``bytes_hex``; ``expect``, the answer class (``error-with-location``: exit 2 and
``FILE:LINE: key.path: ...``; ``error-with-line``: exit 2 and ``FILE:LINE: ...``
for a file that is not valid YAML; ``error-with-file``: exit 2 and ``FILE: ...``);
``line`` to ``last_line`` (the message's line must be in that range) and ``key``;
``connections``, when given, the SQL connection names the configuration defines
(``covenant check validate`` passes ``postgres`` and ``checks.connections``).

Most cases change one key of a valid check (``BASE_KAFKA`` or ``BASE_SQL``); lines
come from PyYAML's composer, independently of the loader under test.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

OUT = Path(__file__).resolve().parent / "checks" / "cases.jsonl"

BASE_KAFKA: dict[str, Any] = {
    "name": "corpus-kafka",
    "description": "a valid check that each case breaks in one place",
    "interval": "60s",
    "jitter": "5s",
    "deadline": "30s",
    "traffic": {
        "kafka": {
            "topic": "event.scraped",
            "key": "{{ event_id }}",
            "value": '{"eventId": "{{ event_id }}", "runId": "{{ run_id }}"}',
            "headers": {"x-run": "{{ run_id }}"},
        }
    },
    "expect": [
        {"name": "counted", "prometheus": {"increase": "events_total"}},
        {"name": "logged", "loki": {"selector": '{service="event-worker"}'}},
        {"name": "not-stalled", "alert": {"name": "Stalled", "state": "not_firing"}},
        {"name": "dashboards", "grafana": {"datasource": "prometheus"}},
        {"name": "stored", "sql": {"query": "SELECT 1 WHERE %(run_id)s IS NOT NULL"}},
    ],
}
BASE_SQL: dict[str, Any] = {
    "name": "corpus-sql",
    "cron": "*/5 * * * *",
    "traffic": {"sql": {"connection": "postgres", "statements": ["SELECT %(run_id)s"]}},
    "expect": [{"name": "up", "prometheus": {"condition": "up"}}],
}

MISSING = object()
INF, NAN = float("inf"), float("nan")
DURATION = ["abc", "-1s", -1, INF, -INF, NAN, "5d", "1e300", 1e300, "8d", "200h", True, [], {}]

#: (key path, bad values, key the message must name (default: the path))
KAFKA_CASES: list[tuple[tuple[str | int, ...], list[Any], str | None]] = [
    (("name",), ["", "has space", "x" * 101, 5, [], "caf\u00e9", None, "a/b", MISSING], None),
    (("description",), [[], {}, 5], None),
    (("interval",), [*DURATION, "0.5s", "500ms", 0, "60"], None),
    (("jitter",), DURATION, None),
    (("deadline",), [*DURATION, 0, "0s", "61s", "2m"], None),
    (("cron",), ["99 * * * *", "* * *", 5, "", "@reboot", "* * * * * * * *", "*/0 * * * *"], None),
    (("location",), [[], {}, 5], None),
    (("enabled",), ["maybe", 2, [], "on and off"], None),
    (("traffic",), [[], "kafka", {}, MISSING, None], None),
    (("traffic", "kafka"), ["topic", [], 5], None),
    (
        ("traffic", "kafka", "topic"),
        ["", "bad topic", "x" * 250, 5, None, "t\u00f6pic", "a/b", "{{ run_id }}", MISSING],
        None,
    ),
    (
        ("traffic", "kafka", "value"),
        [MISSING, 5, [], {}, "{{ nope }}", "{{ run_id", "{{}}", "x {{ run_id }} {{ eventid }}"],
        None,
    ),
    (("traffic", "kafka", "key"), ["{{ bad }}", [], {}, "{{ run_id }"], None),
    (
        ("traffic", "kafka", "headers"),
        ["h", ["h"], {"h": []}, {"h": "{{ nope }}"}, {"h": "{{ trace_id"}],
        None,
    ),
    (("traffic", "kafka", "partition"), [0], None),
    (("traffic", "Kafka"), [{"topic": "t", "value": "v"}], None),
    (("expect",), [[], "x", MISSING, [5], {}, None], None),
    (("expect", 0), [5, "counted", [], {}], None),
    (("expect", 0, "name"), ["", "a b", "dup\u00e9", 5, [], MISSING], None),
    (("expect", 0, "prometheus"), [{}, "up", {"condition": "up", "increase": "x"}], None),
    (("expect", 0, "prometheus", "condition"), [5, [], {}], None),
    (("expect", 0, "Prometheus"), [{"condition": "up"}], None),
    (("expect", 0, "timeout"), ["5s"], None),
    (
        ("expect", 1, "loki", "selector"),
        ["service=x", "{}", "{ }", 5, '{service="x"', "", '{="x"}', "{service}", MISSING],
        None,
    ),
    (("expect", 1, "loki", "contains"), ["{{ nope }}", 5, "{{ run_id"], None),
    (("expect", 1, "loki", "window_before"), [-1, INF, NAN, "x", 1e12, True], None),
    (("expect", 2, "alert", "name"), ["", 5, MISSING, None], None),
    (("expect", 2, "alert", "state"), ["on", "FIRING", 1, None], None),
    (("expect", 2, "alert", "source"), ["loki", "", 5], None),
    (("expect", 2, "alert", "labels"), [[], "a=b", {"a": []}, {"a": {}}], None),
    (("expect", 3, "grafana"), [{}, {"datasource": None, "dashboard": None}, "prometheus"], None),
    (("expect", 3, "grafana", "datasource"), [5, [], {}], None),
    (("expect", 4, "sql", "query"), ["", 5, [], MISSING], None),
    (("expect", 4, "sql", "connection"), [[], 5, {}], None),
    (("expect", 4, "sql", "rows"), [1], None),
    (("Name",), ["x"], None),
    (("schedule",), ["60s"], None),
]

SQL_CASES: list[tuple[tuple[str | int, ...], list[Any], str | None]] = [
    (("traffic", "sql", "statements"), [[], "SELECT 1", [5], [[]], MISSING, None], None),
    (("traffic", "sql", "connection"), [[], 5, {}, None], None),
    (("traffic", "sql", "timeout"), ["5s"], None),
    (("cron",), ["61 * * * *", "* * * *", "*/5 * * * * *", "x y z a b"], None),
]


def _set(data: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    node: Any = data
    for part in path[:-1]:
        node = node[part]
    if value is MISSING:
        del node[path[-1]]
    else:
        node[path[-1]] = value


def _find(node: yaml.Node, path: tuple[str | int, ...]) -> tuple[yaml.Node, int]:
    """The value node at ``path`` and the line of its key (or list item)."""
    line = node.start_mark.line + 1
    for part in path:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part:
                    line, node = key.start_mark.line + 1, value
                    break
            else:
                raise KeyError(part)
        else:
            assert isinstance(node, yaml.SequenceNode) and isinstance(part, int)
            node = node.value[part]
            line = node.start_mark.line + 1
    return node, line


def _span(text: str, path: tuple[str | int, ...]) -> tuple[int, int]:
    root = yaml.compose(text)
    assert root is not None
    node, first = _find(root, path)
    end = node.end_mark
    return first, max(first, end.line + 1 if end.column > 0 else end.line)


def _key(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=10_000)


def cases() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(
        case_id: str,
        text: str,
        expect: str,
        line: int | None,
        key: str | None,
        last: int | None = None,
    ) -> None:
        out.append(
            {
                "id": case_id,
                "text": text,
                "expect": expect,
                "line": line,
                "last_line": last or line,
                "key": key,
            }
        )

    for base_name, base, table in (
        ("kafka", BASE_KAFKA, KAFKA_CASES),
        ("sql", BASE_SQL, SQL_CASES),
    ):
        for path, values, named in table:
            for index, value in enumerate(values):
                data = copy.deepcopy(base)
                if path == ("cron",) and "interval" in data:
                    del data["interval"]  # a crontab instead of an interval
                _set(data, path, value)
                text = _dump(data)
                if value is MISSING:
                    # Named at the mapping that lacks the key.
                    first, last = _span(text, path[:-1]) if len(path) > 1 else (1, 1)
                else:
                    first, last = _span(text, path)
                add(
                    f"{base_name}/{_key(path)}/{index}",
                    text,
                    "error-with-location",
                    first,
                    named or _key(path),
                    last,
                )

    # -- rules across keys: the message names the key it blames ------------------------
    data = copy.deepcopy(BASE_KAFKA)
    data["cron"] = "* * * * *"
    text = _dump(data)
    add("rule/interval-and-cron", text, "error-with-location", _span(text, ("cron",))[0], "cron")
    data = copy.deepcopy(BASE_KAFKA)
    data["traffic"]["sql"] = copy.deepcopy(BASE_SQL["traffic"]["sql"])
    text = _dump(data)
    first, last = _span(text, ("traffic",))
    add("rule/kafka-and-sql", text, "error-with-location", first, "traffic", last)
    data = copy.deepcopy(BASE_KAFKA)
    data["expect"][0]["loki"] = {"selector": '{a="b"}'}
    text = _dump(data)
    first, last = _span(text, ("expect", 0))
    add("rule/two-kinds", text, "error-with-location", first, "expect[0]", last)
    data = copy.deepcopy(BASE_KAFKA)
    data["expect"][1]["name"] = data["expect"][0]["name"]
    text = _dump(data)
    first, last = _span(text, ("expect",))
    add("rule/duplicate-expectation", text, "error-with-location", first, "expect", last)

    # -- connections the configuration does not define (only "postgres" here) -----------
    unknown_connections: list[tuple[tuple[str | int, ...], Any]] = [
        (("traffic", "sql", "connection"), "warehouse"),
        (("traffic", "sql", "connection"), "Postgres"),
        (("expect", 0, "sql"), {"connection": "nope", "query": "SELECT 1"}),
    ]
    for index, (path, name) in enumerate(unknown_connections):
        data = copy.deepcopy(BASE_SQL)
        if path[0] == "expect":
            data["expect"][0] = {"name": "up", "sql": name}
            path = (*path, "connection")
        else:
            _set(data, path, name)
        text = _dump(data)
        first, last = _span(text, path)
        add(f"connection/{index}", text, "error-with-location", first, _key(path), last)
        out[-1]["connections"] = ["postgres"]

    # -- several checks in one file ----------------------------------------------------
    second = copy.deepcopy(BASE_SQL)
    second["name"] = BASE_KAFKA["name"]
    text = _dump([BASE_KAFKA, second])
    first, last = _span(text, (1,))
    add("list/duplicate-name", text, "error-with-location", first, "name", last)
    not_checks: list[Any] = [5, "check", [], None]
    for index, bad in enumerate(not_checks):
        text = _dump([BASE_KAFKA, bad])
        first, last = _span(text, (1,))
        add(f"list/not-a-mapping/{index}", text, "error-with-location", first, "[1]", last)
    broken = copy.deepcopy(BASE_SQL)
    broken["traffic"]["sql"]["statements"] = []
    text = _dump([BASE_KAFKA, broken])
    first, last = _span(text, (1, "traffic", "sql", "statements"))
    add("list/second-item", text, "error-with-location", first, "[1].traffic.sql.statements", last)

    # -- not a check at all -------------------------------------------------------------
    for index, text in enumerate(["42\n", "just text\n", "true\n", "'quoted'\n"]):
        add(f"top-level/{index}", text, "error-with-line", 1, None)
    add("empty/nothing", "", "error-with-file", None, None)
    add("empty/comment", "# nothing here\n", "error-with-file", None, None)
    add("empty/null", "~\n", "error-with-file", None, None)

    # -- YAML that is not valid, or valid and still refused ------------------------------
    text = _dump(BASE_KAFKA)
    base_lines = text.splitlines(keepends=True)
    syntax: dict[str, tuple[tuple[str, str], int | tuple[int, int] | None]] = {
        "tab": (("interval: 60s\n", "interval:\t60s\n\tjitter: 5s\n"), 3),
        "unclosed-flow": (("jitter: 5s\n", "jitter: {5s\n"), (4, 5)),
        "unclosed-quote": (("deadline: 30s\n", 'deadline: "30s\n'), None),
        "bad-indent": (("jitter: 5s\n", "jitter: 5s\n   extra: 1\n"), 5),
        "at-sign": (("deadline: 30s\n", "deadline: @30s\n"), 5),
        "python-tag": (("deadline: 30s\n", "deadline: !!python/name:os.system\n"), 5),
        "undefined-alias": (("deadline: 30s\n", "deadline: *later\n"), 5),
        "two-documents": (("jitter: 5s\n", "jitter: 5s\n---\n"), 5),
        "duplicate-key": (("jitter: 5s\n", "jitter: 5s\njitter: 6s\n"), 5),
        "duplicate-nested": (("    topic: event.scraped\n", "    topic: a\n    topic: b\n"), 9),
        "nul": (("deadline: 30s\n", "deadline: 30s\x00\n"), 5),
        "bell": (("deadline: 30s\n", "deadline: 30s\x07\n"), 5),
    }
    for name, (edit, line) in syntax.items():
        old, new = edit
        assert old in text, old
        changed = text.replace(old, new, 1)
        low, high = line if isinstance(line, tuple) else (line, line)
        add(f"syntax/{name}", changed, "error-with-line", low, None, high)
    assert base_lines  # the base dump is not empty
    add("alias/cycle", "name: &a [*a]\n", "error-with-line", 1, None)
    laughs = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 9):
        laughs.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 10)}]")
    add("alias/billion-laughs", "\n".join(laughs) + "\n", "error-with-line", None, None)
    add("deep/flow", "name: " + "[" * 5000 + "]" * 5000 + "\n", "error-with-line", 1, None)
    out.append(
        {
            "id": "size/over-1-MiB",
            "text": "# padding\n",
            "repeat": 120_000,
            "expect": "error-with-file",
            "line": None,
            "last_line": None,
            "key": None,
        }
    )
    for name, raw in {
        "latin-1": _dump(BASE_SQL).replace("corpus-sql", "caf\u00e9").encode("latin-1"),
        "utf-16": _dump(BASE_SQL).encode("utf-16"),
        "binary": bytes(range(256)) * 4,
    }.items():
        out.append(
            {
                "id": f"encoding/{name}",
                "bytes_hex": raw.hex(),
                "expect": "error-with-line",
                "line": None,
                "last_line": None,
                "key": None,
            }
        )
    return out


def main() -> None:
    found = cases()
    ids = [case["id"] for case in found]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", encoding="utf-8") as handle:
        for case in found:
            handle.write(json.dumps(case, ensure_ascii=False) + "\n")
    print(f"{OUT.name}: {len(found)} cases")


if __name__ == "__main__":
    main()
