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

__all__ = ["KeyPath", "PositionedDocument", "YamlSyntaxError", "format_key_path", "load_positioned"]

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


def _index_lines(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            child = (*path, key)
            lines[child] = key_node.start_mark.line + 1
            _index_lines(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index_lines(item, (*path, index), lines)


def load_positioned(text: str, source: str) -> PositionedDocument:
    """Parse ``text`` (named ``source`` in errors) into a positioned document."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return PositionedDocument(source=source, data=None)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        raise YamlSyntaxError(source, line, column, str(exc.problem or exc)) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(source, None, None, str(exc)) from None
    finally:
        loader.dispose()
    lines: dict[KeyPath, int] = {}
    _index_lines(node, (), lines)
    return PositionedDocument(source=source, data=data, lines=lines)


def load_positioned_file(path: Path) -> PositionedDocument:
    return load_positioned(path.read_text(encoding="utf-8"), str(path))
