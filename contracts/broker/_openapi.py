"""Make the broker's OpenAPI description tell the truth about its answers.

FastAPI derives each operation's responses from the endpoint signature, but
the broker answers HAL documents (``application/hal+json``) on success and
RFC 9457 problem documents on every error, and reads its JSON bodies itself
(to report bad input with line and column). This post-processing documents
that for every broker operation, so clients, ``covenant contracts compare`` and
Schemathesis see what the broker really does.

Because the endpoints read their bodies and query strings by hand, FastAPI
cannot see them; :data:`REQUESTS` declares them, and ``_body_schema`` checks
every JSON body against its schema here (400 on a mismatch), so the document
and the endpoints cannot drift apart. What JSON Schema cannot say (a pact's
names must match the path, pacticipants that must exist, ...) is the
endpoint's own check, answered 422.

No web framework here: :func:`describe_broker_operations` rewrites a generated
document; :mod:`contracts.broker.resources._openapi` hooks it into the app.
"""

from __future__ import annotations

from typing import Any

from contracts.broker._delivery import EVENT_NAMES, URL_PARAMETERS
from contracts.broker._inputs import MAX_QUERY_VALUE
from contracts.broker._pacts import MAX_NAME_LENGTH
from contracts.broker._provider_contracts import JSON_MEDIA_TYPES, YAML_MEDIA_TYPES
from contracts.broker._verification import MAX_TEXT
from covenant.kernel.problems import PROBLEM_SCHEMA

__all__ = ["BADGE_TAG", "REQUESTS", "Request", "describe_broker_operations"]

_ERRORS = {
    "400": "Bad input: the problem document names what and where",
    "401": "A bearer token is required, or the token is not valid",
    "403": "The token may only read",
    "404": "No such resource",
    "405": "Method not allowed",
    "409": "Conflicts with what is stored",
    "422": "Matches the schema but cannot be carried out (names that contradict the path,"
    " unknown pacticipants or environments, base64 content that is not a pact)",
    "413": "The body exceeds broker.max_body_bytes",
    "415": "Unsupported media type",
    "503": "The broker database is unavailable; nothing was stored",
}
_HAL = {"schema": {"type": "object"}}
#: Template parameters that are a whole URL (``${pactbroker.pactUrl}``).
URL_VALUES = "|".join(URL_PARAMETERS)


# --- request descriptions ------------------------------------------------------

Schema = dict[str, Any]


def _obj(properties: Schema, *required: str, closed: bool = False) -> Schema:
    """A JSON object; unknown keys are ignored by the endpoints unless ``closed``."""
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


def _nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


#: Whitespace spelled out: exactly what Python's ``str.isspace`` (and so the endpoints'
#: ``strip()``) calls whitespace. ``\s`` means something else in ECMAScript regexes,
#: which is how JSON Schema patterns are read by generators such as Schemathesis.
SPACE = r"\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"

#: ``check_name``: non-blank, at most MAX_NAME_LENGTH characters, no control characters.
NAME: Schema = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_NAME_LENGTH,
    "pattern": rf"^[^\x00-\x1f]*[^{SPACE}\x00-\x1f][^\x00-\x1f]*$",
}
#: A string that is not blank (``value.strip()`` is not empty); no NUL, which
#: PostgreSQL cannot store.
TEXT: Schema = {"type": "string", "pattern": rf"^[^\x00]*[^{SPACE}\x00][^\x00]*$"}
SHORT_TEXT: Schema = {**TEXT, "maxLength": 256}
STRING: Schema = {"type": "string", "pattern": r"^[^\x00]*$"}
#: Longest URL the broker stores (build, repository and webhook URLs).
MAX_URL = 2048
#: A port from 1 to 65535 (0 cannot be connected to).
_PORT = r"(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
#: A DNS name (labels of 1 to 63 letters, digits and inner hyphens) or a bracketed IPv6.
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = rf"({_LABEL}(\.{_LABEL})*|\[[0-9A-Fa-f:.]+\])"
#: An absolute http(s) URL, printable ASCII, no credentials.
HTTP_URL: Schema = {
    "type": "string",
    "maxLength": MAX_URL,
    "pattern": rf"^https?://{_HOST}(:{_PORT})?([/?#][!-~]*)?$",
}
#: A repository: http(s), ssh, git or git+ssh URL, or scp-like ``git@host:path``.
REPOSITORY_URL: Schema = {
    "type": "string",
    "maxLength": MAX_URL,
    "pattern": r"^((https?|ssh|git|git\+ssh)://[!-~]+|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[!-~]+)$",
}
#: Query values: at most MAX_QUERY_VALUE characters, no NUL (``_inputs.query_errors``).
QUERY_STRING: Schema = {**STRING, "maxLength": MAX_QUERY_VALUE}
BOOLEAN: Schema = {"type": "boolean"}
TRUE: Schema = {"const": True}
#: What ``_bool`` in ``_matrix`` accepts in a query string.
QUERY_BOOLEAN: Schema = {"type": "string", "enum": ["true", "false", "1", "0", "yes", "no"]}
#: ``decode_content``: base64 (of a JSON pact whose names match; checked by the endpoint).
BASE64: Schema = {
    "type": "string",
    "minLength": 1,
    "contentEncoding": "base64",
    "contentMediaType": "application/json",
    "pattern": r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$",
}

