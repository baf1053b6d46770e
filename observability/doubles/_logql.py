"""The subset of LogQL the Loki double understands, parsed into small immutable nodes.

Supported (LogQL reference, https://grafana.com/docs/loki/latest/query/):

* stream selectors ``{name="v", name!="v", name=~"re", name!~"re"}``; regular
  expressions are fully anchored as in Loki, and at least one matcher must not match
  the empty string (Loki's own rule);
* line filters ``|= "s"``, ``!= "s"``, ``|~ "re"``, ``!~ "re"`` (regex not anchored),
  chained in any number;
* ``| json`` without parameters, flattening nested keys with ``_`` as Loki does,
  ``| logfmt`` without parameters (pkg/logql/log/parser.go ``LogfmtParser``), and
  string label filters after them (``| name="v"``, ``!=``, ``=~``, ``!~``) and
  ``| line_format`` with ``{{.label}}`` fields;
* metric queries ``count_over_time``, ``rate``, ``bytes_over_time`` and ``bytes_rate``
  over ``<log query>[<duration>]``, optionally wrapped (also nested) in ``sum``,
  ``count``, ``min``, ``max`` or ``avg`` with ``by (...)`` / ``without (...)``.

Anything else (other parsers, formatting stages, numeric label filters, binary
operators, ``offset``) is rejected with a parse error saying the double does not support
it, rather than silently answering something the real Loki would not.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from observability.doubles._common import parse_prom_duration
from observability.doubles._logql_lexer import BINARY_OPERATORS, LogQLParseError, Token, tokenize

__all__ = [
    "JsonStage",
    "LabelFilter",
    "LabelMatcher",
    "LineFilter",
    "LineFormatStage",
    "LogQLParseError",
    "LogQuery",
    "LogfmtStage",
    "MetricQuery",
    "Query",
    "RangeAggregation",
    "VectorAggregation",
    "parse",
    "parse_selector",
]

RANGE_FUNCTIONS = frozenset({"count_over_time", "rate", "bytes_over_time", "bytes_rate"})
VECTOR_OPERATIONS = frozenset({"sum", "count", "min", "max", "avg"})
_UNSUPPORTED_STAGES = frozenset(
    {"regexp", "pattern", "unpack", "label_format", "drop", "keep"}
    | {"unwrap", "decolorize", "distinct"}
)
_LABEL_NAME_INVALID = re.compile(r"[^a-zA-Z0-9_]")
ERROR_LABEL = "__error__"


def _compile(pattern: str, anchored: bool) -> re.Pattern[str]:
    try:
        return re.compile(f"(?:{pattern})\\Z" if anchored else pattern)
    except re.error as exc:
        raise LogQLParseError(f"error parsing regexp: {exc}") from None


@dataclass(frozen=True)
class LabelMatcher:
    """Compiles its regex on construction, so a bad one is a parse error."""

    name: str
    op: str  # one of = != =~ !~
    value: str
    pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.op in ("=~", "!~"):
            object.__setattr__(self, "pattern", _compile(self.value, anchored=True))

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Prometheus semantics: a missing label has the empty value."""
        value = labels.get(self.name, "")
        if self.pattern is None:
            return (value == self.value) == (self.op == "=")
        found = self.pattern.match(value) is not None
        return found if self.op == "=~" else not found


@dataclass(frozen=True)
class LineFilter:
    op: str  # one of |= != |~ !~
    value: str
    pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.op in ("|~", "!~"):
            object.__setattr__(self, "pattern", _compile(self.value, anchored=False))

    def keep(self, line: str) -> bool:
        if self.pattern is None:
            return (self.value in line) == (self.op == "|=")
        found = self.pattern.search(line) is not None
        return found if self.op == "|~" else not found


@dataclass(frozen=True)
class JsonStage:
    """``| json``: adds the line's JSON fields as labels (``__error__`` if not JSON)."""

    def extract(self, labels: dict[str, str], line: str) -> None:
        try:
            document = json.loads(line)
        except ValueError:
            document = None
        if not isinstance(document, dict):
            labels[ERROR_LABEL] = "JSONParserErr"
            return
        for key, value in _flatten(document, ""):
            name = _LABEL_NAME_INVALID.sub("_", key)
            if name[:1].isdigit():
                name = "_" + name
            if name in labels:
                name += "_extracted"
            labels[name] = value


