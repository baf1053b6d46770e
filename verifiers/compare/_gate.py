"""The pacts a can-i-deploy answer rests on, compared with their providers' OpenAPI.

``can-i-deploy`` says whether each pact between the version and what runs in the
environment has been verified. With the comparison gate on, each of those same
pacts (the ``pact`` link of every matrix row) must also be allowed by its
provider's OpenAPI document, so that a pact verified against a lenient provider
cannot reach an environment while contradicting the documented API.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from verifiers.compare._check import compare_pacts, load_pact
from verifiers.compare._model import CompareResult
from verifiers.compare._openapi import OpenApiDocument

__all__ = ["compare_matrix_pacts", "pact_links"]


def pact_links(rows: Iterable[Any]) -> list[str]:
    """The distinct pact URLs of a matrix, in order."""
    links: list[str] = []
    for row in rows:
        href = ((row.get("pact") or {}).get("_links") or {}).get("self", {}).get("href")
        if isinstance(href, str) and href not in links:
            links.append(href)
    return links


def _file_name(document: dict[str, Any], index: int) -> str:
    names = [str((document.get(role) or {}).get("name", "")) for role in ("consumer", "provider")]
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(names))[:100]
    return f"{index:03d}-{safe}.json"


def compare_matrix_pacts(
    rows: Iterable[Any],
    fetch: Callable[[str], Any],
    spec_for: Callable[[str], OpenApiDocument],
) -> tuple[CompareResult, dict[str, str]]:
    """Compare every pact the matrix rows link to; returns the result and, for each
    pact file named in it, the broker URL it came from."""
    origins: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="covenant-gate-") as scratch:
        pacts = []
        for index, href in enumerate(pact_links(rows)):
            document = fetch(href)
            path = Path(scratch) / _file_name(document, index)
            path.write_text(json.dumps(document, indent=2), encoding="utf-8")
            origins[str(path)] = href
            pacts.append(load_pact(path))
        result = compare_pacts(pacts, spec_for) if pacts else CompareResult()
    return result, origins
