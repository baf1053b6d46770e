"""YAML loading that remembers where every key came from.

Configuration and check files both promise errors that name the file, the
line and the key path. PyYAML's composed node tree carries line marks, so we
construct the document from that tree and index each key path's line on the
way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "MAX_DEPTH",
    "KeyPath",
    "PositionedDocument",
    "YamlSyntaxError",
    "format_key_path",
    "load_positioned",
    "read_positioned",
]

KeyPath = tuple[str | int, ...]


class YamlSyntaxError(ValueError):
    """The text is not valid YAML; ``line`` and ``column`` are 1-based."""

    def __init__(self, source: str, line: int | None, column: int | None, problem: str):
        self.source = source
        self.line = line
        self.column = column
        self.problem = problem
        where = f"{source}:{line}:{column}" if line is not None else source
        super().__init__(f"{where}: invalid YAML: {problem}")


@dataclass
class PositionedDocument:
    """A loaded YAML document plus the 1-based line of each key path."""

    source: str
    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line_of(self, path: KeyPath) -> int | None:
        """Line of ``path``, or of its nearest ancestor that has one."""
        probe = tuple(path)
        while probe:
            if probe in self.lines:
                return self.lines[probe]
            probe = probe[:-1]
        return self.lines.get(())

    def location_of(self, path: KeyPath) -> str:
        line = self.line_of(path)
        return f"{self.source}:{line}" if line is not None else self.source


def format_key_path(path: KeyPath) -> str:
    """``("engines", "kafka", 0)`` -> ``engines.kafka[0]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


#: How deeply a document may nest (mappings and lists); deeper is refused, not a crash.
MAX_DEPTH = 64


@dataclass
class _Indexer:
    source: str
    unique_keys: bool
    max_values: int | None
    lines: dict[KeyPath, int] = field(default_factory=dict)
    visited: int = 0

    def fail(self, node: yaml.Node, problem: str) -> YamlSyntaxError:
        mark = node.start_mark
        return YamlSyntaxError(self.source, mark.line + 1, mark.column + 1, problem)

    def index(self, node: yaml.Node, path: KeyPath, open_nodes: tuple[int, ...] = ()) -> None:
        # An alias that refers to an enclosing node makes the document infinite.
        if id(node) in open_nodes:
            raise self.fail(node, "an alias refers to a node that contains it (a cycle)")
        if len(open_nodes) >= MAX_DEPTH:
            raise self.fail(node, f"nested more than {MAX_DEPTH} levels deep")
        self.visited += 1
        if self.max_values is not None and self.visited > self.max_values:
            # Aliases of aliases expand exponentially ("billion laughs").
            raise self.fail(node, f"more than {self.max_values} values (aliases expand too far)")
        self.lines.setdefault(path, node.start_mark.line + 1)
        inner = (*open_nodes, id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[Any, int] = {}
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
                line = key_node.start_mark.line + 1
                if self.unique_keys and isinstance(key_node, yaml.ScalarNode) and key != "<<":
                    if key in first:
                        raise self.fail(
                            key_node,
                            f"duplicate key '{key}' (first given at line {first[key]})",
                        )
                    first[key] = line
                child = (*path, key)
                self.lines[child] = line
                self.index(value_node, child, inner)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self.index(item, (*path, index), inner)


def load_positioned(
    text: str, source: str, *, unique_keys: bool = False, max_values: int | None = None
) -> PositionedDocument:
    """Parse ``text`` (named ``source`` in errors) into a positioned document.

    Always refused (as :class:`YamlSyntaxError`): an alias cycle and nesting deeper
    than :data:`MAX_DEPTH`. ``unique_keys`` also refuses a key given twice in one
    mapping (YAML forbids it; PyYAML would keep the last silently); ``max_values``
    bounds the number of values after alias expansion.
    """
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:
        # A character YAML does not allow (NUL, most other control characters).
        problem = f"character {exc.character!r} is not allowed in YAML"
        raise YamlSyntaxError(source, text[: exc.position].count("\n") + 1, None, problem) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return PositionedDocument(source=source, data=None)
        indexer = _Indexer(source, unique_keys, max_values)
        # Indexed before constructing: the checks above keep construction finite.
        indexer.index(node, ())
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        raise YamlSyntaxError(source, line, column, str(exc.problem or exc)) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(source, None, None, str(exc)) from None
    except RecursionError:
        # The parser recursed past Python's stack; ``line`` is where it was reading.
        reading = getattr(loader, "line", None)
        raise YamlSyntaxError(
            source, reading + 1 if isinstance(reading, int) else None, None, "nested too deeply"
        ) from None
    finally:
        loader.dispose()
    return PositionedDocument(source=source, data=data, lines=indexer.lines)


def read_positioned(
    path: Path, *, max_bytes: int, unique_keys: bool = True, max_values: int | None = 100_000
) -> PositionedDocument:
    """Load a YAML file of at most ``max_bytes`` bytes of UTF-8.

    Raises :class:`YamlSyntaxError` for a file that is too large, not UTF-8 or not
    valid YAML, and :class:`OSError` when it cannot be read.
    """
    with path.open("rb") as handle:
        raw = handle.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise YamlSyntaxError(str(path), None, None, f"larger than {max_bytes} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise YamlSyntaxError(
            str(path), line, None, f"not UTF-8 text (byte {exc.start + 1})"
        ) from None
    return load_positioned(text, str(path), unique_keys=unique_keys, max_values=max_values)


def load_positioned_file(path: Path) -> PositionedDocument:
    return load_positioned(path.read_text(encoding="utf-8"), str(path))