def _flatten(document: Mapping[str, object], prefix: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for key, value in document.items():
        name = f"{prefix}_{key}" if prefix else key
        if isinstance(value, dict):
            pairs.extend(_flatten(value, name))
        elif isinstance(value, bool):
            pairs.append((name, "true" if value else "false"))
        elif isinstance(value, str):
            pairs.append((name, value))
        elif isinstance(value, int | float):
            pairs.append((name, json.dumps(value)))
        # Loki skips arrays and nulls.
    return pairs


_LOGFMT_PAIR = re.compile(r'\s*([^\s="]+)(?:=("(?:[^"\\]|\\.)*"|[^\s"]*))?')


@dataclass(frozen=True)
class LogfmtStage:
    """``| logfmt``: adds the line's ``key=value`` pairs as labels; a line that is not
    logfmt gets ``__error__="LogfmtParserErr"`` (pkg/logql/log/parser.go)."""

    def extract(self, labels: dict[str, str], line: str) -> None:
        pos = 0
        pairs: list[tuple[str, str]] = []
        while pos < len(line):
            if line[pos:].strip() == "":
                break
            match = _LOGFMT_PAIR.match(line, pos)
            if match is None or match.end() == pos:
                labels[ERROR_LABEL] = "LogfmtParserErr"
                return
            key, raw = match.group(1), match.group(2) or ""
            if raw.startswith('"'):
                try:
                    raw = json.loads(raw)
                except ValueError:
                    labels[ERROR_LABEL] = "LogfmtParserErr"
                    return
            pairs.append((key, raw))
            pos = match.end()
        for key, value in pairs:
            name = _LABEL_NAME_INVALID.sub("_", key)
            if name[:1].isdigit():
                name = "_" + name
            if name in labels:
                name += "_extracted"
            labels[name] = value


_TEMPLATE_FIELD = re.compile(r"\{\{-?\s*\.([a-zA-Z_][a-zA-Z0-9_]*)\s*-?\}\}")


@dataclass(frozen=True)
class LineFormatStage:
    """``| line_format "{{.name}}"``: rewrites the line from a Go text/template
    (pkg/logql/log/fmt.go ``LineFormatter``), executed over the labels as a
    ``map[string]string``, so a missing label renders empty. Only ``{{.label}}`` fields
    are supported."""

    template: str

    def __post_init__(self) -> None:
        if "{{" in _TEMPLATE_FIELD.sub("", self.template):
            raise LogQLParseError(
                "the Loki double supports only {{.label}} fields in line_format templates"
            )

    def render(self, labels: Mapping[str, str]) -> str:
        return _TEMPLATE_FIELD.sub(lambda m: labels.get(m.group(1), ""), self.template)


@dataclass(frozen=True)
class LabelFilter:
    matcher: LabelMatcher


Stage = LineFilter | JsonStage | LogfmtStage | LineFormatStage | LabelFilter


@dataclass(frozen=True)
class LogQuery:
    matchers: tuple[LabelMatcher, ...]
    stages: tuple[Stage, ...] = ()

    def selects(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)

    def process(self, labels: Mapping[str, str], line: str) -> tuple[dict[str, str], str] | None:
        """The entry's labels and line after the pipeline, or None when a stage drops it."""
        current = dict(labels)
        for stage in self.stages:
            if isinstance(stage, LineFilter):
                if not stage.keep(line):
                    return None
            elif isinstance(stage, JsonStage | LogfmtStage):
                stage.extract(current, line)
            elif isinstance(stage, LineFormatStage):
                line = stage.render(current)
            elif not stage.matcher.matches(current):
                return None
        return current, line


@dataclass(frozen=True)
class RangeAggregation:
    function: str
    query: LogQuery
    range_seconds: float


@dataclass(frozen=True)
class VectorAggregation:
    operation: str
    inner: MetricQuery
    grouping: tuple[str, ...] | None = None  # None: aggregate every series into one
    without: bool = False


MetricQuery = RangeAggregation | VectorAggregation
Query = LogQuery | MetricQuery


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.index = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.token
        self.index += 1
        return token

    def unexpected(self, expecting: str = "") -> LogQLParseError:
        token = self.token
        shown = "end of input" if token.kind == "eof" else repr(token.text)
        suffix = f", expecting {expecting}" if expecting else ""
        return LogQLParseError(f"syntax error: unexpected {shown}{suffix}", token.col)

    def expect(self, kind: str, text: str | None = None) -> Token:
        token = self.token
        if token.kind != kind or (text is not None and token.text != text):
            raise self.unexpected(repr(text) if text else kind)
        return self.advance()

    def at(self, kind: str, *texts: str) -> bool:
        return self.token.kind == kind and (not texts or self.token.text in texts)

    def query(self) -> Query:
        result: Query
        if self.at("op", "{"):
            result = self.log_query()
        elif self.at("ident") and self.token.text in RANGE_FUNCTIONS | VECTOR_OPERATIONS:
            result = self.metric_query()
        else:
            raise self.unexpected("'{' or a function")
        if not self.at("eof"):
            token = self.token
            if token.kind == "op" and token.text in BINARY_OPERATORS:
                raise LogQLParseError("the Loki double does not support binary operators")
            if self.at("ident", "offset"):
                raise LogQLParseError("the Loki double does not support offset")
            raise self.unexpected()
        return result

    def matcher(self) -> LabelMatcher:
        name = self.expect("ident").text
        if not self.at("op", "=", "!=", "=~", "!~", "=="):
            raise self.unexpected("a label matcher operator")
        op = self.advance().text
        value = self.expect("string").text
        return LabelMatcher(name, "=" if op == "==" else op, value)

    def selector(self) -> tuple[LabelMatcher, ...]:
        self.expect("op", "{")
        matchers = [self.matcher()]
        while self.at("op", ","):
            self.advance()
            matchers.append(self.matcher())
        self.expect("op", "}")
        if all(m.matches({}) for m in matchers):
            raise LogQLParseError(
                "queries require at least one regexp or equality matcher that does not have "
                'an empty-compatible value. For instance, app=~".*" does not meet this '
                'requirement, but app=~".+" will'
            )
        return tuple(matchers)

    def log_query(self) -> LogQuery:
        matchers = self.selector()
        stages: list[Stage] = []
        while True:
            if self.at("op", "|=", "!=", "|~", "!~"):
                op = self.advance().text
                stages.append(LineFilter(op, self.expect("string").text))
            elif self.at("op", "|"):
                self.advance()
                stages.append(self.stage())
            else:
                return LogQuery(matchers, tuple(stages))

    def stage(self) -> Stage:
        token = self.expect("ident")
        if token.text == "json":
            if self.at("ident"):
                raise LogQLParseError("the Loki double supports only `| json` without parameters")
            return JsonStage()
        if token.text == "line_format":
            return LineFormatStage(self.expect("string").text)
        if token.text == "logfmt":
            if self.at("ident") or self.at("op", "-"):
                raise LogQLParseError("the Loki double supports only `| logfmt` without parameters")
            return LogfmtStage()
        if token.text in _UNSUPPORTED_STAGES:
            raise LogQLParseError(f"the Loki double does not support the `{token.text}` stage")
        if not self.at("op", "=", "!=", "=~", "!~", "=="):
            raise LogQLParseError(
                "the Loki double supports only string label filters (=, !=, =~, !~)", token.col
            )
        self.index -= 1
        matcher = self.matcher()
        if self.at("op", ",") or self.at("ident", "and", "or"):
            raise LogQLParseError("the Loki double does not support combined label filters")
        return LabelFilter(matcher)

    def metric_query(self) -> MetricQuery:
        name = self.expect("ident").text
        if name in RANGE_FUNCTIONS:
            self.expect("op", "(")
            log_query = self.log_query()
            self.expect("op", "[")
            duration = self.expect("duration")
            self.expect("op", "]")
            self.expect("op", ")")
            seconds = parse_prom_duration(duration.text)
            if seconds <= 0:
                raise LogQLParseError("range must be positive", duration.col)
            return RangeAggregation(name, log_query, seconds)
        grouping, without = self.grouping()
        self.expect("op", "(")
        if not self.at("ident"):
            raise self.unexpected("a metric query")
        inner = self.metric_query()
        self.expect("op", ")")
        if grouping is None:
            grouping, without = self.grouping()
        return VectorAggregation(name, inner, grouping, without)

    def grouping(self) -> tuple[tuple[str, ...] | None, bool]:
        if not self.at("ident", "by", "without"):
            return None, False
        without = self.advance().text == "without"
        self.expect("op", "(")
        names: list[str] = []
        while not self.at("op", ")"):
            if names:
                self.expect("op", ",")
            names.append(self.expect("ident").text)
        self.advance()
        return tuple(names), without


def parse(text: str) -> Query:
    """Parse a LogQL log or metric query; raises LogQLParseError."""
    if not text.strip():
        raise LogQLParseError("syntax error: unexpected end of input", 1)
    return _Parser(text).query()


def parse_selector(text: str) -> LogQuery:
    """A bare stream selector (``match[]`` of the series API)."""
    parsed = parse(text)
    if not isinstance(parsed, LogQuery) or parsed.stages:
        raise LogQLParseError("only label matchers are supported")
    return parsed
