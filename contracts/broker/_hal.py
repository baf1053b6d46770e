"""HAL building blocks with no web framework: the media type, name quoting and links.

A link is built from the broker's base URL (the configured public one, or the one
the request came in on, decided by the HTTP resources), so the renderers below
the resources never see a request.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

__all__ = ["HAL_JSON", "link", "quote_name"]

HAL_JSON = "application/hal+json"


def quote_name(name: str) -> str:
    """``name`` as one URL path segment: a ``/`` inside it becomes ``%2F``."""
    return quote(name, safe="")


def link(base: str, path: str, **extra: Any) -> dict[str, Any]:
    """A HAL link to ``path`` (already URL-encoded) on the broker at ``base``."""
    return {"href": base + path, **{k: v for k, v in extra.items() if v is not None}}
