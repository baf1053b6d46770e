"""Write ``tests/corpus/broker/*.jsonl``: malformed requests to the contract broker.

Run from the repository root: ``.venv/bin/python tests/corpus/generate_broker.py``.
The output is committed; ``tests/integration/broker/test_corpus_broker.py`` sends
each case to a real broker (``covenant serve``'s app on PostgreSQL) and checks the
answer class, the problem document and that nothing was stored.

Files: ``bodies.jsonl`` (JSON bodies of every POST/PUT/PATCH endpoint; the pact
``content`` inside a publish body is left to the pact corpus), ``query.jsonl``
(query parameters of the GET endpoints and of writes that read them),
``webhook_urls.jsonl`` (``request.url`` of a webhook). One case per line:

- ``id``; ``method``; ``path`` with placeholders the test fills from the data it
  seeds: ``{C}``/``{P}`` consumer/provider, ``{V}``/``{PV}`` their versions,
  ``{ENV}`` an environment id, ``{SHA}`` a pact version, ``{DEP}``/``{REL}`` a
  deployed/released version, ``{HOOK}`` a webhook;
- the request: ``query`` (a list of [name, value], repeated names allowed),
  ``body`` (JSON), ``raw`` (a body as text, sent as is; ``raw_repeat`` times if
  given), ``raw_hex`` (bytes) or ``raw_deep`` (that many ``[`` and then ``]``);
- ``expect``: the status (400 the request breaks the published schema or the
  documented rules of a parameter; 422 it matches them but cannot be carried out;
  404 it names something that does not exist; 413 it is too large);
- ``where``: what the problem document must name (a key of its ``errors``, or in its
  ``detail``): a dotted body location such as ``contracts[0].providerName`` (as the
  broker writes them), a parameter name, or ``body``.
"""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "broker"

MISSING = object()
C, P = "corpus-consumer", "corpus-provider"
NAME_LIMIT = 256
LONG = "n" * (NAME_LIMIT + 1)
INJECTION = ["' OR 1=1--", '"; DROP TABLE broker.pacticipants; --', "${jndi:ldap://x/a}"]


def _pact_b64(consumer: str = C, provider: str = P) -> str:
    pact = {
        "consumer": {"name": consumer},
        "provider": {"name": provider},
        "interactions": [
            {
                "description": "a corpus request",
                "request": {"method": "GET", "path": "/corpus"},
                "response": {"status": 200},
            }
        ],
        "metadata": {"pactSpecification": {"version": "3.0.0"}},
    }
    return base64.b64encode(json.dumps(pact).encode()).decode()


#: Bad values for a name (``check_name``: non-blank, at most 256, no control characters).
BAD_NAMES: list[Any] = ["", "   ", "\t", LONG, "a\x00b", "a\nb", "a\x1fb", 5, True, [], {}]
BAD_STRING: list[Any] = [5, True, [], {}, "a\x00b"]
BAD_BOOL: list[Any] = ["true", 1, 0, "yes", [], {}]

# -- one valid body per endpoint; the cases break it in one place -----------------

PUBLISH: dict[str, Any] = {
    "pacticipantName": C,
    "pacticipantVersionNumber": "9.9.9-corpus",
    "branch": "main",
    "tags": ["corpus"],
    "buildUrl": "https://ci.example.com/build/1",
    "contracts": [
        {
            "consumerName": C,
            "providerName": P,
            "specification": "pact",
            "contentType": "application/json",
            "content": _pact_b64(),
        }
    ],
}
PACTICIPANT = {
    "name": "corpus-new",
    "displayName": "Corpus",
    "mainBranch": "main",
    "repositoryUrl": "https://git.example.com/corpus",
}
VERSION = {"buildUrl": "https://ci.example.com/2", "tags": ["corpus", {"name": "t2"}]}
ENVIRONMENT = {"name": "corpus-new-env", "displayName": "Corpus", "production": False}
DEPLOYMENT = {"applicationInstance": "blue", "target": None}
VERIFICATION = {
    "success": True,
    "providerApplicationVersion": "2.0.1-corpus",
    "buildUrl": "https://ci.example.com/3",
    "providerVersionBranch": "main",
    "providerVersionTags": ["corpus"],
    "testResults": [],
    "verifiedBy": {"implementation": "corpus"},
}
FOR_VERIFICATION = {
    "consumerVersionSelectors": [{"branch": "main"}],
    "providerVersionBranch": "main",
    "providerVersionTags": ["corpus"],
    "includePendingStatus": False,
}
WEBHOOK: dict[str, Any] = {
    "description": "corpus",
    "events": [{"name": "contract_requiring_verification_published"}],
    "request": {
        "method": "POST",
        "url": "http://127.0.0.1:9/hook",
        "headers": {"Content-Type": "application/json"},
        "body": {"pact": "${pactbroker.pactUrl}"},
    },
    "enabled": False,
}