#: ``validate_pact``: names both parties and lists interactions (or messages).
PACT: Schema = {
    "type": "object",
    "required": ["consumer", "provider"],
    "properties": {
        "consumer": _obj({"name": {"type": "string", "minLength": 1}}, "name"),
        "provider": _obj({"name": {"type": "string", "minLength": 1}}, "name"),
        "interactions": {"type": "array", "items": {"type": "object"}},
        "messages": {"type": "array", "items": {"type": "object"}},
        "metadata": {"type": "object"},
    },
    "anyOf": [{"required": ["interactions"]}, {"required": ["messages"]}],
    "description": "The consumer and provider names must be the ones in the path.",
}

PUBLISH: Schema = _obj(
    {
        "pacticipantName": NAME,
        "pacticipantVersionNumber": NAME,
        "branch": _nullable(NAME),
        "tags": _nullable({"type": "array", "items": NAME}),
        "buildUrl": _nullable(HTTP_URL),
        "contracts": {
            "type": "array",
            "minItems": 1,
            "items": _obj(
                {
                    "consumerName": NAME,
                    "providerName": NAME,
                    "specification": {"type": "string", "pattern": "^[Pp][Aa][Cc][Tt]$"},
                    "contentType": {
                        "type": "string",
                        "pattern": "^[Aa][Pp][Pp][Ll][Ii][Cc][Aa][Tt][Ii][Oo][Nn]/[Jj][Ss][Oo][Nn]",
                    },
                    "onConflict": _nullable({"type": "string", "enum": ["overwrite", "merge"]}),
                    "content": BASE64,
                },
                "providerName",
                "content",
            ),
            "description": "One contract per provider; consumerName (when given) is"
            " pacticipantName; content is the base64 of a pact between them.",
        },
    },
    "pacticipantName",
    "pacticipantVersionNumber",
    "contracts",
)


def _any_case(word: str) -> str:
    """A regex matching ``word`` in any letter case (JSON Schema patterns have no flags)."""
    return "".join(
        f"[{c.upper()}{c.lower()}]" if c.isalpha() else ("\\" + c if c in ".+" else c) for c in word
    )


#: ``_provider_contracts``: JSON or YAML media types, any case, parameters allowed.
_CONTRACT_MEDIA_TYPES = "|".join(
    _any_case(media) for media in (*JSON_MEDIA_TYPES, *YAML_MEDIA_TYPES)
)
#: Base64 of any content (a pattern, so generated data decodes; what it holds is the
#: endpoint's check, 422).
BASE64_TEXT: Schema = {
    "type": "string",
    "minLength": 1,
    "contentEncoding": "base64",
    "pattern": BASE64["pattern"],
}
PROVIDER_CONTRACT: Schema = _obj(
    {
        "pacticipantVersionNumber": NAME,
        "branch": _nullable(NAME),
        "tags": _nullable({"type": "array", "items": NAME}),
        "buildUrl": _nullable(HTTP_URL),
        "contract": _obj(
            {
                "content": {
                    **BASE64_TEXT,
                    "description": "The OpenAPI 3.x document, base64-encoded, in the media"
                    " type contentType names (JSON or YAML).",
                },
                "contentType": {
                    "type": "string",
                    "pattern": rf"^({_CONTRACT_MEDIA_TYPES})[ \t]*(;[^\x00]*)?$",
                    "maxLength": 256,
                },
                "specification": {"type": "string", "pattern": f"^{_any_case('oas')}$"},
                "selfVerificationResults": _nullable(
                    _obj(
                        {
                            "success": BOOLEAN,
                            "content": _nullable(BASE64_TEXT),
                            "contentType": _nullable(SHORT_TEXT),
                            "format": _nullable(SHORT_TEXT),
                            "verifier": _nullable(SHORT_TEXT),
                            "verifierVersion": _nullable(SHORT_TEXT),
                        },
                        "success",
                    )
                ),
            },
            "content",
            "contentType",
            "specification",
        ),
    },
    "pacticipantVersionNumber",
    "contract",
)

