"""JSON Schemas of the pact file format, one per Pact Specification version.

Written from the Pact Specification (pact-foundation/pact-specification, the
V2, V3 and V4 documents), and deliberately open where the specification is:
objects accept fields they do not name, because Pact implementations add their
own (``pactRust`` metadata, ``comments``, plugin data). What a pact *must* have
is closed: the parties' names, each interaction's description, a request with
a known method and an absolute path, a response status between 100 and 599,
provider states as the version spells them, matching rules as objects whose
matchers name a known ``match``, and, for V4, one of the interaction types the
specification defines.

The pact-foundation's own schema files are not published on a package
registry this project installs from, so these are Covenant's; they are checked
against the consumer pacts in ``contracts/pacts/`` and the malformed corpus in
``tests/corpus/pacts/``.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from jsonschema import Draft202012Validator

__all__ = ["HTTP_METHODS", "SpecVersion", "schema_for", "validator_for"]

Schema = dict[str, Any]
SpecVersion = Literal["2", "3", "4"]

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "CONNECT")

#: Any case, as the specification allows (``get`` is ``GET``).
_METHOD: Schema = {
    "type": "string",
    "pattern": "(?i)^(" + "|".join(HTTP_METHODS) + ")$",
    # Python's ``$`` also matches before a final newline: refuse any whitespace.
    "not": {"pattern": r"\s"},
    "description": "must be an HTTP method: " + ", ".join(HTTP_METHODS) + " (any case)",
}
_PATH: Schema = {
    "type": "string",
    "pattern": "^/",
    "description": "must be an absolute path, starting with '/'",
}
_STATUS: Schema = {"type": "integer", "minimum": 100, "maximum": 599}
#: Names appear in URLs and on pages: no control characters, a sane length.
_NAME: Schema = {
    "type": "string",
    "minLength": 1,
    "maxLength": 256,
    # Unanchored searches: ``$`` would let a final newline through.
    "pattern": r"\S",
    "not": {"pattern": r"[\x00-\x1f\x7f]"},
    "description": "must be a name: not blank, no control characters",
}
_PARTY: Schema = {"type": "object", "required": ["name"], "properties": {"name": _NAME}}
_DESCRIPTION: Schema = {"type": "string", "minLength": 1}
_OBJECT: Schema = {"type": "object"}
_STRINGS: Schema = {"type": "array", "items": {"type": "string"}}

#: Matchers every version knows, plus the V3/V4 additions (pact-reference's list).
_MATCH_TYPES = (
    "equality",
    "regex",
    "type",
    "min",
    "max",
    "minmax",
    "include",
    "integer",
    "decimal",
    "number",
    "real",
    "timestamp",
    "datetime",
    "date",
    "time",
    "null",
    "boolean",
    "contentType",
    "content-type",
    "values",
    "arrayContains",
    "array-contains",
    "statusCode",
    "status-code",
    "notEmpty",
    "not-empty",
    "semver",
    "eachKey",
    "each-key",
    "eachValue",
    "each-value",
)
_MATCHER: Schema = {
    "type": "object",
    "required": ["match"],
    "properties": {
        "match": {"type": "string", "enum": list(_MATCH_TYPES)},
        "regex": {"type": "string"},
        "min": {"type": "integer", "minimum": 0},
        "max": {"type": "integer", "minimum": 0},
    },
}
_RULE: Schema = {
    "type": "object",
    "required": ["matchers"],
    "properties": {
        "matchers": {"type": "array", "items": _MATCHER},
        "combine": {"type": "string", "enum": ["AND", "OR"]},
    },
}
_RULES_BY_PATH: Schema = {"type": "object", "additionalProperties": _RULE}
#: V3 and V4: rules grouped by category (``body``, ``header``, ``path`` ...).
_MATCHING_RULES: Schema = {
    "type": "object",
    "properties": {
        "path": {"anyOf": [_RULE, _RULES_BY_PATH]},
        "body": _RULES_BY_PATH,
        "header": _RULES_BY_PATH,
        "headers": _RULES_BY_PATH,
        "query": _RULES_BY_PATH,
        "metadata": _RULES_BY_PATH,
        "content": _RULES_BY_PATH,
        "status": {"anyOf": [_RULE, _RULES_BY_PATH]},
    },
    "additionalProperties": _RULES_BY_PATH,
}
#: V2: one level, keyed by a ``$.`` expression.
_V2_MATCHING_RULES: Schema = {
    "type": "object",
    "propertyNames": {"pattern": r"^\$"},
    "additionalProperties": {
        "type": "object",
        "properties": {
            "match": {"type": "string", "enum": ["type", "regex"]},
            "regex": {"type": "string"},
            "min": {"type": "integer", "minimum": 0},
            "max": {"type": "integer", "minimum": 0},
        },
        "anyOf": [{"required": ["match"]}, {"required": ["regex"]}],
    },
}
_GENERATORS: Schema = {
    "type": "object",
    "additionalProperties": {
        "anyOf": [
            {"type": "object", "required": ["type"], "properties": {"type": {"type": "string"}}},
            {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "required": ["type"],
                    "properties": {"type": {"type": "string"}},
                },
            },
        ]
    },
}
_PROVIDER_STATES: Schema = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string", "minLength": 1}, "params": _OBJECT},
    },
}
_STRING_HEADERS: Schema = {"type": "object", "additionalProperties": {"type": "string"}}
_LIST_HEADERS: Schema = {
    "type": "object",
    "additionalProperties": {"anyOf": [{"type": "string"}, _STRINGS]},
}
#: V3 and V4 write a map of lists; a query string (the V2 form) is still read by
#: pact-reference, so it is accepted too.
_QUERY_MAP: Schema = {
    "anyOf": [
        {"type": "object", "additionalProperties": {"anyOf": [{"type": "string"}, _STRINGS]}},
        {"type": "string"},
    ]
}
_METADATA: Schema = {
    "type": "object",
    "properties": {
        "pactSpecification": {
            "type": "object",
            "properties": {"version": {"type": "string", "minLength": 1}},
        }
    },
}
#: V4 bodies carry their content type and say whether the content is base64.
_V4_BODY: Schema = {
    "type": "object",
    "required": ["content"],
    "properties": {
        "content": {},
        "contentType": {"type": "string", "minLength": 1},
        "encoded": {"anyOf": [{"type": "boolean"}, {"type": "string", "minLength": 1}]},
        "contentTypeHint": {"type": "string", "enum": ["DEFAULT", "TEXT", "BINARY"]},
    },
}


def _http_parts(
    *, query: Schema, headers: Schema, body: Schema, rules: Schema, generators: bool
) -> tuple[Schema, Schema]:
    """The request and response objects of an HTTP interaction, as one version spells them."""
    extra: Schema = {"matchingRules": rules}
    if generators:
        extra["generators"] = _GENERATORS
    request = {
        "type": "object",
        "required": ["method", "path"],
        "properties": {
            "method": _METHOD,
            "path": _PATH,
            "query": query,
            "headers": headers,
            "body": body,
            **extra,
        },
    }
    response = {
        "type": "object",
        "required": ["status"],
        "properties": {"status": _STATUS, "headers": headers, "body": body, **extra},
    }
    return request, response


def _document(version: str, lists: Schema, required: list[str]) -> Schema:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"Pact file, Pact Specification V{version}",
        "type": "object",
        "required": ["consumer", "provider", *required],
        "properties": {"consumer": _PARTY, "provider": _PARTY, **lists, "metadata": _METADATA},
    }


def _v2() -> Schema:
    request, response = _http_parts(
        query={"type": "string"},
        headers=_STRING_HEADERS,
        body={},
        rules=_V2_MATCHING_RULES,
        generators=False,
    )
    interaction = {
        "type": "object",
        "required": ["description", "request", "response"],
        "properties": {
            "description": _DESCRIPTION,
            "providerState": {"type": "string"},
            "request": request,
            "response": response,
        },
    }
    return _document(
        "2", {"interactions": {"type": "array", "items": interaction}}, ["interactions"]
    )


def _v3() -> Schema:
    request, response = _http_parts(
        query=_QUERY_MAP, headers=_LIST_HEADERS, body={}, rules=_MATCHING_RULES, generators=True
    )
    interaction = {
        "type": "object",
        "required": ["description", "request", "response"],
        "properties": {
            "description": _DESCRIPTION,
            "providerStates": _PROVIDER_STATES,
            "request": request,
            "response": response,
        },
    }
    message = {
        "type": "object",
        "required": ["description", "contents"],
        "properties": {
            "description": _DESCRIPTION,
            "providerStates": _PROVIDER_STATES,
            "contents": {},
            "metadata": _OBJECT,
            "metaData": _OBJECT,
            "matchingRules": _MATCHING_RULES,
            "generators": _GENERATORS,
        },
    }
    lists = {
        "interactions": {"type": "array", "items": interaction},
        "messages": {"type": "array", "items": message},
    }
    schema = _document("3", lists, [])
    schema["anyOf"] = [{"required": ["interactions"]}, {"required": ["messages"]}]
    return schema


_V4_COMMON: Schema = {
    "description": _DESCRIPTION,
    "providerStates": _PROVIDER_STATES,
    "pending": {"type": "boolean"},
    "key": {"type": "string"},
    "comments": _OBJECT,
    "pluginConfiguration": _OBJECT,
    "interactionMarkup": _OBJECT,
    "transport": {"type": "string"},
}
V4_TYPES = ("Synchronous/HTTP", "Asynchronous/Messages", "Synchronous/Messages")


def _v4() -> Schema:
    request, response = _http_parts(
        query=_QUERY_MAP,
        headers=_LIST_HEADERS,
        body=_V4_BODY,
        rules=_MATCHING_RULES,
        generators=True,
    )
    message_part = {
        "type": "object",
        "required": ["contents"],
        "properties": {
            "contents": _V4_BODY,
            "metadata": _OBJECT,
            "matchingRules": _MATCHING_RULES,
            "generators": _GENERATORS,
        },
    }
    http = {
        "type": "object",
        "required": ["type", "description", "request", "response"],
        "properties": {
            **_V4_COMMON,
            "type": {"const": "Synchronous/HTTP"},
            "request": request,
            "response": response,
        },
    }
    asynchronous = {
        "type": "object",
        "required": ["type", "description", "contents"],
        "properties": {
            **_V4_COMMON,
            "type": {"const": "Asynchronous/Messages"},
            "contents": _V4_BODY,
            "metadata": _OBJECT,
            "matchingRules": _MATCHING_RULES,
            "generators": _GENERATORS,
        },
    }
    synchronous = {
        "type": "object",
        "required": ["type", "description", "request", "response"],
        "properties": {
            **_V4_COMMON,
            "type": {"const": "Synchronous/Messages"},
            "request": message_part,
            "response": {"type": "array", "items": message_part},
        },
    }
    # Dispatch on ``type`` so that an error names the interaction's own rules,
    # not "matches none of three alternatives".
    interaction = {
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"type": "string", "enum": list(V4_TYPES)}},
        "allOf": [
            {
                "if": {"properties": {"type": {"const": kind}}, "required": ["type"]},
                "then": schema,
            }
            for kind, schema in zip(V4_TYPES, (http, asynchronous, synchronous), strict=True)
        ],
    }
    return _document(
        "4", {"interactions": {"type": "array", "items": interaction}}, ["interactions"]
    )


_BUILDERS = {"2": _v2, "3": _v3, "4": _v4}


@cache
def schema_for(version: SpecVersion) -> Schema:
    """The JSON Schema of a pact file of Pact Specification ``version``."""
    return _BUILDERS[version]()


@cache
def validator_for(version: SpecVersion) -> Draft202012Validator:
    """A validator of pact files of ``version``. The schemas are Covenant's own, so
    they are checked against the metaschema by the tests
    (``tests/unit/test_pact_schemas.py``), not here: checking one costs ~0.8 s, which
    every ``covenant verify`` and ``contracts publish`` paid at start."""
    return Draft202012Validator(schema_for(version))
