"""Keep secrets out of logs, reports and pages."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

__all__ = ["MASK", "redact_url"]

MASK = "***"


def redact_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``.

    ``postgresql://user:s3cret@host/db`` -> ``postgresql://user:***@host/db``.
    Strings that are not URLs are returned unchanged.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:{MASK}@{host}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
