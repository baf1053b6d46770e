"""Webhook delivery's pure parts: template parameters, the request a webhook
sends, reading event payloads, and keeping secrets out of what is shown."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from contracts.broker._delivery import (
    REDACTED,
    EventData,
    event_data,
    is_secret_name,
    redact_request,
    redact_url,
    render_request,
    render_template,
    scrub,
    secret_values,
)


def values(**overrides: Any) -> dict[str, str]:
    data = EventData(
        event_name="contract_published",
        consumer_name="web app",
        provider_name="api",
        consumer_version_number="1.0/rc",
        pact_url="http://broker/pacts/provider/api/consumer/web%20app/version/1.0%2Frc",
    )
    for key, value in overrides.items():
        setattr(data, key, value)
    return data.values()


def test_known_parameters_are_replaced_unknown_ones_kept() -> None:
    text = "${pactbroker.consumerName}/${pactbroker.nope}/${pactbroker.providerName}"
    assert render_template(text, values(), str) == "web app/${pactbroker.nope}/api"


@pytest.mark.parametrize(
    ("success", "github", "bitbucket"),
    [
        (True, "success", "SUCCESSFUL"),
        (False, "failure", "FAILED"),
        (None, "pending", "INPROGRESS"),
    ],
)
def test_verification_status_keywords(success: bool | None, github: str, bitbucket: str) -> None:
    shown = values(success=success)
    assert shown["githubVerificationStatus"] == github
    assert shown["bitbucketVerificationStatus"] == bitbucket


def test_url_values_are_escaped_but_a_whole_url_parameter_is_not() -> None:
    request = {
        "method": "post",
        "url": "https://ci/x/${pactbroker.consumerVersionNumber}?c=${pactbroker.consumerName}",
    }
    prepared = render_request(request, values())
    assert prepared.method == "POST"
    assert prepared.url == "https://ci/x/1.0%2Frc?c=web%20app"
    whole = render_request({"method": "GET", "url": "${pactbroker.pactUrl}"}, values())
    assert whole.url == values()["pactUrl"]


def test_json_bodies_are_rendered_inside_and_sent_as_json() -> None:
    request = {
        "method": "POST",
        "url": "https://ci/",
        "body": {"who": ["${pactbroker.consumerName}", 3], "n": None},
    }
    prepared = render_request(request, values())
    assert prepared.body is not None
    assert json.loads(prepared.body) == {"who": ["web app", 3], "n": None}
    assert prepared.headers["Content-Type"] == "application/json"
    text = render_request({**request, "body": "<x>${pactbroker.providerName}</x>"}, values())
    assert text.body == b"<x>api</x>"
    assert "Content-Type" not in text.headers


def test_basic_auth_becomes_an_authorization_header() -> None:
    prepared = render_request(
        {"method": "POST", "url": "https://ci/", "username": "u", "password": "p w"}, values()
    )
    assert prepared.headers["Authorization"] == "Basic " + base64.b64encode(b"u:p w").decode()


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("Authorization", True),
        ("x-auth-token", True),
        ("X-Client-SECRET", True),
        ("db-password", True),
        ("X-Api-Key", True),
        ("Content-Type", False),
        ("Accept", False),
    ],
)
def test_secret_header_names(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret


def test_redacted_request_hides_secrets_and_keeps_the_rest() -> None:
    stored: dict[str, Any] = {
        "method": "POST",
        "url": "https://user:pw@ci/x?token=abc&keep=1",
        "headers": {"Authorization": "Bearer abc", "Accept": "text/plain"},
        "username": "user",
        "password": "hunter22",
        "body": {"a": 1},
    }
    shown = redact_request(stored)
    assert shown["headers"] == {"Authorization": REDACTED, "Accept": "text/plain"}
    assert shown["password"] == REDACTED
    assert shown["username"] == "user"
    assert shown["body"] == {"a": 1}
    assert "pw@" not in shown["url"] and "abc" not in shown["url"]
    assert "keep=1" in shown["url"]
    assert stored["headers"]["Authorization"] == "Bearer abc"  # the stored one is untouched


def test_redact_url_leaves_ordinary_urls_alone() -> None:
    url = "https://ci.example/job/${pactbroker.consumerName}?x=1"
    assert redact_url(url) == url


def test_scrub_removes_every_form_of_the_secrets() -> None:
    request = {
        "headers": {"Authorization": "Bearer longsecret", "X-Token": "t0k3n-value"},
        "username": "u",
        "password": "passw0rd",
    }
    secrets = secret_values(request)
    basic = base64.b64encode(b"u:passw0rd").decode()
    text = f"echo: Bearer longsecret / longsecret / t0k3n-value / passw0rd / {basic}"
    cleaned = scrub(text, secrets)
    for secret in ("longsecret", "t0k3n-value", "passw0rd", basic):
        assert secret not in cleaned


@pytest.mark.parametrize(
    "payload",
    [
        {
            "consumerName": "c",
            "providerName": "p",
            "consumerVersionNumber": "1",
            "consumerVersionTags": "a, b",
            "pactVersionSha": "abc",
            "pactUrl": "http://b/pacts/provider/p/consumer/c/pact-version/abc",
        },
        {
            "consumer_name": "c",
            "provider_name": "p",
            "consumer_version_number": "1",
            "consumer_version_tags": ["a", "b"],
            "pact_version_sha": "abc",
            "pact_url": "http://b/pacts/provider/p/consumer/c/pact-version/abc",
        },
        {
            "consumer": {"name": "c"},
            "provider": {"name": "p"},
            "consumer_version": {"number": "1"},
            "tags": ["a", "b"],
            "sha": "abc",
            "pactUrl": "http://b/pacts/provider/p/consumer/c/pact-version/abc",
        },
    ],
    ids=["camel", "snake", "nested"],
)
def test_event_payloads_in_any_spelling(payload: dict[str, Any]) -> None:
    data = event_data("contract_published", payload)
    assert (data.consumer_name, data.provider_name, data.consumer_version_number) == ("c", "p", "1")
    assert data.consumer_version_tags == ["a", "b"]
    assert data.pact_version_sha == "abc"
    assert data.success is None


def test_verification_events_imply_success_and_a_pact_url() -> None:
    url = "http://b/pacts/provider/p/consumer/c/pact-version/abc/verification-results/7"
    data = event_data("provider_verification_failed", {"verificationResultUrl": url})
    assert data.success is False
    assert data.pact_url == "http://b/pacts/provider/p/consumer/c/pact-version/abc"
    assert event_data("provider_verification_succeeded", {}).success is True


def test_delivery_redacts_with_the_kernels_pieces_and_the_pact_broker_mask() -> None:
    from contracts.broker import _delivery
    from covenant.kernel import redact

    assert REDACTED == redact.PACT_BROKER_MASK == "**********"
    assert is_secret_name is redact.is_secret_name
    headers = {"Authorization": "Bearer abc", "X-Api-Key": "k", "Accept": "text/plain"}
    assert _delivery.redact_headers(headers) == {
        "Authorization": REDACTED,
        "X-Api-Key": REDACTED,
        "Accept": "text/plain",
    }
    assert scrub("key abc and abcdef", ["abc", "abcdef"]) == f"key {REDACTED} and {REDACTED}"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "https://user:pw@ci/x?token=abc&keep=1",
            "https://user:**********@ci/x?token=**********&keep=1",
        ),
        ("https://user@ci/x?keep=%20", "https://user@ci/x?keep=%20"),
        (
            "https://ci/x?X-Api-Token=t&u=${pactbroker.pactUrl}",
            "https://ci/x?X-Api-Token=**********&u=${pactbroker.pactUrl}",
        ),
    ],
)
def test_webhook_urls_are_shown_as_before(url: str, shown: str) -> None:
    assert redact_url(url) == shown
