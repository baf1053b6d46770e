"""Collections of pacts by consumer version branch and tag, as the Pact Broker serves them.

A provider's pacts (``ProviderPacts`` in the Pact Broker: ``pb:pacts`` links):

* ``/pacts/provider/{p}/branch/{b}`` — every pact whose consumer version is on
  branch ``b`` (``pb:provider-pacts-with-branch``); ``.../branch/{b}/latest`` the
  latest one of each consumer (``pb:latest-provider-pacts-with-branch``);
* ``/pacts/provider/{p}/branch`` and ``.../branch/latest`` — the same for each
  consumer's own main branch (``pb:provider-pacts-with-main-branch``,
  ``pb:latest-provider-pacts-with-main-branch``);
* ``/pacts/provider/{p}/tag/{t}`` — every pact whose consumer version is tagged
  ``t`` (``pb:provider-pacts-with-tag``).

One pair's pact versions (``PactVersions``: ``_embedded.pacts`` and
``pb:pact-versions`` links):

* ``/pacts/provider/{p}/consumer/{c}/branch/{b}`` (``pb:branch-pact-versions``),
  ``.../branch/{b}/latest/versions`` (``pb:latest-branch-pact-versions``);
* ``.../consumer/{c}/branch`` or ``.../branch/versions``
  (``pb:main-branch-pact-versions``), ``.../branch/latest`` or
  ``.../branch/latest/versions`` (``pb:latest-main-branch-pact-versions``);
* ``.../consumer/{c}/tag/{t}`` (``pb:tagged-pact-versions``).

The Pact Broker has served both spellings of the main-branch paths (the ``pact
broker get-pacts`` CLI calls the short ones), so both answer here. No web
framework: queries through :func:`contracts.broker._pacts.find_pacts` and HAL
renderers that take the broker's base URL. The routes are
:mod:`contracts.broker.resources.pact_lists`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from contracts.broker._errors import BrokerError
from contracts.broker._hal import link
from contracts.broker._hal_urls import iso, pact_path, pacticipant_path, version_path
from contracts.broker._pacts import find_pacts, pact_title
from contracts.broker._queries import find_pacticipant

__all__ = [
    "PactSelection",
    "pair_pact_versions",
    "provider_pacts",
    "render_pact_versions",
    "render_provider_pacts",
]

Row = dict[str, Any]


@dataclass(frozen=True)
class PactSelection:
    """Which consumer versions' pacts: on ``branch``, on each consumer's main branch,
    or tagged ``tag`` (exactly one), and only the latest per consumer when ``latest``."""

    branch: str | None = None
    main_branch: bool = False
    tag: str | None = None
    latest: bool = False

    def describe(self) -> str:
        """How the Pact Broker's titles name the selection."""
        if self.branch is not None:
            return f" with consumer version branch '{self.branch}'"
        if self.tag is not None:
            return f" with consumer version tag '{self.tag}'"
        return " for main branch" if self.main_branch else ""


def _not_found(detail: str) -> BrokerError:
    return BrokerError(404, "Not Found", detail)


async def provider_pacts(
    conn: psycopg.AsyncConnection, provider: str, selection: PactSelection
) -> list[Row]:
    """The provider's pacts the selection names (each consumer's latest when
    ``latest``, ordered by consumer name); 404 when there is no such provider."""
    if await find_pacticipant(conn, provider) is None:
        raise _not_found(f"no pacticipant named '{provider}'")
    return await find_pacts(
        conn,
        provider=provider,
        branch=selection.branch,
        main_branch=selection.main_branch,
        tag=selection.tag,
        latest_per_integration=selection.latest,
    )


async def pair_pact_versions(
    conn: psycopg.AsyncConnection, provider: str, consumer: str, selection: PactSelection
) -> list[Row]:
    """The pair's pacts the selection names, newest consumer version first (only the
    newest when ``latest``); 404 when the consumer or the provider does not exist."""
    for name in (consumer, provider):
        if await find_pacticipant(conn, name) is None:
            raise _not_found(f"no pacticipant named '{name}'")
    return await find_pacts(
        conn,
        provider=provider,
        consumer=consumer,
        branch=selection.branch,
        main_branch=selection.main_branch,
        tag=selection.tag,
        latest=selection.latest,
    )


def provider_pacts_title(provider: str, selection: PactSelection) -> str:
    kind = "Latest pact versions" if selection.latest else "All pact versions"
    return f"{kind} for the provider {provider}{selection.describe()}"


def render_provider_pacts(
    base: str, self_path: str, provider: str, selection: PactSelection, rows: list[Row]
) -> dict[str, Any]:
    """A provider's pacts as the Pact Broker's ``ProviderPactsDecorator`` renders them."""
    pacts = [
        link(
            base,
            pact_path(provider, row["consumer"], row["version"]),
            title=pact_title(row),
            name=row["consumer"],
        )
        for row in rows
    ]
    provider_link = link(base, pacticipant_path(provider), title="Provider", name=provider)
    return {
        "_links": {
            "self": link(base, self_path, title=provider_pacts_title(provider, selection)),
            "pb:provider": provider_link,
            "provider": provider_link,
            "pb:pacts": pacts,
            "pacts": pacts,
        }
    }


def _version_and_date(row: Row) -> str:
    """``Version 1.2.3 - 28/10/2025``, as the Pact Broker names a pact version."""
    created = row["created_at"]
    return f"Version {row['version']} - {created.strftime('%d/%m/%Y')}"


def pair_title(provider: str, consumer: str, selection: PactSelection) -> str:
    kind = "Latest version" if selection.latest else "All versions"
    return f"{kind} of the pact between {consumer} and {provider}{selection.describe()}"


def render_pact_versions(
    base: str,
    self_path: str,
    provider: str,
    consumer: str,
    selection: PactSelection,
    rows: list[Row],
) -> dict[str, Any]:
    """One pair's pact versions as the Pact Broker's ``PactVersionsDecorator`` renders
    them: each pact embedded with its consumer version, and a link to each."""
    embedded = [
        {
            "createdAt": iso(row["created_at"]),
            "_embedded": {
                "consumerVersion": {
                    "number": row["version"],
                    "_links": {
                        "self": link(
                            base,
                            version_path(consumer, row["version"]),
                            title="Version",
                            name=row["version"],
                        )
                    },
                }
            },
            "_links": {
                "self": link(
                    base,
                    pact_path(provider, consumer, row["version"]),
                    title=pact_title(row),
                    name=_version_and_date(row),
                )
            },
        }
        for row in rows
    ]
    versions = [
        link(
            base,
            pact_path(provider, consumer, row["version"]),
            title="Pact",
            name=_version_and_date(row),
        )
        for row in rows
    ]
    consumer_link = link(base, pacticipant_path(consumer), title="Consumer", name=consumer)
    provider_link = link(base, pacticipant_path(provider), title="Provider", name=provider)
    return {
        "_embedded": {"pacts": embedded},
        "_links": {
            "self": link(base, self_path, title=pair_title(provider, consumer, selection)),
            "pb:consumer": consumer_link,
            "consumer": consumer_link,
            "pb:provider": provider_link,
            "provider": provider_link,
            "pb:pact-versions": versions,
            "pact-versions": versions,
        },
    }
