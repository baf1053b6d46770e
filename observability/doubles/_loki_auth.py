"""Authentication in front of the Loki double, and Loki's tenant resolution.

Two layers, as in a real deployment:

* **The gateway's bearer token.** Loki itself has no user authentication; its docs tell
  operators to put an authenticating reverse proxy in front of it
  (docs/sources/operations/authentication.md). When the double is given a token, every
  request must carry ``Authorization: Bearer <token>``, else 401 ``unauthorized`` with
  ``WWW-Authenticate: Bearer`` (RFC 6750 section 3). ``/ready`` and ``/metrics`` stay
  open, as a typical gateway leaves health and scrape endpoints to the network (and as
  Loki registers them outside its auth middleware, pkg/loki/modules.go).
* **Loki's tenant.** With ``auth_enabled: true`` Loki's HTTP middleware
  (pkg/util/fakeauth/fake_auth.go ``SetupAuthMiddleware`` -> dskit
  middleware/http_auth.go ``AuthenticateUser``) reads ``X-Scope-OrgID`` and answers a
  request without it ``http.Error(w, "no org id", 401)`` (dskit user/id.go
  ``ErrNoOrgID``): body ``no org id`` plus a newline. With ``auth_enabled: false`` every
  request runs as tenant ``fake`` (fake_auth.go ``fakeHTTPAuthMiddleware``), whatever
  header it sends.

The token is compared in constant time and never logged or echoed.
"""

from __future__ import annotations

import hmac
import re

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["FAKE_TENANT", "OPEN_PATHS", "LokiAuth", "TenantError", "validate_tenant"]

#: The tenant of every request when auth is disabled (pkg/util/fakeauth/fake_auth.go).
FAKE_TENANT = "fake"
#: Paths answered without token or tenant (Loki serves them outside the auth middleware).
OPEN_PATHS = frozenset({"/ready", "/metrics"})
#: dskit tenant/tenant.go: at most 150 characters ...
MAX_TENANT_LENGTH = 150
#: ... of these (alphanumerics and ``!-_.*'()``, "Safe characters" of the S3 naming rules).
_TENANT_CHARS = re.compile(r"[a-zA-Z0-9!\-_.*'()]")
_NO_ORG_ID = b"no org id\n"
_UNAUTHORIZED = b"unauthorized\n"


class TenantError(ValueError):
    """An ``X-Scope-OrgID`` that dskit's ``tenant.ValidTenantID`` rejects."""


def validate_tenant(tenant: str) -> str:
    """dskit tenant/tenant.go ``ValidTenantID``, with its messages."""
    for char in tenant:
        if not _TENANT_CHARS.fullmatch(char):
            raise TenantError(f"tenant ID '{tenant}' contains unsupported character '{char}'")
    if len(tenant) > MAX_TENANT_LENGTH:
        raise TenantError(f"tenant ID is too long: max {MAX_TENANT_LENGTH} characters")
    if tenant in (".", ".."):
        raise TenantError("tenant ID is '.' or '..'")
    return tenant


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


class LokiAuth:
    """ASGI middleware: checks the gateway token, then resolves the tenant into
    ``scope["state"]["tenant"]`` (read by the routes through ``request.state.tenant``)."""

    def __init__(self, app: ASGIApp, *, token: str | None, auth_enabled: bool) -> None:
        self.app = app
        self._token = token.encode() if token else None
        self.auth_enabled = auth_enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["tenant"] = FAKE_TENANT
        if scope.get("path") in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        if self._token is not None and not self._token_ok(scope):
            await _plain(send, 401, _UNAUTHORIZED, (b"www-authenticate", b"Bearer"))
            return
        if self.auth_enabled:
            tenant = _header(scope, b"x-scope-orgid")
            if not tenant:
                await _plain(send, 401, _NO_ORG_ID)
                return
            try:
                state["tenant"] = validate_tenant(tenant)
            except TenantError as exc:
                await _plain(send, 400, (str(exc) + "\n").encode())
                return
        await self.app(scope, receive, send)

    def _token_ok(self, scope: Scope) -> bool:
        assert self._token is not None
        given = _header(scope, b"authorization") or ""
        scheme, _, credentials = given.partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(credentials.strip().encode(), self._token)


async def _plain(send: Send, status: int, body: bytes, *extra: tuple[bytes, bytes]) -> None:
    """Go's ``http.Error``: text/plain, nosniff, the message and a newline."""
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"x-content-type-options", b"nosniff"),
        (b"content-length", str(len(body)).encode()),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
