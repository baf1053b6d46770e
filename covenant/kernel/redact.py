"""Keep secrets out of logs, reports and pages."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "MASK",
    "PACT_BROKER_MASK",
    "is_secret_name",
    "redact_headers",
    "redact_url",
    "redact_url_by_name",
    "scrub",
]

#: What stands for a secret in Covenant's own logs, reports and pages.
MASK = "***"
#: What stands for a secret in the broker's API: the Pact Broker's own mask (its
#: clients send it back to keep a stored secret), so part of the wire format.
PACT_BROKER_MASK = "**********"

#: A header or parameter whose name holds one of these carries a secret.
_SECRET_WORDS = ("authorization", "token", "secret", "password", "api-key", "apikey", "cookie")

# scheme://user:password@host...  (password up to the last '@' before the path)
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/:@?#]*):(?P<secret>[^/?#]*)@")
# libpq and friends also accept credentials as query parameters.
_QUERY_SECRET = re.compile(
    r"(?P<head>[?&](?:password|passwd|pwd|token|access_token|api_key|apikey|secret)=)[^&#]*",
    re.IGNORECASE,
)


def redact_url(url: str) -> str:
    """Return ``url`` with passwords and secret query parameters replaced by ``***``.

    ``postgresql://user:s3cret@host/db`` -> ``postgresql://user:***@host/db``.
    Works on URLs that ``urllib`` cannot parse (several hosts, bad ports) and
    never raises; strings that are not URLs come back unchanged.
    """
    redacted = _USERINFO.sub(lambda m: f"{m.group('head')}:{MASK}@", url, count=1)
    return _QUERY_SECRET.sub(lambda m: f"{m.group('head')}{MASK}", redacted)


def redact_url_by_name(url: str, mask: str = MASK) -> str:
    """``url`` with its userinfo password and the value of every query parameter with a
    secret name (:func:`is_secret_name`) replaced by ``mask``.

    Unlike :func:`redact_url` (a fixed list of parameter names, the URL otherwise kept
    as written) this parses the URL: any parameter whose name holds a secret word is
    masked (``X-Api-Token=``, ``client_secret=``), and a query that holds one is
    re-encoded (``*``, ``$``, ``{`` and ``}`` kept, so template parameters such as
    ``${pactbroker.pactUrl}`` survive). The broker's webhooks show their URLs this way.
    A URL ``urllib`` cannot split comes back unchanged.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{mask}@{host}" if ":" in userinfo else netloc
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(is_secret_name(k) for k, _ in pairs):
            query = urlencode(
                [(k, mask if is_secret_name(k) else v) for k, v in pairs], safe="*${}"
            )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def is_secret_name(name: str) -> bool:
    """Whether a header or parameter called ``name`` carries a secret."""
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def redact_headers(headers: Mapping[str, str], mask: str = MASK) -> dict[str, str]:
    """``headers`` with the value of every secret-named header replaced by ``mask``."""
    return {k: (mask if is_secret_name(k) else v) for k, v in headers.items()}


def scrub(text: str, secrets: Iterable[str], mask: str = MASK) -> str:
    """``text`` with every literal secret replaced by ``mask`` (longest first, so a
    secret that contains another is masked whole)."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, mask)
    return text
