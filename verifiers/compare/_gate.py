"""The pacts a can-i-deploy answer rests on, compared with their providers' OpenAPI.

``can-i-deploy`` says whether each pact between the version and what runs in the
environment has been verified. With the comparison gate on, each of those same
pacts (the ``pact`` link of every matrix row) must also be allowed by its
provider's OpenAPI document, so that a pact verified against a lenient provider
cannot reach an environment while contradicting the documented API.

Which document: when the provider version a row names published a provider
contract (PactFlow's bi-directional contract testing; the row's provider version
links it as ``pf:provider-contract``), the pact is compared with exactly that
document, fetched from the broker like the pact. Otherwise ``spec_for(provider)``
gives the provider's document as before (``compare.specs`` or the local stack).
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from covenant.kernel.errors import CovenantError, ErrorKind
from verifiers.compare._check import Pact, compare_pacts, load_pact
from verifiers.compare._model import CompareResult
from verifiers.compare._openapi import OpenApiDocument
from verifiers.compare._openapi import _parse as parse_document

__all__ = ["compare_matrix_pacts", "pact_links", "provider_contract_links"]

#: The relation a matrix row's provider version links its provider contract with.
PROVIDER_CONTRACT = "pf:provider-contract"


def _href(node: Any, *keys: str) -> str | None:
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    href = node.get("href") if isinstance(node, dict) else None
    return href if isinstance(href, str) else None


def _pact_href(row: Any) -> str | None:
    return _href(row, "pact", "_links", "self") if isinstance(row, dict) else None


def _contract_href(row: Any) -> str | None:
    if not isinstance(row, dict):
        return None
    return _href(row, "provider", "version", "_links", PROVIDER_CONTRACT)


def pact_links(rows: Iterable[Any]) -> list[str]:
    """The distinct pact URLs of a matrix, in order."""
    links: list[str] = []
    for row in rows:
        href = _pact_href(row)
        if href is not None and href not in links:
            links.append(href)
    return links


def provider_contract_links(rows: Iterable[Any]) -> list[tuple[str, str]]:
    """(pact URL, provider contract URL) of every row whose provider version published
    a provider contract, distinct and in order."""
    found: list[tuple[str, str]] = []
    for row in rows:
        pact, contract = _pact_href(row), _contract_href(row)
        if pact is not None and contract is not None and (pact, contract) not in found:
            found.append((pact, contract))
    return found


def _file_name(document: dict[str, Any], index: int) -> str:
    names = [str((document.get(role) or {}).get("name", "")) for role in ("consumer", "provider")]
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(names))[:100]
    return f"{index:03d}-{safe}.json"


def _contract_document(resource: Any, href: str) -> OpenApiDocument:
    """The OpenAPI document inside a provider contract resource (its ``content``, as
    published: JSON or YAML)."""
    content = resource.get("content") if isinstance(resource, dict) else None
    if not isinstance(content, str):
        raise CovenantError(
            f"{href}: the broker's provider contract has no content", kind=ErrorKind.ENGINE
        )
    return OpenApiDocument(parse_document(content, href), href)


def _always(spec: OpenApiDocument) -> Callable[[str], OpenApiDocument]:
    return lambda _provider: spec


@dataclass
class _Group:
    """Pacts compared with one document: a provider contract's, or the provider's."""

    contract: str | None
    pacts: list[Pact]


def compare_matrix_pacts(
    rows: Iterable[Any],
    fetch: Callable[[str], Any],
    spec_for: Callable[[str], OpenApiDocument],
    *,
    provider_contracts: bool = True,
) -> tuple[CompareResult, dict[str, str]]:
    """Compare every pact the matrix rows link to; returns the result and, for each
    pact file named in it, the broker URL it came from.

    ``fetch(url)`` reads a broker resource (a pact, a provider contract) as JSON;
    ``spec_for(provider)`` loads a provider's document when the row's provider version
    published no provider contract (or ``provider_contracts`` is off). A pact that
    rows pair with several provider versions is compared with each of their documents
    (each once); an incompatibility found with a provider contract says so."""
    rows = list(rows)
    origins: dict[str, str] = {}
    contract_pairs = provider_contract_links(rows) if provider_contracts else []
    uses_fallback = {
        href
        for row in rows
        if (href := _pact_href(row)) is not None
        and (_contract_href(row) is None or not provider_contracts)
    }
    with tempfile.TemporaryDirectory(prefix="covenant-gate-") as scratch:
        loaded: dict[str, Pact] = {}
        for index, href in enumerate(pact_links(rows)):
            document = fetch(href)
            path = Path(scratch) / _file_name(document, index)
            path.write_text(json.dumps(document, indent=2), encoding="utf-8")
            origins[str(path)] = href
            loaded[href] = load_pact(path)
        groups: list[_Group] = []
        fallback = [pact for href, pact in loaded.items() if href in uses_fallback]
        if fallback:
            groups.append(_Group(None, fallback))
        by_contract: dict[str, list[Pact]] = {}
        for pact_href, contract_href in contract_pairs:
            by_contract.setdefault(contract_href, []).append(loaded[pact_href])
        groups.extend(_Group(href, pacts) for href, pacts in by_contract.items())

        result = CompareResult()
        specs: dict[str, OpenApiDocument] = {}

        def provider_spec(name: str) -> OpenApiDocument:
            if name not in specs:
                specs[name] = spec_for(name)
            return specs[name]

        for group in groups:
            if group.contract is None:
                found = compare_pacts(group.pacts, provider_spec)
            else:
                href = group.contract
                spec = _contract_document(fetch(href), href)
                found = compare_pacts(group.pacts, _always(spec))
                for report in found.providers:
                    report.incompatibilities = [
                        replace(item, message=f"{item.message} (provider contract {href})")
                        for item in report.incompatibilities
                    ]
            result.providers.extend(found.providers)
    return result, origins
