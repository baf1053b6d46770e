"""Webhook delivery: template rendering, secret redaction, and the background worker.

An event (``contract_published``, ``provider_verification_failed``, ...) reaches
:meth:`DeliveryWorker.on_event` through ``BrokerContext.listeners``. For every
enabled webhook that matches it (event name, optional consumer and provider) a
``pending`` row is written to ``broker.webhook_deliveries`` and delivered by an
asyncio task: up to ``webhook_retries`` retries with exponential backoff, each
attempt bounded by ``webhook_timeout_s``, the row updated after every attempt.

A worker holds a short, renewed lease on the row while it delivers. When the
broker starts (its database pool opens) it picks up pending rows whose lease
ran out: those of a broker that stopped or crashed mid-delivery.

Secrets: header values whose name is ``Authorization`` or contains ``token``,
``secret`` or ``password`` (and the basic-auth password) are replaced by
``**********`` in API responses, in the delivery log and in Python logging; the
log is additionally scrubbed of the literal secret values, in case a receiver
echoes them back.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from contracts.broker._webhook_hosts import host_allowed
from covenant.kernel import redact as kernel_redact
from covenant.kernel.redact import PACT_BROKER_MASK, is_secret_name
from covenant.kernel.tls import default_ssl_context

if TYPE_CHECKING:
    from contracts.broker._context import BrokerContext

__all__ = [
    "EVENT_NAMES",
    "REDACTED",
    "URL_PARAMETERS",
    "DeliveryWorker",
    "EventData",
    "PreparedRequest",
    "is_secret_name",
    "redact_request",
    "redact_url",
    "render_request",
    "render_template",
    "template_names",
]

log = logging.getLogger("contracts.broker.webhooks")

EVENT_NAMES = (
    "contract_published",
    "contract_content_changed",
    "contract_requiring_verification_published",
    "provider_verification_published",
    "provider_verification_succeeded",
    "provider_verification_failed",
)
#: The Pact Broker's mask: what the API shows for a secret (clients send it back to
#: keep a stored one), in the delivery log and in Python logging too.
REDACTED = PACT_BROKER_MASK
_TEMPLATE = re.compile(r"\$\{pactbroker\.([A-Za-z]+)\}")
#: Template parameters whose value is a URL, so they may stand for a whole webhook URL.
URL_PARAMETERS = ("pactUrl", "verificationResultUrl")
#: How much of a receiver's response body the delivery log keeps.
BODY_EXCERPT_BYTES = 2000
#: Longest wait between two attempts.
MAX_BACKOFF_S = 60.0


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return kernel_redact.redact_headers(headers, REDACTED)


def redact_url(url: str) -> str:
    """The URL without a userinfo password or secret-looking query parameters."""
    return kernel_redact.redact_url_by_name(url, REDACTED)


def redact_request(request: Mapping[str, Any]) -> dict[str, Any]:
    """A stored webhook request as the API shows it: secrets replaced."""
    shown = dict(request)
    headers = request.get("headers")
    if isinstance(headers, Mapping):
        shown["headers"] = redact_headers(headers)
    if request.get("password") is not None:
        shown["password"] = REDACTED
    if isinstance(request.get("url"), str):
        shown["url"] = redact_url(request["url"])
    return shown


def secret_values(request: Mapping[str, Any]) -> list[str]:
    """The literal secrets of a request, to scrub them from any text we keep."""
    found: list[str] = []
    headers = request.get("headers")
    if isinstance(headers, Mapping):
        for name, value in headers.items():
            if is_secret_name(name) and isinstance(value, str):
                found.append(value)
                # "Bearer abc": also the credential alone.
                found.extend(part for part in value.split() if part != value)
    password = request.get("password")
    if isinstance(password, str):
        found.append(password)
        username = request.get("username") or ""
        found.append(base64.b64encode(f"{username}:{password}".encode()).decode())
    return [s for s in found if len(s) >= 4]


def scrub(text: str, secrets: list[str]) -> str:
    return kernel_redact.scrub(text, secrets, REDACTED)


# -- templates ------------------------------------------------------------------


@dataclass
class EventData:
    """What a webhook's templates may refer to (``${pactbroker.<name>}``)."""

    event_name: str
    consumer_name: str = ""
    provider_name: str = ""
    consumer_version_number: str = ""
    consumer_version_branch: str = ""
    consumer_version_tags: list[str] = field(default_factory=list)
    provider_version_number: str = ""
    provider_version_branch: str = ""
    pact_version_sha: str = ""
    pact_url: str = ""
    verification_result_url: str = ""
    success: bool | None = None

    def values(self) -> dict[str, str]:
        github = {True: "success", False: "failure", None: "pending"}[self.success]
        bitbucket = {True: "SUCCESSFUL", False: "FAILED", None: "INPROGRESS"}[self.success]
        return {
            "eventName": self.event_name,
            "consumerName": self.consumer_name,
            "providerName": self.provider_name,
            "consumerVersionNumber": self.consumer_version_number,
            "consumerVersionBranch": self.consumer_version_branch,
            "consumerVersionTags": ", ".join(self.consumer_version_tags),
            "providerVersionNumber": self.provider_version_number,
            "providerVersionBranch": self.provider_version_branch,
            "pactVersionSha": self.pact_version_sha,
            "pactUrl": self.pact_url,
            "verificationResultUrl": self.verification_result_url,
            "githubVerificationStatus": github,
            "bitbucketVerificationStatus": bitbucket,
        }