#: (key path, new value or MISSING, status (None: not a case), what the answer names)
Mutation = tuple[tuple[str | int, ...], Any, int | None, str]


def _names(path: tuple[str | int, ...], where: str, *, nullable: bool = False) -> list[Mutation]:
    out: list[Mutation] = [(path, value, 400, where) for value in BAD_NAMES]
    if not nullable:
        out.append((path, None, 400, where))
    return out


def _strings(path: tuple[str | int, ...], where: str) -> list[Mutation]:
    return [(path, value, 400, where) for value in BAD_STRING]


def _bools(path: tuple[str | int, ...], where: str) -> list[Mutation]:
    return [(path, value, 400, where) for value in BAD_BOOL]


def _urls(path: tuple[str | int, ...], where: str) -> list[Mutation]:
    bad = ["not a url", "ftp://ci.example.com/1", "javascript:alert(1)", "//ci/1", "x" * 3000]
    return [*_strings(path, where), *((path, value, 400, where) for value in bad)]


ENDPOINTS: list[tuple[str, str, str, dict[str, Any], list[Mutation]]] = [
    (
        "publish",
        "POST",
        "/contracts/publish",
        PUBLISH,
        [
            *_names(("pacticipantName",), "pacticipantName"),
            (("pacticipantName",), MISSING, 400, "pacticipantName"),
            *_names(("pacticipantVersionNumber",), "pacticipantVersionNumber"),
            (("pacticipantVersionNumber",), MISSING, 400, "pacticipantVersionNumber"),
            *_names(("branch",), "branch", nullable=True),
            (("tags",), "corpus", 400, "tags"),
            (("tags",), {"a": 1}, 400, "tags"),
            *[(("tags", 0), value, 400, "tags[0]") for value in BAD_NAMES],
            *_urls(("buildUrl",), "buildUrl"),
            (("contracts",), MISSING, 400, "contracts"),
            (("contracts",), [], 400, "contracts"),
            (("contracts",), {}, 400, "contracts"),
            (("contracts",), "pact", 400, "contracts"),
            (("contracts", 0), "pact", 400, "contracts[0]"),
            (("contracts", 0), [], 400, "contracts[0]"),
            *_names(("contracts", 0, "consumerName"), "contracts[0].consumerName"),
            *_names(("contracts", 0, "providerName"), "contracts[0].providerName"),
            (("contracts", 0, "providerName"), MISSING, 400, "contracts[0].providerName"),
            *[
                (("contracts", 0, "specification"), value, 400, "contracts[0].specification")
                for value in ["swagger", "", 5, None, "pact "]
            ],
            *[
                (("contracts", 0, "contentType"), value, 400, "contracts[0].contentType")
                for value in ["text/plain", "", 5, None, "application/xml"]
            ],
            *[
                (("contracts", 0, "onConflict"), value, 400, "contracts[0].onConflict")
                for value in ["replace", "", 5, True, "OVERWRITE"]
            ],
            (("contracts", 0, "content"), MISSING, 400, "contracts[0].content"),
            # Schema-valid, impossible: the names contradict each other.
            (("contracts", 0, "consumerName"), "someone-else", 422, "contracts[0].consumerName"),
            (("contracts", 1), {**PUBLISH["contracts"][0]}, 422, "contracts[1].providerName"),
        ],
    ),
    (
        "pacticipant-create",
        "POST",
        "/pacticipants",
        PACTICIPANT,
        [
            *_names(("name",), "name"),
            (("name",), MISSING, 400, "name"),
            *[
                (key, value, 400, key[0])
                for key in (("displayName",), ("mainBranch",), ("repositoryUrl",))
                for value in BAD_STRING
            ],
            *_urls(("repositoryUrl",), "repositoryUrl"),
            *[(("mainBranch",), value, 400, "mainBranch") for value in ["", "  ", LONG, "a\nb"]],
        ],
    ),
    *[
        (
            f"pacticipant-{method.lower()}",
            method,
            "/pacticipants/{C}",
            {"displayName": "Corpus", "mainBranch": "main"},
            [
                *[
                    (key, value, 400, key[0])
                    for key in (("displayName",), ("mainBranch",), ("repositoryUrl",))
                    for value in BAD_STRING
                ],
                *_names(("name",), "name", nullable=True),
                *_urls(("repositoryUrl",), "repositoryUrl"),
                (("name",), "someone-else", 422, "name"),
            ],
        )
        for method in ("PUT", "PATCH")
    ],
    (
        "version",
        "PUT",
        "/pacticipants/{C}/versions/{V}",
        VERSION,
        [
            *_urls(("buildUrl",), "buildUrl"),
            (("tags",), "corpus", 400, "tags"),
            (("tags",), {"name": "x"}, 400, "tags"),
            *[(("tags", 0), value, 400, "tags[0]") for value in BAD_NAMES],
            *[(("tags", 1, "name"), value, 400, "tags[1]") for value in BAD_NAMES],
            (("tags", 1), {}, 400, "tags[1]"),
        ],
    ),
    *[
        (
            f"environment-{method.lower()}",
            method,
            path,
            ENVIRONMENT,
            [
                *[
                    (("name",), value, 400, "name")
                    for value in ["", " ", "has space", "x" * 257, 5, None, [], "a\x00b", "a\tb"]
                ],
                *([(("name",), MISSING, 400, "name")] if method == "POST" else []),
                *[
                    (("displayName",), value, 400, "displayName")
                    for value in ["", " ", "x" * 257, 5, [], "a\x00b"]
                ],
                *_bools(("production",), "production"),
                *[
                    (("contacts",), value, 400, "contacts")
                    for value in ["ops", [1], ["ops"], {"name": "ops"}, [[]]]
                ],
            ],
        )
        for method, path in (("POST", "/environments"), ("PUT", "/environments/{ENV}"))
    ],
    (
        "deployment",
        "POST",
        "/pacticipants/{P}/versions/{PV}/deployed-versions/environment/{ENV}",
        DEPLOYMENT,
        [
            *[
                (key, value, 400, key[0])
                for key in (("applicationInstance",), ("target",))
                for value in ["", " ", "x" * 257, 5, [], {}, "a\x00b", True]
            ],
        ],
    ),
    (
        "deployed-patch",
        "PATCH",
        "/deployed-versions/{DEP}",
        {"currentlyDeployed": True},
        _bools(("currentlyDeployed",), "currentlyDeployed"),
    ),
    (
        "released-patch",
        "PATCH",
        "/released-versions/{REL}",
        {"currentlySupported": True},
        _bools(("currentlySupported",), "currentlySupported"),
    ),
    (
        "verification",
        "POST",
        "/pacts/provider/{P}/consumer/{C}/pact-version/{SHA}/verification-results",
        VERIFICATION,
        [
            *_bools(("success",), "success"),
            (("success",), MISSING, 400, "success"),
            (("success",), None, 400, "success"),
            *[
                (("providerApplicationVersion",), value, 400, "providerApplicationVersion")
                for value in ["", "  ", "x" * 1025, 5, None, [], "a\x00b"]
            ],
            (("providerApplicationVersion",), MISSING, 400, "providerApplicationVersion"),
            *_urls(("buildUrl",), "buildUrl"),
            *[
                (("providerVersionBranch",), value, 400, "providerVersionBranch")
                for value in ["", " ", "x" * 1025, 5, [], "a\x00b"]
            ],
            (("providerVersionTags",), "corpus", 400, "providerVersionTags"),
            *[
                (("providerVersionTags", 0), value, 400, "providerVersionTags[0]")
                for value in ["", " ", 5, [], "a\x00b"]
            ],
            (("testResults",), "passed", 400, "testResults"),
            (("testResults",), 5, 400, "testResults"),
            (("verifiedBy",), "pact-python", 400, "verifiedBy"),
            (("verifiedBy",), [], 400, "verifiedBy"),
        ],
    ),
    (
        "for-verification",
        "POST",
        "/pacts/provider/{P}/for-verification",
        FOR_VERIFICATION,
        [
            (("consumerVersionSelectors",), "main", 400, "consumerVersionSelectors"),
            (("consumerVersionSelectors",), {}, 400, "consumerVersionSelectors"),
            *[
                (("consumerVersionSelectors", 0), value, 400, "consumerVersionSelectors[0]")
                for value in [
                    {},
                    "main",
                    {"branch": ""},
                    {"branch": 5},
                    {"latest": False},
                    {"mainBranch": False},
                    {"deployed": "yes"},
                    {"branch": "main", "tag": "x"},
                    {"unknown": True},
                    {"tag": "x", "fallbackTag": "y"},
                    {"environment": " "},
                ]
            ],
            *[
                (("providerVersionBranch",), value, 400, "providerVersionBranch")
                for value in ["", " ", 5, []]
            ],
            (("providerVersionTags",), "x", 400, "providerVersionTags"),
            (("providerVersionTags", 0), "", 400, "providerVersionTags[0]"),
            *_bools(("includePendingStatus",), "includePendingStatus"),
            (("includeWipPactsSince",), 5, 400, "includeWipPactsSince"),
            # A string, as the schema asks, but no date: 422 (formats are not asserted).
            *[
                (("includeWipPactsSince",), value, 422, "includeWipPactsSince")
                for value in ["yesterday", "2026-13-01", "2026-02-30", ""]
            ],
            # Schema-valid, impossible: matchingBranch needs providerVersionBranch.
            (("providerVersionBranch",), MISSING, None, ""),
        ],
    ),
    *[
        (
            f"webhook-{label}",
            method,
            path,
            WEBHOOK,
            [
                *[(("description",), value, 400, "description") for value in BAD_STRING],
                (("events",), [], 400, "events"),
                (("events",), "contract_published", 400, "events"),
                (("events", 0), "contract_published", 400, "events[0]"),
                (("events", 0), {}, 400, "events[0].name"),
                *[
                    (("events", 0, "name"), value, 400, "events[0].name")
                    for value in ["nonsense", "", 5, None]
                ],
                (("request",), MISSING, 400, "request"),
                (("request",), "http://127.0.0.1/", 400, "request"),
                (("request", "url"), MISSING, 400, "request.url"),
                *[
                    (("request", "method"), value, 400, "request.method")
                    for value in ["TRACE", "post", "", 5, "CONNECT"]
                ],
                *[
                    (("request", "headers"), value, 400, "request.headers")
                    for value in [
                        "Content-Type: x",
                        5,
                        {"bad name": "x"},
                        {"X-A": "line\r\nInjected: 1"},
                        {"X-A": 5},
                        {"X-A": ["a"]},
                        {"": "x"},
                        {"X:A": "x"},
                        ["no colon"],
                        [": no name"],
                        ["X-A: a\r\nInjected: 1"],
                        [5],
                    ]
                ],
                *[
                    (("request", key), value, 400, f"request.{key}")
                    for key in ("username", "password")
                    for value in BAD_STRING
                ],
                *[
                    (("consumer",), value, 400, "consumer")
                    for value in ["corpus-consumer", 5, [], {}]
                ],
                (("consumer",), {"name": ""}, 400, "consumer.name"),
                (("provider",), {"name": " "}, 400, "provider.name"),
                *_bools(("enabled",), "enabled"),
                # Schema-valid, impossible: pacticipants that do not exist.
                (("consumer",), {"name": "nobody-at-all"}, 422, "consumer.name"),
                (("provider",), {"name": "nobody-at-all"}, 422, "provider.name"),
            ]
            if label != "pair"
            else [
                (("events", 0, "name"), "nonsense", 400, "events[0].name"),
                (("request", "url"), "ftp://127.0.0.1/", 400, "request.url"),
                *_bools(("enabled",), "enabled"),
            ],
        )
        for label, method, path in (
            ("create", "POST", "/webhooks"),
            ("put", "PUT", "/webhooks/{HOOK}"),
            ("provider", "POST", "/webhooks/provider/{P}"),
            ("consumer", "POST", "/webhooks/consumer/{C}"),
            ("pair", "POST", "/webhooks/provider/{P}/consumer/{C}"),
        )
    ],
]