PACTICIPANT: Schema = _obj(
    {
        "displayName": _nullable(STRING),
        "mainBranch": _nullable(NAME),
        "repositoryUrl": _nullable(REPOSITORY_URL),
    }
)
NEW_PACTICIPANT: Schema = {**PACTICIPANT, "properties": {"name": NAME, **PACTICIPANT["properties"]}}
NEW_PACTICIPANT["required"] = ["name"]
PACTICIPANT_UPDATE: Schema = {
    **PACTICIPANT,
    "properties": {"name": NAME, **PACTICIPANT["properties"]},
    "description": "A name, when given, must be the one in the path.",
}

VERSION: Schema = _obj(
    {
        "buildUrl": _nullable(HTTP_URL),
        "tags": {"type": "array", "items": {"anyOf": [NAME, _obj({"name": NAME}, "name")]}},
    }
)

ENVIRONMENT: Schema = _obj(
    {
        "name": {**SHORT_TEXT, "pattern": rf"^[^{SPACE}\x00]+$"},
        "displayName": _nullable(SHORT_TEXT),
        "production": _nullable(BOOLEAN),
        "contacts": _nullable({"type": "array", "items": {"type": "object"}}),
    },
    "name",
)
DEPLOYMENT: Schema = _nullable(
    _obj({"applicationInstance": _nullable(SHORT_TEXT), "target": _nullable(SHORT_TEXT)})
)

VERIFICATION: Schema = _obj(
    {
        "success": BOOLEAN,
        "providerApplicationVersion": {**TEXT, "maxLength": MAX_TEXT},
        "buildUrl": _nullable(HTTP_URL),
        "providerVersionBranch": _nullable({**TEXT, "maxLength": MAX_TEXT}),
        "branch": _nullable({**TEXT, "maxLength": MAX_TEXT}),
        "providerVersionTags": _nullable({"type": "array", "items": TEXT}),
        "tags": _nullable({"type": "array", "items": TEXT}),
        "testResults": _nullable({"type": ["array", "object"]}),
        "verifiedBy": _nullable({"type": "object"}),
    },
    "success",
    "providerApplicationVersion",
)

_SELECTOR_TEXT = ("branch", "fallbackBranch", "environment", "consumer", "tag", "fallbackTag")


def _selector(required: Schema, **optional: Schema) -> Schema:
    """One valid shape of a consumer version selector (``_selectors._selector``)."""
    properties = {**required, "consumer": TEXT, **optional}
    return _obj(properties, *required, closed=True)


SELECTOR: Schema = {
    "oneOf": [
        _selector({"branch": TEXT}, fallbackBranch=TEXT, latest=BOOLEAN),
        _selector({"mainBranch": TRUE}, latest=BOOLEAN),
        _selector({"matchingBranch": TRUE}, latest=BOOLEAN),
        _selector({"tag": TEXT}, latest=BOOLEAN),
        _selector({"tag": TEXT, "latest": TRUE, "fallbackTag": TEXT}),
        _selector({"latest": TRUE}),
        _selector({"environment": TEXT}, latest=BOOLEAN),
        *(_selector({key: TRUE}, environment=TEXT) for key in ("deployed", "released")),
        _selector({"deployedOrReleased": TRUE}, environment=TEXT),
    ],
    "description": "matchingBranch needs providerVersionBranch.",
}
FOR_VERIFICATION: Schema = _nullable(
    _obj(
        {
            "consumerVersionSelectors": _nullable({"type": "array", "items": SELECTOR}),
            "providerVersionBranch": _nullable(TEXT),
            "providerVersionTags": _nullable(
                {"type": "array", "items": {"type": "string", "minLength": 1}}
            ),
            "includePendingStatus": _nullable(BOOLEAN),
            "includeWipPactsSince": _nullable(
                {"anyOf": [{"type": "string", "format": f} for f in ("date", "date-time")]}
            ),
        }
    )
)

