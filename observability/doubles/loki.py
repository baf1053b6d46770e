"""An in-process double of Loki's HTTP API (push, LogQL queries, labels, series, ready).

Follows the Loki HTTP API reference
(https://grafana.com/docs/loki/latest/reference/loki-http-api/). Errors are plain text
with a trailing newline, as Loki writes them with Go's ``http.Error``. Authentication
and tenants are described in ``_loki_auth``; the LogQL subset in ``_logql``.
"""

from __future__ import annotations

import json
import re
import time
import zlib
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from observability.doubles._common import parse_prom_duration
from observability.doubles._logql import LogQLParseError, LogQuery, parse, parse_selector
from observability.doubles._loki_auth import LokiAuth
from observability.doubles._loki_proto import ProtoError, decode_push
from observability.doubles._loki_push import PushRejected, parse_labels, push_streams
from observability.doubles._loki_store import (
    NS,
    Entry,
    LogStore,
    TenantStore,
    instant_vector,
    range_matrix,
    select_streams,
)

__all__ = ["DEFAULT_MAX_ENTRIES", "create_loki_app", "parse_loki_time", "parse_push"]

DEFAULT_MAX_ENTRIES = 100_000
MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_ENTRIES_LIMIT_PER_QUERY = 5000  # Loki's default max_entries_limit_per_query
MAX_POINTS = 11_000
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d)(\.\d+)?([Zz]|[+-]\d\d:\d\d)$")
_INSTANT_LOG_QUERY = (
    "log queries are not supported as an instant query type, "
    "please change your query to a range query type"
)


