"""An OpenAPI 3.x document as the comparison needs it.

Loading (URL or file, JSON or YAML), local ``$ref`` resolution with the JSON
pointer of every resolved node, path-template matching (literal segments win
over templated ones), and JSON Schema validators for the document's schemas.

OpenAPI 3.1 schemas are JSON Schema Draft 2020-12 and are validated as they
are. OpenAPI 3.0 schemas are a dialect of it; rather than rewriting them (which
would move every pointer), the validator is extended so the 3.0 keywords mean
what 3.0 says: ``nullable: true`` lets ``null`` through, and boolean
``exclusiveMinimum``/``exclusiveMaximum`` qualify ``minimum``/``maximum``.
Schemas are never copied or rewritten, so an error's schema path maps back onto
a pointer into the document as served.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from covenant.kernel.errors import CovenantError, ErrorKind

__all__ = [
    "HTTP_METHODS",
    "OpenApiDocument",
    "Operation",
    "PathCandidate",
    "SpecUnreachable",
    "escape_pointer",
    "join_pointer",
    "load_spec",
    "match_media_type",
]

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_RESOURCE_URI = "urn:covenant:openapi"
_MAX_REF_HOPS = 64


class SpecUnreachable(CovenantError):
    """The OpenAPI document could not be fetched (exit code 3)."""

    kind = ErrorKind.UNREACHABLE


def escape_pointer(segment: str | int) -> str:
    """One RFC 6901 reference token: ``~`` -> ``~0``, ``/`` -> ``~1``."""
    return str(segment).replace("~", "~0").replace("/", "~1")


def join_pointer(base: str, *segments: str | int) -> str:
    return base + "".join("/" + escape_pointer(s) for s in segments)


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _walk_pointer(document: Any, pointer: str) -> Any:
    node = document
    if not pointer:
        return node
    for token in pointer.lstrip("/").split("/"):
        key = _unescape(token)
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            raise KeyError(pointer)
    return node


# -- media types -----------------------------------------------------------------


def _bare_media_type(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def match_media_type(actual: str, documented: Iterable[str]) -> str | None:
    """The documented media-type key that covers ``actual``, most specific first."""
    want = _bare_media_type(actual)
    keys = list(documented)
    bare = {key: _bare_media_type(key) for key in keys}
    for key in keys:
        if bare[key] == want:
            return key
    major = want.split("/", 1)[0]
    for key in keys:
        if bare[key] == f"{major}/*":
            return key
    for key in keys:
        if bare[key] in ("*/*", "*"):
            return key
    return None


# -- path templates ---------------------------------------------------------------

_TEMPLATE_VAR = re.compile(r"\{([^{}/]+)\}")


@dataclass(frozen=True)
class _Template:
    template: str
    regex: re.Pattern[str]
    names: tuple[str, ...]
    #: Sort key: per segment 0 literal, 1 partly templated, 2 wholly templated.
    rank: tuple[int, ...]
    literal_chars: int


def _compile_template(template: str) -> _Template:
    parts: list[str] = []
    names: list[str] = []
    rank: list[int] = []
    literal_chars = 0
    for segment in template.strip("/").split("/") if template.strip("/") else []:
        pieces: list[str] = []
        last = 0
        variables = 0
        for match in _TEMPLATE_VAR.finditer(segment):
            pieces.append(re.escape(segment[last : match.start()]))
            literal_chars += match.start() - last
            pieces.append(f"(?P<p{len(names)}>[^/]+)")
            names.append(match.group(1))
            variables += 1
            last = match.end()
        pieces.append(re.escape(segment[last:]))
        literal_chars += len(segment) - last
        parts.append("".join(pieces))
        whole = variables == 1 and _TEMPLATE_VAR.fullmatch(segment) is not None
        rank.append(0 if variables == 0 else (2 if whole else 1))
    regex = re.compile("^/" + "/".join(parts) + "$")
    return _Template(template, regex, tuple(names), tuple(rank), literal_chars)


@dataclass(frozen=True)
class Operation:
    template: str
    method: str
    #: Pointer to the operation object, e.g. ``/paths/~1api~1events/get``.
    pointer: str
    node: dict[str, Any]


@dataclass(frozen=True)
class PathCandidate:
    """A path template that matches a concrete path, with the values it captured."""

    template: str
    #: Pointer to the path item object.
    pointer: str
    params: dict[str, str]
    operations: dict[str, Operation] = field(default_factory=dict)


# -- formats and validators -------------------------------------------------------


def _format_checker() -> Any:
    from jsonschema import Draft202012Validator, FormatChecker

    checker = FormatChecker(formats=())
    checker.checkers = dict(Draft202012Validator.FORMAT_CHECKER.checkers)

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value: object) -> bool:
        if not isinstance(value, str):
            return True
        if not re.fullmatch(
            r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)", value
        ):
            return False
        dt.datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))
        return True

    def _int_range(bits: int) -> Callable[[object], bool]:
        def check(value: object) -> bool:
            if isinstance(value, bool) or not isinstance(value, int):
                return True
            return -(2 ** (bits - 1)) <= value < 2 ** (bits - 1)

        return check

    checker.checks("int32")(_int_range(32))
    checker.checks("int64")(_int_range(64))
    return checker


def _skip_if_nullable(keyword: Callable[..., Any]) -> Callable[..., Iterator[Any]]:
    def validate(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[Any]:
        if instance is None and isinstance(schema, dict) and schema.get("nullable") is True:
            return
        yield from keyword(validator, value, instance, schema) or ()

    return validate


def _minimum(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[Any]:
    from jsonschema import ValidationError

    if isinstance(instance, bool) or not isinstance(instance, int | float):
        return
    if schema.get("exclusiveMinimum") is True:
        if instance <= value:
            yield ValidationError(f"{instance!r} is less than or equal to the minimum of {value!r}")
    elif instance < value:
        yield ValidationError(f"{instance!r} is less than the minimum of {value!r}")


def _maximum(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[Any]:
    from jsonschema import ValidationError

    if isinstance(instance, bool) or not isinstance(instance, int | float):
        return
    if schema.get("exclusiveMaximum") is True:
        if instance >= value:
            yield ValidationError(
                f"{instance!r} is greater than or equal to the maximum of {value!r}"
            )
    elif instance > value:
        yield ValidationError(f"{instance!r} is greater than the maximum of {value!r}")


def _exclusive(keyword: Callable[..., Any]) -> Callable[..., Iterator[Any]]:
    def validate(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[Any]:
        if isinstance(value, bool):  # OpenAPI 3.0: a flag on minimum/maximum
            return
        yield from keyword(validator, value, instance, schema) or ()

    return validate


def _no_errors(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[Any]:
    return iter(())


def _validator_class(openapi_30: bool, ignore_required: bool) -> Any:
    from jsonschema import Draft202012Validator, validators

    keywords: dict[str, Callable[..., Any]] = {}
    if openapi_30:
        base = dict(Draft202012Validator.VALIDATORS)
        base["minimum"] = _minimum
        base["maximum"] = _maximum
        base["exclusiveMinimum"] = _exclusive(base["exclusiveMinimum"])
        base["exclusiveMaximum"] = _exclusive(base["exclusiveMaximum"])
        keywords = {name: _skip_if_nullable(fn) for name, fn in base.items()}
    if ignore_required:
        keywords["required"] = _no_errors
    if not keywords:
        return Draft202012Validator
    return validators.extend(Draft202012Validator, validators=keywords)


# -- the document -----------------------------------------------------------------


class OpenApiDocument:
    """A loaded OpenAPI 3.x document; every node is addressed by its JSON pointer."""

    def __init__(self, document: dict[str, Any], source: str) -> None:
        version = str(document.get("openapi", ""))
        if not version.startswith("3."):
            found = "Swagger 2.0" if "swagger" in document else f"openapi {version!r}"
            raise CovenantError(
                f"{source}: not an OpenAPI 3.x document ({found})", kind=ErrorKind.USAGE
            )
        if not isinstance(document.get("paths", {}), dict):
            raise CovenantError(f"{source}: 'paths' is not an object", kind=ErrorKind.USAGE)
        self.document = document
        self.source = source
        self.version = version
        self.openapi_30 = version.startswith("3.0")
        self._templates = sorted(
            (_compile_template(t) for t in self.paths),
            key=lambda t: (t.rank, -t.literal_chars, t.template),
        )
        self._validators: dict[tuple[str, bool], Any] = {}
        self._registry: Any = None
        self._format_checker: Any = None

    @property
    def paths(self) -> dict[str, Any]:
        paths = self.document.get("paths") or {}
        return paths if isinstance(paths, dict) else {}

    # pointers and references

    def node(self, pointer: str) -> Any:
        """The node at ``pointer``; KeyError when there is none."""
        return _walk_pointer(self.document, pointer)

    def deref(self, node: Any, pointer: str) -> tuple[Any, str]:
        """Follow local ``$ref`` chains; returns the target node and its pointer.

        External references are left as they are (the node is returned unchanged).
        """
        for _ in range(_MAX_REF_HOPS):
            if not (isinstance(node, dict) and isinstance(node.get("$ref"), str)):
                return node, pointer
            ref = node["$ref"]
            if not ref.startswith("#"):
                return node, pointer
            target = unquote(ref[1:])
            try:
                node, pointer = _walk_pointer(self.document, target), target
            except KeyError:
                raise CovenantError(
                    f"{self.source}: {pointer}: $ref {ref!r} points nowhere",
                    kind=ErrorKind.USAGE,
                ) from None
        raise CovenantError(f"{self.source}: {pointer}: $ref cycle", kind=ErrorKind.USAGE)

    def schema_pointer(self, base: str, schema_path: Iterable[str | int]) -> str:
        """Map a jsonschema error's schema path (below ``base``) to a document pointer.

        jsonschema does not record the ``$ref`` hops it followed, so they are
        re-followed here whenever the next keyword is not in the current node.
        """
        node, pointer = self.node(base), base
        for segment in schema_path:
            while True:
                if isinstance(node, dict) and isinstance(segment, str) and segment in node:
                    node, pointer = node[segment], join_pointer(pointer, segment)
                    break
                if isinstance(node, list) and isinstance(segment, int) and segment < len(node):
                    node, pointer = node[segment], join_pointer(pointer, segment)
                    break
                target, target_pointer = self.deref(node, pointer)
                if target_pointer == pointer:
                    return pointer
                node, pointer = target, target_pointer
        return pointer

    # paths and operations

    def _base_paths(self) -> list[str]:
        bases: list[str] = []
        for server in self.document.get("servers") or []:
            if not isinstance(server, dict) or not isinstance(server.get("url"), str):
                continue
            url = server["url"]
            for name, variable in (server.get("variables") or {}).items():
                if isinstance(variable, dict) and "default" in variable:
                    url = url.replace("{" + name + "}", str(variable["default"]))
            base = urlsplit(url).path.rstrip("/")
            if base and base not in bases:
                bases.append(base)
        return bases

    def candidates(self, path: str) -> list[PathCandidate]:
        """Every template matching ``path``, most specific first (literal beats templated)."""
        path = path.split("?", 1)[0] or "/"
        tries = [
            path[len(base) :] or "/"
            for base in self._base_paths()
            if path == base or path.startswith(base + "/")
        ]
        tries.append(path)
        found: list[PathCandidate] = []
        seen: set[str] = set()
        for attempt in tries:
            for template in self._templates:
                if template.template in seen:
                    continue
                match = template.regex.match(attempt)
                if match is None:
                    continue
                seen.add(template.template)
                pointer = join_pointer("/paths", template.template)
                item, item_pointer = self.deref(self.paths[template.template], pointer)
                operations = {
                    method: Operation(
                        template.template, method, join_pointer(item_pointer, method), op
                    )
                    for method in HTTP_METHODS
                    if isinstance(item, dict) and isinstance(op := item.get(method), dict)
                }
                params: dict[str, str] = {}
                for index, name in enumerate(template.names):
                    params.setdefault(name, unquote(match.group(f"p{index}")))
                found.append(PathCandidate(template.template, item_pointer, params, operations))
        return found

    def parameters(self, operation: Operation) -> list[tuple[dict[str, Any], str]]:
        """Path-item and operation parameters (the operation's win), each resolved."""
        item_pointer = operation.pointer.rsplit("/", 1)[0]
        item = self.node(item_pointer)
        merged: dict[tuple[str, str], tuple[dict[str, Any], str]] = {}
        for owner, owner_pointer in ((item, item_pointer), (operation.node, operation.pointer)):
            for index, raw in enumerate(owner.get("parameters") or []):
                param, pointer = self.deref(raw, join_pointer(owner_pointer, "parameters", index))
                if isinstance(param, dict) and isinstance(param.get("name"), str):
                    merged[(str(param.get("in")), param["name"])] = (param, pointer)
        return list(merged.values())

    # schemas

    def validator(self, schema_pointer: str, *, response: bool = False) -> Any:
        """A Draft 2020-12 validator for the schema at ``schema_pointer``.

        With ``response`` the ``required`` keyword is not enforced: a pact's
        response example names only the fields its consumer reads.
        """
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012

        key = (schema_pointer, response)
        if key not in self._validators:
            if self._registry is None:
                resource: Resource[Any] = DRAFT202012.create_resource(self.document)
                self._registry = Registry().with_resource(_RESOURCE_URI, resource)
                self._format_checker = _format_checker()
            cls = _validator_class(self.openapi_30, ignore_required=response)
            self._validators[key] = cls(
                {"$ref": f"{_RESOURCE_URI}#{schema_pointer}"},
                registry=self._registry,
                format_checker=self._format_checker,
            )
        return self._validators[key]


def _string_keys(node: Any) -> Any:
    """YAML reads ``200:`` as an integer key; OpenAPI (and JSON pointers) mean ``"200"``."""
    if isinstance(node, dict):
        return {str(key): _string_keys(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_string_keys(item) for item in node]
    return node


def _parse(text: str, source: str) -> dict[str, Any]:
    import yaml

    try:
        document = json.loads(text)
    except json.JSONDecodeError as json_error:
        try:
            document = _string_keys(yaml.safe_load(text))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{source}:{mark.line + 1}" if mark is not None else source
            raise CovenantError(
                f"{where}: neither JSON ({json_error.msg} at line {json_error.lineno}) nor YAML",
                kind=ErrorKind.USAGE,
            ) from None
    if not isinstance(document, dict):
        raise CovenantError(f"{source}: not an OpenAPI document", kind=ErrorKind.USAGE)
    return document


def load_spec(source: str, *, timeout_s: float = 10.0) -> OpenApiDocument:
    """Fetch (http/https) or read an OpenAPI document in JSON or YAML.

    An unreachable URL or a non-2xx answer raises :class:`SpecUnreachable`
    (exit 3); a missing file or a document that is not OpenAPI 3.x is a usage
    error (exit 2).
    """
    if urlsplit(source).scheme in ("http", "https"):
        import httpx

        from covenant.kernel.redact import redact_url

        shown = redact_url(source)
        try:
            response = httpx.get(source, timeout=timeout_s, follow_redirects=True)
        except httpx.HTTPError as exc:
            raise SpecUnreachable(f"{shown}: cannot fetch the OpenAPI document: {exc}") from None
        if response.status_code >= 300:
            raise SpecUnreachable(
                f"{shown}: cannot fetch the OpenAPI document: HTTP {response.status_code}"
            )
        return OpenApiDocument(_parse(response.text, shown), shown)
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CovenantError(
            f"{source}: cannot read the OpenAPI document: {exc.strerror}", kind=ErrorKind.USAGE
        ) from None
    return OpenApiDocument(_parse(text, source), source)