#: Every write endpoint: bodies that are not the JSON they take at all.
WHOLE_BODIES: list[tuple[str, str, dict[str, Any], int, str]] = [
    ("not-json", "raw", {"raw": "{"}, 400, "body"),
    ("trailing-garbage", "raw", {"raw": '{"a": 1} x'}, 400, "body"),
    ("single-quotes", "raw", {"raw": "{'a': 1}"}, 400, "body"),
    ("nan", "raw", {"raw": '{"a": NaN}'}, 400, "body"),
    ("infinity", "raw", {"raw": '{"a": -Infinity}'}, 400, "body"),
    ("duplicate-keys", "raw", {"raw": '{"a": 1, "a": 2}'}, 400, "body"),
    ("latin-1", "raw_hex", {"raw_hex": '{"a": "caf\xe9"}'.encode("latin-1").hex()}, 400, "body"),
    ("utf-16", "raw_hex", {"raw_hex": '{"a": 1}'.encode("utf-16").hex()}, 400, "body"),
    ("deep", "raw_deep", {"raw_deep": 20_000}, 400, "body"),
    ("array", "body", {"body": [1, 2]}, 400, "body"),
    ("string", "body", {"body": "text"}, 400, "body"),
    ("number", "body", {"body": 5}, 400, "body"),
    ("false", "body", {"body": False}, 400, "body"),
]
#: Where a body may be left out or null, these are still not an object.
OPTIONAL_BODY = {"version", "deployment", "deployed-patch", "released-patch", "for-verification"}