URL = rf"^https?://{_HOST}(:{_PORT})?([/?#][!-~]*)?$"
HEADER_NAME = r"^[!-9;-~]+$"
HEADER_VALUE = r"^[\t\x20-\x7e]*$"
HEADER_LINE = r"^[\t ]*[!-9;-~]+[\t ]*:[\t\x20-\x7e]*$"
WEBHOOK: Schema = _obj(  # consumer and provider must name existing pacticipants
    {
        "description": _nullable(STRING),
        "events": _nullable(
            {
                "type": "array",
                "minItems": 1,
                "items": _obj({"name": {"enum": list(EVENT_NAMES)}}, "name"),
            }
        ),
        "request": _obj(
            {
                "method": _nullable(
                    {"enum": ["POST", "PUT", "PATCH", "GET", "DELETE", "HEAD", "OPTIONS"]}
                ),
                "url": {
                    "anyOf": [
                        {"type": "string", "pattern": URL, "maxLength": MAX_URL},
                        {"type": "string", "pattern": rf"^\$\{{pactbroker\.({URL_VALUES})\}}$"},
                    ],
                    "description": "An http(s) URL without credentials (template parameters"
                    " ${pactbroker.<name>} allowed in its path and query), or a whole"
                    " ${pactbroker.pactUrl} or ${pactbroker.verificationResultUrl}.",
                },
                "headers": {
                    "anyOf": [
                        {
                            "type": "object",
                            "propertyNames": {"pattern": HEADER_NAME},
                            # Sent as HTTP header values: printable ASCII, spaces and tabs.
                            "additionalProperties": {"type": "string", "pattern": HEADER_VALUE},
                        },
                        {
                            "type": "array",
                            "items": {"type": "string", "pattern": HEADER_LINE},
                            "description": "The pact-broker CLI's form: 'Name: value' lines.",
                        },
                        {"type": "null"},
                    ]
                },
                "body": {},
                "username": _nullable(STRING),
                "password": _nullable(STRING),
            },
            "url",
        ),
        "consumer": _nullable(_obj({"name": TEXT}, "name")),
        "provider": _nullable(_obj({"name": TEXT}, "name")),
        "enabled": BOOLEAN,
    },
    "request",
)
SCOPED_WEBHOOK: Schema = {
    **WEBHOOK,
    "description": "The path names the scope; consumer and provider, when given,"
    " must name existing pacticipants.",
}


def _query(name: str, schema: Schema, *, required: bool = False, about: str = "") -> Schema:
    parameter: Schema = {"name": name, "in": "query", "required": required, "schema": schema}
    if about:
        parameter["description"] = about
    return parameter


_NONEMPTY: Schema = {**QUERY_STRING, "minLength": 1}
MATRIX_QUERY: list[Schema] = [
    _query(
        "q[][pacticipant]",
        _NONEMPTY,
        required=True,
        about="Each selector names one; a q[][...] key the current selector already"
        " has starts the next selector (as Rack groups them).",
    ),
    _query("q[][version]", QUERY_STRING),
    _query("q[][latest]", QUERY_BOOLEAN),
    _query("q[][tag]", QUERY_STRING),
    _query("q[][branch]", QUERY_STRING),
    _query("q[][mainBranch]", QUERY_BOOLEAN),
    _query("q[][environment]", QUERY_STRING),
    _query("ignore[][pacticipant]", QUERY_STRING),
    _query("ignore[][version]", QUERY_STRING),
    _query("latestby", {"enum": ["cvp", "cvpv"]}),
    _query("latest", QUERY_BOOLEAN),
    _query("tag", QUERY_STRING),
    _query("environment", QUERY_STRING),
    _query("mainBranch", QUERY_BOOLEAN),
    _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
]
CAN_I_DEPLOY_QUERY: list[Schema] = [
    _query("pacticipant", _NONEMPTY, required=True),
    _query("version", QUERY_STRING, about="Left out: the latest version (of branch, if given)."),
    _query("branch", QUERY_STRING),
    _query("mainBranch", QUERY_BOOLEAN),
    _query("environment", _NONEMPTY, required=True, about="Or a 'to' (or 'tag') tag instead."),
    _query("to", QUERY_STRING),
    _query("tag", QUERY_STRING),
]


