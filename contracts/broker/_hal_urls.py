"""Paths of the core broker resources and their HAL representations.

Paths are built from names with :func:`quote_name`, so a branch such as
``feature/login`` becomes one ``feature%2Flogin`` segment (see
:mod:`contracts.broker.resources._http` for the matching side). Renderers take
the broker's base URL and rows already read; none of them queries or sees a request.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from contracts.broker._hal import link, quote_name
from contracts.broker._queries import Pacticipant, Version
from contracts.broker._versions import VersionFacts

__all__ = [
    "branch_path",
    "display_name",
    "iso",
    "pact_path",
    "pact_version_path",
    "pacticipant_path",
    "pacticipant_resource",
    "render_version",
    "tag_path",
    "version_path",
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


def pacticipant_resource(base: str, p: Pacticipant) -> dict[str, Any]:
    path = pacticipant_path(p.name)
    return {
        "name": p.name,
        "displayName": p.display_name or display_name(p.name),
        "mainBranch": p.main_branch,
        "repositoryUrl": p.repository_url,
        "createdAt": iso(p.created_at),
        "updatedAt": iso(p.updated_at),
        "_links": {
            "self": link(base, path, title="Pacticipant", name=p.name),
            "pb:versions": link(base, f"{path}/versions", title="All versions"),
            "pb:version": link(
                base,
                f"{path}/versions/{{version}}",
                title="Get, create a version",
                templated=True,
            ),
            "pb:version-tag": link(
                base,
                f"{path}/versions/{{version}}/tags/{{tag}}",
                title="Get, create or delete a tag for a version",
                templated=True,
            ),
            "pb:latest-version": link(base, f"{path}/latest-version", title="Latest version"),
            "pb:branches": link(base, f"{path}/branches", title="Branches"),
            "pb:branch": link(
                base,
                f"{path}/branches/{{branch}}",
                title="Get or delete a branch",
                templated=True,
            ),
            "pb:branch-version": link(
                base,
                f"{path}/branches/{{branch}}/versions/{{version}}",
                title="Get or add a version to a branch",
                templated=True,
            ),
        },
    }


def _embedded_pacticipant(base: str, name: str) -> dict[str, Any]:
    return {"name": name, "_links": {"self": link(base, pacticipant_path(name))}}


def render_version(
    base: str,
    pacticipant: Pacticipant,
    version: Version,
    facts: VersionFacts,
    *,
    self_path: str | None = None,
) -> dict[str, Any]:
    """A version with its branches and tags embedded, its pacts, and the links
    that record deployments and releases (one per environment)."""
    name, number = pacticipant.name, version.number
    vpath = version_path(name, number)
    branches, tags, pacts = facts.branches, facts.tags, facts.pacts
    environments, deployed, released = facts.environments, facts.deployed, facts.released

    def env_title(row: dict[str, Any]) -> str:
        return str(row["display_name"] or row["name"])

    branch_versions = [
        {
            "name": b["name"],
            "latest": bool(b["latest"]),
            "createdAt": iso(b["created_at"]),
            "_links": {
                "self": link(
                    base,
                    branch_version_path(name, b["name"], number),
                    title="Branch version",
                    name=b["name"],
                ),
                "pb:branch": link(base, branch_path(name, b["name"]), name=b["name"]),
            },
        }
        for b in branches
    ]
    deployed_links = []
    for d in deployed:
        entry = link(
            base,
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
            base,
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
            "pacticipant": _embedded_pacticipant(base, name),
            "branchVersions": branch_versions,
            "tags": [
                {
                    "name": t["name"],
                    "createdAt": iso(t["created_at"]),
                    "_links": {
                        "self": link(
                            base, tag_path(name, number, t["name"]), title="Tag", name=t["name"]
                        )
                    },
                }
                for t in tags
            ],
        },
        "_links": {
            "self": link(base, self_path or vpath, title="Version", name=number),
            "pb:pacticipant": link(base, pacticipant_path(name), title="Pacticipant", name=name),
            "pb:version": link(base, vpath, title="Version", name=number),
            "pb:tag": link(
                base,
                f"{vpath}/tags/{{tag}}",
                title="Get, create or delete a tag for this pacticipant version",
                templated=True,
            ),
            "pb:tags": link(base, f"{vpath}/tags", title="Tags of this version"),
            "pb:latest-verification-results-where-pacticipant-is-consumer": link(
                base,
                f"/verification-results/consumer/{q(name)}/version/{q(number)}/latest",
                title="Latest verification results for consumer version",
            ),
            "pb:pact-versions": [
                link(
                    base,
                    pact_path(p["provider"], name, number),
                    title="Pact",
                    name=f"Pact between {name} ({number}) and {p['provider']}",
                )
                for p in pacts
            ],
            "pb:environments": link(base, "/environments", title="Environments"),
            "pb:deployed-environments": deployed_links,
            "pb:released-environments": released_links,
            "pb:record-deployment": [
                link(
                    base,
                    f"{vpath}/deployed-versions/environment/{e['id']}",
                    title=f"Record deployment to {env_title(e)}",
                    name=e["name"],
                )
                for e in environments
            ],
            "pb:record-release": [
                link(
                    base,
                    f"{vpath}/released-versions/environment/{e['id']}",
                    title=f"Record release to {env_title(e)}",
                    name=e["name"],
                )
                for e in environments
            ],
        },
    }