def _set(data: Any, path: tuple[str | int, ...], value: Any) -> None:
    node = data
    for part in path[:-1]:
        node = node[part]
    if value is MISSING:
        del node[path[-1]]
    elif isinstance(node, list) and isinstance(path[-1], int) and path[-1] == len(node):
        node.append(value)
    else:
        node[path[-1]] = value


def body_cases() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for label, method, path, base, mutations in ENDPOINTS:
        for index, (key, value, status, where) in enumerate(mutations):
            if status is None:
                continue
            body = copy.deepcopy(base)
            _set(body, key, value)
            out.append(
                {
                    "id": f"{label}/{'.'.join(map(str, key))}/{index}",
                    "method": method,
                    "path": path,
                    "body": body,
                    "expect": status,
                    "where": where,
                }
            )
        for name, _kind, request, status, where in WHOLE_BODIES:
            if label in OPTIONAL_BODY and name == "false":
                continue  # JSON false is not an object either, but keep one per kind
            out.append(
                {
                    "id": f"{label}/whole/{name}",
                    "method": method,
                    "path": path,
                    **request,
                    "expect": status,
                    "where": where,
                }
            )
        if label not in OPTIONAL_BODY:
            out.append(
                {
                    "id": f"{label}/whole/empty",
                    "method": method,
                    "path": path,
                    "raw": "",
                    "expect": 400,
                    "where": "body",
                }
            )
    # Too large: broker.max_body_bytes (the test sets it to 64 KiB).
    for label, method, path in (
        ("publish", "POST", "/contracts/publish"),
        ("webhook-create", "POST", "/webhooks"),
        ("pacticipant-create", "POST", "/pacticipants"),
    ):
        out.append(
            {
                "id": f"{label}/whole/too-large",
                "method": method,
                "path": path,
                "raw": " ",
                "raw_repeat": 70_000,
                "expect": 413,
                "where": "",
            }
        )
    return out


