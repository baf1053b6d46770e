"""Write ``tests/corpus/config/cases.jsonl``: malformed configuration files.

Run from the repository root: ``.venv/bin/python tests/corpus/generate_config.py``.
The output is committed; ``tests/unit/test_corpus_config.py`` feeds each case to
the configuration loader (and a sample to ``covenant --config FILE config show``).

Each line is one case:

- ``id``: stable name;
- ``text`` (UTF-8 text) or ``bytes_hex`` (raw bytes) of the file;
- ``expect``: the answer class: ``error-with-location`` (exit 2; the message
  names ``file:line`` and the key path), ``error-with-line`` (exit 2; ``file:line``,
  for a file that is not valid YAML), ``error-with-file`` (exit 2; the file, for a
  file refused as a whole);
- ``line`` and ``key``: what the message must name (``null`` where not applicable).

Lines are computed with PyYAML's composer from the text itself, independently of
the loader under test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

OUT = Path(__file__).resolve().parent / "config" / "cases.jsonl"

INT = ["abc", "", [], {}, 1.5, True, "1e400", "0x1F", "\uff11\uff12"]  # fullwidth digits
FLOAT = ["abc", [], {}, float("inf"), float("-inf"), float("nan"), "1s", True]
BOOL = ["maybe", 2, [], {}, "yes please", 0.5]
TEXT = [[], {}, 12, True]
PATH = [[], {}, 1.5]
TEXTS = ["one string", [[]], [{}], {"a": 1}, 7]

#: key path -> bad values (each must be refused)
FIELDS: dict[tuple[str, ...], list[Any]] = {
    ("log_level",): ["verbose", "INFO ", "", 3, [], "trace"],
    ("server", "host"): ["a b", "http://h", "", "-bad-", "host:80", "a..b", "x" * 300, *TEXT],
    ("server", "port"): [*INT, -1, 65536, 10**20],
    ("server", "shutdown_timeout_s"): [*FLOAT, 0, -1],
    ("server", "health_timeout_s"): [*FLOAT, 0, -5],
    ("engines", "postgres", "url"): [
        "mysql://u@h/db",
        "localhost:5432",
        "postgresql://h:99999/db",
        "postgresql://h/db?sslmode=sometimes&=x",
        *TEXT,
    ],
    ("engines", "kafka", "bootstrap_servers"): [
        "kafka",
        "kafka:",
        "kafka:0",
        "kafka:65536",
        ":9092",
        "a b:9092",
        "kafka:9092,",
        "kafka:x",
        "kafka:٩٠٩٢",
        *TEXT,
    ],
    **{
        ("engines", engine, "url"): [
            "not a url",
            "ftp://h/",
            "file:///etc/passwd",
            "http://",
            "http://h:99999/",
            "http://h:0/",
            "http://h:port/",
            "//h/",
            "h:9090",
            "http://h/\x00",
            "http://[::1/",
            *TEXT,
        ]
        for engine in ("prometheus", "alertmanager", "postgres_exporter", "loki", "grafana")
    },
    ("engines", "grafana", "token"): [[], {}, True],
    ("engines", "loki", "username"): [[], {}],
    ("stack", "state_dir"): PATH,
    ("stack", "engines"): ["postgres", ["postgres", "mysql"], [[]], [1], {"a": 1}],
    ("stack", "ready_timeout_s"): [*FLOAT, 0],
    ("stack", "stop_timeout_s"): [*FLOAT, -1],
    ("stack", "install_missing_packages"): BOOL,
    ("stack", "scrape_interval_s"): [*INT, 0, 301],
    ("stack", "provider_states"): BOOL,
    ("broker", "enabled"): BOOL,
    ("broker", "read_write_tokens"): ["one-token", [[]], [{}], {"a": "b"}],
    ("broker", "read_only_tokens"): ["one-token", [[]], 5],
    ("broker", "allow_anonymous_read"): BOOL,
    ("broker", "max_body_bytes"): [*INT, 0, 1023, -1],
    ("broker", "public_base_url"): [
        "broker.example.com",
        "ftp://b/",
        "http://",
        "https://b:70000/",
        *TEXT,
    ],
    ("broker", "webhook_timeout_s"): [*FLOAT, 0],
    ("broker", "webhook_retries"): [*INT, -1, 11],
    ("broker", "webhook_allowed_hosts"): [
        "example.com",
        ["10.0.0.0/33"],
        ["http://example.com"],
        ["example.com:80"],
        [""],
        ["*."],
        ["a b"],
        ["1.2.3.4/x"],
        [[]],
        [5],
    ],
    ("fuzz", "services"): ["svc", [{}], [{"name": "", "spec": "s"}], [{"name": "a"}], [5]],
    ("fuzz", "include_reference"): BOOL,
    ("fuzz", "include_covenant"): BOOL,
    ("fuzz", "phases"): ["examples", ["examples", "chaos"], [1], {"a": 1}],
    ("fuzz", "max_examples"): [*INT, 0, -3],
    ("fuzz", "seed"): ["seed", [], {}, 1.5],
    ("fuzz", "response_time_budget_s"): [*FLOAT, 0],
    ("fuzz", "rate_limit"): ["100", "100/y", "fast", "1/s ", 100, []],
    ("fuzz", "report_dir"): PATH,
    ("compare", "gate_can_i_deploy"): BOOL,
    ("compare", "specs"): ["spec.json", ["a"], {"p": []}, {"p": {}}],
    ("checks", "dir"): PATH,
    ("checks", "connections"): [
        "postgresql://h/db",
        ["a"],
        {"c": []},
        {"c": "mysql://h/db"},
        {"c": "not a url"},
    ],
    ("checks", "location"): TEXT,
    ("checks", "schedule"): BOOL,
    ("checks", "reload_interval_s"): [*FLOAT, 0],
    ("checks", "instance"): TEXT,
    ("telemetry", "otlp_endpoint"): ["collector:4318", "grpc://c:4317", "http://", *TEXT],
    ("telemetry", "service_name"): TEXT,
}

#: Sections, and settings nested one level deeper, that take no such key.
UNKNOWN_KEYS: list[tuple[str, ...]] = [
    ("nonsense",),
    ("Server",),
    ("server", "prot"),
    ("engines", "mysql"),
    ("engines", "postgres", "uri"),
    ("engines", "kafka", "servers"),
    ("engines", "prometheus", "URL"),
    ("stack", "statedir"),
    ("broker", "max_body_size"),
    ("broker", "webhook_allowed_host"),
    ("fuzz", "examples"),
    ("compare", "gate"),
    ("checks", "directory"),
    ("telemetry", "endpoint"),
]

#: Sections given as something other than a mapping.
SECTIONS = ["server", "engines", "stack", "broker", "fuzz", "compare", "checks", "telemetry"]


def _nest(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    data: Any = value
    for part in reversed(path):
        data = {part: data}
    assert isinstance(data, dict)
    return data


def _lines(text: str, path: tuple[str | int, ...]) -> tuple[int, int]:
    """1-based first and last line of the key at ``path`` and its value, by PyYAML's marks."""
    node = yaml.compose(text)
    assert node is not None
    first = node.start_mark.line + 1
    for part in path:
        assert isinstance(node, yaml.MappingNode)
        for key, value in node.value:
            if key.value == part:
                first, node = key.start_mark.line + 1, value
                break
        else:
            raise KeyError(part)
    end = node.end_mark
    last = end.line + 1 if end.column > 0 else end.line
    return first, max(first, last)


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
        """``line`` (to ``last``): where the message must point; a list's item counts."""
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

    # -- a bad value for every setting -------------------------------------------
    for path, values in FIELDS.items():
        key = ".".join(path)
        for index, value in enumerate(values):
            text = _dump(_nest(path, value))
            add(
                f"value/{key}/{index}",
                text,
                "error-with-location",
                *_lines(text, path)[:1],
                key,
                _lines(text, path)[1],
            )

    # -- unknown keys ----------------------------------------------------------------
    for path in UNKNOWN_KEYS:
        text = _dump(_nest(path, 1))
        key = ".".join(path)
        add(f"unknown/{key}", text, "error-with-location", _lines(text, path)[0], key)
    text = "server:\n  port: 8080\n  hots: 127.0.0.1\n"
    add("unknown/after-a-good-key", text, "error-with-location", 3, "server.hots")

    # -- sections that are not mappings ------------------------------------------------
    for section in SECTIONS:
        for index, value in enumerate(["text", [1, 2], 5, True]):
            text = _dump({section: value})
            add(f"section/{section}/{index}", text, "error-with-location", 1, section)

    # -- a good first key, then the bad one: the line is the bad one's ---------------
    text = "log_level: info\nserver:\n  host: 127.0.0.1\n  port: eighty\n"
    add("line/fourth", text, "error-with-location", 4, "server.port")
    text = "# a comment\n\n\nbroker:\n  # another\n  webhook_retries: many\n"
    add("line/after-comments", text, "error-with-location", 6, "broker.webhook_retries")

    # -- the top level is not a mapping --------------------------------------------
    for index, text in enumerate(["- a\n- b\n", "just text\n", "42\n", "[1, 2]\n", "true\n"]):
        add(f"top-level/{index}", text, "error-with-line", 1, None)

    # -- duplicate keys (YAML forbids them; the last one must not win silently) ------
    dup = {
        "top": ("log_level: info\nlog_level: debug\n", 2),
        "nested": ("server:\n  port: 1\n  port: 2\n", 3),
        "section": ("server: {}\nstack: {}\nserver: {port: 3}\n", 3),
        "flow": ("server: {port: 1, port: 2}\n", 1),
        "deep": ("engines:\n  kafka:\n    bootstrap_servers: a:1\n    bootstrap_servers: b:2\n", 4),
        "quoted": ("server:\n  port: 1\n  'port': 2\n", 3),
    }
    for name, (text, line) in dup.items():
        add(f"duplicate/{name}", text, "error-with-line", line, None)

    # -- syntax errors -----------------------------------------------------------------
    syntax = {
        "tab-indent": ("server:\n\tport: 1\n", 2),
        "bad-indent": ("server:\n  port: 1\n   host: x\n", 3),
        "unclosed-flow": ("server: {port: 1\nstack: {}\n", 2),
        "unclosed-list": ("stack:\n  engines: [postgres, kafka\n", 3),
        "unclosed-quote": ('server:\n  host: "127.0.0.1\n', 3),
        "at-sign": ("log_level: @info\n", 1),
        "backtick": ("log_level: `info`\n", 1),
        "two-documents": ("log_level: info\n---\nlog_level: debug\n", 2),
        "colon-in-key": ("server:\n  port: 1: 2\n", 2),
        "undefined-alias": ("server: *nothing\n", 1),
        "python-tag": ("server: !!python/object:os.system ls\n", 1),
        "custom-tag": ("log_level: !secret x\n", 1),
        "unhashable-key": ("? [a, b]\n: x\n", 1),
        "directive": ("%YAML 9.9\n---\na: 1\n", 1),
        "bad-escape": ('log_level: "\\q"\n', 1),
        "control-char": ("log_level: info\x07\n", 1),
    }
    for name, (text, line) in syntax.items():
        add(f"syntax/{name}", text, "error-with-line", line, None)

    # -- aliases: cycles and exponential expansion --------------------------------------
    add("alias/cycle", "server: &a [*a]\n", "error-with-line", 1, None)
    add("alias/cycle-mapping", "server: &a {x: *a}\n", "error-with-line", 1, None)
    laughs = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 9):
        refs = ", ".join([f"*a{level - 1}"] * 10)
        laughs.append(f"a{level}: &a{level} [{refs}]")
    add("alias/billion-laughs", "\n".join(laughs) + "\n", "error-with-line", None, None)

    # -- nesting and size -----------------------------------------------------------
    add("deep/flow", "a: " + "[" * 5000 + "]" * 5000 + "\n", "error-with-line", 1, None)
    deep_block = "".join("  " * i + f"k{i}:\n" for i in range(200)) + "  " * 200 + "v\n"
    add("deep/block", deep_block, "error-with-line", None, None)
    # Stored compactly: the test writes ``text`` ``repeat`` times.
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

    # -- interpolation ---------------------------------------------------------------
    interp = {
        "unset": "server:\n  host: ${COVENANT_CORPUS_UNSET_VARIABLE}\n",
        "unterminated": "server:\n  host: ${HOST\n",
        "empty-name": "server:\n  host: ${}\n",
        "bad-name": "server:\n  host: ${1HOST}\n",
        "space-in-name": "server:\n  host: ${MY HOST}\n",
        "bad-default-syntax": "server:\n  host: ${HOST-localhost}\n",
        "nested": "server:\n  host: ${A${B}}\n",
    }
    for name, text in interp.items():
        add(f"interpolation/{name}", text, "error-with-location", 2, "server.host")
    text = "broker:\n  read_write_tokens:\n    - ${COVENANT_CORPUS_UNSET_TOKEN}\n"
    add("interpolation/in-list", text, "error-with-location", 3, "broker.read_write_tokens[0]")

    # -- characters and encodings ------------------------------------------------------
    add("nul/in-value", 'log_level: "info\\0"\n', "error-with-location", 1, "log_level")
    add("nul/raw", "log_level: info\x00\n", "error-with-line", 1, None)
    for name, raw in {
        "latin-1": "server:\n  host: caf\xe9\n".encode("latin-1"),
        "utf-16": "server:\n  port: 1\n".encode("utf-16"),
        "lone-continuation": b"log_level: \x80\n",
        "truncated-utf8": b"server:\n  host: \xe2\x82\n",
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
            handle.write(json.dumps(case, ensure_ascii=False, allow_nan=True) + "\n")
    print(f"{OUT.name}: {len(found)} cases")


if __name__ == "__main__":
    main()
