"""Which hosts webhooks may call (``broker.webhook_allowed_hosts``).

A read-write token can register a webhook to any URL, which makes the broker
a way into the hosts around it. The allowlist is checked twice: when a webhook
is saved (a literal URL) and again just before each request is sent (a URL
built from template values). Names are compared as written, never resolved,
so a DNS answer cannot widen the list.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from urllib.parse import urlsplit

__all__ = ["host_allowed"]


def _matches(host: str, entry: str) -> bool:
    entry = entry.strip().lower()
    if "/" in entry:  # a network in CIDR notation
        try:
            return ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False)
        except ValueError:
            return False
    if entry.startswith("*."):
        return host.endswith(entry[1:]) and len(host) > len(entry) - 1
    return host == entry.strip("[]")


def host_allowed(url: str, allowed: Sequence[str]) -> bool:
    """True when ``allowed`` is empty (no restriction) or names the URL's host."""
    if not allowed:
        return True
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return False
    if not host:
        return False
    return any(_matches(host.lower(), entry) for entry in allowed)