BADGE_LABEL = _query(
    "label",
    QUERY_STRING,
    about="The badge's left text: for a pact badge 'consumer' or 'provider' shows only"
    " that name; for a can-i-deploy badge, any text (default 'can-i-deploy').",
)
BADGE_INITIALS = _query(
    "initials",
    {"type": "string", "enum": ["true", "false"]},
    about="true: names as their initials (order-service -> os).",
)


class Request:
    """What one operation reads: a JSON body (``body``; ``None`` = no body at all) and
    query parameters."""

    def __init__(
        self,
        body: Schema | None = None,
        *,
        body_required: bool = True,
        query: list[Schema] | None = None,
        names_in_path: bool = False,
    ) -> None:
        self.body = body
        self.body_required = body_required
        self.query = query or []
        #: The endpoint checks its path parameters as names (``check_name``).
        self.names_in_path = names_in_path


NO_BODY = Request()
NAMED_NO_BODY = Request(names_in_path=True)
_PACT = "/pacts/provider/{provider}/consumer/{consumer}"
_VERSION = "/pacticipants/{name}/versions/{number}"

#: (method, path template) -> what the operation reads; operations not listed read neither.
REQUESTS: dict[tuple[str, str], Request] = {
    ("post", "/contracts/publish"): Request(PUBLISH),
    ("put", _PACT + "/version/{version}"): Request(
        PACT,
        names_in_path=True,
        query=[_query("allowOverwrite", {"enum": ["true", "false", "True", "False"]})],
    ),
    ("patch", _PACT + "/version/{version}"): Request(PACT, names_in_path=True),
    ("post", "/pacticipants"): Request(NEW_PACTICIPANT),
    ("put", "/pacticipants/{name}"): Request(PACTICIPANT_UPDATE, names_in_path=True),
    ("patch", "/pacticipants/{name}"): Request(PACTICIPANT_UPDATE, names_in_path=True),
    ("get", "/pacticipants/{name}/versions"): Request(
        query=[
            _query("pageNumber", {"type": "integer", "minimum": 1, "maximum": 1_000_000}),
            _query("pageSize", {"type": "integer", "minimum": 1, "maximum": 1000}),
        ]
    ),
    ("put", "/pacticipants/{name}/versions/{version}"): Request(
        VERSION, body_required=False, names_in_path=True
    ),
    ("put", "/pacticipants/{name}/versions/{version}/tags/{tag}"): NAMED_NO_BODY,
    ("put", "/pacticipants/{name}/branches/{branch}/versions/{version}"): NAMED_NO_BODY,
    ("put", "/pacticipants/{name}/versions/{version}/branches/{branch}"): NAMED_NO_BODY,
    ("get", "/environments"): Request(query=[_query("name", QUERY_STRING)]),
    ("post", "/environments"): Request(ENVIRONMENT),
    ("put", "/environments/{env_id}"): Request(ENVIRONMENT),
    ("post", _VERSION + "/deployed-versions/environment/{env_id}"): Request(
        DEPLOYMENT, body_required=False
    ),
    ("post", _VERSION + "/released-versions/environment/{env_id}"): Request(
        _nullable({"type": "object"}), body_required=False
    ),
    ("get", "/environments/{env_id}/deployed-versions/currently-deployed"): Request(
        query=[_query("pacticipant", QUERY_STRING), _query("applicationInstance", QUERY_STRING)]
    ),
    ("get", "/environments/{env_id}/released-versions/currently-supported"): Request(
        query=[_query("pacticipant", QUERY_STRING)]
    ),
    ("patch", "/deployed-versions/{deployed_id}"): Request(
        _nullable(_obj({"currentlyDeployed": BOOLEAN}))
    ),
    ("patch", "/released-versions/{released_id}"): Request(
        _nullable(_obj({"currentlySupported": BOOLEAN}))
    ),
    ("post", "/pacts/provider/{provider}/for-verification"): Request(FOR_VERIFICATION),
    ("post", _PACT + "/pact-version/{sha}/verification-results"): Request(VERIFICATION),
    ("get", "/matrix"): Request(query=MATRIX_QUERY),
    ("get", "/can-i-deploy"): Request(query=CAN_I_DEPLOY_QUERY),
    ("post", "/webhooks"): Request(WEBHOOK),
    ("post", "/webhooks/provider/{provider}"): Request(SCOPED_WEBHOOK),
    ("post", "/webhooks/consumer/{consumer}"): Request(SCOPED_WEBHOOK),
    ("post", "/webhooks/provider/{provider}/consumer/{consumer}"): Request(WEBHOOK),
    ("put", "/webhooks/{uuid}"): Request(WEBHOOK),
    ("post", "/webhooks/{uuid}/execute"): NO_BODY,
    ("post", "/provider-contracts/provider/{provider}/publish"): Request(
        PROVIDER_CONTRACT, names_in_path=True
    ),
    **{
        ("get", path): Request(query=[BADGE_LABEL, BADGE_INITIALS])
        for path in (
            _PACT + "/latest/badge",
            _PACT + "/latest/{tag}/badge",
            "/matrix/provider/{provider}/latest/{provider_tag}/consumer/{consumer}/latest/{tag}"
            "/badge",
        )
    },
    **{
        ("get", path): Request(query=[BADGE_LABEL])
        for path in (
            "/pacticipants/{name}/latest-version/{tag}/can-i-deploy/to/{to}/badge",
            "/pacticipants/{name}/latest-version/{tag}/can-i-deploy/to-environment/{environment}"
            "/badge",
            "/pacticipants/{name}/branches/{branch}/latest-version/can-i-deploy/to-environment"
            "/{environment}/badge",
        )
    },
}