class _BadRequest(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _text(message: str, status: int) -> PlainTextResponse:
    return PlainTextResponse(message + "\n", status_code=status)


def parse_loki_time(value: str) -> int:
    """Loki's timestamp parameter (see "Timestamps" in the reference): a float is unix
    seconds with a fraction, an integer of up to 10 digits is seconds and a longer one
    nanoseconds, otherwise RFC3339(Nano). Returns unix nanoseconds."""
    if "." in value and _RFC3339.match(value) is None:
        try:
            return int(Decimal(value) * NS)
        except InvalidOperation:
            pass
    if re.fullmatch(r"-?\d+", value):
        return int(value) * NS if len(value) <= 10 else int(value)
    match = _RFC3339.match(value)
    if match is None:
        raise ValueError(f"cannot parse {value!r} as a timestamp")
    base, fraction, zone = match.groups()
    zone = "+00:00" if zone in ("Z", "z") else zone
    seconds = int(datetime.fromisoformat(base.replace(" ", "T") + zone).timestamp())
    nanos = int((fraction or ".0")[1:].ljust(9, "0")[:9])
    return seconds * NS + nanos


def _time_param(request: Request, name: str, default: int) -> int:
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    try:
        return parse_loki_time(value)
    except ValueError as exc:
        raise _BadRequest(f"invalid {name} parameter: {exc}") from None


def _range(request: Request, default_span_s: int) -> tuple[int, int]:
    end = _time_param(request, "end", time.time_ns())
    since = request.query_params.get("since")
    try:
        span = round(parse_prom_duration(since) * NS) if since else default_span_s * NS
    except ValueError as exc:
        raise _BadRequest(f"invalid since parameter: {exc}") from None
    start = _time_param(request, "start", end - span)
    if end < start:
        raise _BadRequest("end timestamp must not be before or equal to start time")
    return start, end


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit") or "100"
    try:
        limit = int(raw)
    except ValueError:
        raise _BadRequest(f"invalid limit parameter: {raw!r} is not an integer") from None
    if limit <= 0:
        raise _BadRequest("limit must be a positive value")
    if limit > MAX_ENTRIES_LIMIT_PER_QUERY:
        raise _BadRequest(
            "max entries limit per query exceeded, limit > max_entries_limit_per_query "
            f"({limit} > {MAX_ENTRIES_LIMIT_PER_QUERY})"
        )
    return limit


def _forward(request: Request) -> bool:
    direction = (request.query_params.get("direction") or "backward").lower()
    if direction not in ("forward", "backward"):
        raise _BadRequest(f"invalid direction {direction!r}: use forward or backward")
    return direction == "forward"


def _step_ns(request: Request, start: int, end: int) -> int:
    """``step`` as a duration or float seconds; by default Loki's
    ``max(floor((end - start) / 250 s), 1 s)``."""
    raw = request.query_params.get("step")
    if not raw:
        return max((end - start) // NS // 250, 1) * NS
    try:
        step = int(Decimal(raw) * NS) if re.fullmatch(r"[\d.]+", raw) else None
        if step is None:
            step = round(parse_prom_duration(raw) * NS)
    except (InvalidOperation, ValueError):
        raise _BadRequest(f"invalid step parameter: cannot parse {raw!r}") from None
    if step <= 0:
        raise _BadRequest(
            "zero or negative query resolution step widths are not accepted. Try a positive integer"
        )
    if (end - start) // step > MAX_POINTS:
        raise _BadRequest(
            "exceeded maximum resolution of 11,000 points per timeseries. "
            "Try decreasing the query resolution (?step=XX)"
        )
    return step


def _stats(lines: int, size: int, started: float) -> dict[str, Any]:
    """The documented ``stats`` object, with the summary filled in and the rest zero."""
    elapsed = time.perf_counter() - started
    zero_ingester = (
        "compressedBytes decompressedBytes decompressedLines headChunkBytes headChunkLines "
        "totalBatches totalChunksMatched totalDuplicates totalLinesSent totalReached"
    )
    zero_store = (
        "compressedBytes decompressedBytes decompressedLines chunksDownloadTime "
        "totalChunksRef totalChunksDownloaded totalDuplicates"
    )
    return {
        "ingester": dict.fromkeys(zero_ingester.split(), 0),
        "store": dict.fromkeys(zero_store.split(), 0),
        "summary": {
            "bytesProcessedPerSecond": int(size / elapsed) if elapsed else 0,
            "execTime": elapsed,
            "linesProcessedPerSecond": int(lines / elapsed) if elapsed else 0,
            "queueTime": 0,
            "totalBytesProcessed": size,
            "totalLinesProcessed": lines,
        },
    }


def _success(result_type: str, result: list[dict[str, Any]], started: float) -> JSONResponse:
    lines = sum(len(r.get("values", ())) for r in result if "stream" in r)
    size = sum(len(v[1]) for r in result if "stream" in r for v in r["values"])
    data = {"resultType": result_type, "result": result, "stats": _stats(lines, size, started)}
    return JSONResponse({"status": "success", "data": data})


async def _body(request: Request) -> bytes:
    raw = await request.body()
    encoding = request.headers.get("content-encoding", "").lower()
    # pkg/loghttp/push/push.go ParseLokiRequest: "", snappy (decoded with the protobuf),
    # gzip and deflate; anything else is 400 'Content-Encoding "x" not supported'.
    if encoding in ("", "identity", "snappy"):
        data = raw
    elif encoding == "deflate":
        try:
            data = zlib.decompressobj(wbits=-zlib.MAX_WBITS).decompress(raw, MAX_BODY_BYTES + 1)
        except zlib.error as exc:
            raise _BadRequest(f"flate: corrupt input ({exc})") from None
    elif encoding == "gzip":
        try:  # bounded inflation: a small gzip bomb cannot exhaust memory
            inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            data = inflater.decompress(raw, MAX_BODY_BYTES + 1)
        except zlib.error as exc:
            raise _BadRequest(f"invalid gzip body: {exc}") from None
    else:
        raise _BadRequest(f'Content-Encoding "{encoding}" not supported')
    if len(data) > MAX_BODY_BYTES:
        raise _BadRequest(f"request body larger than {MAX_BODY_BYTES} bytes", 413)
    return data


def _string_map(value: object, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _BadRequest(f"{where} must be an object of string values")
    return value


def parse_push(payload: object) -> list[tuple[dict[str, str], list[Entry]]]:
    """Validate a JSON push body; every message names the offending element."""
    if not isinstance(payload, dict) or not isinstance(payload.get("streams"), list):
        raise _BadRequest('push body must be a JSON object with a "streams" array')
    parsed: list[tuple[dict[str, str], list[Entry]]] = []
    for i, stream in enumerate(payload["streams"]):
        where = f"streams[{i}]"
        if not isinstance(stream, dict):
            raise _BadRequest(f"{where} must be an object")
        labels = _string_map(stream.get("stream", {}), f"{where}.stream")
        for name in labels:
            if not _LABEL_NAME.match(name):  # Loki: ParseLabels of the stream's label string
                raise _BadRequest(
                    f"couldn't parse labels: {where}.stream: invalid label name {name!r}"
                )
        labels = {k: v for k, v in labels.items() if v != ""}  # ParseLabels drops empty values
        values = stream.get("values")
        if not isinstance(values, list):
            raise _BadRequest(f'{where} must have a "values" array')
        entries: list[Entry] = []
        for j, value in enumerate(values):
            at = f"{where}.values[{j}]"
            if not isinstance(value, list) or len(value) not in (2, 3):
                raise _BadRequest(f"{at} must be [timestamp, line] or [timestamp, line, metadata]")
            ts, line = value[0], value[1]
            if not isinstance(ts, str) or not ts.isdigit():
                raise _BadRequest(f"{at}[0] must be a string of unix epoch nanoseconds")
            if not isinstance(line, str):
                raise _BadRequest(f"{at}[1] (the log line) must be a string")
            metadata = {}
            if len(value) == 3:
                metadata = _string_map(value[2], f"{at}[2] (structured metadata)")
            entries.append((int(ts), line, metadata))
        parsed.append((labels, entries))
    return parsed


def create_loki_app(
    *,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    token: str | None = None,
    auth_enabled: bool = False,
) -> FastAPI:
    """The Loki double; keeps at most ``max_entries`` log entries, dropping the oldest.

    ``token``: when set, every request but ``/ready`` and ``/metrics`` needs
    ``Authorization: Bearer <token>`` (the gateway in front of Loki). ``auth_enabled``:
    Loki's ``auth_enabled: true``, every API request needs ``X-Scope-OrgID``."""
    app = FastAPI(title="Loki double", docs_url=None, redoc_url=None, openapi_url=None)
    log_store = LogStore(max_entries)
    app.state.store = log_store
    app.add_middleware(LokiAuth, token=token, auth_enabled=auth_enabled)

    def tenant_store(request: Request) -> TenantStore:
        return TenantStore(log_store, request.state.tenant)

    @app.exception_handler(_BadRequest)
    async def bad_request(_request: Request, exc: _BadRequest) -> Response:
        return _text(exc.message, exc.status)

    @app.exception_handler(LogQLParseError)
    async def parse_error(_request: Request, exc: LogQLParseError) -> Response:
        return _text(str(exc), 400)

    @app.post("/loki/api/v1/push", status_code=204)
    async def push(request: Request) -> Response:
        """Loki HTTP API reference: `POST /loki/api/v1/push`
        (https://grafana.com/docs/loki/latest/reference/loki-http-api/#ingest-logs).
        JSON or snappy-compressed protobuf (``logproto.PushRequest``), optionally gzip or
        deflate encoded; 204 when stored, validated as ``_loki_push`` describes."""
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if not content_type:  # Go's mime.ParseMediaType("")
            raise _BadRequest("mime: no media type")
        body = await _body(request)
        if content_type == "application/json":
            try:
                payload = json.loads(body)
            except ValueError as exc:
                raise _BadRequest(f"push body is not valid JSON: {exc}") from None
            streams = parse_push(payload)
        else:  # push.go: any other type is snappy-compressed protobuf
            try:
                streams = [(parse_labels(ls), es) for ls, es in decode_push(body)]
            except ProtoError as exc:
                raise _BadRequest(str(exc)) from None
            except PushRejected as exc:
                raise _BadRequest(exc.message, exc.status) from None
        try:
            push_streams(tenant_store(request), request.state.tenant, streams)
        except PushRejected as exc:
            raise _BadRequest(exc.message, exc.status) from None
        return Response(status_code=204)

    @app.get("/loki/api/v1/query")
    async def query(request: Request) -> Response:
        """Loki HTTP API reference: `GET /loki/api/v1/query`
        (https://grafana.com/docs/loki/latest/reference/loki-http-api/#query-logs-at-a-single-point-in-time).
        Metric queries only: like Loki 3, a log query is answered 400."""
        started = time.perf_counter()
        parsed = parse(request.query_params.get("query", ""))
        _limit(request)
        _forward(request)
        at = _time_param(request, "time", time.time_ns())
        if isinstance(parsed, LogQuery):
            raise _BadRequest(_INSTANT_LOG_QUERY)
        return _success("vector", instant_vector(tenant_store(request), parsed, at), started)

    @app.get("/loki/api/v1/query_range")
    async def query_range(request: Request) -> Response:
        """Loki HTTP API reference: `GET /loki/api/v1/query_range`
        (https://grafana.com/docs/loki/latest/reference/loki-http-api/#query-logs-within-a-range-of-time).
        Log queries answer ``streams`` (entries with start <= ts < end); metric queries a
        ``matrix`` stepped from start to end. ``interval`` is accepted and ignored."""
        started = time.perf_counter()
        parsed = parse(request.query_params.get("query", ""))
        limit = _limit(request)
        forward = _forward(request)
        start, end = _range(request, 3600)
        store = tenant_store(request)
        if isinstance(parsed, LogQuery):
            result = select_streams(store, parsed, start, end, limit, forward)
            return _success("streams", result, started)
        step = _step_ns(request, start, end)
        return _success("matrix", range_matrix(store, parsed, start, end, step), started)

    @app.get("/loki/api/v1/labels")
    async def labels(request: Request) -> Response:
        """Loki HTTP API reference: `GET /loki/api/v1/labels`
        (https://grafana.com/docs/loki/latest/reference/loki-http-api/#query-labels)."""
        names = {name for ls in _matching_streams(request) for name in ls}
        return JSONResponse({"status": "success", "data": sorted(names)})

    @app.get("/loki/api/v1/label/{name}/values")
    async def label_values(name: str, request: Request) -> Response:
        """Loki HTTP API reference: `GET /loki/api/v1/label/<name>/values`
        (https://grafana.com/docs/loki/latest/reference/loki-http-api/#query-label-values)."""
        values = {ls[name] for ls in _matching_streams(request) if name in ls}
        return JSONResponse({"status": "success", "data": sorted(values)})

    def _matching_streams(request: Request) -> list[dict[str, str]]:
        start, end = _range(request, 6 * 3600)
        selector = request.query_params.get("query")
        found = tenant_store(request).stream_labels(start, end)
        if selector:
            parsed = parse_selector(selector)
            found = [ls for ls in found if parsed.selects(ls)]
        return found

    @app.api_route("/loki/api/v1/series", methods=["GET", "POST"])
    async def series(request: Request) -> Response:
        """Loki HTTP API reference: `GET|POST /loki/api/v1/series`
        (https://grafana.com/docs/loki/latest/reference/loki-http-api/#query-streams);
        ``match[]`` repeated, in the query string or a form body."""
        selectors = list(request.query_params.getlist("match[]"))
        if request.method == "POST":  # form body, parsed here: no multipart dependency
            form = parse_qs((await _body(request)).decode("utf-8", "replace"))
            selectors += form.get("match[]", [])
        if not selectors:
            raise _BadRequest("at least one match[] argument must be provided")
        parsed = [parse_selector(s) for s in selectors]
        start, end = _range(request, 3600)
        store = tenant_store(request)
        found = [ls for ls in store.stream_labels(start, end) if any(p.selects(ls) for p in parsed)]
        found.sort(key=lambda ls: sorted(ls.items()))
        return JSONResponse({"status": "success", "data": found})

    @app.get("/ready")
    async def ready() -> Response:
        """Loki HTTP API reference: `GET /ready`
        (https://grafana.com/docs/loki/latest/reference/loki-http-api/#readiness-probe);
        Loki answers ``ready`` plus a newline."""
        return _text("ready", 200)

    return app
