"""A configured fuzz target brings its credentials through the kernel's one type."""

from __future__ import annotations

import base64

from covenant.kernel.config import CovenantConfig
from verifiers.fuzz._targets import resolve_target


def target(**credentials: object) -> dict[str, str]:
    config = CovenantConfig.model_validate(
        {
            "fuzz": {
                "services": [
                    {
                        "name": "orders",
                        "spec": "https://orders.test/openapi.json",
                        "headers": {"X-Tenant": "t1"},
                        **credentials,
                    }
                ]
            }
        }
    )
    return resolve_target(config, "orders").headers


def test_token_basic_auth_and_headers_are_sent() -> None:
    assert target(token="tok") == {"X-Tenant": "t1", "Authorization": "Bearer tok"}
    pair = base64.b64encode(b"ci:pw").decode()
    assert target(username="ci", password="pw") == {
        "X-Tenant": "t1",
        "Authorization": f"Basic {pair}",
    }
    assert target() == {"X-Tenant": "t1"}


def test_credentials_never_reach_the_options_repr() -> None:
    config = CovenantConfig.model_validate(
        {"fuzz": {"services": [{"name": "o", "spec": "s.json", "token": "very-secret"}]}}
    )
    assert "very-secret" not in repr(config)
    assert "very-secret" not in repr(resolve_target(config, "o"))
