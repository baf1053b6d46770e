"""Webhooks, as the Pact Broker documents them.

``GET|POST /webhooks``, ``GET|PUT|DELETE /webhooks/{uuid}``,
``GET /webhooks/{uuid}/deliveries`` (the delivery log) and
``POST /webhooks/{uuid}/execute`` (send it now, with the latest matching data).
Delivery itself lives in :mod:`contracts.broker._delivery`, the SQL in
:mod:`contracts.broker._webhook_store`.

No web framework here: validation, the services the routes call and the HAL
renderers (which take the broker's base URL). The routes are
:mod:`contracts.broker.resources.webhooks`.
"""

from __future__ import annotations

import re
import uuid as uuid_module
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import psycopg

from contracts.broker._context import BrokerContext
from contracts.broker._delivery import (
    EVENT_NAMES,
    REDACTED,
    URL_PARAMETERS,
    DeliveryWorker,
    is_secret_name,
    redact_request,
    redact_url,
    template_names,
)
from contracts.broker._errors import BrokerError, unprocessable
from contracts.broker._hal import link, quote_name
from contracts.broker._webhook_hosts import host_allowed
from contracts.broker._webhook_store import (
    delete_webhook,
    find_webhook,
    latest_deliveries,
    pacticipant_exists,
    upsert_webhook,
)

__all__ = [
    "create",
    "delete",
    "deliveries",
    "execute",
    "find",
    "parse_uuid",
    "render_deliveries",
    "render_listing",
    "replace",
    "represent",
    "setup",
    "validate",
    "worker",
]

METHODS = ("POST", "PUT", "PATCH", "GET", "DELETE", "HEAD", "OPTIONS")
_KNOWN_TEMPLATE = re.compile(r"\$\{pactbroker\.(" + "|".join(template_names()) + r")\}")
DEFAULT_EVENT = "contract_content_changed"


def worker(ctx: BrokerContext) -> DeliveryWorker:
    """The delivery worker ``setup`` attached to this broker."""
    for listener in ctx.listeners:
        owner = getattr(listener, "__self__", None)
        if isinstance(owner, DeliveryWorker):
            return owner
    raise BrokerError(503, "Service Unavailable", "webhook delivery is not set up")


def setup(ctx: BrokerContext) -> None:
    """Listen for broker events; retry pending deliveries once the database opens."""
    delivery = DeliveryWorker(ctx)
    ctx.listeners.append(delivery.on_event)
    database = ctx.database
    opener = database.open

    async def open_then_recover() -> list[str]:
        applied = await opener()
        delivery.spawn(delivery.recover())
        return applied

    # The broker opens its pool lazily on the first request (see
    # BrokerContext.ensure_ready); that is this process's "startup".
    database.open = open_then_recover  # type: ignore[method-assign]


# -- validation -----------------------------------------------------------------


def _headers(value: Any, errors: dict[str, list[str]]) -> dict[str, str]:
    """An object of name -> value, or the pact-broker CLI's list of "Name: value"."""
    if value is None:
        return {}
    found: dict[str, str] = {}
    if isinstance(value, Mapping):
        for name, header in value.items():
            if not isinstance(header, str | int | float) or isinstance(header, bool):
                errors.setdefault(f"request.headers.{name}", []).append("must be a string")
                continue
            found[str(name)] = str(header)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            name, sep, header = item.partition(":") if isinstance(item, str) else ("", "", "")
            if not sep or not name.strip():
                errors.setdefault(f"request.headers[{index}]", []).append(
                    "must be a string 'Name: value'"
                )
                continue
            found[name.strip()] = header.strip()
    else:
        errors.setdefault("request.headers", []).append("must be an object of name: value")
    for name in found:
        if not name or any(c in name for c in " \t\r\n:") or not name.isascii():
            errors.setdefault(f"request.headers.{name}", []).append("is not a valid header name")
    for name, header in found.items():
        if "\n" in header or "\r" in header:
            errors.setdefault(f"request.headers.{name}", []).append("must be one line")
    return found


