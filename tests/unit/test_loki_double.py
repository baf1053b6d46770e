"""The Loki double: push, LogQL log and metric queries, labels and series, in the
response shapes of Loki's HTTP API."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from observability.doubles._common import (
    format_go_exp,
    format_go_float,
    format_prom_duration,
    label_fingerprint,
    parse_prom_duration,
)
from observability.doubles._logql import LogQLParseError, parse
from observability.doubles.loki import create_loki_app, parse_loki_time

NS = 1_000_000_000
#: A recent whole hour: Loki rejects entries older than a week (reject_old_samples_max_age).
B = (time.time_ns() // NS // 3600 - 2) * 3600


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_loki_app()) as test_client:
        yield test_client


def push(client: TestClient, labels: dict[str, str], *entries: tuple[int, str]) -> None:
    body = {"streams": [{"stream": labels, "values": [[str(ts), line] for ts, line in entries]}]}
    response = client.post("/loki/api/v1/push", json=body)
    assert response.status_code == 204, response.text


def query_range(client: TestClient, query: str, **params: Any) -> dict[str, Any]:
    response = client.get("/loki/api/v1/query_range", params={"query": query, **params})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "success"
    return body["data"]


def test_pushed_lines_come_back_filtered_by_run_id(client: TestClient) -> None:
    now = time.time_ns()
    push(client, {"app": "worker", "run_id": "r1"}, (now - 3 * NS, "start"), (now - 2 * NS, "end"))
    push(client, {"app": "worker", "run_id": "r2"}, (now - 1 * NS, "other run"))

    data = query_range(client, '{app="worker", run_id="r1"}')

    assert data["resultType"] == "streams"
    assert data["result"] == [
        {
            # Loki 3 adds service_name from the first of discover_service_name it finds
            "stream": {"app": "worker", "run_id": "r1", "service_name": "worker"},
            "values": [[str(now - 2 * NS), "end"], [str(now - 3 * NS), "start"]],
        }
    ]
    summary = data["stats"]["summary"]
    assert summary["totalLinesProcessed"] == 2
    assert set(data["stats"]) == {"ingester", "store", "summary"}


def test_forward_direction_limit_and_time_window(client: TestClient) -> None:
    base = B * NS
    push(client, {"app": "a"}, *[(base + i * NS, f"line {i}") for i in range(5)])

    forward = query_range(
        client, '{app="a"}', start=str(base), end=str(base + 4 * NS), direction="forward"
    )
    # end is exclusive, as Loki documents
    assert [v[1] for v in forward["result"][0]["values"]] == [f"line {i}" for i in range(4)]

    newest = query_range(client, '{app="a"}', start=str(B), end=str(B + 10), limit=2)
    assert [v[1] for v in newest["result"][0]["values"]] == ["line 4", "line 3"]

    moment = datetime.fromtimestamp(B, tz=UTC).strftime("%Y-%m-%dT%H:%M")
    rfc = query_range(client, '{app="a"}', start=f"{moment}:01Z", end=f"{moment}:02.5Z")
    assert [v[1] for v in rfc["result"][0]["values"]] == ["line 2", "line 1"]


def test_limit_spans_streams_newest_first(client: TestClient) -> None:
    now = time.time_ns()
    push(client, {"app": "a", "pod": "1"}, (now - 5 * NS, "old"), (now - 1 * NS, "newest"))
    push(client, {"app": "a", "pod": "2"}, (now - 2 * NS, "newer"))
    data = query_range(client, '{app="a"}', limit=2)
    lines = {v[1] for stream in data["result"] for v in stream["values"]}
    assert lines == {"newest", "newer"}


def test_line_filters_and_anchored_regex_matchers(client: TestClient) -> None:
    now = time.time_ns()
    push(
        client,
        {"app": "api", "env": "prod"},
        (now - 3 * NS, "GET /health 200"),
        (now - 2 * NS, "GET /orders 500 error"),
        (now - 1 * NS, "POST /orders 201"),
    )
    lines = [
        v[1] for v in query_range(client, '{app="api"} |= "orders" != "500"')["result"][0]["values"]
    ]
    assert lines == ["POST /orders 201"]
    regex = query_range(client, '{app="api"} |~ "(GET|POST) /orders" !~ "2\\\\d\\\\d"')
    assert [v[1] for v in regex["result"][0]["values"]] == ["GET /orders 500 error"]
    # Label regexes are anchored: "pro" does not match "prod", "pro.*" does.
    assert query_range(client, '{app="api", env=~"pro"}')["result"] == []
    assert query_range(client, '{env=~"pro.*"}')["result"] != []
    assert query_range(client, '{app="api", env!~"prod|dev"}')["result"] == []


def test_json_stage_and_label_filter(client: TestClient) -> None:
    now = time.time_ns()
    push(
        client,
        {"app": "svc"},
        (now - 2 * NS, json.dumps({"level": "info", "req": {"id": "x1"}})),
        (now - 1 * NS, json.dumps({"level": "error", "req": {"id": "x2"}})),
        (now - 500, "not json"),
    )
    result = query_range(client, '{app="svc"} | json | level="error"')["result"]
    assert result == [
        {
            "stream": {"app": "svc", "level": "error", "req_id": "x2", "service_name": "svc"},
            "values": [[str(now - 1 * NS), json.dumps({"level": "error", "req": {"id": "x2"}})]],
        }
    ]
    broken = query_range(client, '{app="svc"} | json | __error__="JSONParserErr"')["result"]
    assert [v[1] for s in broken for v in s["values"]] == ["not json"]


def test_metric_queries_count_rate_and_sum(client: TestClient) -> None:
    now = time.time_ns()
    push(client, {"app": "w", "run_id": "r1"}, *[(now - i * NS, f"e{i}") for i in range(1, 4)])
    push(client, {"app": "w", "run_id": "r2"}, (now - 2 * NS, "e"), (now - 90 * NS, "too old"))
    at = str(now)

    def instant(query: str) -> dict[str, Any]:
        response = client.get("/loki/api/v1/query", params={"query": query, "time": at})
        assert response.status_code == 200, response.text
        return response.json()["data"]

    counted = instant('count_over_time({app="w"}[1m])')
    assert counted["resultType"] == "vector"
    by_run = {r["metric"]["run_id"]: r["value"][1] for r in counted["result"]}
    assert by_run == {"r1": "3", "r2": "1"}
    assert counted["result"][0]["value"][0] == pytest.approx(now / NS)

    total = instant('sum(count_over_time({app="w"} |= "e" [1m]))')["result"]
    assert total == [{"metric": {}, "value": [pytest.approx(now / NS), "4"]}]
    grouped = instant('sum by (run_id) (rate({app="w"}[1m]))')["result"]
    assert {r["metric"]["run_id"]: r["value"][1] for r in grouped} == {
        "r1": "0.05",
        "r2": "0.016666666666666666",
    }
    assert instant('count_over_time({app="nothing"}[1m])')["result"] == []


def test_range_metric_query_is_a_matrix(client: TestClient) -> None:
    base = B * NS
    push(client, {"app": "m"}, (base + 1 * NS, "a"), (base + 2 * NS, "b"), (base + 3 * NS, "c"))
    data = query_range(
        client,
        'sum(count_over_time({app="m"}[2s]))',
        start=str(base),
        end=str(base + 4 * NS),
        step="1s",
    )
    assert data["resultType"] == "matrix"
    assert data["result"] == [
        {
            "metric": {},
            "values": [
                [B + 1, "1"],
                [B + 2, "2"],
                [B + 3, "2"],
                [B + 4, "1"],
            ],
        }
    ]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ('{app="a"', "parse error at line 1, col 9: syntax error"),
        ("{}", "parse error at line 1, col 2: syntax error"),
        ('{app=~".*"}', "parse error : queries require at least one regexp or equality"),
        ('{app="a"} |~ "("', "parse error : error parsing regexp"),
        ('rate({app="a"})', "parse error at line 1, col 15: syntax error"),
        ('{app="a"} | pattern "<x>"', "parse error : the Loki double does not support"),
        ("", "parse error at line 1, col 1"),
    ],
)
def test_bad_queries_are_400_plain_text(client: TestClient, query: str, message: str) -> None:
    response = client.get("/loki/api/v1/query_range", params={"query": query})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text.startswith(message), response.text
    assert response.text.endswith("\n")


def test_instant_log_query_is_refused_like_loki_3(client: TestClient) -> None:
    response = client.get("/loki/api/v1/query", params={"query": '{app="a"}'})
    assert response.status_code == 400
    assert response.text.startswith("log queries are not supported as an instant query type")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": "0"}, "limit must be a positive value"),
        ({"limit": "6000"}, "max entries limit per query exceeded"),
        ({"direction": "sideways"}, "invalid direction"),
        ({"start": "yesterday"}, "invalid start parameter"),
        ({"start": "1700000010", "end": "1700000000"}, "end timestamp must not be before"),
    ],
)
def test_bad_parameters_are_400(client: TestClient, params: dict[str, str], message: str) -> None:
    response = client.get("/loki/api/v1/query_range", params={"query": '{app="a"}', **params})
    assert response.status_code == 400
    assert message in response.text


def test_labels_label_values_and_series(client: TestClient) -> None:
    now = time.time_ns()
    push(client, {"app": "a", "run_id": "r1"}, (now - NS, "x"))
    push(client, {"app": "b", "team": "t"}, (now - NS, "y"))

    labels = client.get("/loki/api/v1/labels").json()
    assert labels == {"status": "success", "data": ["app", "run_id", "service_name", "team"]}
    values = client.get("/loki/api/v1/label/app/values").json()
    assert values == {"status": "success", "data": ["a", "b"]}
    scoped = client.get("/loki/api/v1/labels", params={"query": '{app="b"}'}).json()
    assert scoped["data"] == ["app", "service_name", "team"]

    series = client.get(
        "/loki/api/v1/series", params=[("match[]", '{app="a"}'), ("match[]", '{team="t"}')]
    ).json()
    assert series == {
        "status": "success",
        "data": [
            {"app": "a", "run_id": "r1", "service_name": "a"},
            {"app": "b", "service_name": "b", "team": "t"},
        ],
    }
    posted = client.post("/loki/api/v1/series", data={"match[]": '{app="b"}'}).json()
    assert posted["data"] == [{"app": "b", "service_name": "b", "team": "t"}]
    missing = client.get("/loki/api/v1/series")
    assert missing.status_code == 400
    assert "match[]" in missing.text
    filtered = client.get("/loki/api/v1/series", params={"match[]": '{app="a"} |= "x"'})
    assert filtered.status_code == 400
    assert "only label matchers are supported" in filtered.text


def test_push_accepts_gzip_and_structured_metadata(client: TestClient) -> None:
    now = time.time_ns()
    body = {"streams": [{"stream": {"app": "z"}, "values": [[str(now), "m", {"trace_id": "t1"}]]}]}
    response = client.post(
        "/loki/api/v1/push",
        content=gzip.compress(json.dumps(body).encode()),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert response.status_code == 204, response.text
    assert query_range(client, '{app="z"}')["result"][0]["values"] == [[str(now), "m"]]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "push body is not valid JSON"),
        (b"[]", '"streams" array'),
        (b'{"streams":[{"stream":{"a":"b"},"values":[[1,"x"]]}]}', "streams[0].values[0][0]"),
        (b'{"streams":[{"stream":{"a":"b"},"values":[["1","x",{"k":1}]]}]}', "structured metadata"),
        (b'{"streams":[{"stream":{"a-b":"c"},"values":[]}]}', "invalid label name 'a-b'"),
        (b'{"streams":[{"stream":{"a":"b"},"values":[["1",2]]}]}', "the log line"),
    ],
)
def test_malformed_push_is_400_naming_the_problem(
    client: TestClient, body: bytes, message: str
) -> None:
    response = client.post(
        "/loki/api/v1/push", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert message in response.text


def test_corrupt_protobuf_push_is_400(client: TestClient) -> None:
    response = client.post(
        "/loki/api/v1/push", content=b"\xff", headers={"Content-Type": "application/x-protobuf"}
    )
    assert response.status_code == 400
    assert "snappy" in response.text


def test_ready(client: TestClient) -> None:
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.text == "ready\n"


def test_store_is_bounded_dropping_oldest_entries() -> None:
    with TestClient(create_loki_app(max_entries=3)) as client:
        now = time.time_ns()
        push(client, {"app": "old"}, (now - 5 * NS, "a"), (now - 4 * NS, "b"))
        push(client, {"app": "new"}, (now - 3 * NS, "c"), (now - 2 * NS, "d"))
        assert len(client.app.state.store) == 3  # type: ignore[attr-defined]
        old = query_range(client, '{app="old"}')["result"]
        assert [v[1] for s in old for v in s["values"]] == ["b"]
        push(client, {"app": "new"}, (now - NS, "e"))
        assert query_range(client, '{app="old"}')["result"] == []
        assert client.get("/loki/api/v1/label/app/values").json()["data"] == ["new"]


def test_identical_entries_are_counted_once(client: TestClient) -> None:
    now = time.time_ns()
    push(client, {"app": "d"}, (now - NS, "same"))
    push(client, {"app": "d"}, (now - NS, "same"))
    assert query_range(client, '{app="d"}')["result"][0]["values"] == [[str(now - NS), "same"]]


def test_parse_loki_time_formats() -> None:
    assert parse_loki_time("1700000000") == 1_700_000_000 * NS
    assert parse_loki_time("1700000000123456789") == 1_700_000_000_123_456_789
    assert parse_loki_time("1700000000.5") == 1_700_000_000_500_000_000
    assert parse_loki_time("2023-11-14T22:13:20.000000001Z") == 1_700_000_000 * NS + 1
    assert parse_loki_time("2023-11-14T23:13:20+01:00") == 1_700_000_000 * NS
    with pytest.raises(ValueError):
        parse_loki_time("tomorrow")


def test_logql_parser_keeps_grouping_and_ranges() -> None:
    parsed = parse('sum(count_over_time({a="b"} |= "x" [5m])) by (run_id)')
    assert repr(parsed).startswith("VectorAggregation(operation='sum'")
    with pytest.raises(LogQLParseError) as caught:
        parse('sum(count_over_time({a="b"}[5m])) > 0')
    assert "binary operators" in str(caught.value)


def test_go_compatible_formats() -> None:
    assert format_go_float(0.1) == "0.1"
    assert format_go_float(1e-05) == "0.00001"
    assert format_go_float(3.0) == "3"
    assert format_go_float(float("inf")) == "+Inf"
    assert format_go_exp(1.0) == "1e+00"
    assert format_go_exp(-0.0025) == "-2.5e-03"
    assert format_prom_duration(5400) == "1h30m"
    assert format_prom_duration(0) == "0s"
    assert parse_prom_duration("1d2h") == 93600
    # Prometheus' own test vector for label signatures / fingerprints.
    fingerprint = label_fingerprint({"name": "garland, briggs", "fear": "love is not enough"})
    assert int(fingerprint, 16) == 5799056148416392346
    assert label_fingerprint({}) == "cbf29ce484222325"


def test_gateway_token_and_tenants_isolated() -> None:
    app = create_loki_app(token="s3cret", auth_enabled=True)
    with TestClient(app) as secured:
        assert secured.get("/ready").status_code == 200  # open, as behind a gateway
        bare = secured.get("/loki/api/v1/labels")
        assert bare.status_code == 401
        assert "s3cret" not in bare.text
        wrong = secured.get("/loki/api/v1/labels", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        auth = {"Authorization": "Bearer s3cret"}
        no_org = secured.get("/loki/api/v1/labels", headers=auth)
        assert (no_org.status_code, no_org.text) == (401, "no org id\n")
        now = time.time_ns()
        body = {"streams": [{"stream": {"app": "a"}, "values": [[str(now), "tenant A"]]}]}
        pushed = secured.post(
            "/loki/api/v1/push", json=body, headers={**auth, "X-Scope-OrgID": "A"}
        )
        assert pushed.status_code == 204, pushed.text
        seen_by = {
            tenant: secured.get(
                "/loki/api/v1/query_range",
                params={"query": '{app="a"}'},
                headers={**auth, "X-Scope-OrgID": tenant},
            ).json()["data"]["result"]
            for tenant in ("A", "B")
        }
        assert [v[1] for v in seen_by["A"][0]["values"]] == ["tenant A"]
        assert seen_by["B"] == []
        bad = secured.get("/loki/api/v1/labels", headers={**auth, "X-Scope-OrgID": "a/b"})
        assert (bad.status_code, bad.text) == (
            400,
            "tenant ID 'a/b' contains unsupported character '/'\n",
        )


def test_without_auth_enabled_every_request_is_tenant_fake(client: TestClient) -> None:
    now = time.time_ns()
    body = {"streams": [{"stream": {"app": "f"}, "values": [[str(now), "x"]]}]}
    headers = {"X-Scope-OrgID": "someone"}
    assert client.post("/loki/api/v1/push", json=body, headers=headers).status_code == 204
    result = client.get("/loki/api/v1/query_range", params={"query": '{app="f"}'}).json()
    assert result["data"]["result"][0]["values"][0][1] == "x"


def test_protobuf_snappy_push_with_structured_metadata(client: TestClient) -> None:
    from observability.doubles._loki_proto import encode_push

    now = time.time_ns()
    body = encode_push([('{app="pb", pod="p-1"}', [(now, "from protobuf", {"trace_id": "t"})])])
    response = client.post(
        "/loki/api/v1/push", content=body, headers={"Content-Type": "application/x-protobuf"}
    )
    assert response.status_code == 204, response.text
    result = query_range(client, '{app="pb"}')["result"]
    # Without X-Loki-Response-Encoding-Flags: categorize-labels, Loki 3 answers the
    # entry's structured metadata merged into its stream's labels (grafana/loki#10419).
    assert result == [
        {
            "stream": {"app": "pb", "pod": "p-1", "service_name": "pb", "trace_id": "t"},
            "values": [[str(now), "from protobuf"]],
        }
    ]
    bad = encode_push([("{app=pb}", [(now, "x", {})])])
    refused = client.post(
        "/loki/api/v1/push", content=bad, headers={"Content-Type": "application/x-protobuf"}
    )
    assert refused.status_code == 400
    assert refused.text.startswith("couldn't parse labels: ")


def test_push_keeps_valid_entries_and_names_the_rejected(client: TestClient) -> None:
    now = time.time_ns()
    week = 7 * 24 * 3600 * NS
    body = {
        "streams": [
            {
                "stream": {"app": "v"},
                "values": [
                    [str(now - week - 60 * NS), "too old"],
                    [str(now), "fine"],
                    [str(now + 11 * 60 * NS), "too new"],
                ],
            }
        ]
    }
    response = client.post("/loki/api/v1/push", json=body)
    assert response.status_code == 400
    assert response.text.startswith(
        '1 errors like: entry for stream \'{app="v", service_name="v"}\''
    )
    assert "has timestamp too old: " in response.text
    assert "has timestamp too new: " in response.text
    assert response.text.endswith("\n")
    assert [v[1] for v in query_range(client, '{app="v"}')["result"][0]["values"]] == ["fine"]


def test_entry_too_far_behind_the_streams_newest(client: TestClient) -> None:
    now = time.time_ns()
    push(client, {"app": "o"}, (now, "newest"))
    body = {
        "streams": [
            {
                "stream": {"app": "o"},
                "values": [[str(now - 2 * 3600 * NS), "too far"], [str(now - 30 * 60 * NS), "ok"]],
            }
        ]
    }
    response = client.post("/loki/api/v1/push", json=body)
    assert response.status_code == 400
    assert "ignored, reason: 'entry too far behind, entry timestamp is: " in response.text
    assert response.text.rstrip("\n").endswith(
        'user \'fake\', total ignored: 1 out of 2 for stream: {app="o", service_name="o"}'
    )
    values = query_range(client, '{app="o"}', start=str(now - 3 * 3600 * NS))["result"][0]
    assert [v[1] for v in values["values"]] == ["newest", "ok"]


def test_push_without_streams_is_422(client: TestClient) -> None:
    response = client.post("/loki/api/v1/push", json={"streams": []})
    assert (response.status_code, response.text) == (
        422,
        "error at least one valid stream is required for ingestion\n",
    )


def test_logfmt_stage_and_label_filter(client: TestClient) -> None:
    now = time.time_ns()
    push(
        client,
        {"app": "lf"},
        (now - 2 * NS, 'level=info msg="all good"'),
        (now - 1 * NS, 'level=error msg="disk full" app=inner'),
        (now - 500, 'level="unterminated'),
    )
    result = query_range(client, '{app="lf"} | logfmt | level="error"')["result"]
    assert result == [
        {
            "stream": {
                "app": "lf",
                "app_extracted": "inner",
                "level": "error",
                "msg": "disk full",
                "service_name": "lf",
            },
            "values": [[str(now - 1 * NS), 'level=error msg="disk full" app=inner']],
        }
    ]
    broken = query_range(client, '{app="lf"} | logfmt | __error__="LogfmtParserErr"')["result"]
    assert [v[1] for s in broken for v in s["values"]] == ['level="unterminated']


def test_line_format_and_structured_metadata_labels(client: TestClient) -> None:
    now = time.time_ns()
    body = {
        "streams": [
            {
                "stream": {"app": "fmt"},
                "values": [[str(now), 'level=warn msg="slow"', {"trace_id": "t9"}]],
            }
        ]
    }
    assert client.post("/loki/api/v1/push", json=body).status_code == 204
    result = query_range(
        client,
        '{app="fmt"} | logfmt | line_format "{{.level}}: {{ .msg }} ({{.trace_id}}){{.none}}"',
    )["result"]
    assert [v[1] for v in result[0]["values"]] == ["warn: slow (t9)"]
    assert result[0]["stream"]["trace_id"] == "t9"
    with pytest.raises(LogQLParseError):
        parse('{app="fmt"} | line_format "{{ if .a }}x{{ end }}"')