def template_names() -> tuple[str, ...]:
    """Every ``${pactbroker.<name>}`` a template may use."""
    return tuple(EventData(event_name="").values())


def render_template(text: str, values: Mapping[str, str], escape: Callable[[str], str]) -> str:
    """Replace known ``${pactbroker.x}`` parameters; unknown ones stay as written."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        return escape(values[name]) if name in values else match.group(0)

    return _TEMPLATE.sub(replace, text)


def _render_json(value: Any, values: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return render_template(value, values, str)
    if isinstance(value, list):
        return [_render_json(v, values) for v in value]
    if isinstance(value, dict):
        return {k: _render_json(v, values) for k, v in value.items()}
    return value


def _escape_url_value(value: str) -> str:
    return quote(value, safe="")


def _render_url(url: str, values: Mapping[str, str]) -> str:
    # A parameter that is the whole URL (or its scheme+host) is left unescaped so
    # ``${pactbroker.pactUrl}`` works as a target; elsewhere values are escaped.
    stripped = url.strip()
    whole = _TEMPLATE.fullmatch(stripped)
    if whole and whole.group(1) in values:
        return values[whole.group(1)]
    return render_template(url, values, _escape_url_value)


@dataclass(frozen=True)
class PreparedRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None


def render_request(request: Mapping[str, Any], values: Mapping[str, str]) -> PreparedRequest:
    """The HTTP request a webhook sends for ``values``."""
    method = str(request.get("method", "POST")).upper()
    url = _render_url(str(request.get("url", "")), values)
    headers = {
        str(k): render_template(str(v), values, str)
        for k, v in (request.get("headers") or {}).items()
    }
    body_spec = request.get("body")
    body: bytes | None
    if body_spec is None:
        body = None
    elif isinstance(body_spec, str):
        body = render_template(body_spec, values, str).encode()
    else:
        body = json.dumps(_render_json(body_spec, values), separators=(",", ":")).encode()
        if not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"
    username = request.get("username")
    password = request.get("password")
    if username is not None or password is not None:
        raw = f"{username or ''}:{password or ''}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
    return PreparedRequest(method, url, headers, body)


# -- payload of an event --------------------------------------------------------

_ALIASES: dict[str, tuple[str, ...]] = {
    "consumer": ("consumer_name", "consumerName", "consumer"),
    "provider": ("provider_name", "providerName", "provider"),
    "consumer_version": (
        "consumer_version_number",
        "consumerVersionNumber",
        "consumer_version",
        "consumerVersion",
    ),
    "provider_version": (
        "provider_version_number",
        "providerVersionNumber",
        "provider_version",
        "providerVersion",
    ),
    "branch": ("consumer_version_branch", "consumerVersionBranch", "branch"),
    "provider_branch": ("provider_version_branch", "providerVersionBranch", "provider_branch"),
    "sha": ("pact_version_sha", "pactVersionSha", "sha", "pact_sha"),
    "pact_url": ("pact_url", "pactUrl"),
    "verification_url": (
        "verification_result_url",
        "verificationResultUrl",
        "verification_url",
    ),
    "success": ("success",),
    "tags": ("consumer_version_tags", "consumerVersionTags", "tags"),
}


def _pick(payload: Mapping[str, Any], key: str) -> Any:
    for alias in _ALIASES[key]:
        value = payload.get(alias)
        if isinstance(value, Mapping):  # {"name": ...} or {"number": ...}
            value = value.get("name", value.get("number"))
        if value is not None:
            return value
    return None


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _tag_list(tags: Any) -> list[str]:
    if isinstance(tags, list):
        return [str(t) for t in tags]
    if isinstance(tags, str):
        return [t.strip() for t in tags.split(",") if t.strip()]
    return []


def event_data(event: str, payload: Mapping[str, Any]) -> EventData:
    """Read an emitted payload, whichever spelling (snake or camel case) it uses."""
    success = _pick(payload, "success")
    if success is None and event == "provider_verification_succeeded":
        success = True
    if success is None and event == "provider_verification_failed":
        success = False
    tags = _pick(payload, "tags")
    data = EventData(
        event_name=event,
        consumer_name=_text(_pick(payload, "consumer")),
        provider_name=_text(_pick(payload, "provider")),
        consumer_version_number=_text(_pick(payload, "consumer_version")),
        consumer_version_branch=_text(_pick(payload, "branch")),
        consumer_version_tags=_tag_list(tags),
        provider_version_number=_text(_pick(payload, "provider_version")),
        provider_version_branch=_text(_pick(payload, "provider_branch")),
        pact_version_sha=_text(_pick(payload, "sha")),
        pact_url=_text(_pick(payload, "pact_url")),
        verification_result_url=_text(_pick(payload, "verification_url")),
        success=bool(success) if success is not None else None,
    )
    if not data.pact_url and "/verification-results" in data.verification_result_url:
        data.pact_url = data.verification_result_url.split("/verification-results", 1)[0]
    return data


def _base_of(url: str) -> str | None:
    """The broker's base URL from one of its pact or verification URLs."""
    marker = url.find("/pacts/provider/")
    return url[:marker] if marker > 0 else None


