"""Write ``cases.jsonl``: malformed pacts, each with the answer Covenant owes it.

Run from the repository root: ``.venv/bin/python tests/corpus/pacts/generate.py``.
The output is deterministic (no randomness, sorted keys); ``test_corpus_pacts``
checks that the committed file is what this script writes.

Each line is one case::

    {"id": "...", "expect": "location" | "file", "pointer": "/interactions/0/...",
     "text": "<the pact file's text>"}      # or "base64": "<bytes>" when not UTF-8

``expect``: ``location`` means the error must name the file, a line and the
JSON pointer ``pointer`` (or a pointer inside or above it); ``file`` means the
error names the file (there is no value to point at: the text is not JSON, or
not UTF-8). Every case must be refused: exit 2 from the CLI, 400/422 from the
broker, never a traceback, a hang or acceptance.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
OUTPUT = HERE / "cases.jsonl"

Case = dict[str, Any]
_MISSING = object()


def _v3_http() -> dict[str, Any]:
    return {
        "consumer": {"name": "web-client"},
        "provider": {"name": "events-api"},
        "interactions": [
            {
                "description": "a list of events",
                "providerStates": [{"name": "events exist", "params": {"count": 2}}],
                "request": {
                    "method": "GET",
                    "path": "/api/events",
                    "query": {"page": ["1"]},
                    "headers": {"Accept": "application/json"},
                },
                "response": {
                    "status": 200,
                    "headers": {"Content-Type": "application/json"},
                    "body": {"items": [{"id": 1}], "total": 1},
                    "matchingRules": {
                        "body": {"$.items": {"matchers": [{"match": "type", "min": 1}]}}
                    },
                },
            }
        ],
        "metadata": {"pactSpecification": {"version": "3.0.0"}},
    }


def _v3_messages() -> dict[str, Any]:
    return {
        "consumer": {"name": "event-worker"},
        "provider": {"name": "hono-api"},
        "messages": [
            {
                "description": "an event.scraped message",
                "providerStates": [{"name": "a page was scraped"}],
                "contents": {"eventId": "e-1", "url": "https://example.com"},
                "metadata": {"contentType": "application/json"},
                "matchingRules": {"body": {"$.eventId": {"matchers": [{"match": "type"}]}}},
            }
        ],
        "metadata": {"pactSpecification": {"version": "3.0.0"}},
    }


def _v2_http() -> dict[str, Any]:
    return {
        "consumer": {"name": "web-client"},
        "provider": {"name": "events-api"},
        "interactions": [
            {
                "description": "an event",
                "providerState": "event 1 exists",
                "request": {"method": "get", "path": "/api/events/1", "query": "full=true"},
                "response": {
                    "status": 200,
                    "headers": {"Content-Type": "application/json"},
                    "body": {"id": 1},
                    "matchingRules": {"$.body.id": {"match": "type"}},
                },
            }
        ],
        "metadata": {"pactSpecification": {"version": "2.0.0"}},
    }


def _first_two(path: Path) -> dict[str, Any]:
    """A real pact of the reference system, cut to two interactions (a smaller corpus)."""
    document: dict[str, Any] = json.loads(path.read_text("utf-8"))
    document["interactions"] = document["interactions"][:2]
    return document


def _bases() -> dict[str, dict[str, Any]]:
    pacts = ROOT / "contracts" / "pacts"
    return {
        "v4-http": _first_two(pacts / "hono-api-elixir-processor.json"),
        "v4-message": json.loads((pacts / "hono-api-event-worker.json").read_text("utf-8")),
        "v3-http": _v3_http(),
        "v3-message": _v3_messages(),
        "v2-http": _v2_http(),
    }


def _escape(part: str | int) -> str:
    return str(part).replace("~", "~0").replace("/", "~1")


def _pointer(path: tuple[str | int, ...]) -> str:
    return "".join("/" + _escape(p) for p in path)


def _set(document: Any, path: tuple[str | int, ...], value: Any) -> Any:
    """A copy of ``document`` with ``path`` set to ``value`` (removed for _MISSING)."""
    result = copy.deepcopy(document)
    if not path:
        return value
    target = result
    for part in path[:-1]:
        target = target[part]
    if value is _MISSING:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return result


def _text(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)


NOT_OBJECT: list[Any] = [None, "x", 5, 1.5, True, [], ["x"]]
NOT_LIST: list[Any] = [None, "x", 5, True, {}, {"a": 1}]
NOT_STRING: list[Any] = [None, 5, 1.5, True, [], {}, ["GET"]]
NOT_STATUS: list[Any] = ["200", 99, 600, -1, 0, 1.5, 99999, None, True, [], {}]
BAD_METHODS: list[Any] = ["FETCH", "", "GE T", "GET\n", "GETT", "*"]
BAD_PATHS: list[Any] = ["health", "", " /x", "api/events", "http://host/x"]
BAD_NAMES: list[Any] = ["", " ", "a\nb", "tab\there", "x" * 300, "\u0000"]
BAD_TYPES: list[Any] = [
    "Foo",
    "",
    "synchronous/http",
    "Synchronous/HTTPS",
    "Asynchronous/Message",
    5,
    None,
]
BAD_RULES: list[Any] = [
    "none",
    5,
    [],
    {"body": "x"},
    {"body": {"$.x": "type"}},
    {"body": {"$.x": {"matchers": "type"}}},
    {"body": {"$.x": {"matchers": [{}]}}},
    {"body": {"$.x": {"matchers": [{"match": "bogus"}]}}},
    {"body": {"$.x": {"matchers": [{"match": "type"}], "combine": "XOR"}}},
    {"body": {"$.x": {"matchers": [{"match": "type", "min": -1}]}}},
    {"body": {"$.x": {"matchers": [{"match": 5}]}}},
    {"header": {"A": {"matchers": [None]}}},
]
BAD_V2_RULES: list[Any] = [
    "none",
    5,
    {"body.x": {"match": "type"}},
    {"$.body.x": "type"},
    {"$.body.x": {"match": "bogus"}},
    {"$.body.x": {}},
    {"$.body.x": {"min": -1, "match": "type"}},
]
BAD_HEADERS_V3: list[Any] = ["x", 5, [], {"A": 5}, {"A": [1]}, {"A": None}, {"A": {"b": "c"}}]
BAD_HEADERS_V2: list[Any] = ["x", 5, {"A": 5}, {"A": ["x"]}, {"A": None}]
BAD_QUERY: list[Any] = [5, [], True, {"a": 5}, {"a": [1]}, {"a": None}, {"a": [None]}]
BAD_STATES: list[Any] = [
    "a state",
    5,
    {},
    [1],
    [None],
    ["a state"],
    [{}],
    [{"name": 5}],
    [{"name": ""}],
    [{"name": "s", "params": "x"}],
]
BAD_V4_BODIES: list[Any] = [
    "x",
    5,
    [],
    {"contentType": "application/json"},
    {"content": "{not json", "contentType": "application/json", "encoded": False},
    {"content": "plain", "contentType": "application/json"},
    {"content": "@@@", "contentType": "application/octet-stream", "encoded": "base64"},
    {"content": {"a": 1}, "contentType": "application/octet-stream", "encoded": True},
    {"content": {"a": 1}, "contentType": 5},
    {"content": {"a": 1}, "contentType": "application/json", "encoded": 5},
    {"content": {"a": 1}, "contentType": "application/json", "contentTypeHint": "HTML"},
]
BAD_VERSIONS: list[Any] = ["9.0", "0.1", "x", "", 4, None, ["4.0"]]
BAD_GENERATORS: list[Any] = [
    "x",
    5,
    {"body": "x"},
    {"body": {"$.id": "uuid"}},
    {"body": {"$.id": {}}},
]


def _mutations(name: str, base: dict[str, Any]) -> Iterator[tuple[tuple[str | int, ...], Any, str]]:
    """(path, value, label) for every malformed variant of ``base``."""
    value: Any
    yield from ((("consumer",), v, f"consumer={v!r}") for v in NOT_OBJECT)
    yield from ((("provider",), v, f"provider={v!r}") for v in NOT_OBJECT)
    for role in ("consumer", "provider"):
        yield (role,), _MISSING, f"no {role}"
        yield (role, "name"), _MISSING, f"no {role}.name"
        for value in [*NOT_STRING, *BAD_NAMES]:
            yield (role, "name"), value, f"{role}.name={value!r}"
    list_key = "messages" if name == "v3-message" else "interactions"
    yield (list_key,), _MISSING, f"no {list_key}"
    for value in NOT_LIST:
        yield (list_key,), value, f"{list_key}={value!r}"
    for value in [1, None, "x", [], True]:
        yield (list_key, 0), value, f"{list_key}[0]={value!r}"
    for value in [*NOT_STRING, ""]:
        yield (list_key, 0, "description"), value, f"description={value!r}"
    yield (list_key, 0, "description"), _MISSING, "no description"
    if "metadata" in base:
        for value in NOT_OBJECT:
            yield ("metadata",), value, f"metadata={value!r}"
        for value in BAD_VERSIONS:
            yield ("metadata", "pactSpecification", "version"), value, f"version={value!r}"
    first = (list_key, 0)
    interaction = base[list_key][0]
    is_http = "request" in interaction
    if name.startswith("v4"):
        for value in BAD_TYPES:
            yield (*first, "type"), value, f"type={value!r}"
        yield (*first, "type"), _MISSING, "no type"
        yield (*first, "pending"), "yes", "pending='yes'"
    if name != "v2-http":
        for value in BAD_STATES:
            yield (*first, "providerStates"), value, f"providerStates={value!r}"
    else:
        for value in [5, [], {}, True]:
            yield (*first, "providerState"), value, f"providerState={value!r}"
    if is_http:
        for part in ("request", "response"):
            yield (*first, part), _MISSING, f"no {part}"
            for value in NOT_OBJECT:
                yield (*first, part), value, f"{part}={value!r}"
        request, response = (*first, "request"), (*first, "response")
        for value in [*NOT_STRING, *BAD_METHODS]:
            yield (*request, "method"), value, f"method={value!r}"
        yield (*request, "method"), _MISSING, "no method"
        for value in [*NOT_STRING, *BAD_PATHS]:
            yield (*request, "path"), value, f"path={value!r}"
        yield (*request, "path"), _MISSING, "no path"
        for value in NOT_STATUS:
            yield (*response, "status"), value, f"status={value!r}"
        if name != "v4-http":
            yield (*response, "status"), _MISSING, "no status"
        rules = BAD_V2_RULES if name == "v2-http" else BAD_RULES
        for value in rules:
            yield (*response, "matchingRules"), value, f"response.matchingRules={value!r}"
            yield (*request, "matchingRules"), value, f"request.matchingRules={value!r}"
        headers = BAD_HEADERS_V2 if name == "v2-http" else BAD_HEADERS_V3
        for value in headers:
            yield (*request, "headers"), value, f"request.headers={value!r}"
            yield (*response, "headers"), value, f"response.headers={value!r}"
        queries = [5, [], True, {"a": "b"}] if name == "v2-http" else BAD_QUERY
        for value in queries:
            yield (*request, "query"), value, f"query={value!r}"
        if name == "v4-http":
            for value in BAD_V4_BODIES:
                yield (*response, "body"), value, f"response.body={value!r}"
                yield (*request, "body"), value, f"request.body={value!r}"
        if name != "v2-http":
            for value in BAD_GENERATORS:
                yield (*response, "generators"), value, f"generators={value!r}"
        if name in ("v2-http", "v3-http"):
            yield (*response, "body"), "{not json", "JSON content type, body a string"
    else:
        yield (*first, "contents"), _MISSING, "no contents"
        if name == "v4-message":
            for value in BAD_V4_BODIES:
                yield (*first, "contents"), value, f"contents={value!r}"
        for value in ["x", 5, []]:
            yield (*first, "metadata"), value, f"message metadata={value!r}"
        for value in BAD_RULES:
            yield (*first, "matchingRules"), value, f"message matchingRules={value!r}"


def _expected_pointer(name: str, path: tuple[str | int, ...], value: Any) -> str:
    # A V3 pact needs 'interactions' or 'messages': the error names the first.
    if name.startswith("v3") and path == ("messages",) and value is _MISSING:
        return "/interactions"
    return _pointer(path)


def structural_cases() -> Iterator[Case]:
    for name, base in _bases().items():
        for path, value, label in _mutations(name, base):
            document = _set(base, path, value)
            yield {
                "id": f"{name}: {label}",
                "expect": "location",
                "pointer": _expected_pointer(name, path, value),
                "text": _text(document),
            }
        # Two interactions a verifier cannot tell apart.
        list_key = "messages" if name == "v3-message" else "interactions"
        twice = copy.deepcopy(base)
        twice[list_key].append(copy.deepcopy(twice[list_key][0]))
        yield {
            "id": f"{name}: a repeated interaction",
            "expect": "location",
            "pointer": f"/{list_key}/{len(twice[list_key]) - 1}/description",
            "text": _text(twice),
        }


def text_cases() -> Iterator[Case]:
    base = _text(_bases()["v4-http"])
    for fraction in range(1, 40):
        cut = len(base) * fraction // 40
        yield {
            "id": f"truncated at {fraction}/40",
            "expect": "file",
            "pointer": "",
            "text": base[:cut],
        }
    for label, text in [
        ("trailing garbage", base + "\n}"),
        ("two documents", base + base),
        ("NaN", base.replace('"status": 200', '"status": NaN', 1)),
        ("Infinity", base.replace('"status": 200', '"status": Infinity', 1)),
        ("-Infinity", base.replace('"status": 200', '"status": -Infinity', 1)),
        ("single quotes", base.replace('"method"', "'method'", 1)),
        ("a comment", "// pact\n" + base),
        ("trailing comma", base.replace('"GET"', '"GET",', 1)),
        ("byte-order mark", "\ufeff" + base),
        ("empty", ""),
        ("whitespace", "  \n\t "),
        ("a list", "[]"),
        ("a string", '"pact"'),
        ("a number", "42"),
        ("null", "null"),
        ("true", "true"),
        ("unquoted key", base.replace('"method"', "method", 1)),
        ("control character in a string", base.replace('"GET"', '"G\u0001ET"', 1)),
        ("lone surrogate escape", base.replace('"GET"', '"\\ud800"', 1)),
        ("bad escape", base.replace('"GET"', '"\\q"', 1)),
    ]:
        yield {"id": f"text: {label}", "expect": "file", "pointer": "", "text": text}
    for key_path, label in [
        ('"consumer": {', "consumer"),
        ('"request": {', "request"),
        ('"metadata": {', "metadata"),
    ]:
        # A duplicate key inside the first object of that name.
        text = base.replace(key_path, key_path + '\n "x": 1, "x": 2,', 1)
        yield {"id": f"duplicate key in {label}", "expect": "location", "pointer": "", "text": text}
    marker = '"detail": "explanation"'
    for depth in (65, 100, 1500, 100_000):
        nested = "[" * depth + '"deep"' + "]" * depth
        yield {
            "id": f"nested {depth} levels deep",
            "expect": "file",
            "pointer": "",
            "text": base.replace(marker, f'"detail": {nested}', 1),
        }
    for label, raw in [
        (
            "Latin-1 bytes",
            base.replace("é", "e").encode("utf-8").replace(b"Not Found", b"Nicht gef\xfcnden"),
        ),
        ("UTF-16", base.encode("utf-16")),
        ("binary", bytes(range(256))),
    ]:
        yield {
            "id": f"bytes: {label}",
            "expect": "file",
            "pointer": "",
            "base64": base64.b64encode(raw).decode("ascii"),
        }


def all_cases() -> list[Case]:
    cases = [*structural_cases(), *text_cases()]
    ids = [case["id"] for case in cases]
    duplicates = {i for i in ids if ids.count(i) > 1}
    assert not duplicates, duplicates
    return cases


def render() -> str:
    return "".join(
        json.dumps(case, sort_keys=True, ensure_ascii=True) + "\n" for case in all_cases()
    )


if __name__ == "__main__":
    OUTPUT.write_text(render(), encoding="utf-8")
    print(f"{OUTPUT.relative_to(ROOT)}: {len(all_cases())} cases")
