"""Webhooks against the real broker: CRUD and validation, firing on a real publish
and a real verification result, template parameters, retries, timeouts, the
delivery log, execute, and secrets kept out of every response and log."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from covenant.app import BackgroundServer, create_app
from covenant.stack._ports import free_port
from tests.conftest import wait_until
from tests.integration.broker._webhook_receiver import (
    Receiver,
    deliveries,
    finished,
    publish,
    unique,
)
from tests.integration.broker.conftest import Broker, broker_config, fresh_database
from tests.integration.conftest import RunningStack

SECRET = "s3cr3t-" + uuid.uuid4().hex
HOOK_HEADERS = {
    "Authorization": f"Bearer {SECRET}",
    "X-Api-Token": f"tok-{SECRET}",
    "X-Client-Secret": f"cs-{SECRET}",
    "X-Password": f"pw-{SECRET}",
    "Accept": "text/plain",
}


def webhook(
    url: str,
    *events: str,
    consumer: str | None = None,
    provider: str | None = None,
    headers: dict[str, str] | None = None,
    body: Any = None,
    enabled: bool = True,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "description": "test hook",
        "events": [{"name": e} for e in (events or ("contract_published",))],
        "request": {"method": "POST", "url": url},
        "enabled": enabled,
    }
    if headers:
        spec["request"]["headers"] = headers
    if body is not None:
        spec["request"]["body"] = body
    if consumer:
        spec["consumer"] = {"name": consumer}
    if provider:
        spec["provider"] = {"name": provider}
    return spec


def create(client: httpx.Client, spec: dict[str, Any]) -> str:
    response = client.post("/webhooks", json=spec)
    assert response.status_code == 201, response.text
    href: str = response.json()["_links"]["self"]["href"]
    assert response.headers["location"] == href
    return href


def webhook_count(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM broker.webhooks").fetchone()
    assert row is not None
    return int(row[0])


# -- CRUD -------------------------------------------------------------------------


def test_create_read_list_update_delete(broker: Broker) -> None:
    consumer, provider = unique("wh-crud-c"), unique("wh-crud-p")
    with broker.client() as client:
        publish(client, consumer, provider, "1")
        spec = webhook(
            "https://ci.example/build?p=${pactbroker.providerName}",
            "contract_content_changed",
            "provider_verification_failed",
            consumer=consumer,
            provider=provider,
            body={"pact": "${pactbroker.pactUrl}"},
        )
        created = client.post("/webhooks", json=spec)
        assert created.status_code == 201, created.text
        assert created.headers["content-type"].startswith("application/hal+json")
        doc = created.json()
        href = doc["_links"]["self"]["href"]
        assert href.startswith(broker.url + "/webhooks/")
        assert doc["uuid"] == href.rsplit("/", 1)[1]
        assert [e["name"] for e in doc["events"]] == [
            "contract_content_changed",
            "provider_verification_failed",
        ]
        assert doc["consumer"] == {"name": consumer}
        assert doc["provider"] == {"name": provider}
        assert doc["request"]["body"] == {"pact": "${pactbroker.pactUrl}"}
        assert doc["enabled"] is True
        assert doc["_links"]["pb:execute"]["href"] == href + "/execute"
        assert doc["_links"]["pb:deliveries"]["href"] == href + "/deliveries"
        assert doc["_links"]["pb:consumer"]["name"] == consumer

        one = client.get(href)
        assert one.status_code == 200
        assert one.json()["request"]["url"] == spec["request"]["url"]

        listing = client.get("/webhooks")
        assert listing.status_code == 200
        assert href in [entry["href"] for entry in listing.json()["_links"]["pb:webhooks"]]

        spec["description"] = "changed"
        spec["enabled"] = False
        updated = client.put(href, json=spec)
        assert updated.status_code == 200, updated.text
        assert updated.json()["description"] == "changed"
        assert updated.json()["enabled"] is False
        assert client.get(href).json()["enabled"] is False

        chosen = str(uuid.uuid4())
        upserted = client.put(f"/webhooks/{chosen}", json=spec)
        assert upserted.status_code == 201, upserted.text
        assert upserted.json()["uuid"] == chosen

        assert client.delete(href).status_code == 204
        gone = client.get(href)
        assert gone.status_code == 404
        assert gone.headers["content-type"] == "application/problem+json"
        assert client.delete(href).status_code == 404
        assert client.delete(f"/webhooks/{chosen}").status_code == 204


def test_events_default_like_the_reference_broker(broker: Broker) -> None:
    with broker.client() as client:
        spec = webhook("https://ci.example/hook")
        del spec["events"]
        created = client.post("/webhooks", json=spec)
        assert created.status_code == 201, created.text
        assert created.json()["events"] == [{"name": "contract_content_changed"}]
        client.delete(created.json()["_links"]["self"]["href"])


def test_pact_broker_cli_header_list_is_accepted(broker: Broker) -> None:
    """``pact broker create-webhook --header 'A: b'`` sends headers as a list of strings."""
    with broker.client() as client:
        spec = webhook("https://ci.example/hook")
        spec["request"]["headers"] = ["Content-Type: application/json", "X-Foo:bar"]
        created = client.post("/webhooks", json=spec)
        assert created.status_code == 201, created.text
        assert created.json()["request"]["headers"] == {
            "Content-Type": "application/json",
            "X-Foo": "bar",
        }
        client.delete(created.json()["_links"]["self"]["href"])


def test_scoped_collections_list_and_create_for_their_pacticipants(broker: Broker) -> None:
    consumer, provider = unique("wh-scope-c"), unique("wh-scope-p")
    pair = f"/webhooks/provider/{provider}/consumer/{consumer}"
    with broker.client() as client:
        publish(client, consumer, provider, "1")
        spec = webhook("https://ci.example/scoped")
        # The pair's path decides the pair, whatever the body says.
        overridden = webhook("https://ci.example/scoped", consumer="not-a-pacticipant")
        for path, body in (
            (pair, overridden),
            (f"/webhooks/provider/{provider}", spec),
            (f"/webhooks/consumer/{consumer}", spec),
        ):
            created = client.post(path, json=body)
            assert created.status_code == 201, (path, created.text)
        rows = {
            path: client.get(path).json()["_embedded"]["webhooks"]
            for path in (pair, f"/webhooks/provider/{provider}", f"/webhooks/consumer/{consumer}")
        }
        assert [(w.get("consumer"), w.get("provider")) for w in rows[pair]] == [
            ({"name": consumer}, {"name": provider})
        ]
        assert len(rows[f"/webhooks/provider/{provider}"]) == 2
        assert len(rows[f"/webhooks/consumer/{consumer}"]) == 2
        assert rows[pair][0]["_links"]["pb:pact-webhooks"]["href"] == broker.url + pair
        assert client.get(pair).json()["_links"]["self"]["href"] == broker.url + pair
        for path in (
            f"/webhooks/provider/{provider}/consumer/nobody-{consumer}",
            f"/webhooks/provider/nobody-{provider}",
            f"/webhooks/consumer/nobody-{consumer}",
        ):
            missing = client.post(path, json=spec)
            assert missing.status_code == 404, path
            assert missing.headers["content-type"] == "application/problem+json"
            assert client.get(path).json()["_embedded"]["webhooks"] == []
        for row in rows[f"/webhooks/provider/{provider}"] + rows[f"/webhooks/consumer/{consumer}"]:
            client.delete(row["_links"]["self"]["href"])


BAD_WEBHOOKS: list[tuple[str, Any, str]] = [
    ("not an object", [1, 2], "body"),
    ("unknown event", {"events": [{"name": "contract_deleted"}]}, "events[0].name"),
    ("empty events", {"events": []}, "events"),
    ("event not an object", {"events": ["contract_published"]}, "events[0]"),
    ("no request", {"request": None}, "request"),
    ("relative url", {"request": {"method": "POST", "url": "/hook"}}, "request.url"),
    ("ftp url", {"request": {"method": "POST", "url": "ftp://x.example/"}}, "request.url"),
    ("url not a string", {"request": {"method": "POST", "url": 7}}, "request.url"),
    ("bad port", {"request": {"method": "POST", "url": "http://x:99999/"}}, "request.url"),
    ("bad method", {"request": {"method": "BREW", "url": "https://x/"}}, "request.method"),
    (
        "header not a string",
        {"request": {"method": "POST", "url": "https://x/", "headers": {"A": {"b": 1}}}},
        "request.headers.A",
    ),
    (
        "header list item",
        {"request": {"method": "POST", "url": "https://x/", "headers": ["no colon"]}},
        "request.headers[0]",
    ),
    ("enabled not bool", {"enabled": "yes"}, "enabled"),
    ("consumer not object", {"consumer": "x"}, "consumer"),
    ("consumer without name", {"consumer": {}}, "consumer.name"),
    ("unknown consumer", {"consumer": {"name": "no-such-pacticipant-xyz"}}, "consumer.name"),
    ("unknown provider", {"provider": {"name": "no-such-pacticipant-xyz"}}, "provider.name"),
]


#: Valid by the documented schema, refused by what only the broker knows: 422, not 400.
UNPROCESSABLE = {"unknown consumer", "unknown provider"}


@pytest.mark.parametrize(
    ("case", "change", "field"), BAD_WEBHOOKS, ids=[c[0] for c in BAD_WEBHOOKS]
)
def test_invalid_webhooks_are_problem_documents(
    broker: Broker, case: str, change: Any, field: str
) -> None:
    before = webhook_count(broker.database_url)
    body: Any = change
    if isinstance(change, dict):
        body = {**webhook("https://ci.example/hook"), **change}
    with broker.client() as client:
        for send in (
            lambda: client.post("/webhooks", json=body),
            lambda: client.put(f"/webhooks/{uuid.uuid4()}", json=body),
        ):
            response = send()
            expected = 422 if case in UNPROCESSABLE else 400
            assert response.status_code == expected, (case, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            problem = response.json()
            if field != "body":
                assert field in problem["errors"], problem
    assert webhook_count(broker.database_url) == before


def test_malformed_json_names_line_and_column(broker: Broker) -> None:
    with broker.client() as client:
        response = client.post(
            "/webhooks",
            content=b'{\n  "events": [\n    {"name": "contract_published",}\n  ]\n}',
            headers={"Content-Type": "application/json"},
        )
    assert response.status_code == 400
    assert "line 3" in response.json()["detail"]


def test_unknown_and_malformed_uuids_are_404(broker: Broker) -> None:
    with broker.client() as client:
        for path in (
            f"/webhooks/{uuid.uuid4()}",
            "/webhooks/not-a-uuid",
            f"/webhooks/{uuid.uuid4()}/deliveries",
            "/webhooks/not-a-uuid/deliveries",
        ):
            response = client.get(path)
            assert response.status_code == 404, path
            assert response.headers["content-type"] == "application/problem+json"
        assert client.post(f"/webhooks/{uuid.uuid4()}/execute").status_code == 404
        assert client.delete("/webhooks/not-a-uuid").status_code == 404


# -- secrets ----------------------------------------------------------------------


def test_secret_headers_are_redacted_in_get_and_kept_on_put(broker: Broker) -> None:
    with broker.client() as client, Receiver() as receiver:
        spec = webhook(receiver.url + f"/hook?token=q-{SECRET}&keep=1", headers=dict(HOOK_HEADERS))
        spec["request"]["username"] = "ci-user"
        spec["request"]["password"] = f"basic-{SECRET}"
        href = create(client, spec)
        for response in (client.get(href), client.get("/webhooks")):
            assert response.status_code == 200
            assert SECRET not in response.text
        shown = client.get(href).json()["request"]
        assert shown["headers"]["Authorization"] == "**********"
        assert shown["headers"]["X-Api-Token"] == "**********"
        assert shown["headers"]["X-Client-Secret"] == "**********"
        assert shown["headers"]["X-Password"] == "**********"
        assert shown["headers"]["Accept"] == "text/plain"
        assert shown["password"] == "**********"
        assert shown["username"] == "ci-user"
        assert shown["url"] == receiver.url + "/hook?token=**********&keep=1"

        # PUT back what GET showed: the stored secrets survive.
        doc = client.get(href).json()
        back = {k: doc[k] for k in ("description", "events", "request", "enabled")}
        back["request"]["headers"].pop("X-Password")
        assert client.put(href, json=back).status_code == 200
        executed = client.post(href + "/execute")
        assert executed.status_code == 200, executed.text
        assert SECRET not in executed.text
        sent = receiver.wait_for(1)[0]
        # username/password become a Basic Authorization header, replacing the header
        expected = base64.b64encode(f"ci-user:basic-{SECRET}".encode()).decode()
        assert sent.headers["Authorization"] == f"Basic {expected}"
        assert sent.headers["X-Api-Token"] == f"tok-{SECRET}"
        assert sent.headers["X-Client-Secret"] == f"cs-{SECRET}"
        assert "X-Password" not in sent.headers
        assert sent.path == f"/hook?token=q-{SECRET}&keep=1"
        client.delete(href)


def test_secrets_stay_out_of_the_delivery_log_even_when_echoed(broker: Broker) -> None:
    consumer, provider = unique("wh-echo-c"), unique("wh-echo-p")
    with broker.client() as client, Receiver(echo_headers=True) as receiver:
        publish(client, consumer, provider, "1")
        href = create(
            client,
            webhook(receiver.url + "/hook", consumer=consumer, headers=dict(HOOK_HEADERS)),
        )
        publish(client, consumer, provider, "2", marker="b")
        sent = receiver.wait_for(1)[0]
        assert sent.headers["Authorization"] == f"Bearer {SECRET}"
        [delivery] = finished(client, href)
        assert delivery["status"] == "succeeded"
        assert "response body" in delivery["logs"]
        assert "X-Api-Token" in delivery["logs"]  # the echo is there, scrubbed
        raw = client.get(href + "/deliveries").text
        assert SECRET not in raw
        assert "**********" in delivery["logs"]
        executed = client.post(href + "/execute")
        assert executed.status_code == 200
        assert SECRET not in executed.text
    with psycopg.connect(broker.database_url) as conn:
        rows = conn.execute(
            "SELECT logs FROM broker.webhook_deliveries d JOIN broker.webhooks w"
            " ON w.id = d.webhook_id WHERE w.consumer_name = %s",
            (consumer,),
        ).fetchall()
    assert rows
    assert all(SECRET not in row[0] for row in rows)


# -- firing -----------------------------------------------------------------------


def test_fires_on_a_real_publish_with_template_parameters(broker: Broker) -> None:
    consumer, provider = unique("wh-pub-c"), unique("wh-pub-p")
    with broker.client() as client, Receiver() as receiver:
        publish(client, consumer, provider, "1.0.0")
        href = create(
            client,
            webhook(
                receiver.url
                + "/hook/${pactbroker.consumerName}?v=${pactbroker.consumerVersionNumber}",
                "contract_published",
                consumer=consumer,
                headers={"Authorization": f"Bearer {SECRET}", "X-Event": "${pactbroker.eventName}"},
                body={
                    "consumer": "${pactbroker.consumerName}",
                    "provider": "${pactbroker.providerName}",
                    "version": "${pactbroker.consumerVersionNumber}",
                    "branch": "${pactbroker.consumerVersionBranch}",
                    "pact": "${pactbroker.pactUrl}",
                    "event": "${pactbroker.eventName}",
                    "status": "${pactbroker.githubVerificationStatus}",
                    "unknown": "${pactbroker.noSuchThing}",
                },
            ),
        )
        publish(client, consumer, provider, "2.0.0", marker="b", branch="feat/x")
        [sent] = receiver.wait_for(1)
        assert sent.method == "POST"
        assert sent.path == f"/hook/{consumer}?v=2.0.0"
        assert sent.headers["Authorization"] == f"Bearer {SECRET}"
        assert sent.headers["X-Event"] == "contract_published"
        assert sent.headers["Content-Type"] == "application/json"
        body = sent.json()
        assert body["consumer"] == consumer
        assert body["provider"] == provider
        assert body["version"] == "2.0.0"
        assert body["branch"] == "feat/x"
        assert body["event"] == "contract_published"
        assert body["status"] == "pending"
        assert body["unknown"] == "${pactbroker.noSuchThing}"
        pact = httpx.get(body["pact"], headers={"Authorization": f"Bearer {broker.rw_token}"})
        assert pact.status_code == 200, body["pact"]
        assert pact.json()["consumer"]["name"] == consumer

        [delivery] = finished(client, href)
        assert delivery["status"] == "succeeded"
        assert delivery["attemptsMade"] == 1
        assert delivery["responseStatus"] == 200
        assert delivery["eventName"] == "contract_published"
        assert delivery["triggerType"] == "event"
        assert delivery["triggeredAt"] and delivery["updatedAt"]
        assert "HTTP 200" in delivery["logs"]
        assert "receiver says 200" in delivery["logs"]
        assert SECRET not in delivery["logs"]
        assert "Authorization: **********" in delivery["logs"]
        # republishing the same version and content is not a new publication
        publish(client, consumer, provider, "2.0.0", marker="b", branch="feat/x")
        assert len(finished(client, href)) == 1
        assert len(receiver.requests) == 1


def test_deliveries_in_progress_are_bounded_by_webhook_concurrency(broker: Broker) -> None:
    """A publish that fires many webhooks must not take the whole database pool:
    at most ``broker.webhook_concurrency`` (4) deliveries run at once, every one
    is delivered, and the broker answers other requests meanwhile."""
    consumer = unique("many-hooks")
    with broker.client() as client, Receiver(delay_s=0.5) as receiver:
        publish(client, consumer, unique("provider"), "0.0.1")  # the pacticipant exists
        for index in range(12):
            create(client, webhook(receiver.url + f"/slow/{index}", consumer=consumer))
        publish(client, consumer, unique("provider"), "1.0.0")
        receiver.wait_until_active(2)
        # Deliveries are in progress; the broker still serves reads and writes.
        assert client.get("/pacticipants").status_code == 200
        publish(client, consumer, unique("provider"), "1.0.1")
        receiver.wait_for(24, timeout=90)
    assert 2 <= receiver.peak <= 4, receiver.peak


def test_content_changed_only_when_the_content_changes(broker: Broker) -> None:
    consumer, provider = unique("wh-chg-c"), unique("wh-chg-p")
    with broker.client() as client, Receiver() as receiver:
        publish(client, consumer, provider, "1", marker="a")
        href = create(
            client,
            webhook(
                receiver.url + "/changed/${pactbroker.consumerVersionNumber}",
                "contract_content_changed",
                provider=provider,
            ),
        )
        publish(client, consumer, provider, "2", marker="a")  # same content
        publish(client, consumer, provider, "3", marker="b")  # new content
        [sent] = receiver.wait_for(1)
        assert sent.path == "/changed/3"
        [delivery] = finished(client, href)
        assert delivery["eventName"] == "contract_content_changed"


def test_matching_by_consumer_provider_and_enabled(broker: Broker) -> None:
    consumer, other, provider = unique("wh-m-c"), unique("wh-m-o"), unique("wh-m-p")
    with broker.client() as client, Receiver() as receiver:
        publish(client, consumer, provider, "1")
        publish(client, other, provider, "1")
        mine = create(client, webhook(receiver.url + "/mine", consumer=consumer))
        disabled = create(
            client, webhook(receiver.url + "/disabled", consumer=consumer, enabled=False)
        )
        for_other = create(client, webhook(receiver.url + "/other", consumer=other))
        for_pair = create(
            client,
            webhook(receiver.url + "/pair", consumer=consumer, provider=provider),
        )
        wrong_pair = create(
            client,
            webhook(receiver.url + "/wrong-pair", consumer=other, provider=provider),
        )
        publish(client, consumer, provider, "2", marker="b")
        receiver.wait_for(2)
        finished(client, mine)
        finished(client, for_pair)
        paths = sorted(r.path for r in receiver.requests)
        assert paths == ["/mine", "/pair"]
        for href in (disabled, for_other, wrong_pair):
            assert deliveries(client, href) == []


def verification_url(publication: dict[str, Any], provider: str) -> str:
    """The pb:publish-verification-results link of the published pact."""
    links = publication["_links"]["pb:contracts"]
    pact_href = links[0]["href"] if isinstance(links, list) else links["href"]
    pact = httpx.get(pact_href).json()
    href: str = pact["_links"]["pb:publish-verification-results"]["href"]
    assert provider in href
    return href


@pytest.mark.parametrize("success", [True, False], ids=["succeeded", "failed"])
def test_fires_on_a_real_verification_result(broker: Broker, success: bool) -> None:
    consumer, provider = unique("wh-ver-c"), unique("wh-ver-p")
    outcome = "succeeded" if success else "failed"
    with broker.client() as client, Receiver() as receiver:
        publication = publish(client, consumer, provider, "1.2.3")
        hooks = {
            event: create(
                client,
                webhook(
                    receiver.url + f"/{event}",
                    event,
                    provider=provider,
                    body=(
                        "${pactbroker.githubVerificationStatus}|"
                        "${pactbroker.providerVersionNumber}|"
                        "${pactbroker.consumerVersionNumber}|"
                        "${pactbroker.verificationResultUrl}|${pactbroker.pactUrl}"
                    ),
                ),
            )
            for event in (
                f"provider_verification_{outcome}",
                "provider_verification_published",
            )
        }
        other = "failed" if success else "succeeded"
        not_fired = create(client, webhook(receiver.url + "/no", f"provider_verification_{other}"))
        url = verification_url(publication, provider)
        result = client.post(
            url,
            json={
                "success": success,
                "providerApplicationVersion": "9.9.9",
                "buildUrl": "https://ci.example/9",
            },
        )
        assert result.status_code == 201, result.text
        result_href = result.json()["_links"]["self"]["href"]
        sent = receiver.wait_for(2)
        by_path = {r.path: r for r in sent}
        assert set(by_path) == {
            f"/provider_verification_{outcome}",
            "/provider_verification_published",
        }
        for request in sent:
            status, provider_version, consumer_version, verification, pact_url = (
                request.body.decode().split("|")
            )
            assert status == ("success" if success else "failure")
            assert provider_version == "9.9.9"
            assert consumer_version == "1.2.3"
            assert verification == result_href
            assert f"/consumer/{consumer}/" in pact_url
        for href in hooks.values():
            [delivery] = finished(client, href)
            assert delivery["status"] == "succeeded"
        assert deliveries(client, not_fired) == []
        client.delete(not_fired)


# -- retries and timeouts -----------------------------------------------------------


def test_retries_with_backoff_until_the_receiver_answers(broker: Broker) -> None:
    consumer, provider = unique("wh-retry-c"), unique("wh-retry-p")
    with broker.client() as client, Receiver(statuses=[500, 500, 200]) as receiver:
        publish(client, consumer, provider, "1")
        href = create(client, webhook(receiver.url + "/flaky", consumer=consumer))
        publish(client, consumer, provider, "2", marker="b")
        [delivery] = finished(client, href)
        assert delivery["status"] == "succeeded", delivery["logs"]
        assert delivery["attemptsMade"] == 3
        assert delivery["responseStatus"] == 200
        assert delivery["logs"].count("HTTP 500") == 2
        assert delivery["logs"].count("retrying in") == 2
        assert len(receiver.requests) == 3


@pytest.fixture(scope="module")
def impatient_broker(stack: RunningStack) -> Iterator[Broker]:
    """A broker whose webhooks give up quickly: 0.5 s per attempt, 2 retries."""
    database_url = fresh_database(stack, "broker_wh_fast")
    config = broker_config(database_url, webhook_timeout_s=0.5, webhook_retries=2)
    with BackgroundServer(create_app(config)) as server:
        yield Broker(server.url, database_url)


def test_a_receiver_that_never_answers_fails_after_the_retries(impatient_broker: Broker) -> None:
    consumer, provider = unique("wh-hang-c"), unique("wh-hang-p")
    with impatient_broker.client() as client, Receiver(hang=True) as receiver:
        publish(client, consumer, provider, "1")
        href = create(client, webhook(receiver.url + "/hang", consumer=consumer))
        publish(client, consumer, provider, "2", marker="b")
        [delivery] = finished(client, href)
        assert delivery["status"] == "failed"
        assert delivery["attemptsMade"] == 3
        assert delivery["attemptsRemaining"] == 0
        assert delivery["responseStatus"] is None
        assert delivery["logs"].count("no response within 0.5 s") == 3
        assert "giving up after 3 attempt(s)" in delivery["logs"]
        assert len(receiver.requests) == 3


def test_a_receiver_that_refuses_connections_fails_after_the_retries(
    impatient_broker: Broker,
) -> None:
    consumer, provider = unique("wh-down-c"), unique("wh-down-p")
    with Receiver() as receiver:
        closed = receiver.url  # nothing listens here once the receiver is closed
    with impatient_broker.client() as client:
        publish(client, consumer, provider, "1")
        href = create(client, webhook(closed + "/down", consumer=consumer))
        publish(client, consumer, provider, "2", marker="b")
        [delivery] = finished(client, href)
        assert delivery["status"] == "failed"
        assert delivery["attemptsMade"] == 3
        assert "ConnectError" in delivery["logs"]


# -- execute ------------------------------------------------------------------------


def test_execute_sends_now_with_the_latest_matching_data(broker: Broker) -> None:
    consumer, provider = unique("wh-exec-c"), unique("wh-exec-p")
    with broker.client() as client, Receiver(statuses=[200, 500]) as receiver:
        publish(client, consumer, provider, "4.5.6")
        href = create(
            client,
            webhook(
                receiver.url + "/exec/${pactbroker.consumerVersionNumber}",
                consumer=consumer,
                body="${pactbroker.consumerName} -> ${pactbroker.providerName}",
            ),
        )
        first = client.post(href + "/execute")
        assert first.status_code == 200, first.text
        outcome = first.json()
        assert outcome["success"] is True
        assert outcome["request"]["url"] == receiver.url + "/exec/4.5.6"
        assert outcome["response"]["status"] == 200
        assert outcome["response"]["body"] == "receiver says 200"
        assert outcome["_links"]["try-again"]["href"] == href + "/execute"
        [sent] = receiver.wait_for(1)
        assert sent.body.decode() == f"{consumer} -> {provider}"

        second = client.post(href + "/execute")
        assert second.status_code == 200
        assert second.json()["success"] is False
        assert second.json()["response"]["status"] == 500

        logged = deliveries(client, href)
        assert [d["triggerType"] for d in logged] == ["execute", "execute"]
        assert [d["status"] for d in logged] == ["failed", "succeeded"]
        assert "manual execution" in logged[0]["logs"]


def test_execute_without_any_pact_uses_placeholders(broker: Broker) -> None:
    with broker.client() as client, Receiver() as receiver:
        href = create(client, webhook(receiver.url + "/p/${pactbroker.consumerName}"))
        # A global webhook matches the latest publication of anyone: fine either way,
        # but the request must have no unreplaced known parameter.
        outcome = client.post(href + "/execute").json()
        assert outcome["success"] is True
        assert "${pactbroker.consumerName}" not in receiver.wait_for(1)[0].path
        client.delete(href)


def test_deliveries_log_survives_in_order_and_is_bounded(broker: Broker) -> None:
    with broker.client() as client, Receiver() as receiver:
        href = create(client, webhook(receiver.url + "/n"))
        for _ in range(3):
            assert client.post(href + "/execute").status_code == 200
        assert len(deliveries(client, href)) == 3
        ids = [d["id"] for d in deliveries(client, href)]
        assert ids == sorted(ids, reverse=True)
        limited = client.get(href + "/deliveries", params={"size": 2})
        assert len(limited.json()["_embedded"]["deliveries"]) == 2
        assert client.get(href + "/deliveries", params={"size": 0}).status_code == 400
        client.delete(href)
        assert wait_until(lambda: client.get(href).status_code == 404)


def test_deleting_a_webhook_deletes_its_deliveries(broker: Broker) -> None:
    with broker.client() as client, Receiver() as receiver:
        href = create(client, webhook(receiver.url + "/d"))
        client.post(href + "/execute")
        webhook_id = href.rsplit("/", 1)[1]
        client.delete(href)
    with psycopg.connect(broker.database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM broker.webhook_deliveries WHERE webhook_id = %s",
            (webhook_id,),
        ).fetchone()
    assert row == (0,)


def test_the_body_is_sent_as_written_for_strings(broker: Broker) -> None:
    with broker.client() as client, Receiver() as receiver:
        xml = '<build pact="${pactbroker.eventName}"/>'
        spec = webhook(receiver.url + "/xml", headers={"Content-Type": "application/xml"})
        spec["request"]["body"] = xml
        href = create(client, spec)
        client.post(href + "/execute")
        [sent] = receiver.wait_for(1)
        assert sent.body == b'<build pact="contract_published"/>'
        assert sent.headers["Content-Type"] == "application/xml"
        assert json.loads(client.get(href).text)["request"]["body"] == xml
        client.delete(href)


# -- the standard tooling -------------------------------------------------------------

PACT_CLI = Path(sys.executable).parent / "pact"


def pact_broker(broker: Broker, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACT_BROKER_")}
    return subprocess.run(
        [str(PACT_CLI), "broker", *args, "-b", broker.url, "-k", broker.rw_token],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.skipif(not PACT_CLI.exists(), reason="pact-python-cli is not installed")
def test_the_pact_broker_cli_manages_and_tests_webhooks(broker: Broker) -> None:
    consumer, provider = unique("wh-cli-c"), unique("wh-cli-p")
    with broker.client() as client, Receiver() as receiver:
        publish(client, consumer, provider, "1")
        created = pact_broker(
            broker,
            "create-webhook",
            receiver.url + "/cli/${pactbroker.consumerName}",
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
            '{"pact": "${pactbroker.pactUrl}"}',
            "--consumer",
            consumer,
            "--provider",
            provider,
            "--description",
            "made by the pact CLI",
            "--contract-published",
            "--provider-verification-failed",
        )
        assert created.returncode == 0, created.stdout + created.stderr
        listing = client.get("/webhooks").json()["_embedded"]["webhooks"]
        [made] = [
            w
            for w in listing
            if w["description"] == "made by the pact CLI"
            and w.get("consumer") == {"name": consumer}
        ]
        assert [e["name"] for e in made["events"]] == [
            "contract_published",
            "provider_verification_failed",
        ]
        assert made["request"]["headers"] == {"Content-Type": "application/json"}

        tested = pact_broker(broker, "test-webhook", "--uuid", made["uuid"])
        assert tested.returncode == 0, tested.stdout + tested.stderr
        [sent] = receiver.wait_for(1)
        assert sent.path == f"/cli/{consumer}"
        assert sent.json()["pact"].startswith(broker.url + "/pacts/provider/")

        provider_only = pact_broker(
            broker,
            "create-webhook",
            receiver.url + "/provider-only",
            "-X",
            "POST",
            "--provider",
            provider,
            "--description",
            "provider only",
            "--provider-verification-published",
        )
        assert provider_only.returncode == 0, provider_only.stdout + provider_only.stderr
        scoped = client.get(f"/webhooks/provider/{provider}").json()["_embedded"]["webhooks"]
        assert {w["description"] for w in scoped} == {"made by the pact CLI", "provider only"}
        only = next(w for w in scoped if w["description"] == "provider only")
        assert "consumer" not in only

        chosen = str(uuid.uuid4())
        upserted = pact_broker(
            broker,
            "create-or-update-webhook",
            receiver.url + "/upserted",
            "--uuid",
            chosen,
            "-X",
            "POST",
            "--contract-content-changed",
        )
        assert upserted.returncode == 0, upserted.stdout + upserted.stderr
        assert client.get(f"/webhooks/{chosen}").status_code == 200

        for uuid_ in (made["uuid"], chosen, only["uuid"]):
            deleted = pact_broker(broker, "delete-webhook", "--uuid", uuid_)
            assert deleted.returncode == 0, deleted.stdout + deleted.stderr
            assert client.get(f"/webhooks/{uuid_}").status_code == 404


# -- where webhooks may go ------------------------------------------------------------


@pytest.fixture(scope="module")
def fenced_broker(stack: RunningStack) -> Iterator[Broker]:
    """A broker whose webhooks may only call loopback addresses, and whose HAL links
    say ``localhost``: a name, compared as written and never resolved, so a
    whole-URL template such as ${pactbroker.pactUrl} renders to a host outside the list."""
    database_url = fresh_database(stack, "broker_wh_fenced")
    port = free_port()
    config = broker_config(
        database_url,
        webhook_allowed_hosts=["127.0.0.0/8", "::1"],
        public_base_url=f"http://localhost:{port}",
    )
    with BackgroundServer(create_app(config), port=port) as server:
        yield Broker(server.url, database_url)


def test_a_webhook_to_a_host_outside_the_allowlist_is_refused(fenced_broker: Broker) -> None:
    with fenced_broker.client() as client:
        assert client.get("/webhooks").status_code == 200  # migrated
        before = webhook_count(fenced_broker.database_url)
        refused = client.post("/webhooks", json=webhook("https://elsewhere.example/hook"))
        assert refused.status_code == 422, refused.text
        assert "webhook_allowed_hosts" in refused.json()["errors"]["request.url"][0]
    assert webhook_count(fenced_broker.database_url) == before


def test_a_rendered_url_outside_the_allowlist_is_never_sent(fenced_broker: Broker) -> None:
    consumer, provider = unique("wh-fence-c"), unique("wh-fence-p")
    with fenced_broker.client() as client, Receiver() as receiver:
        publish(client, consumer, provider, "1")
        allowed = create(client, webhook(receiver.url + "/ok", consumer=consumer))
        assert client.post(allowed + "/execute").json()["success"] is True
        # ${pactbroker.pactUrl} renders to http://localhost:.../...: not allowed.
        href = create(client, webhook("${pactbroker.pactUrl}", consumer=consumer))
        outcome = client.post(href + "/execute")
        assert outcome.status_code == 200, outcome.text
        assert outcome.json()["success"] is False
        assert "webhook_allowed_hosts" in outcome.json()["logs"]
        assert len(receiver.requests) == 1


def test_a_header_that_renders_to_non_ascii_fails_the_attempt_not_the_broker(
    broker: Broker,
) -> None:
    consumer, provider = unique("wh-café-c"), unique("wh-ascii-p")
    with broker.client() as client, Receiver() as receiver:
        publish(client, consumer, provider, "1")
        href = create(
            client,
            webhook(
                receiver.url + "/h",
                consumer=consumer,
                headers={"X-Consumer": "${pactbroker.consumerName}"},
            ),
        )
        outcome = client.post(href + "/execute")
        assert outcome.status_code == 200, outcome.text
        assert outcome.json()["success"] is False
        assert "cannot be sent" in outcome.json()["logs"]
        assert receiver.requests == []