# -- the worker -----------------------------------------------------------------


@dataclass
class AttemptResult:
    status: int | None
    body_excerpt: str
    error: str | None
    elapsed_ms: int
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def success(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def describe(prepared: PreparedRequest) -> str:
    return f"{prepared.method} {redact_url(prepared.url)}"


class DeliveryWorker:
    """Listens for broker events and delivers the matching webhooks."""

    #: First wait between attempts; doubles each retry (capped by MAX_BACKOFF_S).
    backoff_s: float = 0.5
    #: Extra time a lease gives a worker beyond one attempt and its backoff.
    lease_margin_s: float = 15.0

    def __init__(self, context: BrokerContext) -> None:
        self.context = context
        self.tasks: set[asyncio.Task[None]] = set()
        self._slots: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None

    def _slot(self) -> asyncio.Semaphore:
        """At most ``broker.webhook_concurrency`` deliveries use the database and the
        network at once; the others wait here holding nothing. Without the bound, a
        publish that fires a hundred webhooks (or a hundred retrying ones) takes the
        whole connection pool, and every request behind it waits for seconds.
        One semaphore per event loop: tests run the app in several."""
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots[0] is not loop:
            self._slots = (loop, asyncio.Semaphore(self.context.config.webhook_concurrency))
        return self._slots[1]

    # -- configuration ----------------------------------------------------------

    @property
    def max_attempts(self) -> int:
        return self.context.config.webhook_retries + 1

    @property
    def timeout_s(self) -> float:
        return self.context.config.webhook_timeout_s

    def _backoff(self, attempt: int) -> float:
        return float(min(MAX_BACKOFF_S, self.backoff_s * (2 ** (attempt - 1))))

    def _lease_s(self, attempt: int) -> float:
        return self.timeout_s + self._backoff(attempt) + self.lease_margin_s

    # -- events -----------------------------------------------------------------

    async def on_event(self, event: str, payload: dict[str, Any]) -> None:
        """The listener: never raises, so a webhook problem never fails a publish."""
        try:
            await self._on_event(event, payload)
        except Exception:
            log.exception("webhooks: could not schedule deliveries for %s", event)

    async def _on_event(self, event: str, payload: dict[str, Any]) -> None:
        if event not in EVENT_NAMES:
            return
        data = event_data(event, payload)
        async with self.context.database.transaction() as conn:
            names = [event]
            if event == "contract_published" and await self._content_changed(conn, data):
                names.append("contract_content_changed")
            if event in ("provider_verification_succeeded", "provider_verification_failed"):
                names.append("provider_verification_published")
            webhooks = await self._matching(conn, names, data)
            created: list[int] = []
            for hook in webhooks:
                # One delivery per webhook per event, named after the first of its
                # subscribed events that this occurrence satisfies.
                fired = next(n for n in names if n in hook["events"])
                created.append(
                    await self._insert(
                        conn, hook, fired, {**payload, "_event": fired}, trigger="event"
                    )
                )
        for delivery_id in created:
            self.spawn(self.deliver(delivery_id, owned=True))

    async def _content_changed(self, conn: psycopg.AsyncConnection, data: EventData) -> bool:
        """True unless the previous publication between the pair had the same content."""
        if not data.pact_version_sha:
            return True
        async with conn.cursor() as cur:
            await cur.execute(
                "SELECT pp.pact_version_sha FROM broker.pact_publications pp"
                " JOIN broker.versions cv ON cv.id = pp.consumer_version_id"
                " JOIN broker.pacticipants c ON c.id = cv.pacticipant_id"
                " JOIN broker.pacticipants p ON p.id = pp.provider_id"
                " WHERE c.name = %s AND p.name = %s AND cv.number <> %s"
                " ORDER BY pp.id DESC LIMIT 1",
                (data.consumer_name, data.provider_name, data.consumer_version_number),
            )
            row = await cur.fetchone()
        return row is None or row[0] != data.pact_version_sha

    async def _matching(
        self, conn: psycopg.AsyncConnection, names: list[str], data: EventData
    ) -> list[dict[str, Any]]:
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "SELECT * FROM broker.webhooks WHERE enabled AND events && %s::text[]"
                " AND (consumer_name IS NULL OR consumer_name = %s)"
                " AND (provider_name IS NULL OR provider_name = %s)"
                " ORDER BY created_at, id",
                (names, data.consumer_name, data.provider_name),
            )
            return await cur.fetchall()

    async def _insert(
        self,
        conn: psycopg.AsyncConnection,
        hook: Mapping[str, Any],
        event: str,
        payload: dict[str, Any],
        *,
        trigger: str,
    ) -> int:
        request = hook["request"]
        description = f"{request.get('method', 'POST')} {redact_url(str(request.get('url')))}"
        async with conn.cursor() as cur:
            await cur.execute(
                "INSERT INTO broker.webhook_deliveries"
                " (webhook_id, event_name, payload, status, trigger_type, lease_until,"
                "  request_description)"
                " VALUES (%s, %s, %s, 'pending', %s,"
                "  now() + make_interval(secs => %s), %s) RETURNING id",
                (hook["id"], event, Jsonb(payload), trigger, self._lease_s(1), description),
            )
            row = await cur.fetchone()
        assert row is not None
        return int(row[0])

    def spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # -- delivering -------------------------------------------------------------

    async def _claim(self, delivery_id: int, attempt: int) -> dict[str, Any] | None:
        """Take (or renew) the lease; None when the row is no longer ours to deliver."""
        async with (
            self.context.database.transaction() as conn,
            conn.cursor(row_factory=dict_row) as cur,
        ):
            await cur.execute(
                "UPDATE broker.webhook_deliveries d"
                " SET lease_until = now() + make_interval(secs => %s), updated_at = now()"
                " WHERE d.id = %s AND d.status = 'pending'"
                " AND (d.lease_until IS NULL OR d.lease_until < now() OR %s)"
                " RETURNING d.*",
                (self._lease_s(attempt), delivery_id, attempt > 0),
            )
            return await cur.fetchone()

    async def deliver(self, delivery_id: int, *, owned: bool = False) -> None:
        """Deliver one pending row until it succeeds or runs out of attempts."""
        try:
            await self._deliver(delivery_id, owned=owned)
        except asyncio.CancelledError:
            # The broker is stopping: give the row back so the next start retries it
            # at once instead of waiting for the lease to run out.
            await self._release(delivery_id)
            raise
        except Exception:
            # The database went away mid-delivery: the row stays pending and the
            # next broker start (or lease expiry) retries it.
            log.exception("webhooks: delivery %s interrupted", delivery_id)

    async def _deliver(self, delivery_id: int, *, owned: bool) -> None:
        async with self._slot():
            row = await self._claim(delivery_id, 1 if owned else 0)
            if row is None:
                return
            async with (
                self.context.database.reading() as conn,
                conn.cursor(row_factory=dict_row) as cur,
            ):
                await cur.execute(
                    "SELECT * FROM broker.webhooks WHERE id = %s", (row["webhook_id"],)
                )
                hook = await cur.fetchone()
                if hook is None:
                    return
                data = await self._resolve(conn, row["event_name"], row["payload"])
        request = hook["request"]
        secrets = secret_values(request)
        prepared = render_request(request, data.values())
        logs = str(row["logs"])
        attempt = int(row["attempts"])
        if attempt >= self.max_attempts:  # interrupted after its last attempt
            async with self._slot():
                await self._record(delivery_id, "failed", attempt, None, logs)
            return
        while attempt < self.max_attempts:
            attempt += 1
            async with self._slot():  # released while waiting to retry
                if attempt > 1:
                    await self._claim(delivery_id, attempt)
                result = await self.attempt(prepared)
                lines = self._log_attempt(attempt, prepared, result)
                done = result.success or attempt >= self.max_attempts
                wait = 0.0 if done else self._backoff(attempt)
                if not done:
                    lines.append(f"[{_now()}] retrying in {wait:g} s")
                elif not result.success:
                    lines.append(f"[{_now()}] giving up after {attempt} attempt(s)")
                logs = scrub(logs + "\n".join(lines) + "\n", secrets)
                status = "succeeded" if result.success else ("failed" if done else "pending")
                await self._record(delivery_id, status, attempt, result.status, logs)
            log.info(
                "webhooks: %s %s attempt %d/%d -> %s",
                hook["id"],
                describe(prepared),
                attempt,
                self.max_attempts,
                result.status if result.status is not None else result.error,
            )
            if done:
                return
            await asyncio.sleep(wait)

    def _log_attempt(
        self, attempt: int, prepared: PreparedRequest, result: AttemptResult
    ) -> list[str]:
        shown_headers = ", ".join(f"{k}: {v}" for k, v in redact_headers(prepared.headers).items())
        size = len(prepared.body) if prepared.body is not None else 0
        lines = [
            f"[{_now()}] attempt {attempt} of {self.max_attempts}: {describe(prepared)}",
            f"[{_now()}] request headers: {shown_headers or '(none)'}; body: {size} bytes",
        ]
        if result.status is not None:
            lines.append(f"[{_now()}] response: HTTP {result.status} in {result.elapsed_ms} ms")
            if result.body_excerpt:
                lines.append(f"[{_now()}] response body: {result.body_excerpt}")
        else:
            lines.append(f"[{_now()}] error after {result.elapsed_ms} ms: {result.error}")
        return lines

    async def _release(self, delivery_id: int) -> None:
        try:
            async with asyncio.timeout(5), self.context.database.transaction() as conn:
                await conn.execute(
                    "UPDATE broker.webhook_deliveries SET lease_until = NULL"
                    " WHERE id = %s AND status = 'pending'",
                    (delivery_id,),
                )
        except (Exception, asyncio.CancelledError):
            log.warning("webhooks: delivery %s stays leased until its lease runs out", delivery_id)

    async def _record(
        self, delivery_id: int, status: str, attempts: int, response_status: int | None, logs: str
    ) -> None:
        async with self.context.database.transaction() as conn:
            await conn.execute(
                "UPDATE broker.webhook_deliveries SET status = %s, attempts = %s,"
                " response_status = COALESCE(%s, response_status), logs = %s,"
                " updated_at = now(),"
                " lease_until = CASE WHEN %s = 'pending' THEN lease_until END"
                " WHERE id = %s",
                (status, attempts, response_status, logs, status, delivery_id),
            )

    async def attempt(self, prepared: PreparedRequest) -> AttemptResult:
        """One HTTP request, bounded in total by the configured timeout."""
        started = time.monotonic()
        timeout = self.timeout_s

        def elapsed() -> int:
            return int((time.monotonic() - started) * 1000)

        if not host_allowed(prepared.url, self.context.config.webhook_allowed_hosts):
            return AttemptResult(
                None, "", "not sent: the host is not in broker.webhook_allowed_hosts", 0
            )

        try:
            async with asyncio.timeout(timeout):
                async with (
                    httpx.AsyncClient(
                        timeout=timeout, follow_redirects=False, verify=default_ssl_context()
                    ) as client,
                    client.stream(
                        prepared.method,
                        prepared.url,
                        headers=prepared.headers,
                        content=prepared.body,
                    ) as response,
                ):
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body.extend(chunk)
                        if len(body) >= BODY_EXCERPT_BYTES:
                            break
                    excerpt = bytes(body[:BODY_EXCERPT_BYTES]).decode("utf-8", "replace")
                    if len(body) >= BODY_EXCERPT_BYTES:
                        excerpt += " ..."
                    return AttemptResult(
                        response.status_code,
                        excerpt,
                        None,
                        elapsed(),
                        headers=dict(response.headers),
                    )
        except TimeoutError:
            return AttemptResult(None, "", f"no response within {timeout:g} s", elapsed())
        except httpx.HTTPError as exc:
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            return AttemptResult(None, "", reason, elapsed())
        except (httpx.InvalidURL, ValueError) as exc:
            # The rendered request cannot be sent at all: a template value put a
            # non-ASCII character into a header, or made the URL invalid.
            return AttemptResult(None, "", f"the request cannot be sent: {exc}", elapsed())

    # -- template values --------------------------------------------------------

    async def _resolve(
        self, conn: psycopg.AsyncConnection, event: str, payload: Mapping[str, Any]
    ) -> EventData:
        """The event's data, completed from the database where the payload is silent."""
        data = event_data(event, payload)
        try:
            await _complete(conn, data, self.context.config.public_base_url)
        except psycopg.Error:
            log.warning("webhooks: could not complete template values for %s", event)
        return data

    # -- execute now ------------------------------------------------------------

    async def execute(self, hook: Mapping[str, Any], base_url: str) -> dict[str, Any]:
        """POST /webhooks/{uuid}/execute: one attempt now with the latest matching data.

        No database connection is held while the receiver takes its time."""
        event = hook["events"][0] if hook["events"] else "contract_published"
        async with self.context.database.reading() as conn:
            data = await sample_data(conn, hook, event, base_url)
        request = hook["request"]
        secrets = secret_values(request)
        prepared = render_request(request, data.values())
        result = await self.attempt(prepared)
        lines = [f"[{_now()}] manual execution with the latest matching data"]
        lines += self._log_attempt(1, prepared, result)
        logs = scrub("\n".join(lines) + "\n", secrets)
        payload = {
            "consumer_name": data.consumer_name,
            "provider_name": data.provider_name,
            "consumer_version_number": data.consumer_version_number,
            "provider_version_number": data.provider_version_number,
            "pact_url": data.pact_url,
            "verification_result_url": data.verification_result_url,
        }
        description = f"{request.get('method', 'POST')} {redact_url(str(request.get('url')))}"
        async with self.context.database.transaction() as conn, conn.cursor() as cur:
            # No row when the webhook was deleted meanwhile.
            await cur.execute(
                "INSERT INTO broker.webhook_deliveries"
                " (webhook_id, event_name, payload, status, attempts, response_status, logs,"
                "  trigger_type, request_description)"
                " SELECT id, %s, %s, %s, 1, %s, %s, 'execute', %s"
                " FROM broker.webhooks WHERE id = %s",
                (
                    event,
                    Jsonb(payload),
                    "succeeded" if result.success else "failed",
                    result.status,
                    logs,
                    description,
                    hook["id"],
                ),
            )
        body_text = scrub(result.body_excerpt, secrets)
        shown_request: dict[str, Any] = {
            "method": prepared.method,
            "url": redact_url(prepared.url),
            "headers": redact_headers(prepared.headers),
        }
        if prepared.body is not None:
            shown_request["body"] = scrub(prepared.body.decode("utf-8", "replace"), secrets)
        outcome: dict[str, Any] = {
            "success": result.success,
            "request": shown_request,
            "logs": logs,
        }
        if result.status is not None:
            outcome["response"] = {
                "status": result.status,
                "headers": redact_headers(result.headers),
                "body": body_text,
            }
        if result.error is not None:
            outcome["error"] = {"message": scrub(result.error, secrets)}
        return outcome

    # -- restart ----------------------------------------------------------------

    async def recover(self) -> int:
        """Schedule every pending delivery left by an earlier broker; returns how many."""
        try:
            async with (
                self.context.database.reading() as conn,
                conn.cursor() as cur,
            ):
                await cur.execute(
                    "SELECT id, GREATEST(0, EXTRACT(EPOCH FROM lease_until - now()))"
                    " FROM broker.webhook_deliveries WHERE status = 'pending' ORDER BY id"
                )
                rows = await cur.fetchall()
        except psycopg.Error:
            log.exception("webhooks: could not look for pending deliveries")
            return 0
        for delivery_id, wait in rows:
            self.spawn(self._recover_one(int(delivery_id), float(wait or 0)))
        if rows:
            log.info("webhooks: retrying %d pending deliveries", len(rows))
        return len(rows)

    async def _recover_one(self, delivery_id: int, wait: float) -> None:
        # Another live broker may own the row: wait for its lease, then try to claim.
        # Bounded: each round either claims it, or finds it finished, or waits
        # for a lease that its owner must keep renewing.
        for _ in range(1000):
            if wait > 0:
                await asyncio.sleep(min(wait + 0.5, MAX_BACKOFF_S * 2))
            row = await self._claim(delivery_id, 0)
            if row is not None:
                await self.deliver(delivery_id, owned=True)
                return
            async with (
                self.context.database.reading() as conn,
                conn.cursor() as cur,
            ):
                await cur.execute(
                    "SELECT status, GREATEST(0, EXTRACT(EPOCH FROM lease_until - now()))"
                    " FROM broker.webhook_deliveries WHERE id = %s",
                    (delivery_id,),
                )
                found = await cur.fetchone()
            if found is None or found[0] != "pending":
                return
            wait = float(found[1] or 1)