def _url(value: Any, errors: dict[str, list[str]]) -> str:
    if not isinstance(value, str) or not value.strip():
        errors.setdefault("request.url", []).append("is required: an absolute http(s) URL")
        return ""
    url = value.strip()
    if url.startswith("${pactbroker.") and url.endswith("}"):
        if url[len("${pactbroker.") : -1] not in URL_PARAMETERS:
            errors.setdefault("request.url", []).append(
                "a whole-URL template must be ${pactbroker.pactUrl} or"
                " ${pactbroker.verificationResultUrl}"
            )
        return url  # the whole URL is a template parameter, e.g. ${pactbroker.pactUrl}
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        errors.setdefault("request.url", []).append(f"is not a valid URL: {exc}")
        return url
    if parts.scheme not in ("http", "https") or not parts.hostname:
        errors.setdefault("request.url", []).append(
            "must be an absolute http:// or https:// URL with a host"
        )
    if port == 0:
        errors.setdefault("request.url", []).append("the port must be from 1 to 65535")
    if parts.username is not None or parts.password is not None:
        errors.setdefault("request.url", []).append(
            "must not hold credentials; give request.username and request.password"
        )
    # Every ${ must open a known parameter: anything else would be sent as written.
    if "${" in _KNOWN_TEMPLATE.sub("", url):
        errors.setdefault("request.url", []).append(
            "has a malformed template; write ${pactbroker.<name>} with a name of "
            + ", ".join(template_names())
        )
    if any(c in url for c in " \t\r\n"):
        errors.setdefault("request.url", []).append("must not contain whitespace")
    return url


