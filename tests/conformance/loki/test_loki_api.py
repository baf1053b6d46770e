"""Loki 3.x HTTP API conformance: each case a request and the answer Loki gives, with
the documentation section (docs/sources/reference/loki-http-api.md, "the reference") or
the source file it comes from."""

from __future__ import annotations

import json
from typing import Any

import cramjam
import httpx
import pytest

from observability.doubles._loki_proto import PushRequest
from tests.conformance.loki.conftest import NS, RUN_LABEL, Loki, now_ns
from tests.conftest import wait_until

SUCCESS_KEYS = {"status", "data"}


def _entries(loki: Loki, query: str, count: int, **params: Any) -> list[dict[str, Any]]:
    """query_range until ``count`` entries are back (a real Loki may lag a moment)."""

    def probe() -> list[dict[str, Any]] | None:
        response = loki.get("/loki/api/v1/query_range", query=query, **params)
        assert response.status_code == 200, response.text
        body = response.json()
        result: list[dict[str, Any]] = body["data"]["result"]
        return result if sum(len(s["values"]) for s in result) >= count else None

    return wait_until(probe, timeout=15, what=f"{count} entries for {query}")


def _lines(result: list[dict[str, Any]]) -> list[str]:
    return [value[1] for stream in result for value in stream["values"]]


def test_push_json_is_204_and_query_range_answers_streams(loki: Loki) -> None:
    # the reference, "Ingest logs": 204 No Content; "Query logs within a range of time":
    # {"status": "success", "data": {"resultType": "streams", "result": [...], "stats": {...}}}
    now = now_ns()
    labels = loki.labels("json", app="conformance")
    pushed = loki.push(
        [{"stream": labels, "values": [[str(now - 2 * NS), "first"], [str(now - NS), "second"]]}]
    )
    assert pushed.status_code == 204, pushed.text
    assert pushed.content == b""
    _entries(loki, loki.selector("json"), 2)
    response = loki.get("/loki/api/v1/query_range", query=loki.selector("json"), limit=10)
    body = response.json()
    assert set(body) >= SUCCESS_KEYS and body["status"] == "success"
    data = body["data"]
    assert data["resultType"] == "streams"
    assert {"summary", "ingester", "store"} <= set(data["stats"])
    [stream] = data["result"]
    # pkg/loghttp/push/push.go: Loki 3 adds service_name (discover_service_name: app).
    assert stream["stream"] == {**labels, "service_name": "conformance"}
    # direction defaults to backward: newest first; timestamps are strings of ns.
    assert stream["values"] == [[str(now - NS), "second"], [str(now - 2 * NS), "first"]]

    forward = loki.get(
        "/loki/api/v1/query_range", query=loki.selector("json"), direction="forward", limit=1
    ).json()["data"]["result"]
    assert _lines(forward) == ["first"]


def test_push_protobuf_snappy(loki: Loki) -> None:
    # the reference, "Ingest logs": Content-Type application/x-protobuf, a snappy
    # (block) compressed logproto.PushRequest (pkg/push/push.proto).
    now = now_ns()
    request = PushRequest()
    labels = loki.labels("protobuf", job="conformance")
    stream = request.streams.add(
        labels="{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
    )
    entry = stream.entries.add(line="from protobuf")
    entry.timestamp.seconds, entry.timestamp.nanos = divmod(now, NS)
    body = bytes(cramjam.snappy.compress_raw(request.SerializeToString()))
    headers = {**loki.headers, "Content-Type": "application/x-protobuf"}
    response = loki.client.post("/loki/api/v1/push", content=body, headers=headers)
    assert response.status_code == 204, response.text
    [result] = _entries(loki, loki.selector("protobuf"), 1)
    assert result["stream"] == {**labels, "service_name": "conformance"}
    assert result["values"] == [[str(now), "from protobuf"]]


@pytest.fixture(scope="module")
def pipeline(loki: Loki) -> str:
    """Four JSON and logfmt-free lines the line-filter and parser cases read."""
    now = now_ns()
    lines = [
        json.dumps({"level": "info", "msg": "started", "req": {"id": "a1"}}),
        json.dumps({"level": "error", "msg": "failed to connect", "req": {"id": "a2"}}),
        json.dumps({"level": "error", "msg": "timeout", "req": {"id": "a3"}}),
        "plain text line",
    ]
    values = [[str(now - (len(lines) - i) * NS), line] for i, line in enumerate(lines)]
    assert loki.push([{"stream": loki.labels("pipeline"), "values": values}]).status_code == 204
    _entries(loki, loki.selector("pipeline"), len(lines))
    return loki.selector("pipeline")