async def _complete(conn: psycopg.AsyncConnection, data: EventData, base: str | None) -> None:
    base = base or _base_of(data.pact_url) or _base_of(data.verification_result_url)
    async with conn.cursor() as cur:
        if not data.consumer_version_number and data.pact_version_sha:
            await cur.execute(
                "SELECT cv.number FROM broker.pact_publications pp"
                " JOIN broker.versions cv ON cv.id = pp.consumer_version_id"
                " WHERE pp.pact_version_sha = %s ORDER BY pp.id DESC LIMIT 1",
                (data.pact_version_sha,),
            )
            row = await cur.fetchone()
            if row:
                data.consumer_version_number = str(row[0])
        if data.consumer_version_number and not data.consumer_version_tags:
            await cur.execute(
                "SELECT t.name FROM broker.tags t JOIN broker.versions v ON v.id = t.version_id"
                " JOIN broker.pacticipants c ON c.id = v.pacticipant_id"
                " WHERE c.name = %s AND v.number = %s ORDER BY t.created_at, t.name",
                (data.consumer_name, data.consumer_version_number),
            )
            data.consumer_version_tags = [str(r[0]) for r in await cur.fetchall()]
        if not data.pact_url and base and data.consumer_version_number:
            data.pact_url = pact_url(
                base, data.provider_name, data.consumer_name, data.consumer_version_number
            )
        if not data.verification_result_url and base and data.pact_version_sha:
            await cur.execute(
                "SELECT v.id, v.success, pv.number FROM broker.verifications v"
                " JOIN broker.versions pv ON pv.id = v.provider_version_id"
                " WHERE v.pact_version_sha = %s ORDER BY v.id DESC LIMIT 1",
                (data.pact_version_sha,),
            )
            row = await cur.fetchone()
            if row:
                data.verification_result_url = verification_url(
                    base, data.provider_name, data.consumer_name, data.pact_version_sha, row[0]
                )
                if data.event_name.startswith("provider_verification"):
                    data.provider_version_number = data.provider_version_number or str(row[2])
                    data.success = bool(row[1]) if data.success is None else data.success


