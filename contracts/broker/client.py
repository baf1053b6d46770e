"""A small synchronous client of a Pact Broker (Covenant's own or any other).

Used by ``covenant contracts publish``, ``covenant can-i-deploy`` and
``covenant record-deployment``. Failures become :class:`CovenantError` kinds so
the CLI's exit codes follow the convention: the broker cannot be reached or is
unavailable (503) -> UNREACHABLE (3); a missing or refused token -> CONFIG (2);
a request the broker rejects (400/404/409/413/422) -> USAGE (2); any other
broker failure -> ENGINE (4). The token is sent, never shown.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn
from urllib.parse import quote, urlsplit

import httpx

from contracts.pactfile import DEFAULT_LIMITS, PactFile, ReadLimits, read_pact_files
from covenant.kernel.errors import CovenantError, ErrorKind
from covenant.kernel.redact import PACT_BROKER_MASK, scrub

__all__ = [
    "BrokerClient",
    "BrokerRequestError",
    "PactFile",
    "publish_body",
    "read_pacts",
]

HAL_ACCEPT = "application/hal+json, application/json;q=0.9, */*;q=0.1"


class BrokerRequestError(CovenantError):
    """The broker answered with an error (or did not answer at all)."""

    def __init__(self, message: str, *, kind: ErrorKind, status: int | None = None) -> None:
        super().__init__(message, kind=kind)
        self.status = status


def _problem_text(response: httpx.Response) -> str:
    """The most useful words of an error response (problem document or plain text)."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return text[:500] if text else response.reason_phrase
    if not isinstance(body, Mapping):
        return response.reason_phrase
    parts: list[str] = []
    detail = body.get("detail") or body.get("title") or body.get("message")
    if isinstance(detail, str):
        parts.append(detail)
    errors = body.get("errors")
    if isinstance(errors, Mapping):
        for where, messages in errors.items():
            if isinstance(messages, list):
                shown = "; ".join(str(m) for m in messages)
            else:
                shown = str(messages)
            line = f"{where}: {shown}"
            if not any(line in p for p in parts):
                parts.append(line)
    elif isinstance(errors, list):
        parts.extend(str(e) for e in errors)
    return "\n  ".join(parts) if parts else response.reason_phrase