@pytest.mark.parametrize(
    ("stage", "expected"),
    [
        ('|= "error"', ['"failed to connect"', '"timeout"']),
        ('!= "error"', ['"started"', "plain text"]),
        ('|~ "fail(ed)? to"', ['"failed to connect"']),
        ('!~ "^\\\\{"', ["plain text"]),
        ('|= "error" != "timeout"', ['"failed to connect"']),
    ],
)
def test_line_filters(loki: Loki, pipeline: str, stage: str, expected: list[str]) -> None:
    # LogQL reference, "Line filter expression" (docs/sources/query/log_queries/_index.md)
    result = loki.get("/loki/api/v1/query_range", query=f"{pipeline} {stage}", direction="forward")
    assert result.status_code == 200, result.text
    lines = _lines(result.json()["data"]["result"])
    assert len(lines) == len(expected)
    for line, fragment in zip(lines, expected, strict=True):
        assert fragment in line


def test_json_parser_and_label_filter(loki: Loki, pipeline: str) -> None:
    # LogQL reference, "JSON" parser: nested keys joined with "_", labels added to the
    # stream; "Label filter expression" after the parser.
    response = loki.get(
        "/loki/api/v1/query_range",
        query=f'{pipeline} | json | level="error" | req_id="a3"',
    )
    assert response.status_code == 200, response.text
    [stream] = response.json()["data"]["result"]
    assert stream["stream"]["level"] == "error"
    assert stream["stream"]["req_id"] == "a3"
    assert stream["stream"]["msg"] == "timeout"
    assert len(stream["values"]) == 1


def test_json_parser_error_label(loki: Loki, pipeline: str) -> None:
    # LogQL reference, "JSON": a line that is not JSON gets __error__="JSONParserErr".
    response = loki.get(
        "/loki/api/v1/query_range", query=f'{pipeline} | json | __error__="JSONParserErr"'
    )
    assert _lines(response.json()["data"]["result"]) == ["plain text line"]


def test_logfmt_parser_and_label_filter(loki: Loki) -> None:
    # LogQL reference, "logfmt" parser: each key=value pair becomes a label.
    now = now_ns()
    values = [
        [str(now - 2 * NS), 'level=info msg="all good" took=3ms'],
        [str(now - NS), 'level=error msg="disk full" took=9ms'],
    ]
    assert loki.push([{"stream": loki.labels("logfmt"), "values": values}]).status_code == 204
    _entries(loki, loki.selector("logfmt"), 2)
    response = loki.get(
        "/loki/api/v1/query_range", query=f'{loki.selector("logfmt")} | logfmt | level="error"'
    )
    assert response.status_code == 200, response.text
    [stream] = response.json()["data"]["result"]
    assert stream["stream"]["msg"] == "disk full"
    assert stream["stream"]["took"] == "9ms"
    assert _lines([stream]) == ['level=error msg="disk full" took=9ms']


