"""Paths of the core broker resources and their HAL representations.

Paths are built from names with :func:`quote_name`, so a branch such as
``feature/login`` becomes one ``feature%2Flogin`` segment (see
:mod:`contracts.broker._hal_routing` for the matching side).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import psycopg
from fastapi import Request

from contracts.broker._queries import Pacticipant, Version
from contracts.broker._queries import fetch_all as _rows
from contracts.broker._web import link, quote_name

__all__ = [
    "branch_path",
    "display_name",
    "iso",
    "pact_path",
    "pact_version_path",
    "pacticipant_path",
    "pacticipant_resource",
    "tag_path",
    "version_path",
    "version_resource",
]

q = quote_name


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def pacticipant_path(name: str) -> str:
    return f"/pacticipants/{q(name)}"


def version_path(pacticipant: str, number: str) -> str:
    return f"{pacticipant_path(pacticipant)}/versions/{q(number)}"


def tag_path(pacticipant: str, number: str, tag: str) -> str:
    return f"{version_path(pacticipant, number)}/tags/{q(tag)}"


def branch_path(pacticipant: str, branch: str) -> str:
    return f"{pacticipant_path(pacticipant)}/branches/{q(branch)}"


def branch_version_path(pacticipant: str, branch: str, number: str) -> str:
    return f"{branch_path(pacticipant, branch)}/versions/{q(number)}"


def pacts_between(provider: str, consumer: str) -> str:
    return f"/pacts/provider/{q(provider)}/consumer/{q(consumer)}"


def pact_path(provider: str, consumer: str, number: str) -> str:
    return f"{pacts_between(provider, consumer)}/version/{q(number)}"


def pact_version_path(provider: str, consumer: str, sha: str) -> str:
    return f"{pacts_between(provider, consumer)}/pact-version/{q(sha)}"


def verification_results_path(provider: str, consumer: str, sha: str) -> str:
    return f"{pact_version_path(provider, consumer, sha)}/verification-results"


def display_name(name: str) -> str:
    """``order-service`` -> ``Order Service``, as the reference broker shows names."""
    words = [w for w in re.split(r"[-_\s]+", name) if w]
    return " ".join(w[:1].upper() + w[1:] for w in words) or name


def pacticipant_resource(request: Request, p: Pacticipant) -> dict[str, Any]:
    base = pacticipant_path(p.name)
    return {
        "name": p.name,
        "displayName": p.display_name or display_name(p.name),
        "mainBranch": p.main_branch,
        "repositoryUrl": p.repository_url,
        "createdAt": iso(p.created_at),
        "updatedAt": iso(p.updated_at),
        "_links": {
            "self": link(request, base, title="Pacticipant", name=p.name),
            "pb:versions": link(request, f"{base}/versions", title="All versions"),
            "pb:version": link(
                request,
                f"{base}/versions/{{version}}",
                title="Get, create a version",
                templated=True,
            ),
            "pb:version-tag": link(
                request,
                f"{base}/versions/{{version}}/tags/{{tag}}",
                title="Get, create or delete a tag for a version",
                templated=True,
            ),
            "pb:latest-version": link(request, f"{base}/latest-version", title="Latest version"),
            "pb:branches": link(request, f"{base}/branches", title="Branches"),
            "pb:branch": link(
                request,
                f"{base}/branches/{{branch}}",
                title="Get or delete a branch",
                templated=True,
            ),
            "pb:branch-version": link(
                request,
                f"{base}/branches/{{branch}}/versions/{{version}}",
                title="Get or add a version to a branch",
                templated=True,
            ),
        },
    }


def _embedded_pacticipant(request: Request, name: str) -> dict[str, Any]:
    return {"name": name, "_links": {"self": link(request, pacticipant_path(name))}}


async def version_resource(
    request: Request,
    conn: psycopg.AsyncConnection,
    pacticipant: Pacticipant,
    version: Version,
    *,
    self_path: str | None = None,
) -> dict[str, Any]:
    """A version with its branches and tags embedded, its pacts, and the links
    that record deployments and releases (one per environment)."""
    name, number = pacticipant.name, version.number
    vpath = version_path(name, number)
    branches = await _rows(
        conn,
        "SELECT b.name, bv.created_at,"
        " (bv.version_id = (SELECT max(x.version_id) FROM broker.branch_versions x"
        "   WHERE x.branch_id = b.id)) AS latest"
        " FROM broker.branch_versions bv JOIN broker.branches b ON b.id = bv.branch_id"
        " WHERE bv.version_id = %s ORDER BY bv.created_at, b.name",
        (version.id,),
    )
    tags = await _rows(
        conn,
        "SELECT name, created_at FROM broker.tags WHERE version_id = %s ORDER BY created_at, name",
        (version.id,),
    )
    pacts = await _rows(
        conn,
        "SELECT p.name AS provider FROM broker.pact_publications pp"
        " JOIN broker.pacticipants p ON p.id = pp.provider_id"
        " WHERE pp.consumer_version_id = %s ORDER BY lower(p.name)",
        (version.id,),
    )
    environments = await _rows(
        conn, "SELECT id, name, display_name FROM broker.environments ORDER BY name", ()
    )
    deployed = await _rows(
        conn,
        "SELECT d.id, d.created_at, d.undeployed_at, d.application_instance,"
        " e.name, e.display_name FROM broker.deployed_versions d"
        " JOIN broker.environments e ON e.id = d.environment_id"
        " WHERE d.version_id = %s ORDER BY d.created_at",
        (version.id,),
    )
    released = await _rows(
        conn,
        "SELECT r.id, r.created_at, r.support_ended_at, e.name, e.display_name"
        " FROM broker.released_versions r JOIN broker.environments e ON e.id = r.environment_id"
        " WHERE r.version_id = %s ORDER BY r.created_at",
        (version.id,),
    )

    def env_title(row: dict[str, Any]) -> str:
        return str(row["display_name"] or row["name"])

    branch_versions = [
        {
            "name": b["name"],
            "latest": bool(b["latest"]),
            "createdAt": iso(b["created_at"]),
            "_links": {
                "self": link(
                    request,
                    branch_version_path(name, b["name"], number),
                    title="Branch version",
                    name=b["name"],
                ),
                "pb:branch": link(request, branch_path(name, b["name"]), name=b["name"]),
            },
        }
        for b in branches
    ]
    deployed_links = []
    for d in deployed:
        entry = link(
            request,
            f"/deployed-versions/{d['id']}",
            title=f"Version deployed to {env_title(d)}",
            name=env_title(d),
        )
        entry.update(
            currentlyDeployed=d["undeployed_at"] is None,
            deployedAt=iso(d["created_at"]),
            undeployedAt=iso(d["undeployed_at"]),
        )
        if d["application_instance"] is not None:
            entry["applicationInstance"] = d["application_instance"]
        deployed_links.append(entry)
    released_links = []
    for r in released:
        entry = link(
            request,
            f"/released-versions/{r['id']}",
            title=f"Version released to {env_title(r)}",
            name=env_title(r),
        )
        entry.update(
            currentlySupported=r["support_ended_at"] is None,
            releasedAt=iso(r["created_at"]),
            supportEndedAt=iso(r["support_ended_at"]),
        )
        released_links.append(entry)

    return {
        "number": number,
        "buildUrl": version.build_url,
        "createdAt": iso(version.created_at),
        "_embedded": {
            "pacticipant": _embedded_pacticipant(request, name),
            "branchVersions": branch_versions,
            "tags": [
                {
                    "name": t["name"],
                    "createdAt": iso(t["created_at"]),
                    "_links": {
                        "self": link(
                            request, tag_path(name, number, t["name"]), title="Tag", name=t["name"]
                        )
                    },
                }
                for t in tags
            ],
        },
        "_links": {
            "self": link(request, self_path or vpath, title="Version", name=number),
            "pb:pacticipant": link(request, pacticipant_path(name), title="Pacticipant", name=name),
            "pb:version": link(request, vpath, title="Version", name=number),
            "pb:tag": link(
                request,
                f"{vpath}/tags/{{tag}}",
                title="Get, create or delete a tag for this pacticipant version",
                templated=True,
            ),
            "pb:tags": link(request, f"{vpath}/tags", title="Tags of this version"),
            "pb:latest-verification-results-where-pacticipant-is-consumer": link(
                request,
                f"/verification-results/consumer/{q(name)}/version/{q(number)}/latest",
                title="Latest verification results for consumer version",
            ),
            "pb:pact-versions": [
                link(
                    request,
                    pact_path(p["provider"], name, number),
                    title="Pact",
                    name=f"Pact between {name} ({number}) and {p['provider']}",
                )
                for p in pacts
            ],
            "pb:environments": link(request, "/environments", title="Environments"),
            "pb:deployed-environments": deployed_links,
            "pb:released-environments": released_links,
            "pb:record-deployment": [
                link(
                    request,
                    f"{vpath}/deployed-versions/environment/{e['id']}",
                    title=f"Record deployment to {env_title(e)}",
                    name=e["name"],
                )
                for e in environments
            ],
            "pb:record-release": [
                link(
                    request,
                    f"{vpath}/released-versions/environment/{e['id']}",
                    title=f"Record release to {env_title(e)}",
                    name=e["name"],
                )
                for e in environments
            ],
        },
    }
