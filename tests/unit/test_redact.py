"""covenant.kernel.redact: passwords never leave the process in clear."""

from __future__ import annotations

import pytest

from covenant.kernel.redact import MASK, redact_url


def test_mask_is_three_stars() -> None:
    assert MASK == "***"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgresql://user:s3cret@db.example:5432/app",
            "postgresql://user:***@db.example:5432/app",
        ),
        ("postgresql://user:s3cret@db/app", "postgresql://user:***@db/app"),
        (
            "https://admin:hunter2@grafana:3000/api/health?x=1#frag",
            "https://admin:***@grafana:3000/api/health?x=1#frag",
        ),
        ("postgresql://u:p%40ss%2Fw@db/x", "postgresql://u:***@db/x"),
        ("postgresql://u:p@ss@db/x", "postgresql://u:***@db/x"),
        ("http://:only-password@host:80/", "http://:***@host:80/"),
    ],
)
def test_password_is_masked(url: str, expected: str) -> None:
    assert redact_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://loki:3100",
        "http://127.0.0.1:9090/-/ready",
        "postgresql://user@db:5432/app",
        "postgresql:///app?host=/run/postgresql",
        "https://grafana.example/api/health",
    ],
)
def test_url_without_password_is_unchanged(url: str) -> None:
    assert redact_url(url) == url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://u:pw@[::1]:8080/x", "http://u:***@[::1]:8080/x"),
        ("postgresql://u:pw@[2001:db8::5]/db", "postgresql://u:***@[2001:db8::5]/db"),
    ],
)
def test_ipv6_host_keeps_its_brackets(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_ipv6_without_password_is_unchanged() -> None:
    assert redact_url("http://[::1]:9090/metrics") == "http://[::1]:9090/metrics"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not a url",
        "127.0.0.1:9092",
        "kafka-1:9092,kafka-2:9092",
        "tok-secret",
        "http://[::1",  # urlsplit refuses it: returned as is
    ],
)
def test_non_urls_are_returned_unchanged(text: str) -> None:
    assert redact_url(text) == text


@pytest.mark.parametrize(
    "url",
    [
        # libpq multi-host URI: a valid PostgreSQL connection string.
        "postgresql://u:hunter2@db1:5432,db2:5432/app",
        # A typo in the port must not turn redaction into a crash.
        "postgresql://u:hunter2@db:99999/app",
    ],
)
def test_redaction_never_raises_and_still_masks(url: str) -> None:
    redacted = redact_url(url)
    assert "hunter2" not in redacted
    assert MASK in redacted


def test_password_in_query_string_is_masked() -> None:
    # libpq accepts the password as a query parameter too.
    redacted = redact_url("postgresql://u@db:5432/app?sslmode=disable&password=hunter2")
    assert "hunter2" not in redacted
    assert "sslmode=disable" in redacted


def test_secret_headers_are_masked_and_others_kept() -> None:
    from covenant.kernel.redact import MASK, PACT_BROKER_MASK, redact_headers

    headers = {"Authorization": "Bearer abc", "X-Api-Key": "k", "Accept": "text/plain"}
    assert redact_headers(headers) == {
        "Authorization": MASK,
        "X-Api-Key": MASK,
        "Accept": "text/plain",
    }
    assert redact_headers({"Cookie": "c"}, PACT_BROKER_MASK) == {"Cookie": "**********"}


def test_scrub_masks_the_longest_secret_whole() -> None:
    from covenant.kernel.redact import scrub

    assert scrub("token abc and abcdef", ["abc", "abcdef", ""]) == "token *** and ***"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:pw@ci/x?token=abc&keep=1", "https://user:*@ci/x?token=*&keep=1"),
        ("https://user@ci/x", "https://user@ci/x"),
        ("https://u:p@ss@ci/x", "https://u:*@ci/x"),
        # Any secret-named parameter, not only the fixed list redact_url knows.
        (
            "https://ci/x?X-Api-Token=t&client_secret=s&a=1",
            "https://ci/x?X-Api-Token=*&client_secret=*&a=1",
        ),
        # Re-encoded once one is masked, template markers kept; untouched otherwise.
        (
            "https://ci/x?token=a&u=${pactbroker.pactUrl}",
            "https://ci/x?token=*&u=${pactbroker.pactUrl}",
        ),
        ("https://ci/x?a=b%20c&token=1", "https://ci/x?a=b+c&token=*"),
        ("https://ci/x?a=b%20c", "https://ci/x?a=b%20c"),
        ("http://[::1/x", "http://[::1/x"),  # urllib cannot split it: unchanged
    ],
)
def test_redact_url_by_name_masks_every_secret_named_parameter(url: str, expected: str) -> None:
    from covenant.kernel.redact import redact_url_by_name

    assert redact_url_by_name(url, "*") == expected
    assert redact_url_by_name(url) == expected.replace("*", MASK)


def test_the_two_url_redactions_differ_where_documented() -> None:
    from covenant.kernel.redact import redact_url_by_name

    url = "https://ci/x?client_secret=s&password=p"
    assert redact_url(url) == "https://ci/x?client_secret=s&password=***"
    assert redact_url_by_name(url) == "https://ci/x?client_secret=***&password=***"
