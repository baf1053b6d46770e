"""baml-extractor: the gateway in front of ``baml-cli serve`` (see README.md, reference/API.md).

Run as ``python reference/baml-extractor/gateway.py`` with ``HOST``/``PORT``. It starts the
deterministic fake LLM (fake_llm.py) in-process on a free loopback port, starts
``baml-cli serve`` on another free loopback port as a child process pointed at it
(``FAKE_LLM_URL``), waits for the child's ``/_debug/ping`` and then serves:

* ``POST /call/ExtractEvent`` and ``POST /call/ScoreEventQuality``: arguments validated
  against the BAML signatures, forwarded to baml-cli, BAML's errors mapped to RFC 9457
  problem documents (LLM output BAML cannot parse -> 422 ``llm-output-unparseable``);
* ``GET /health``, ``GET /metrics``, ``GET /openapi.json``;
* ``POST /_pact/provider-states`` when ``PACT_PROVIDER_STATES=true``.

SIGTERM/SIGINT stop the server gracefully, then the baml-cli child and the fake LLM.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ctypes
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable, Generator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_schema import (
    EXTRACT_EVENT,
    FUNCTIONS,
    MAX_BODY_BYTES,
    PROBLEM_BASE,
    SCORE_EVENT_QUALITY,
    FunctionSpec,
    openapi_document,
)
from fake_llm import FakeLLM, Mode
from fake_llm import create_app as create_fake_llm_app

SERVICE = "baml-extractor"
HERE = Path(__file__).resolve().parent
BAML_SRC = HERE / "baml_src"
FAULTS = ("renamed-field", "wrong-status", "missing-endpoint", "fuzz-targets")

#: What ``COVENANT_FAULT=fuzz-targets`` breaks, one class of fuzz finding each
#: (Covenant's fuzz tests prove each is caught and reported once):
#: GET /health -> 500 with a Python stack trace (server error, stack trace in body);
#: GET /metrics -> 418 (undocumented status); ExtractEvent -> "name" for "title"
#: (response schema violation); ScoreEventQuality -> 2.5 s (response-time budget);
#: invalid arguments -> a plain JSON 400 with a DSN in it (problem-document shape,
#: secret in an error body).
FUZZ_TARGETS_DELAY_S = 2.5
FAKE_TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "gateway.py", line 1, in health\n'
    "RuntimeError: deliberately broken for fuzzing\n"
)
STATE_NORMAL = "the LLM answers normally"
STATE_UNPARSEABLE = "the LLM answers with unparseable text"
PROBLEM_JSON = "application/problem+json"
TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")

log = logging.getLogger(SERVICE)
_trace_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("trace_id", default=None)


# --------------------------------------------------------------------------- logging


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, service, msg, trace_id, plus ``fields``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "service": SERVICE,
            "msg": record.getMessage(),
            "trace_id": _trace_id.get() or secrets.token_hex(16),
            "logger": record.name,
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping):
            entry.update(fields)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging() -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


def _log(level: int, msg: str, **fields: Any) -> None:
    log.log(level, msg, extra={"fields": fields})


# --------------------------------------------------------------------------- metrics


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests answered.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "HTTP request duration.",
            ["method", "route"],
            registry=self.registry,
        )
        self.llm_calls = Counter(
            "llm_calls_total",
            "BAML function calls (one LLM call each) by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        for outcome in ("ok", "unparseable", "error"):
            self.llm_calls.labels(outcome)


# --------------------------------------------------------------------------- problems


class ProblemError(Exception):
    """Raised anywhere in a request; answered as an RFC 9457 problem document."""

    def __init__(self, status: int, slug: str, title: str, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.extensions = extensions


def problem_response(
    status: int,
    slug: str,
    title: str,
    detail: str,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body = {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail}
    body.update(extensions)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


# --------------------------------------------------------------------------- baml-cli child


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if the gateway dies without cleaning up."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def baml_cli_path() -> str:
    configured = os.environ.get("BAML_CLI")
    if configured:
        return configured
    beside = Path(sys.executable).with_name("baml-cli")
    if beside.exists():
        return str(beside)
    found = shutil.which("baml-cli")
    if found is None:
        raise RuntimeError("baml-cli not found: install baml-py into this Python environment")
    return found


class BamlChild:
    """``baml-cli serve`` as a child process on a loopback port."""

    def __init__(self, llm_url: str) -> None:
        self.llm_url = llm_url
        self.port = free_loopback_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: asyncio.subprocess.Process | None = None
        self.output: deque[str] = deque(maxlen=200)
        self.stopping = False
        self._relay: asyncio.Task[None] | None = None

    async def start(self) -> None:
        env = dict(os.environ)
        env["FAKE_LLM_URL"] = self.llm_url
        env.setdefault("BAML_LOG", "warn")
        env.pop("BAML_PASSWORD", None)
        argv = [
            baml_cli_path(),
            "serve",
            "--from",
            str(BAML_SRC),
            "--port",
            str(self.port),
            "--no-version-check",
        ]
        self.process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=str(HERE),
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        _log(logging.INFO, "baml-cli started", pid=self.process.pid, port=self.port)
        self._relay = asyncio.create_task(self._relay_output())

    async def _relay_output(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        async for raw in self.process.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            if line.strip():
                self.output.append(line)
                _log(logging.INFO, "baml-cli output", line=line)
        code = await self.process.wait()
        if not self.stopping:
            _log(logging.ERROR, "baml-cli exited unexpectedly", exit_code=code)

    def exited(self) -> int | None:
        return None if self.process is None else self.process.returncode

    async def wait_ready(
        self, client: httpx.AsyncClient, deadline: float, stop: asyncio.Event
    ) -> bool:
        while time.monotonic() < deadline and not stop.is_set():
            if self.exited() is not None:
                return False
            with contextlib.suppress(httpx.HTTPError):
                answer = await client.get(f"{self.url}/_debug/ping", timeout=2.0)
                if answer.status_code == 200:
                    return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.2)
        return False

    async def check(self, client: httpx.AsyncClient) -> str:
        code = self.exited()
        if self.process is None:
            return "error: not started"
        if code is not None:
            return f"error: baml-cli exited with code {code}"
        try:
            answer = await client.get(f"{self.url}/_debug/ping", timeout=2.0)
        except httpx.HTTPError as exc:
            return f"error: ping failed: {type(exc).__name__}"
        return "ok" if answer.status_code == 200 else f"error: ping answered {answer.status_code}"

    async def stop(self, grace: float = 5.0) -> None:
        self.stopping = True
        process = self.process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout=grace)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        if self._relay is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._relay, timeout=2.0)
        if process is not None:
            _log(logging.INFO, "baml-cli stopped", pid=process.pid, exit_code=process.returncode)


# --------------------------------------------------------------------------- the app


class Gateway:
    """Request handling; holds the fake LLM, the baml-cli child and the HTTP client."""

    def __init__(
        self,
        fake: FakeLLM,
        fake_url: str,
        baml: BamlChild,
        fault: str | None,
        provider_states: bool,
        metrics: Metrics,
    ) -> None:
        self.fake = fake
        self.fake_url = fake_url
        self.baml = baml
        self.fault = fault
        self.provider_states = provider_states
        self.metrics = metrics
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=2.0))
        self.call_timeout = float(os.environ.get("BAML_CALL_TIMEOUT", "60"))

    # ---- helpers

    async def read_json(self, request: Request) -> Any:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise ProblemError(
                413,
                "request-too-large",
                "Request body too large",
                f"The body is larger than {MAX_BODY_BYTES} bytes.",
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise ProblemError(
                    413,
                    "request-too-large",
                    "Request body too large",
                    f"The body is larger than {MAX_BODY_BYTES} bytes.",
                )
            chunks.append(chunk)
        raw = b"".join(chunks)

        def no_constants(name: str) -> Any:
            raise ValueError(f"{name} is not valid JSON")

        try:
            value = json.loads(raw.decode("utf-8"), parse_constant=no_constants)
            # Lone surrogates ("\ud800") decode in Python but are no valid Unicode.
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except (ValueError, UnicodeError, RecursionError) as exc:
            raise ProblemError(
                400,
                "malformed-json",
                "Malformed JSON",
                f"The request body is not valid JSON: {exc}",
            ) from None
        return value

    def validate_args(self, spec: FunctionSpec, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ProblemError(
                400,
                "invalid-arguments",
                "Invalid arguments",
                f"The body must be a JSON object of {spec.name}'s arguments, "
                f"not {type(body).__name__ if body is not None else 'null'}.",
            )
        try:
            args: BaseModel = spec.args_model.model_validate(body)
        except ValidationError as exc:
            errors = [
                {"loc": ".".join(str(part) for part in err["loc"]), "msg": err["msg"]}
                for err in exc.errors()
            ]
            detail = "; ".join(f"{err['loc']}: {err['msg']}" for err in errors[:10])
            raise ProblemError(
                400,
                "invalid-arguments",
                "Invalid arguments",
                f"{spec.name}'s arguments do not match its signature: {detail}",
                errors=errors,
            ) from None
        return args.model_dump(mode="json")

    def _outgoing_headers(self) -> dict[str, str]:
        trace_id = _trace_id.get() or secrets.token_hex(16)
        return {"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"}

    async def forward(self, spec: FunctionSpec, args: dict[str, Any]) -> dict[str, Any]:
        """Call ``spec`` on baml-cli; map every failure to a ProblemError."""
        if self.baml.exited() is not None:
            self.metrics.llm_calls.labels("error").inc()
            raise ProblemError(
                503,
                "extractor-unavailable",
                "Extractor unavailable",
                "The baml-cli server is not running.",
            )
        started = time.monotonic()
        try:
            answer = await self.client.post(
                f"{self.baml.url}/call/{spec.name}",
                json=args,
                headers=self._outgoing_headers(),
                timeout=self.call_timeout,
            )
        except httpx.TimeoutException:
            self.metrics.llm_calls.labels("error").inc()
            raise ProblemError(
                504,
                "extractor-timeout",
                "Extractor timeout",
                f"BAML did not answer {spec.name} within {self.call_timeout:g} s.",
            ) from None
        except httpx.HTTPError as exc:
            self.metrics.llm_calls.labels("error").inc()
            raise ProblemError(
                503,
                "extractor-unavailable",
                "Extractor unavailable",
                f"The baml-cli server could not be reached: {type(exc).__name__}.",
            ) from None
        elapsed_ms = round((time.monotonic() - started) * 1000, 1)
        try:
            payload: Any = answer.json()
        except ValueError:
            payload = {"error": "non_json", "message": answer.text[:500]}
        if answer.status_code == 200:
            try:
                result = spec.result_model.model_validate(payload).model_dump(mode="json")
            except ValidationError as exc:
                self.metrics.llm_calls.labels("error").inc()
                _log(
                    logging.ERROR,
                    "baml answer does not fit the declared type",
                    function=spec.name,
                    error=str(exc)[:500],
                )
                raise ProblemError(
                    502,
                    "extractor-error",
                    "Extractor error",
                    f"BAML's answer to {spec.name} does not fit {spec.result_type}.",
                ) from None
            self.metrics.llm_calls.labels("ok").inc()
            _log(
                logging.INFO, "baml call", function=spec.name, outcome="ok", duration_ms=elapsed_ms
            )
            return result
        kind = payload.get("error") if isinstance(payload, dict) else None
        message = payload.get("message") if isinstance(payload, dict) else None
        message = str(message or answer.text)[:1000]
        if kind == "validation_failure":
            self.metrics.llm_calls.labels("unparseable").inc()
            raw_output = payload.get("raw_output") if isinstance(payload, dict) else None
            _log(
                logging.WARNING,
                "baml call",
                function=spec.name,
                outcome="unparseable",
                duration_ms=elapsed_ms,
            )
            status = 500 if self.fault == "wrong-status" else 422
            raise ProblemError(
                status,
                "llm-output-unparseable",
                "LLM output unparseable",
                f"The LLM's answer to {spec.name} could not be parsed into "
                f"{spec.result_type}: {message.splitlines()[0] if message else 'no detail'}",
                function=spec.name,
                raw_output=str(raw_output)[:2000] if raw_output is not None else None,
            )
        self.metrics.llm_calls.labels("error").inc()
        _log(
            logging.ERROR,
            "baml call",
            function=spec.name,
            outcome="error",
            baml_status=answer.status_code,
            baml_error=kind,
            duration_ms=elapsed_ms,
        )
        if answer.status_code == 400:
            raise ProblemError(
                400,
                "invalid-arguments",
                "Invalid arguments",
                f"BAML rejected {spec.name}'s arguments: {message}",
            )
        if kind in ("client_error", "client_http_error"):
            raise ProblemError(
                502,
                "llm-unavailable",
                "LLM unavailable",
                f"The LLM could not be reached or failed: {message}",
            )
        raise ProblemError(
            502,
            "extractor-error",
            "Extractor error",
            f"BAML failed on {spec.name} ({answer.status_code} {kind}).",
        )

    # ---- endpoints

    def call_endpoint(self, spec: FunctionSpec) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if self.fault == "fuzz-targets":
                return await self.fuzz_target_call(spec, request)
            body = await self.read_json(request)
            args = self.validate_args(spec, body)
            result = await self.forward(spec, args)
            if self.fault == "renamed-field" and spec is EXTRACT_EVENT:
                result = {
                    ("name" if key == "title" else key): value for key, value in result.items()
                }
            return JSONResponse(result)

        return endpoint

    async def fuzz_target_call(self, spec: FunctionSpec, request: Request) -> Response:
        """The deliberately broken call endpoints of ``COVENANT_FAULT=fuzz-targets``."""
        try:
            args = self.validate_args(spec, await self.read_json(request))
        except ProblemError as exc:
            return JSONResponse(
                {"error": exc.title, "debug": "DATABASE_URL=postgresql://app:hunter2@db/app"},
                status_code=exc.status,
            )
        if spec is SCORE_EVENT_QUALITY:
            await asyncio.sleep(FUZZ_TARGETS_DELAY_S)
        result = await self.forward(spec, args)
        if spec is EXTRACT_EVENT:
            result = {("name" if key == "title" else key): value for key, value in result.items()}
        return JSONResponse(result)

    async def health(self, request: Request) -> Response:
        if self.fault == "fuzz-targets":
            return Response(FAKE_TRACEBACK, status_code=500, media_type="text/plain")
        checks = {"baml-cli": await self.baml.check(self.client)}
        try:
            answer = await self.client.get(f"{self.fake_url}/v1/models", timeout=2.0)
            checks["fake-llm"] = (
                "ok" if answer.status_code == 200 else f"error: answered {answer.status_code}"
            )
        except httpx.HTTPError as exc:
            checks["fake-llm"] = f"error: {type(exc).__name__}"
        ok = all(value == "ok" for value in checks.values())
        return JSONResponse(
            {"status": "ok" if ok else "error", "service": SERVICE, "checks": checks},
            status_code=200 if ok else 503,
        )

    async def metrics_endpoint(self, request: Request) -> Response:
        if self.fault == "fuzz-targets":
            return Response("I'm a teapot", status_code=418, media_type="text/plain")
        return Response(
            generate_latest(self.metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(openapi_document())

    async def provider_states_endpoint(self, request: Request) -> Response:
        body = await self.read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("state"), str):
            raise ProblemError(
                400,
                "invalid-provider-state",
                "Invalid provider state",
                'The body must be {"state": NAME, "params": {...}, "action": "setup"|"teardown"}.',
            )
        action = body.get("action", "setup")
        if action not in ("setup", "teardown"):
            raise ProblemError(
                400,
                "invalid-provider-state",
                "Invalid provider state",
                f"Unknown action {action!r}: expected setup or teardown.",
            )
        state = body["state"]
        if state not in (STATE_NORMAL, STATE_UNPARSEABLE):
            raise ProblemError(
                400,
                "unknown-provider-state",
                "Unknown provider state",
                f"Unknown provider state {state!r}.",
            )
        mode: Mode = "unparseable" if state == STATE_UNPARSEABLE and action == "setup" else "normal"
        self.fake.set_mode(mode)
        _log(logging.INFO, "provider state", state=state, action=action, llm_mode=mode)
        return JSONResponse({})

    async def aclose(self) -> None:
        await self.client.aclose()


async def _problem_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return problem_response(exc.status, exc.slug, exc.title, exc.detail, **exc.extensions)


async def _http_exception_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return problem_response(
            404, "not-found", "Not found", f"No route for {request.method} {request.url.path}."
        )
    if exc.status_code == 405:
        return problem_response(
            405,
            "method-not-allowed",
            "Method not allowed",
            f"{request.method} is not allowed on {request.url.path}.",
            headers=exc.headers,
        )
    return problem_response(
        exc.status_code, "http-error", str(exc.detail), str(exc.detail), headers=exc.headers
    )


async def _internal_error_handler(request: Request, exc: Exception) -> Response:
    _log(logging.ERROR, "unhandled error", error=f"{type(exc).__name__}: {exc}")
    return problem_response(
        500, "internal-error", "Internal error", "An unexpected error occurred in the gateway."
    )


class ObservabilityMiddleware:
    """Trace id from ``traceparent``, one JSON log line and the metrics per request."""

    def __init__(self, app: ASGIApp, metrics: Metrics, routes: frozenset[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        trace_id = None
        for name, value in scope.get("headers", []):
            if name == b"traceparent":
                match = TRACEPARENT.match(value.decode("latin-1").strip().lower())
                if match and match.group(1) != "0" * 32:
                    trace_id = match.group(1)
        token = _trace_id.set(trace_id or secrets.token_hex(16))
        path: str = scope["path"]
        method: str = scope["method"]
        route = path if path in self.routes else "unmatched"
        status = 500
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            status = 500
            raise
        finally:
            elapsed = time.perf_counter() - started
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.duration.labels(method, route).observe(elapsed)
            _log(
                logging.INFO if status < 500 else logging.ERROR,
                "request",
                method=method,
                path=path,
                route=route,
                status=status,
                duration_ms=round(elapsed * 1000, 1),
            )
            _trace_id.reset(token)


def create_app(gateway: Gateway) -> ASGIApp:
    routes = [
        Route("/health", gateway.health, methods=["GET"]),
        Route("/metrics", gateway.metrics_endpoint, methods=["GET"]),
        Route("/openapi.json", gateway.openapi, methods=["GET"]),
    ]
    for spec in FUNCTIONS:
        if gateway.fault == "missing-endpoint" and spec is SCORE_EVENT_QUALITY:
            continue
        routes.append(Route(f"/call/{spec.name}", gateway.call_endpoint(spec), methods=["POST"]))
    if gateway.provider_states:
        routes.append(
            Route("/_pact/provider-states", gateway.provider_states_endpoint, methods=["POST"])
        )
    app = Starlette(
        routes=routes,
        exception_handlers={
            ProblemError: _problem_handler,
            HTTPException: _http_exception_handler,
            Exception: _internal_error_handler,
        },
    )
    known = frozenset(route.path for route in routes)
    return ObservabilityMiddleware(app, gateway.metrics, known)


# --------------------------------------------------------------------------- running


class ManagedServer(uvicorn.Server):
    """A uvicorn server whose signals the gateway handles itself (two servers, one loop)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def _wait_started(server: uvicorn.Server, task: asyncio.Task[None], deadline: float) -> bool:
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def run() -> int:
    configure_logging()
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    provider_states = os.environ.get("PACT_PROVIDER_STATES", "").lower() == "true"
    fault = os.environ.get("COVENANT_FAULT") or None
    if fault is not None and fault not in FAULTS:
        _log(logging.WARNING, "unknown COVENANT_FAULT ignored", fault=fault)
        fault = None
    startup_timeout = float(os.environ.get("BAML_STARTUP_TIMEOUT", "60"))

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    servers: list[uvicorn.Server] = []

    def request_stop(sig: signal.Signals) -> None:
        _log(logging.INFO, "shutting down", signal=sig.name)
        stop.set()
        for server in servers:
            server.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, request_stop, sig)

    fake = FakeLLM()
    fake_sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    fake_sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    fake_sock.bind(("127.0.0.1", 0))
    fake_port = fake_sock.getsockname()[1]
    fake_url = f"http://127.0.0.1:{fake_port}"
    fake_server = ManagedServer(
        uvicorn.Config(
            create_fake_llm_app(fake),
            log_config=None,
            access_log=False,
            lifespan="off",
            log_level="warning",
        )
    )
    servers.append(fake_server)
    fake_task = asyncio.create_task(fake_server.serve(sockets=[fake_sock]))
    metrics = Metrics()
    baml = BamlChild(f"{fake_url}/v1")
    gateway = Gateway(fake, fake_url, baml, fault, provider_states, metrics)
    exit_code = 0
    try:
        if not await _wait_started(fake_server, fake_task, time.monotonic() + 10):
            _log(logging.ERROR, "fake LLM did not start")
            return 1
        _log(logging.INFO, "fake LLM listening", url=fake_url)
        await baml.start()
        ready = await baml.wait_ready(gateway.client, time.monotonic() + startup_timeout, stop)
        if stop.is_set():
            return 0
        if not ready:
            output = list(baml.output)
            _log(
                logging.ERROR,
                "baml-cli did not become ready",
                exit_code=baml.exited(),
                timeout_s=startup_timeout,
                output=output,
            )
            print(
                "baml-cli did not become ready; its output:\n" + "\n".join(output), file=sys.stderr
            )
            return 1
        _log(logging.INFO, "baml-cli ready", url=baml.url)
        server = ManagedServer(
            uvicorn.Config(
                create_app(gateway),
                host=host,
                port=port,
                log_config=None,
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=10,
            )
        )
        servers.append(server)
        _log(
            logging.INFO,
            "starting",
            host=host,
            port=port,
            fault=fault,
            provider_states=provider_states,
        )
        await server.serve()
        if not server.started:
            exit_code = 1
    finally:
        await baml.stop()
        fake_server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(fake_task, timeout=5)
        await gateway.aclose()
        _log(logging.INFO, "stopped")
    return exit_code


def main() -> None:
    sys.exit(asyncio.run(run()))


if __name__ == "__main__":
    main()