def _describe_request(operation: dict[str, Any], method: str, path: str) -> None:
    described = REQUESTS.get((method, path), NO_BODY)
    if described.body is None:
        operation.pop("requestBody", None)
    else:
        operation["requestBody"] = {
            "required": described.body_required,
            "content": {"application/json": {"schema": described.body}},
        }
    for parameter in operation.get("parameters", []):
        if described.names_in_path and parameter.get("in") == "path":
            parameter["schema"] = NAME
    if described.query:
        parameters: list[dict[str, Any]] = operation.setdefault("parameters", [])
        known = {(p.get("in"), p.get("name")) for p in parameters}
        parameters.extend(p for p in described.query if ("query", p["name"]) not in known)


def _document(operation: dict[str, Any], method: str) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    responses.pop("422", None)  # FastAPI's validation error; the broker's own 422 follows
    for status, response in list(responses.items()):
        if status.startswith("2") and status != "204":
            response["content"] = {"application/hal+json": _HAL, "application/json": _HAL}
    # PATCH creates like PUT (a pacticipant patched into existence answers 201).
    extra: dict[str, tuple[str, ...]] = {
        "post": ("200", "201"),
        "put": ("200", "201"),
        "patch": ("200", "201"),
        "delete": ("204",),
    }
    for status in extra.get(method, ()):
        responses.setdefault(
            status,
            {"description": "Done", "content": {"application/hal+json": _HAL}}
            if status != "204"
            else {"description": "Deleted"},
        )
    for status, description in _ERRORS.items():
        responses.setdefault(
            status,
            {
                "description": description,
                "content": {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                },
            },
        )


#: The tag of the badge routes, which answer SVG rather than HAL.
BADGE_TAG = "broker badges"
_SVG = {"schema": {"type": "string"}}


def _document_badge(operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    responses.pop("422", None)
    responses["200"] = {
        "description": "The badge (also for what does not exist: 'pact not found', ...)",
        "content": {"image/svg+xml": _SVG},
    }
    for status in ("400", "401", "503"):
        responses.setdefault(
            status,
            {
                "description": _ERRORS[status],
                "content": {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                },
            },
        )


def describe_broker_operations(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` (an OpenAPI document as generated) with the broker's operations
    documented as answered: HAL on success (SVG for the badges), problem documents on
    errors, and the bodies and query parameters of :data:`REQUESTS`. Changes
    ``document`` in place."""
    document.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            tags = operation.get("tags", [])
            if "broker" in tags:
                _document(operation, method)
                _describe_request(operation, method, path)
            elif BADGE_TAG in tags:
                _document_badge(operation)
                _describe_request(operation, method, path)
    return document