def _optional_string(value: Any, where: str, errors: dict[str, list[str]]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors.setdefault(where, []).append("must be a string")
        return None
    return value


def _pacticipant(value: Any, where: str, errors: dict[str, list[str]]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        errors.setdefault(where, []).append('must be an object like {"name": "..."}')
        return None
    name = value.get("name")
    if not isinstance(name, str) or not name.strip():
        errors.setdefault(f"{where}.name", []).append("is required: a pacticipant name")
        return None
    return name


def validate(body: Any) -> dict[str, Any]:
    """The webhook a request body describes, or a 400 naming every problem."""
    errors: dict[str, list[str]] = {}
    if not isinstance(body, Mapping):
        raise BrokerError(400, "Bad Request", "the body must be a JSON object")
    description = _optional_string(body.get("description"), "description", errors)

    events_spec = body.get("events")
    events: list[str] = []
    if events_spec is None:
        events = [DEFAULT_EVENT]
    elif not isinstance(events_spec, list) or not events_spec:
        errors.setdefault("events", []).append('must be a non-empty array of {"name": ...}')
    else:
        for index, event in enumerate(events_spec):
            name = event.get("name") if isinstance(event, Mapping) else None
            if name not in EVENT_NAMES:
                errors.setdefault(f"events[{index}].name", []).append(
                    f"must be one of {', '.join(EVENT_NAMES)}"
                )
            elif name not in events:
                events.append(str(name))

    request: dict[str, Any] = {}
    spec = body.get("request")
    if not isinstance(spec, Mapping):
        errors.setdefault("request", []).append("is required: an object with method and url")
    else:
        method = spec.get("method") or "POST"  # the pact-broker CLI sends null without -X
        if not isinstance(method, str) or method.upper() not in METHODS:
            errors.setdefault("request.method", []).append(f"must be one of {', '.join(METHODS)}")
        else:
            request["method"] = method.upper()
        request["url"] = _url(spec.get("url"), errors)
        headers = _headers(spec.get("headers"), errors)
        if headers:
            request["headers"] = headers
        if "body" in spec and spec["body"] is not None:
            request["body"] = spec["body"]
        for key in ("username", "password"):
            value = _optional_string(spec.get(key), f"request.{key}", errors)
            if value is not None:
                request[key] = value

    consumer = _pacticipant(body.get("consumer"), "consumer", errors)
    provider = _pacticipant(body.get("provider"), "provider", errors)
    enabled = body.get("enabled", True)
    if not isinstance(enabled, bool):
        errors.setdefault("enabled", []).append("must be true or false")
    if errors:
        raise unprocessable(errors, "invalid webhook: ")
    return {
        "description": description,
        "events": events,
        "request": request,
        "consumer_name": consumer,
        "provider_name": provider,
        "enabled": enabled,
    }


def _check_target(allowed: Sequence[str], webhook: Mapping[str, Any]) -> None:
    url = str(webhook["request"]["url"])
    if url.startswith("${"):
        return  # a template URL: checked when rendered, just before sending
    if not host_allowed(url, allowed):
        raise unprocessable(
            {"request.url": ["the host is not in broker.webhook_allowed_hosts"]},
            "invalid webhook: ",
        )


async def _check_pacticipants(conn: psycopg.AsyncConnection, webhook: Mapping[str, Any]) -> None:
    errors: dict[str, list[str]] = {}
    for role in ("consumer", "provider"):
        name = webhook[f"{role}_name"]
        if name is None:
            continue
        if not await pacticipant_exists(conn, name):
            errors[f"{role}.name"] = [f"no pacticipant named '{name}'"]
    if errors:
        raise unprocessable(errors, "invalid webhook: ")


def _keep_secrets(new: dict[str, Any], old: Mapping[str, Any]) -> None:
    """A PUT of what GET showed keeps the stored secrets instead of '**********'."""
    old_url = old.get("url")
    if isinstance(old_url, str) and old_url != new.get("url") == redact_url(old_url):
        new["url"] = old_url
    old_headers = {k.lower(): v for k, v in (old.get("headers") or {}).items()}
    headers = new.get("headers") or {}
    for name, value in headers.items():
        if value == REDACTED and is_secret_name(name) and name.lower() in old_headers:
            headers[name] = old_headers[name.lower()]
    if new.get("password") == REDACTED and old.get("password") is not None:
        new["password"] = old["password"]


# -- representation ---------------------------------------------------------------


def _title(row: Mapping[str, Any]) -> str:
    if row.get("description"):
        return str(row["description"])
    scope = []
    if row.get("consumer_name"):
        scope.append(f"consumer {row['consumer_name']}")
    if row.get("provider_name"):
        scope.append(f"provider {row['provider_name']}")
    return "Webhook for " + (" and ".join(scope) if scope else "all pacticipants")


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    text: str = value.isoformat()
    return text.replace("+00:00", "Z")


def represent(base: str, row: Mapping[str, Any]) -> dict[str, Any]:
    uuid = str(row["id"])
    body: dict[str, Any] = {
        "uuid": uuid,
        "description": row["description"],
        "enabled": row["enabled"],
        "events": [{"name": name} for name in row["events"]],
        "request": redact_request(row["request"]),
        "createdAt": _iso(row["created_at"]),
        "updatedAt": _iso(row["updated_at"]),
    }
    links: dict[str, Any] = {
        "self": link(base, f"/webhooks/{uuid}", title=_title(row)),
        "pb:execute": link(
            base,
            f"/webhooks/{uuid}/execute",
            title="Test the execution of the webhook by sending a POST request to this URL",
        ),
        "pb:deliveries": link(
            base, f"/webhooks/{uuid}/deliveries", title="Deliveries of this webhook"
        ),
        "pb:webhooks": link(base, "/webhooks", title="All webhooks"),
    }
    for role in ("consumer", "provider"):
        name = row[f"{role}_name"]
        if name is not None:
            body[role] = {"name": name}
            links[f"pb:{role}"] = link(
                base, f"/pacticipants/{quote_name(name)}", title=role.title(), name=name
            )
    if row["consumer_name"] is not None and row["provider_name"] is not None:
        links["pb:pact-webhooks"] = link(
            base,
            f"/webhooks/provider/{quote_name(row['provider_name'])}"
            f"/consumer/{quote_name(row['consumer_name'])}",
            title="All webhooks for this consumer and provider",
        )
    body["_links"] = links
    return body


def parse_uuid(value: str) -> uuid_module.UUID:
    """``value`` as a webhook's uuid (404 when it cannot be one)."""
    try:
        return uuid_module.UUID(value)
    except ValueError:
        raise BrokerError(404, "Not Found", f"no webhook with uuid '{value}'") from None


async def find(conn: psycopg.AsyncConnection, value: str) -> dict[str, Any]:
    """The webhook with uuid ``value`` (404 when there is none)."""
    found = await find_webhook(conn, parse_uuid(value))
    if found is None:
        raise BrokerError(404, "Not Found", f"no webhook with uuid '{value}'")
    return found


# -- services ----------------------------------------------------------------------


def render_listing(
    base: str,
    rows: list[dict[str, Any]],
    *,
    consumer: str | None = None,
    provider: str | None = None,
) -> dict[str, Any]:
    """A collection of webhooks (all, or those of a consumer, a provider or a pair)."""
    entries = [
        link(base, f"/webhooks/{row['id']}", title=_title(row), name=row["description"])
        for row in rows
    ]
    here = "/webhooks"
    if provider is not None:
        here += f"/provider/{quote_name(provider)}"
    if consumer is not None:
        here += f"/consumer/{quote_name(consumer)}"
    return {
        "_links": {
            "self": link(base, here, title="Webhooks"),
            "pb:create": link(base, here, title="POST to create a webhook"),
            "pb:webhooks": entries,
        },
        "_embedded": {"webhooks": [represent(base, row) for row in rows]},
    }


async def create(
    conn: psycopg.AsyncConnection,
    allowed_hosts: Sequence[str],
    body: Any,
    *,
    consumer: str | None = None,
    provider: str | None = None,
) -> dict[str, Any]:
    """Store the webhook ``body`` describes (in the collection of ``consumer`` and/or
    ``provider`` when given) under a new uuid; its row."""
    if consumer is not None and provider is not None and isinstance(body, dict):
        # The pair's collection decides the pair: the body's names do not matter.
        body = {k: v for k, v in body.items() if k not in ("consumer", "provider")}
    webhook = validate(body)
    # A scoped collection (/webhooks/provider/{p}[/consumer/{c}]) sets the scope itself;
    # a body that names another pacticipant contradicts the path.
    contradictions = {
        f"{role}.name": [f"is '{webhook[f'{role}_name']}' but the path names '{name}'"]
        for role, name in (("consumer", consumer), ("provider", provider))
        if name is not None and webhook[f"{role}_name"] not in (None, name)
    }
    if contradictions:
        raise unprocessable(contradictions, "invalid webhook: ")
    for role, name in (("consumer", consumer), ("provider", provider)):
        if name is None:
            continue
        if not await pacticipant_exists(conn, name):
            raise BrokerError(404, "Not Found", f"no pacticipant named '{name}'")
        webhook[f"{role}_name"] = name
    _check_target(allowed_hosts, webhook)
    await _check_pacticipants(conn, webhook)
    row, _ = await upsert_webhook(conn, uuid_module.uuid4(), webhook)
    return row


async def replace(
    conn: psycopg.AsyncConnection,
    allowed_hosts: Sequence[str],
    uuid: uuid_module.UUID,
    body: Any,
) -> tuple[dict[str, Any], bool]:
    """Create or replace the webhook ``uuid`` with what ``body`` describes, keeping
    the stored secrets a body sends back masked; the row and whether it is new."""
    webhook = validate(body)
    _check_target(allowed_hosts, webhook)
    await _check_pacticipants(conn, webhook)
    existing = await find_webhook(conn, uuid, lock=True)
    if existing is not None:
        _keep_secrets(webhook["request"], existing["request"])
    return await upsert_webhook(conn, uuid, webhook)


async def delete(conn: psycopg.AsyncConnection, uuid: str) -> None:
    """Delete the webhook ``uuid`` (404 when there is none)."""
    if not await delete_webhook(conn, parse_uuid(uuid)):
        raise BrokerError(404, "Not Found", f"no webhook with uuid '{uuid}'")


async def deliveries(
    conn: psycopg.AsyncConnection, uuid: str, size: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The webhook ``uuid`` and its ``size`` latest deliveries (404 when there is none)."""
    hook = await find(conn, uuid)
    return hook, await latest_deliveries(conn, hook["id"], size)


def render_deliveries(
    base: str, hook: Mapping[str, Any], rows: list[dict[str, Any]], max_attempts: int
) -> dict[str, Any]:
    """The delivery log of ``hook``: each delivery with the attempts it has left."""
    entries = [
        {
            "id": row["id"],
            "eventName": row["event_name"],
            "triggerType": row["trigger_type"],
            "request": row["request_description"],
            "status": row["status"],
            "attemptsMade": row["attempts"],
            "attemptsRemaining": (
                max(0, max_attempts - row["attempts"]) if row["status"] == "pending" else 0
            ),
            "responseStatus": row["response_status"],
            "triggeredAt": _iso(row["created_at"]),
            "updatedAt": _iso(row["updated_at"]),
            "logs": row["logs"],
        }
        for row in rows
    ]
    return {
        "_links": {
            "self": link(base, f"/webhooks/{hook['id']}/deliveries", title="Deliveries"),
            "pb:webhook": link(base, f"/webhooks/{hook['id']}", title=_title(hook)),
        },
        "_embedded": {"deliveries": entries},
    }


async def execute(ctx: BrokerContext, uuid: str, base: str) -> dict[str, Any]:
    """Send the webhook ``uuid`` now with the latest matching data; what happened."""
    # No connection is held during the attempt.
    async with ctx.database.reading() as conn:
        hook = await find(conn, uuid)
    outcome = await worker(ctx).execute(hook, base)
    outcome["_links"] = {
        "webhook": link(base, f"/webhooks/{hook['id']}", title=_title(hook)),
        "try-again": link(base, f"/webhooks/{hook['id']}/execute", title="Execute again"),
        "pb:deliveries": link(base, f"/webhooks/{hook['id']}/deliveries"),
    }
    return outcome
