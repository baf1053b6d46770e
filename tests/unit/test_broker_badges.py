"""Status badges: the Pact Broker's words and colours, drawn locally as SVG that is
always well-formed XML whatever the names and labels hold."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest

from contracts.broker._badge_svg import COLORS, Badge, comment_text, text_width, xml_text
from contracts.broker._badges import (
    can_i_deploy_badge,
    error_badge,
    pact_badge,
    pact_badge_title,
    prepare_name,
    status_of,
)

SVG = "{http://www.w3.org/2000/svg}"


def well_formed(svg: str) -> ET.Element:
    """The badge parsed: raises on anything that is not well-formed XML. The SVG is the
    broker's own output (no DTD, no entities), the very thing under test."""
    return ET.fromstring(svg)  # noqa: S314


def parsed(badge: Badge) -> ET.Element:
    return well_formed(badge.svg())


def texts(badge: Badge) -> list[str]:
    return [t.text or "" for t in parsed(badge).iter(f"{SVG}text")]


def verification(success: bool, sha: str = "abc", number: int = 7) -> dict[str, Any]:
    return {"id": number, "success": success, "sha": sha, "provider_version": "p-1"}


PACT = {"version": "1.0.0", "sha": "abc"}


# --- statuses, as the Pact Broker's PseudoBranchStatus and badge service name them ---


@pytest.mark.parametrize(
    ("sha", "found", "status", "message", "color"),
    [
        ("abc", None, "never", "unknown", "lightgrey"),
        ("abc", verification(True), "success", "verified", "brightgreen"),
        ("abc", verification(True, sha="older"), "stale", "changed", "orange"),
        ("abc", verification(False), "failed", "failed", "red"),
        ("abc", verification(False, sha="older"), "failed", "failed", "red"),
    ],
)
def test_the_latest_pact_and_verification_make_the_status(
    sha: str, found: dict[str, Any] | None, status: str, message: str, color: str
) -> None:
    assert status_of(sha, found) == status
    badge = pact_badge("Web-App", "Order API", PACT, found, label=None, initials=False)
    assert (badge.label, badge.message, badge.color) == ("web-app/order api pact", message, color)
    assert texts(badge) == [badge.label, badge.label, message, message]
    fills = {rect.get("fill") for rect in parsed(badge).iter(f"{SVG}rect")}
    assert COLORS[color] in fills


def test_no_pact_is_pact_not_found() -> None:
    badge = pact_badge("web", "api", None, None, label=None, initials=False)
    assert (badge.label, badge.message, badge.color) == ("pact not found", "unknown", "lightgrey")


def test_labels_initials_and_tags_name_the_parties() -> None:
    assert prepare_name("order-service", True) == "os"
    assert prepare_name("OrderService", True) == "os"
    assert prepare_name("HTTPServer", True) == "hs"
    assert prepare_name("orders", True) == "orders"
    assert prepare_name("Order Service", False, "prod") == "order service (prod)"
    assert pact_badge_title("Web-App", "order-api", "consumer", False) == "web-app pact"
    assert pact_badge_title("Web-App", "order-api", "PROVIDER", True) == "oa pact"
    assert pact_badge_title("web", "api", "other", False) == "web/api pact"
    assert pact_badge_title("web", "api", None, False, "Prod", "Main") == (
        "web (prod)/api (main) pact"
    )


def test_can_i_deploy_and_error_badges() -> None:
    yes = can_i_deploy_badge(None, "main", "production", True)
    assert (yes.label, yes.message, yes.color) == (
        "can-i-deploy",
        "main to production",
        "brightgreen",
    )
    no = can_i_deploy_badge("deploy web", "rc", "prod", False)
    assert (no.label, no.message, no.color) == ("deploy web", "rc to prod", "red")
    missing = error_badge("environment", "not found")
    assert (missing.color, texts(missing)[2]) == ("lightgrey", "not found")


# --- escaping: every text put into the SVG ------------------------------------------


HOSTILE = [
    '<script>alert("x")</script>',
    "a & b ' \" > <",
    "]]><svg onload=alert(1)>",
    "--> <!-- -->",
    "tab\tnew\nline\rcarriage",
    "bell\x07 escape\x1b null-free \x0b\x0c",
    "\ud800 lone surrogate \udfff",
    "\ufffe\uffff not characters",
    "日本語 ünïcödé 🚀",
]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_any_label_name_or_tag_makes_a_well_formed_svg(hostile: str) -> None:
    badges = [
        can_i_deploy_badge(hostile, hostile, hostile, True, comment=hostile),
        pact_badge(
            hostile,
            hostile,
            {"version": hostile, "sha": "x"},
            None,
            label=None,
            initials=True,
            consumer_tag=hostile,
            provider_tag=hostile,
        ),
        error_badge(hostile, hostile),
    ]
    for badge in badges:
        svg = badge.svg()
        root = well_formed(svg)
        assert root.tag == f"{SVG}svg"
        assert "<script" not in svg
        # Nothing but the badge's own elements and attributes: text never became markup.
        tags = {element.tag.removeprefix(SVG) for element in root.iter()}
        assert tags <= {"svg", "title", "linearGradient", "stop", "clipPath", "rect", "g", "text"}
        attributes = {name for element in root.iter() for name in element.attrib}
        assert not any(name.startswith("on") for name in attributes), attributes


def test_text_is_escaped_and_invalid_characters_are_replaced() -> None:
    assert xml_text('<a href="x">&\'') == "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
    assert xml_text("a\x00b\x07c\ud800d\ufffe") == "a\ufffdb\ufffdc\ufffdd\ufffd"
    assert xml_text("tab\there") == "tab here"
    badge = Badge('<b>"web"</b>', "a & b", "red")
    assert texts(badge) == ['<b>"web"</b>'] * 2 + ["a & b"] * 2
    assert parsed(badge).get("aria-label") == '<b>"web"</b>: a & b'


def test_the_comment_can_never_close_early() -> None:
    for hostile in HOSTILE:
        text = comment_text(hostile)
        assert "--" not in text and ">" not in text and "<" not in text
        assert all(c.isprintable() for c in text)
    svg = Badge("a", "b", "red", comment="web version 1--> <svg>").svg()
    assert svg.startswith("<!-- web version 1%2D%2D%3E %3Csvg%3E -->\n<svg ")


def test_width_follows_the_text() -> None:
    narrow, wide = Badge("pact", "ok", "brightgreen"), Badge("pact", "WWWWWWWWWW", "red")
    assert int(parsed(wide).get("width") or 0) > int(parsed(narrow).get("width") or 0)
    assert text_width("iiii") < text_width("mmmm")
    assert text_width("") == 0
    # Near what shields.io draws for the Pact Broker's "pact | verified" (84 px).
    assert 78 <= int(parsed(Badge("pact", "verified", "brightgreen")).get("width") or 0) <= 90
