"""covenant.kernel.yamlpos: YAML that remembers the line of every key path."""

from __future__ import annotations

import pytest
import yaml

from covenant.kernel.yamlpos import KeyPath, YamlSyntaxError, format_key_path, load_positioned

NESTED = """\
server:
  port: 8080
engines:
  loki:
    url: http://loki:3100
stack:
  engines:
    - postgres
    - kafka
  items:
    - name: a
      value: 1
    - name: b
"""


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ((), 1),
        (("server",), 1),
        (("server", "port"), 2),
        (("engines",), 3),
        (("engines", "loki"), 4),
        (("engines", "loki", "url"), 5),
        (("stack",), 6),
        (("stack", "engines"), 7),
        (("stack", "engines", 0), 8),
        (("stack", "engines", 1), 9),
        (("stack", "items"), 10),
        (("stack", "items", 0), 11),
        (("stack", "items", 0, "name"), 11),
        (("stack", "items", 0, "value"), 12),
        (("stack", "items", 1), 13),
        (("stack", "items", 1, "name"), 13),
    ],
)
def test_lines_of_nested_keys_and_list_items(path: KeyPath, line: int) -> None:
    doc = load_positioned(NESTED, "covenant.yaml")
    assert doc.lines[path] == line
    assert doc.line_of(path) == line


def test_data_is_what_safe_load_gives() -> None:
    doc = load_positioned(NESTED, "covenant.yaml")
    assert doc.data == yaml.safe_load(NESTED)
    assert doc.source == "covenant.yaml"


def test_line_of_an_absent_key_is_its_nearest_ancestors() -> None:
    doc = load_positioned(NESTED, "covenant.yaml")
    assert doc.line_of(("engines", "loki", "token")) == 4
    assert doc.line_of(("stack", "items", 1, "value")) == 13
    assert doc.line_of(("nowhere", "deep")) == 1


def test_location_of_is_source_colon_line() -> None:
    doc = load_positioned(NESTED, "conf/covenant.yaml")
    assert doc.location_of(("engines", "loki", "url")) == "conf/covenant.yaml:5"
    assert doc.location_of(("stack", "engines", 1)) == "conf/covenant.yaml:9"


def test_flow_collections_are_indexed() -> None:
    doc = load_positioned("a: 1\nstack: {engines: [postgres, kafka]}\n", "f.yaml")
    assert doc.data == {"a": 1, "stack": {"engines": ["postgres", "kafka"]}}
    assert doc.lines[("stack", "engines", 1)] == 2


def test_empty_document_has_no_data_and_no_lines() -> None:
    doc = load_positioned("", "empty.yaml")
    assert doc.data is None
    assert doc.lines == {}
    assert doc.location_of(("server", "port")) == "empty.yaml"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (("engines", "kafka", 0), "engines.kafka[0]"),
        (("server", "port"), "server.port"),
        (("server",), "server"),
        (("stack", "items", 1, "name"), "stack.items[1].name"),
        (("matrix", 0, 2), "matrix[0][2]"),
        ((0, "name"), "[0].name"),
        ((), "(top level)"),
    ],
)
def test_format_key_path(path: KeyPath, expected: str) -> None:
    assert format_key_path(path) == expected


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("a: 1\n  b: 2\n", 2, 4),
        ("server:\n  port: 8080\n  host: [unclosed\nstack: {}\n", 4, 6),
        ("k: @bad\n", 1, 4),
        ("a: 1\n---\nb: 2\n", 2, 1),
    ],
)
def test_syntax_error_has_one_based_line_and_column(text: str, line: int, column: int) -> None:
    with pytest.raises(YamlSyntaxError) as caught:
        load_positioned(text, "bad.yaml")
    error = caught.value
    assert (error.source, error.line, error.column) == ("bad.yaml", line, column)
    assert error.problem
    assert str(error).startswith(f"bad.yaml:{line}:{column}: invalid YAML: ")
    assert isinstance(error, ValueError)
