"""Keep secrets out of logs, reports and pages."""

from __future__ import annotations

import re

__all__ = ["MASK", "redact_url"]

MASK = "***"

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
