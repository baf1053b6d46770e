"""A one-off target: ``covenant fuzz --spec URL_OR_FILE --url BASE [-H 'Name: value']
[--auth user:password | --token TOKEN]``, any API, nothing configured.

Every header value given here, and the credentials, are secrets: they reach
Schemathesis only as environment references (``_runner.write_config``), and every
output, report, stored finding and curl line masks them (``_events.Masker``).

Before anything is fuzzed the target is checked, so that a mistake ends at once
with a clear message: a malformed ``-H``, ``--auth`` or ``--url`` and a spec that
is not there or not an OpenAPI (or Swagger 2.0) document are usage errors (exit 2);
a spec URL or a base URL nothing answers at is unreachable (exit 3).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from covenant.kernel.config import CovenantConfig
from covenant.kernel.endpoints import Credentials
from covenant.kernel.errors import CovenantError, ErrorKind
from covenant.kernel.redact import redact_url
from verifiers.fuzz._model import FuzzOptions
from verifiers.fuzz._targets import base_options

__all__ = ["ONE_OFF_SERVICE", "SpecTarget", "parse_header"]

#: The service name of a one-off run unless ``--name`` gives one: stable, so that a
#: baseline written by one run matches the next wherever the API listens.
ONE_OFF_SERVICE = "api"
#: RFC 9110 section 5.1: a field name is a token.
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
#: How long the checks before the run wait for the spec and for the base URL.
CHECK_TIMEOUT_S = 10.0


def _usage(message: str) -> CovenantError:
    return CovenantError(message, kind=ErrorKind.USAGE)


def parse_header(text: str) -> tuple[str, str]:
    """``'Name: value'`` -> ``("Name", "value")``; a usage error that never shows the
    value when it is not a header."""
    name, colon, value = text.partition(":")
    name = name.strip()
    if not colon:
        # Not echoed: without a colon it may well be a value (a token given alone).
        raise _usage("-H: expected 'Name: value' (one of them has no ':')")
    if not name:
        raise _usage("-H ': ...': the header has no name (expected 'Name: value')")
    if not _TOKEN.match(name):
        raise _usage(
            f"-H {name[:40]!r}: not a valid header name (letters, digits, -_.!#$%&'*+^`|~)"
        )
    value = value.strip()
    if any(c in value for c in "\r\n\0"):
        raise _usage(f"-H {name}: the value holds a line break or NUL")
    return name, value


def _credentials(headers: Sequence[str], auth: str | None, token: str | None) -> Credentials:
    parsed: dict[str, str] = {}
    seen: dict[str, str] = {}
    for text in headers:
        name, value = parse_header(text)
        if name.lower() in seen:
            raise _usage(f"-H {name}: given twice")
        seen[name.lower()] = name
        parsed[name] = value
    if auth is not None and token is not None:
        raise _usage("--auth and --token both set an Authorization header; give one")
    if (auth is not None or token is not None) and "authorization" in seen:
        option = "--auth" if auth is not None else "--token"
        raise _usage(f"{option} and -H Authorization both set an Authorization header; give one")
    basic = None
    if auth is not None:
        user, colon, password = auth.partition(":")
        if not colon or not user:
            raise _usage("--auth: expected user:password")
        if any(c in auth for c in "\r\n\0"):
            raise _usage("--auth: holds a line break or NUL")
        basic = (user, password)
    if token is not None and (not token.strip() or any(c in token for c in "\r\n\0 ")):
        raise _usage("--token: expected a token (no spaces or line breaks)")
    return Credentials(token=token, basic_auth=basic, headers=parsed)


def _check_base_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError as exc:
        raise _usage(f"--url {redact_url(url)}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _usage(f"--url {redact_url(url)}: expected http://HOST[:PORT][/PATH] or https://...")
    return url.rstrip("/")


@dataclass(frozen=True)
class SpecTarget:
    """What ``--spec``, ``--url``, ``-H``, ``--auth``, ``--token`` and ``--name`` ask for."""

    spec: str
    base_url: str | None = None
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    name: str = ONE_OFF_SERVICE

    @classmethod
    def parse(
        cls,
        spec: str,
        url: str | None = None,
        *,
        headers: Sequence[str] = (),
        auth: str | None = None,
        token: str | None = None,
        name: str | None = None,
    ) -> SpecTarget:
        """The target the options describe; a usage error for any malformed one."""
        if not spec.strip():
            raise _usage("--spec: expected a URL or a file")
        if name is not None and not _NAME.match(name):
            raise _usage(f"--name {name!r}: letters, digits, '.', '_' and '-' (at most 63)")
        credentials = _credentials(headers, auth, token)
        return cls(
            spec=spec.strip(),
            base_url=None if url is None else _check_base_url(url.strip()),
            headers=credentials.http_headers(),
            name=name or ONE_OFF_SERVICE,
        )

    def options(self, config: CovenantConfig) -> FuzzOptions:
        """The run's options: the configuration's fuzz defaults and this target."""
        spec = self.spec
        if not spec.startswith(("http://", "https://")):
            spec = str(Path(spec).resolve())  # Schemathesis runs in another directory
        return replace(
            base_options(config, self.name), spec=spec, base_url=self.base_url, headers=self.headers
        )

    # -- the checks before the run -----------------------------------------------------

    def check(self, timeout_s: float = CHECK_TIMEOUT_S) -> None:
        """Raise (a CovenantError) when the spec cannot be loaded or nothing answers at
        the base URL; return when the run can start."""
        document = self._load_spec(timeout_s)
        if self.base_url is not None:
            self._reach(self.base_url, timeout_s)
        elif not self.spec.startswith(("http://", "https://")) and not _server_of(document):
            raise _usage(
                f"{self.spec} names no absolute server URL (servers, or host for Swagger 2.0);"
                " give the API's base URL with --url"
            )

    def _load_spec(self, timeout_s: float) -> dict[str, Any]:
        import httpx  # here: the module is imported for every run, this only for one-offs

        spec = self.spec
        if spec.startswith(("http://", "https://")):
            shown = redact_url(spec)
            try:
                response = httpx.get(
                    spec, headers=self.headers, timeout=timeout_s, follow_redirects=True
                )
            except httpx.TransportError as exc:
                raise CovenantError(
                    f"spec {shown} is not reachable: {exc or type(exc).__name__}",
                    kind=ErrorKind.UNREACHABLE,
                ) from None
            except httpx.InvalidURL as exc:
                raise _usage(f"--spec {shown}: {exc}") from None
            if response.status_code != 200:
                raise _usage(
                    f"spec {shown} cannot be loaded: it answered {response.status_code}"
                    f" {response.reason_phrase}"
                )
            return _parse_spec(response.text, shown)
        if "://" in spec:
            raise _usage(f"--spec {redact_url(spec)}: expected an http(s) URL or a file")
        path = Path(spec)
        if not path.is_file():
            raise _usage(f"spec {spec} cannot be loaded: no such file")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise _usage(f"spec {spec} cannot be loaded: {exc}") from None
        return _parse_spec(text, spec)

    @staticmethod
    def _reach(url: str, timeout_s: float) -> None:
        """Any HTTP answer (even 404) means something listens at the base URL."""
        import httpx

        try:
            httpx.get(url, timeout=timeout_s).close()
        except httpx.TransportError as exc:
            raise CovenantError(
                f"--url {redact_url(url)} is not reachable: {exc or type(exc).__name__}",
                kind=ErrorKind.UNREACHABLE,
            ) from None


def _parse_spec(text: str, shown: str) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except ValueError:
        try:
            document = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - a safe loader
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{shown}:{mark.line + 1}" if mark is not None else shown
            problem = getattr(exc, "problem", None) or str(exc)
            raise _usage(f"spec {where}: neither JSON nor YAML ({problem})") from None
    if not isinstance(document, dict) or not ("openapi" in document or "swagger" in document):
        raise _usage(
            f"spec {shown} is not an OpenAPI or Swagger 2.0 document"
            " (no 'openapi' or 'swagger' field at the top level)"
        )
    return document


def _server_of(document: dict[str, Any]) -> str | None:
    """The absolute base URL the document names, if any."""
    servers = document.get("servers")
    if isinstance(servers, list) and servers and isinstance(servers[0], dict):
        url = str(servers[0].get("url") or "")
        return url if url.startswith(("http://", "https://")) else None
    host = document.get("host")
    return str(host) if isinstance(host, str) and host else None