# -- query parameters -------------------------------------------------------------

NUMBERS_OUT_OF_RANGE = [
    "-1",
    "0",
    "1001",
    "1000000000000",
    "9" * 5000,
    "abc",
    "",
    " 5",
    "5 ",
    "+5",
    "0x10",
    "1e3",
    "1.5",
    "\u00b2",
    "\u0665",
    "\uff15",
    "5;6",
]


def query_cases() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(case_id: str, path: str, query: list[list[str]], status: int, where: str) -> None:
        out.append(
            {
                "id": case_id,
                "method": "GET",
                "path": path,
                "query": query,
                "expect": status,
                "where": where,
            }
        )

    matrix = [["q[][pacticipant]", C], ["q[][version]", "1.0.0"], ["q[][pacticipant]", P]]
    for i, value in enumerate(NUMBERS_OUT_OF_RANGE):
        add(f"matrix/limit/{i}", "/matrix", [*matrix, ["limit", value]], 400, "limit")
    add("matrix/limit/repeated", "/matrix", [*matrix, ["limit", "5"], ["limit", "6"]], 400, "limit")
    for i, value in enumerate(["x", "CVP", "", "cvp ", "cvpv;", "1"]):
        add(f"matrix/latestby/{i}", "/matrix", [*matrix, ["latestby", value]], 400, "latestby")
    add(
        "matrix/latestby/repeated",
        "/matrix",
        [*matrix, ["latestby", "cvp"], ["latestby", "cvpv"]],
        400,
        "latestby",
    )
    for key in ("latest", "mainBranch"):
        for i, value in enumerate(["maybe", "2", "TRUE!", "on"]):
            add(f"matrix/{key}/{i}", "/matrix", [*matrix, [key, value]], 400, key)
    for i, value in enumerate(["maybe", "2"]):
        add(
            f"matrix/q-latest/{i}",
            "/matrix",
            [["q[][pacticipant]", C], ["q[][latest]", value]],
            400,
            "q[0].latest",
        )
    add("matrix/no-selector", "/matrix", [], 400, "q")
    add("matrix/empty-pacticipant", "/matrix", [["q[][pacticipant]", ""]], 400, "q[0].pacticipant")
    add(
        "matrix/version-without-pacticipant",
        "/matrix",
        [["q[][version]", "1"]],
        400,
        "q[0].pacticipant",
    )
    add(
        "matrix/unknown-field",
        "/matrix",
        [["q[][pacticipant]", C], ["q[][colour]", "x"]],
        400,
        "q[][colour]",
    )
    add(
        "matrix/long-name",
        "/matrix",
        [["q[][pacticipant]", "p" * 5000]],
        400,
        "q[][pacticipant]",
    )
    for key in ("version", "tag", "branch", "environment"):
        add(
            f"matrix/long-{key}",
            "/matrix",
            [["q[][pacticipant]", C], [f"q[][{key}]", "v" * 5000]],
            400,
            f"q[][{key}]",
        )
    for i, value in enumerate(INJECTION):
        # Schema-valid names of no pacticipant: 422, and no SQL is ever built from them.
        add(f"matrix/injection/{i}", "/matrix", [["q[][pacticipant]", value]], 422, "q")
    for i, key in enumerate(["q[][pacticipant]", "q[][version]", "limit", "latestby", "tag"]):
        query = [["q[][pacticipant]", C], [key, "a\x00b"]]
        add(f"matrix/nul/{i}", "/matrix", query, 400, key)

    # can-i-deploy
    cid = [["pacticipant", C], ["version", "1.0.0"], ["environment", "corpus-env"]]
    add("can-i-deploy/no-pacticipant", "/can-i-deploy", cid[1:], 400, "pacticipant")
    add(
        "can-i-deploy/empty-pacticipant",
        "/can-i-deploy",
        [["pacticipant", ""], *cid[1:]],
        400,
        "pacticipant",
    )
    add("can-i-deploy/no-environment", "/can-i-deploy", cid[:2], 400, "environment")
    for i, value in enumerate(["maybe", "2"]):
        add(
            f"can-i-deploy/mainBranch/{i}",
            "/can-i-deploy",
            [*cid, ["mainBranch", value]],
            400,
            "mainBranch",
        )
    for key in ("pacticipant", "version", "environment"):
        query = [[k, v] for k, v in cid] + [[key, "second"]]
        add(f"can-i-deploy/repeated-{key}", "/can-i-deploy", query, 400, key)
    for key in ("pacticipant", "version", "environment", "branch", "to"):
        query = [[k, ("x" * 5000 if k == key else v)] for k, v in cid]
        if key in ("branch", "to"):
            query.append([key, "x" * 5000])
        add(f"can-i-deploy/long-{key}", "/can-i-deploy", query, 400, key)
        query = [[k, ("a\x00b" if k == key else v)] for k, v in cid]
        if key in ("branch", "to"):
            query.append([key, "a\x00b"])
        add(f"can-i-deploy/nul-{key}", "/can-i-deploy", query, 400, key)
    for i, value in enumerate(INJECTION):
        query = [["pacticipant", value], *cid[1:]]
        add(f"can-i-deploy/injection/{i}", "/can-i-deploy", query, 422, "pacticipant")
        query = [*cid[:2], ["environment", value]]
        add(f"can-i-deploy/injection-env/{i}", "/can-i-deploy", query, 422, "environment")

    # versions pagination
    for key in ("pageNumber", "pageSize"):
        for i, value in enumerate(NUMBERS_OUT_OF_RANGE):
            if key == "pageNumber" and value in ("1001",):
                continue  # a valid page number
            add(f"versions/{key}/{i}", "/pacticipants/{C}/versions", [[key, value]], 400, key)
        add(
            f"versions/{key}/repeated",
            "/pacticipants/{C}/versions",
            [[key, "1"], [key, "2"]],
            400,
            key,
        )
        add(f"versions/{key}/nul", "/pacticipants/{C}/versions", [[key, "1\x00"]], 400, key)

    # deliveries size (FastAPI reads this one)
    for i, value in enumerate(["0", "-1", "1001", "abc", "9" * 5000, "", "\u00b2"]):
        add(f"deliveries/size/{i}", "/webhooks/{HOOK}/deliveries", [["size", value]], 400, "size")
    add(
        "deliveries/size/repeated",
        "/webhooks/{HOOK}/deliveries",
        [["size", "1"], ["size", "2"]],
        400,
        "size",
    )

    # filters of listings
    for path, key in (
        ("/environments", "name"),
        ("/environments/{ENV}/deployed-versions/currently-deployed", "pacticipant"),
        ("/environments/{ENV}/deployed-versions/currently-deployed", "applicationInstance"),
        ("/environments/{ENV}/released-versions/currently-supported", "pacticipant"),
    ):
        slug = path.strip("/").replace("/", "-").replace("{", "").replace("}", "")
        add(f"filter/{slug}/{key}/nul", path, [[key, "a\x00b"]], 400, key)
        add(f"filter/{slug}/{key}/long", path, [[key, "x" * 5000]], 400, key)
        add(f"filter/{slug}/{key}/repeated", path, [[key, "a"], [key, "b"]], 400, key)

    # allowOverwrite of PUT pact (a write: nothing may be stored)
    pact_path = "/pacts/provider/{P}/consumer/{C}/version/{V}"
    for i, value in enumerate(["maybe", "1", "", "yes", "TRUE!"]):
        out.append(
            {
                "id": f"put-pact/allowOverwrite/{i}",
                "method": "PUT",
                "path": pact_path,
                "query": [["allowOverwrite", value]],
                "body": json.loads(base64.b64decode(_pact_b64())),
                "expect": 400,
                "where": "allowOverwrite",
            }
        )
    return out