class BrokerClient:
    """``with BrokerClient(url, token) as broker: broker.can_i_deploy(...)``."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise CovenantError(
                f"the broker URL must be an absolute http(s) URL, not '{base_url}'",
                kind=ErrorKind.USAGE,
            )
        self.base_url = base_url.rstrip("/")
        self._token = token
        headers = {"Accept": HAL_ACCEPT, "User-Agent": "covenant-broker-client"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=timeout,
            transport=transport,
            follow_redirects=True,
        )

    def __enter__(self) -> BrokerClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- transport --------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        """The JSON body of a successful response; errors become CovenantErrors."""
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        try:
            response = self._http.request(method, url, json=json_body, params=params)
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            raise BrokerRequestError(
                f"the broker at {self.base_url} is unreachable: {reason}",
                kind=ErrorKind.UNREACHABLE,
            ) from None
        if response.is_success:
            if not response.content:
                return {}
            try:
                return response.json()
            except ValueError:
                raise BrokerRequestError(
                    f"the broker answered {method} {path} with a body that is not JSON",
                    kind=ErrorKind.ENGINE,
                    status=response.status_code,
                ) from None
        self._fail(method, path, response)

    def _fail(self, method: str, path: str, response: httpx.Response) -> NoReturn:
        status = response.status_code
        text = _problem_text(response)
        if self._token:  # a broker that echoes the token must not make us print it
            text = scrub(text, [self._token], PACT_BROKER_MASK)
        what = f"{method} {path}: HTTP {status}: {text}"
        if status == 401:
            raise BrokerRequestError(
                f"the broker wants a valid token (--token or $PACT_BROKER_TOKEN): {what}",
                kind=ErrorKind.CONFIG,
                status=status,
            )
        if status == 403:
            raise BrokerRequestError(
                f"the broker refused this token (it may only read): {what}",
                kind=ErrorKind.CONFIG,
                status=status,
            )
        if status in (502, 503, 504):
            raise BrokerRequestError(
                f"the broker is unavailable: {what}", kind=ErrorKind.UNREACHABLE, status=status
            )
        if 400 <= status < 500:
            raise BrokerRequestError(
                f"the broker rejected {what}", kind=ErrorKind.USAGE, status=status
            )
        raise BrokerRequestError(f"the broker failed {what}", kind=ErrorKind.ENGINE, status=status)

    # -- operations -------------------------------------------------------------

    def publish_contracts(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST /contracts/publish."""
        result: dict[str, Any] = self.request("POST", "/contracts/publish", json_body=body)
        return result

    def can_i_deploy(self, pacticipant: str, version: str, environment: str) -> dict[str, Any]:
        """GET /can-i-deploy for one version and a target environment."""
        result: dict[str, Any] = self.request(
            "GET",
            "/can-i-deploy",
            params={"pacticipant": pacticipant, "version": version, "environment": environment},
        )
        return result

    def version(self, pacticipant: str, version: str) -> dict[str, Any]:
        path = f"/pacticipants/{quote(pacticipant, safe='')}/versions/{quote(version, safe='')}"
        result: dict[str, Any] = self.request("GET", path)
        return result

    def record_deployment(
        self,
        pacticipant: str,
        version: str,
        environment: str,
        *,
        application_instance: str | None = None,
    ) -> dict[str, Any]:
        """Follow the version's ``pb:record-deployment`` link named after the environment."""
        resource = self.version(pacticipant, version)
        links = resource.get("_links", {}).get("pb:record-deployment") or []
        if isinstance(links, Mapping):
            links = [links]
        found = [entry for entry in links if entry.get("name") == environment]
        if not found:
            known = ", ".join(sorted(str(e.get("name")) for e in links)) or "none"
            raise BrokerRequestError(
                f"the broker has no environment '{environment}' (known: {known})",
                kind=ErrorKind.USAGE,
            )
        body: dict[str, Any] = {}
        if application_instance:
            body["applicationInstance"] = application_instance
        result: dict[str, Any] = self.request("POST", str(found[0]["href"]), json_body=body)
        return result


# -- pact files -----------------------------------------------------------------


def read_pacts(paths: Iterable[Path], *, limits: ReadLimits = DEFAULT_LIMITS) -> list[PactFile]:
    """Every ``*.json`` pact in the given directories (or files), sorted by path and
    checked by the one pact reader (:mod:`contracts.pactfile`)."""
    return read_pact_files(paths, limits=limits)


def by_consumer(pacts: Iterable[PactFile]) -> dict[str, list[PactFile]]:
    """The pacts grouped by consumer, in the order consumers first appear: POST
    /contracts/publish takes one consumer version's pacts at a time."""
    grouped: dict[str, list[PactFile]] = {}
    for pact in pacts:
        grouped.setdefault(pact.consumer, []).append(pact)
    return grouped


def publish_body(
    consumer: str,
    pacts: Iterable[PactFile],
    *,
    version: str,
    branch: str | None = None,
    tags: Iterable[str] = (),
    build_url: str | None = None,
) -> dict[str, Any]:
    """The body of POST /contracts/publish for one consumer's pacts."""
    body: dict[str, Any] = {
        "pacticipantName": consumer,
        "pacticipantVersionNumber": version,
        "contracts": [
            {
                "consumerName": pact.consumer,
                "providerName": pact.provider,
                "specification": "pact",
                "contentType": "application/json",
                "content": base64.b64encode(pact.raw).decode("ascii"),
            }
            for pact in pacts
        ],
    }
    if branch:
        body["branch"] = branch
    tag_list = [t for t in tags if t]
    if tag_list:
        body["tags"] = tag_list
    if build_url:
        body["buildUrl"] = build_url
    return body