def pact_url(base: str, provider: str, consumer: str, version: str) -> str:
    return (
        f"{base}/pacts/provider/{quote(provider, safe='')}/consumer/{quote(consumer, safe='')}"
        f"/version/{quote(version, safe='')}"
    )


def verification_url(base: str, provider: str, consumer: str, sha: str, number: Any) -> str:
    return (
        f"{base}/pacts/provider/{quote(provider, safe='')}/consumer/{quote(consumer, safe='')}"
        f"/pact-version/{sha}/verification-results/{number}"
    )


async def sample_data(
    conn: psycopg.AsyncConnection, hook: Mapping[str, Any], event: str, base: str
) -> EventData:
    """The latest publication (and its latest verification) the webhook matches, or
    placeholders when there is none, as the reference broker does for a test run."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT c.name AS consumer, p.name AS provider, cv.number AS version,"
            " pp.pact_version_sha AS sha,"
            " (SELECT b.name FROM broker.branch_versions bv"
            "   JOIN broker.branches b ON b.id = bv.branch_id"
            "   WHERE bv.version_id = cv.id ORDER BY bv.created_at DESC LIMIT 1) AS branch"
            " FROM broker.pact_publications pp"
            " JOIN broker.versions cv ON cv.id = pp.consumer_version_id"
            " JOIN broker.pacticipants c ON c.id = cv.pacticipant_id"
            " JOIN broker.pacticipants p ON p.id = pp.provider_id"
            " WHERE (%s::text IS NULL OR c.name = %s) AND (%s::text IS NULL OR p.name = %s)"
            " ORDER BY pp.id DESC LIMIT 1",
            (
                hook.get("consumer_name"),
                hook.get("consumer_name"),
                hook.get("provider_name"),
                hook.get("provider_name"),
            ),
        )
        row = await cur.fetchone()
    if row is None:
        return EventData(
            event_name=event,
            consumer_name=hook.get("consumer_name") or "placeholder-consumer",
            provider_name=hook.get("provider_name") or "placeholder-provider",
            consumer_version_number="placeholder-version",
            pact_url=f"{base}/pacts/provider/placeholder/consumer/placeholder/version/0",
        )
    data = EventData(
        event_name=event,
        consumer_name=row["consumer"],
        provider_name=row["provider"],
        consumer_version_number=row["version"],
        consumer_version_branch=row["branch"] or "",
        pact_version_sha=row["sha"],
    )
    await _complete(conn, data, base)
    if not event.startswith("provider_verification"):
        data.success = None
    return data