# -- webhook URLs -------------------------------------------------------------------

#: (url, status, why); the test's broker allows 127.0.0.1, localhost, *.allowed.test,
#: 10.1.0.0/16 and ::1 (broker.webhook_allowed_hosts).
WEBHOOK_URLS: list[tuple[str, int, str]] = [
    # schemes other than http/https
    *[
        (url, 400, "scheme")
        for url in [
            "ftp://127.0.0.1/hook",
            "file:///etc/passwd",
            "gopher://127.0.0.1:70/_x",
            "javascript:alert(1)",
            "data:text/plain,hi",
            "ws://127.0.0.1/hook",
            "wss://127.0.0.1/hook",
            "ldap://127.0.0.1/x",
            "dict://127.0.0.1:11211/stat",
            "mailto:ops@allowed.test",
            "127.0.0.1/hook",
            "//127.0.0.1/hook",
            "/hook",
            "http:/127.0.0.1/hook",
            "http:127.0.0.1/hook",
            "https//127.0.0.1/hook",
            "htp://127.0.0.1/",
            "http+unix://%2Frun%2Fx/hook",
            "",
            " ",
        ]
    ],
    # credentials in the URL
    *[
        (url, 400, "credentials")
        for url in [
            "http://user:secret@127.0.0.1/hook",
            "http://user@127.0.0.1/hook",
            "http://:secret@127.0.0.1/hook",
            "https://user:secret@hooks.allowed.test/x",
            "http://127.0.0.1@evil.example/hook",
            "http://user%40x:p@127.0.0.1/",
            "http://user:secret@[::1]/hook",
            "http://u:p@localhost:8080/hook",
        ]
    ],
    # hosts outside the allowlist (schema-valid, refused: 422)
    *[
        (url, 422, "allowlist")
        for url in [
            "http://evil.example/hook",
            "http://127.0.0.2/hook",
            "http://10.2.0.1/hook",
            "http://10.0.255.255/hook",
            "http://169.254.169.254/latest/meta-data/",
            "http://localhost.evil.example/hook",
            "http://hooks.allowed.test.evil.example/hook",
            "http://allowed.test/hook",
            "http://evilallowed.test/hook",
            "http://0.0.0.0/hook",
            "http://2130706433/hook",
            "http://0x7f000001/hook",
            "http://LOCALHOST.evil/hook",
            "https://example.com/",
            "http://[::2]/hook",
            "http://[::ffff:127.0.0.1]/hook",
            "http://[fd00::1]/hook",
            "http://[::]/hook",
        ]
    ],
    # IPv6 literals that are not IPv6 addresses, or not written as URLs
    *[
        (url, status, "ipv6")
        for url, status in [
            ("http://[::1/hook", 400),
            ("http://::1/hook", 400),
            ("http://[gggg::1]/hook", 400),
            ("http://[fe80::1%25eth0]/hook", 400),
            # Bracketed and made of hex digits and colons, as the schema asks; no address.
            ("http://[1:2:3:4:5:6:7:8:9]/hook", 422),
            ("http://[:::::]/hook", 422),
            ("http://[127.0.0.1]/hook", 422),
            ("http://[]/hook", 400),
            ("http://[::1]]/hook", 400),
        ]
    ],
    # ports
    *[
        (url, 400, "port")
        for url in [
            "http://127.0.0.1:65536/hook",
            "http://127.0.0.1:99999/hook",
            "http://127.0.0.1:0/hook",
            "http://127.0.0.1:-1/hook",
            "http://127.0.0.1:abc/hook",
            "http://127.0.0.1:/hook",
            "http://127.0.0.1:80:80/hook",
            "http://[::1]:65536/hook",
            "http://127.0.0.1:1000000000000000000000/hook",
            "http://127.0.0.1: 80/hook",
        ]
    ],
    # malformed templates
    *[
        (url, status, "template")
        for url, status in [
            ("${pactbroker.unknownThing}", 400),
            ("${pactbroker.consumerName}", 400),
            ("${pactbroker.pactUrl", 400),
            ("${PACTBROKER.pactUrl}", 400),
            ("${pactUrl}", 400),
            ("$pactbroker.pactUrl", 400),
            ("${pactbroker.pactUrl}/extra", 400),
            ("http://${pactbroker.consumerName}/hook", 400),
            ("http://127.0.0.1/${pactbroker.nope}", 422),
            ("http://127.0.0.1/${pactbroker.pactUrl", 422),
            ("http://127.0.0.1/${pactbroker.}", 422),
            ("http://127.0.0.1/${}", 422),
            ("http://127.0.0.1/?q=${consumerName}", 422),
            ("http://127.0.0.1/${pactbroker.consumerName}${", 422),
        ]
    ],
    # other shapes a URL must not have
    *[
        (url, 400, "shape")
        for url in [
            "http://127.0.0.1/hook with space",
            "http://127.0.0.1/hook\r\nX-Injected: 1",
            "http://127.0.0.1/\x00",
            "http://127.0.0.1/\u00e9",
            "http://b\u00fccher.allowed.test/",
            "http://127.0.0.1\\hook",
            "http://127.0.0.1/" + "a" * 5000,
            "http://a..allowed.test/",
            "http://-.allowed.test/",
            "http://" + "a" * 64 + ".allowed.test/",
            "http://127.0.0.1#frag ment",
            " http://127.0.0.1/hook",
            "http://127.0.0.1/hook ",
            "http://127.0.0.1/hook\t",
            "\thttp://127.0.0.1/hook",
        ]
    ],
]


def webhook_url_cases() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for index, (url, status, why) in enumerate(WEBHOOK_URLS):
        for method, path in (("POST", "/webhooks"), ("PUT", "/webhooks/{HOOK}")):
            body = copy.deepcopy(WEBHOOK)
            body["request"]["url"] = url
            out.append(
                {
                    "id": f"webhook-url/{why}/{index}/{method.lower()}",
                    "method": method,
                    "path": path,
                    "body": body,
                    "expect": status,
                    "where": "request.url",
                }
            )
    return out


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, found in (
        ("bodies", body_cases()),
        ("query", query_cases()),
        ("webhook_urls", webhook_url_cases()),
    ):
        ids = [case["id"] for case in found]
        assert len(ids) == len(set(ids)), f"{name}: case ids must be unique"
        with (OUT / f"{name}.jsonl").open("w", encoding="utf-8") as handle:
            for case in found:
                handle.write(json.dumps(case, ensure_ascii=False) + "\n")
        print(f"{name}.jsonl: {len(found)} cases")


if __name__ == "__main__":
    main()
