"""The index: where Pact tooling starts navigating.

Clients look relations up by name (``pb:publish-contracts``,
``pb:latest-provider-pacts``, ``pb:latest-version``, ...) and expand templated
hrefs (``{provider}``, ``{pacticipant}``, ...) with URL-encoded values, so the
relation names and placeholders are those of the reference Pact Broker (and, for
``pf:`` relations, of PactFlow). Every relation listed here is served by this
broker. The route is :mod:`contracts.broker.resources.index`.
"""

from __future__ import annotations

from typing import Any

from contracts.broker._hal import link

__all__ = ["RELATIONS", "render_index"]

#: relation -> (path, title); a path with "{" is templated.
RELATIONS: dict[str, tuple[str, str]] = {
    "pb:publish-pact": (
        "/pacts/provider/{provider}/consumer/{consumer}/version/{consumerApplicationVersion}",
        "Publish a pact",
    ),
    "pb:publish-contracts": ("/contracts/publish", "Publish contracts"),
    "pb:latest-pact-versions": ("/pacts/latest", "Latest pact versions"),
    "pb:pacticipants": ("/pacticipants", "Pacticipants"),
    "pb:pacticipant": ("/pacticipants/{pacticipant}", "Fetch pacticipant by name"),
    "pb:latest-provider-pacts": ("/pacts/provider/{provider}/latest", "Latest pacts by provider"),
    "pb:latest-provider-pacts-with-tag": (
        "/pacts/provider/{provider}/latest/{tag}",
        "Latest pacts for provider with the specified tag",
    ),
    "pb:provider-pacts-with-tag": (
        "/pacts/provider/{provider}/tag/{tag}",
        "All pact versions for the provider with the specified consumer version tag",
    ),
    "pb:provider-pacts-with-branch": (
        "/pacts/provider/{provider}/branch/{branch}",
        "All pact versions for the provider with the specified consumer version branch",
    ),
    "pb:latest-provider-pacts-with-branch": (
        "/pacts/provider/{provider}/branch/{branch}/latest",
        "Latest pacts for provider with the specified consumer version branch",
    ),
    "pb:provider-pacts-with-main-branch": (
        "/pacts/provider/{provider}/branch",
        "All pact versions for the provider from each consumer's main branch",
    ),
    "pb:latest-provider-pacts-with-main-branch": (
        "/pacts/provider/{provider}/branch/latest",
        "Latest pacts for provider from each consumer's main branch",
    ),
    "pb:provider-pacts": (
        "/pacts/provider/{provider}",
        "All pact versions for the specified provider",
    ),
    "pb:tagged-pact-versions": (
        "/pacts/provider/{provider}/consumer/{consumer}/tag/{tag}",
        "All versions of a pact for a given consumer, provider and consumer version tag",
    ),
    "pb:branch-pact-versions": (
        "/pacts/provider/{provider}/consumer/{consumer}/branch/{branch}",
        "All versions of a pact for a given consumer, provider and consumer version branch",
    ),
    "pb:latest-branch-pact-versions": (
        "/pacts/provider/{provider}/consumer/{consumer}/branch/{branch}/latest/versions",
        "The latest version of a pact for a given consumer, provider and consumer version branch",
    ),
    "pb:main-branch-pact-versions": (
        "/pacts/provider/{provider}/consumer/{consumer}/branch/versions",
        "All versions of a pact for a given consumer and provider from the consumer's main branch",
    ),
    "pb:latest-main-branch-pact-versions": (
        "/pacts/provider/{provider}/consumer/{consumer}/branch/latest",
        "The latest version of a pact for a given consumer and provider from the consumer's"
        " main branch",
    ),
    "pb:provider-pacts-for-verification": (
        "/pacts/provider/{provider}/for-verification",
        "Pact versions to be verified for the specified provider",
    ),
    "beta:provider-pacts-for-verification": (
        "/pacts/provider/{provider}/for-verification",
        "DEPRECATED - please use pb:provider-pacts-for-verification",
    ),
    "pb:latest-version": (
        "/pacticipants/{pacticipant}/latest-version",
        "Latest pacticipant version",
    ),
    "pb:latest-tagged-version": (
        "/pacticipants/{pacticipant}/latest-version/{tag}",
        "Latest pacticipant version with the specified tag",
    ),
    "pb:pacticipant-version": (
        "/pacticipants/{pacticipant}/versions/{version}",
        "Get, create or delete a pacticipant version",
    ),
    "pb:pacticipant-version-tag": (
        "/pacticipants/{pacticipant}/versions/{version}/tags/{tag}",
        "Get, create or delete a tag for a pacticipant version",
    ),
    "pb:pacticipant-branch": (
        "/pacticipants/{pacticipant}/branches/{branch}",
        "Get or delete a pacticipant branch",
    ),
    "pb:pacticipant-branch-version": (
        "/pacticipants/{pacticipant}/branches/{branch}/versions/{version}",
        "Get or add/create a pacticipant version for a branch",
    ),
    "pb:environments": ("/environments", "Environments"),
    "pb:environment": ("/environments/{uuid}", "Environment"),
    "pb:can-i-deploy-pacticipant-version-to-environment": (
        "/can-i-deploy?pacticipant={pacticipant}&version={version}&environment={environment}",
        "Determine if an application version can be safely deployed to an environment",
    ),
    "pb:can-i-deploy-pacticipant-version-to-tag": (
        "/can-i-deploy?pacticipant={pacticipant}&version={version}&to={tag}",
        "Determine if an application version can be safely deployed to an environment"
        " identified by the given tag",
    ),
    "pb:can-i-deploy-branch-to-environment": (
        "/pacticipants/{pacticipant}/branches/{branch}/latest-version/can-i-deploy"
        "/to-environment/{environment}",
        "Determine if the latest version of a branch can be safely deployed to an environment",
    ),
    "pb:webhooks": ("/webhooks", "Webhooks"),
    "pb:webhook": ("/webhooks/{uuid}", "Webhook"),
    # PactFlow's bi-directional contract testing: the provider's OpenAPI document.
    "pf:publish-provider-contract": (
        "/provider-contracts/provider/{provider}/publish",
        "Publish a provider contract",
    ),
}


def render_index(base: str) -> dict[str, Any]:
    """The index document of the broker at ``base``: every relation, then the curies."""
    links: dict[str, Any] = {"self": link(base, "", title="Index", templated=False)}
    for relation, (path, title) in RELATIONS.items():
        links[relation] = link(base, path, title=title, templated="{" in path)
    links["curies"] = [
        link(base, "/doc/{rel}?context=index", name=prefix, templated=True)
        for prefix in ("pb", "beta", "pf")
    ]
    return {"_links": links}
