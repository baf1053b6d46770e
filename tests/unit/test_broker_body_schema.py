"""The broker checks bodies against the schemas its OpenAPI document publishes."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from contracts.broker._body_schema import _places, location
from contracts.broker._openapi import REQUESTS, WEBHOOK
from contracts.broker._webhook_hosts import host_allowed


def places(schema: dict[str, Any], body: Any) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for error in Draft202012Validator(schema).iter_errors(body):
        for where, expected in _places(error):
            found.setdefault(where, []).append(expected)
    return found


def webhook(**request: Any) -> dict[str, Any]:
    return {"request": {"method": "POST", "url": "https://ci.example/hook", **request}}


def test_location_reads_like_the_broker_s_other_errors() -> None:
    assert location(["contracts", 0, "content"]) == "contracts[0].content"
    assert location([]) == "body"


def test_every_documented_body_schema_is_valid_json_schema() -> None:
    for described in REQUESTS.values():
        if described.body is not None:
            Draft202012Validator.check_schema(described.body)


def test_messages_name_the_rule_never_the_value() -> None:
    secret = "hunter2-\x00-very-secret"
    found = places(WEBHOOK, webhook(password=secret))
    assert found == {"request.password": ["must match the pattern ^[^\\x00]*$"]}
    assert secret not in str(found)


def test_a_missing_property_is_named_where_it_belongs() -> None:
    assert places(WEBHOOK, {"consumer": {}, "request": {"url": "https://x.example/"}}) == {
        "consumer.name": ["is required"]
    }


def test_nullable_values_name_both_types() -> None:
    found = places(WEBHOOK, webhook(password={}))
    assert found == {"request.password": ["must be of type string or null"]}


def test_the_header_list_form_is_checked_item_by_item() -> None:
    assert places(WEBHOOK, webhook(headers=["X-Ok: 1", "no colon"])) == {
        "request.headers[1]": ["must match the pattern ^[\\t ]*[!-9;-~]+[\\t ]*:[\\t\\x20-\\x7e]*$"]
    }
    assert places(WEBHOOK, webhook(headers={"X-Ok": "1"})) == {}
    assert "request.headers.A" in places(WEBHOOK, webhook(headers={"A": 7}))


@pytest.mark.parametrize(
    ("url", "valid"),
    [
        ("https://ci.example:65535/hook?x=${pactbroker.pactUrl}", True),
        ("http://[::1]:8080/hook", True),
        ("${pactbroker.pactUrl}", True),
        ("http://x:65536/", False),
        ("ftp://x.example/", False),
        ("/relative", False),
    ],
)
def test_webhook_urls(url: str, valid: bool) -> None:
    assert (places(WEBHOOK, webhook(url=url)) == {}) is valid


@pytest.mark.parametrize(
    ("url", "allowed", "expected"),
    [
        ("http://anything.example/", (), True),
        ("http://127.0.0.1:9/", ("127.0.0.0/8",), True),
        ("http://[::1]/", ("::1",), True),
        ("http://localhost/", ("localhost",), True),
        ("http://hooks.ci.example/", ("*.ci.example",), True),
        ("http://ci.example/", ("*.ci.example",), False),
        ("http://0/", ("127.0.0.0/8", "localhost"), False),
        ("http://10.1.2.3/", ("127.0.0.0/8",), False),
        ("http://evil.example/", ("localhost",), False),
        ("not a url", ("localhost",), False),
    ],
)
def test_webhook_host_allowlist(url: str, allowed: tuple[str, ...], expected: bool) -> None:
    assert host_allowed(url, allowed) is expected