def test_instant_metric_query_is_a_vector(loki: Loki, pipeline: str) -> None:
    # the reference, "Query logs at a single point in time": metric queries answer
    # resultType "vector", each sample [<unix seconds>, "<value>"].
    response = loki.get(
        "/loki/api/v1/query",
        query=f'sum by (case) (count_over_time({pipeline} |= "error" [10m]))',
        time=str(now_ns()),
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["resultType"] == "vector"
    [sample] = data["result"]
    assert sample["metric"] == {"case": "pipeline"}
    assert isinstance(sample["value"][0], int | float)
    assert sample["value"][1] == "2"


def test_range_metric_query_is_a_matrix(loki: Loki, pipeline: str) -> None:
    # the reference, "Query logs within a range of time": resultType "matrix".
    end = now_ns()
    response = loki.get(
        "/loki/api/v1/query_range",
        query=f"sum(count_over_time({pipeline}[1h]))",
        start=str(end - 60 * NS),
        end=str(end),
        step="30s",
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["resultType"] == "matrix"
    [series] = data["result"]
    assert series["metric"] == {}
    assert [value for _, value in series["values"]][-1] == "4"


def test_instant_log_query_is_refused(loki: Loki, pipeline: str) -> None:
    # pkg/logqlmodel/error.go ErrUnsupportedSyntaxForInstantQuery (Loki 3), 400.
    response = loki.get("/loki/api/v1/query", query=pipeline)
    assert response.status_code == 400
    assert "log queries are not supported as an instant query type" in response.text


def test_labels_label_values_and_series(loki: Loki, pipeline: str) -> None:
    # the reference, "Query labels", "Query label values", "Query streams".
    labels = loki.get("/loki/api/v1/labels", query=pipeline).json()
    assert labels["status"] == "success"
    assert {RUN_LABEL, "case", "service_name"} <= set(labels["data"])
    values = loki.get(f"/loki/api/v1/label/{RUN_LABEL}/values", query=pipeline).json()
    assert values == {"status": "success", "data": [loki.run_id]}
    series = loki.get("/loki/api/v1/series", **{"match[]": pipeline}).json()
    assert series["status"] == "success"
    assert series["data"] == [
        {RUN_LABEL: loki.run_id, "case": "pipeline", "service_name": "unknown_service"}
    ]


@pytest.mark.parametrize(
    ("query", "prefix"),
    [
        ('{case="x"', "parse error at line 1, col "),
        ('{case="x"} |= ', "parse error at line 1, col "),
        ('rate({case="x"})', "parse error at line 1, col "),
    ],
)
def test_malformed_logql_is_400_with_the_parse_error(loki: Loki, query: str, prefix: str) -> None:
    # pkg/logql/syntax/parser.go ParseError.Error: "parse error at line L, col C: msg",
    # written as plain text by pkg/util/server/error.go WriteError (400).
    response = loki.get("/loki/api/v1/query_range", query=query)
    assert response.status_code == 400
    assert response.text.startswith(prefix)
    assert "syntax error" in response.text


def test_too_old_entry_is_refused_and_the_rest_kept(loki: Loki) -> None:
    # pkg/distributor/validator.go ValidateEntry with reject_old_samples_max_age 168h:
    # GreaterThanMaxSampleAgeErrorMsg (pkg/validation/validate.go), 400; the valid
    # entries of the request are stored.
    now = now_ns()
    values = [[str(now - 8 * 24 * 3600 * NS), "a week too old"], [str(now), "recent"]]
    response = loki.push([{"stream": loki.labels("too-old"), "values": values}])
    assert response.status_code == 400
    assert "has timestamp too old: " in response.text
    assert "oldest acceptable timestamp is: " in response.text
    assert _lines(_entries(loki, loki.selector("too-old"), 1)) == ["recent"]


def test_entry_too_far_behind_is_refused(loki: Loki) -> None:
    # pkg/ingester/stream.go validateEntries: unordered writes accept entries down to the
    # stream's newest minus max_chunk_age/2 (1h); older is "entry too far behind".
    now = now_ns()
    first = loki.push([{"stream": loki.labels("behind"), "values": [[str(now), "newest"]]}])
    assert first.status_code == 204, first.text
    values = [[str(now - 2 * 3600 * NS), "two hours behind"], [str(now - 60 * NS), "in window"]]
    response = loki.push([{"stream": loki.labels("behind"), "values": values}])
    assert response.status_code == 400
    assert "entry too far behind" in response.text
    assert "total ignored: 1 out of 2" in response.text
    kept = _entries(loki, loki.selector("behind"), 2, start=str(now - 3 * 3600 * NS))
    assert _lines(kept) == ["newest", "in window"]


def test_missing_token_is_401(loki: Loki) -> None:
    # A gateway in front of Loki (docs/sources/operations/authentication.md).
    if not loki.token:
        pytest.skip("the server under test takes no token")
    headers = {k: v for k, v in loki.headers.items() if k != "Authorization"}
    response = loki.client.get("/loki/api/v1/labels", headers=headers)
    assert response.status_code == 401
    wrong = loki.client.get(
        "/loki/api/v1/labels", headers={**headers, "Authorization": "Bearer not-the-token"}
    )
    assert wrong.status_code == 401


def test_missing_tenant_is_401_no_org_id(loki: Loki) -> None:
    # auth_enabled: true -> dskit middleware AuthenticateUser (pkg/util/fakeauth/fake_auth.go):
    # http.Error(w, "no org id", 401).
    if not loki.tenant:
        pytest.skip("the server under test is not multi-tenant")
    headers = {k: v for k, v in loki.headers.items() if k != "X-Scope-OrgID"}
    response = loki.client.get("/loki/api/v1/labels", headers=headers)
    assert response.status_code == 401
    assert response.text == "no org id\n"


def test_tenants_are_isolated(loki: Loki) -> None:
    # Every read is scoped by the tenant (pkg/ingester/instance.go per-tenant instances).
    if not loki.tenant:
        pytest.skip("the server under test is not multi-tenant")
    now = now_ns()
    assert (
        loki.push([{"stream": loki.labels("tenant"), "values": [[str(now), "mine"]]}]).status_code
        == 204
    )
    _entries(loki, loki.selector("tenant"), 1)
    other = {**loki.headers, "X-Scope-OrgID": f"{loki.tenant}-other-{loki.run_id}"}
    response = loki.client.get(
        "/loki/api/v1/query_range", params={"query": loki.selector("tenant")}, headers=other
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["result"] == []


def test_ready_is_open(loki: Loki) -> None:
    # the reference, "Readiness probe": 200 "ready".
    response = httpx.get(loki.url.rstrip("/") + "/ready", timeout=10)
    assert response.status_code == 200
    assert response.text.strip() == "ready"
