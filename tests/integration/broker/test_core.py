"""The broker's core over real HTTP on real PostgreSQL: index, publishing, reading pacts,
pacticipants, versions, branches and tags."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from covenant.app import BackgroundServer, create_app
from tests.integration.broker.conftest import Broker, broker_config


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make_pact(consumer: str, provider: str, *descriptions: str) -> dict[str, Any]:
    return {
        "consumer": {"name": consumer},
        "provider": {"name": provider},
        "interactions": [
            {
                "type": "Synchronous/HTTP",
                "description": description,
                "providerStates": [{"name": "an order exists"}],
                "request": {"method": "GET", "path": "/orders/1"},
                "response": {"status": 200, "body": {"content": {"id": 1, "note": "é ✓"}}},
            }
            for description in descriptions or ("get an order",)
        ],
        "metadata": {"pactSpecification": {"version": "4.0"}},
    }


def b64(value: Any) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.b64encode(raw).decode()


def sha_of(content: Any) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def contract(consumer: str, provider: str, content: Any, **extra: Any) -> dict[str, Any]:
    return {
        "consumerName": consumer,
        "providerName": provider,
        "specification": "pact",
        "contentType": "application/json",
        "content": content if isinstance(content, str) else b64(content),
        **extra,
    }


def publication(
    consumer: str, version: str, contracts: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    return {
        "pacticipantName": consumer,
        "pacticipantVersionNumber": version,
        "contracts": contracts,
        **extra,
    }


def strip(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if k not in ("_links", "createdAt")}


def count(broker: Broker, sql: str, *params: Any) -> int:
    with psycopg.connect(broker.database_url) as conn:
        row = conn.execute(sql, params).fetchone()
        assert row is not None
        return int(row[0])


def stored(broker: Broker, name_prefix: str) -> dict[str, int]:
    """How many rows mention pacticipants whose name starts with ``name_prefix``."""
    like = name_prefix + "%"
    return {
        "pacticipants": count(
            broker, "SELECT count(*) FROM broker.pacticipants WHERE name LIKE %s", like
        ),
        "versions": count(
            broker,
            "SELECT count(*) FROM broker.versions v JOIN broker.pacticipants p"
            " ON p.id = v.pacticipant_id WHERE p.name LIKE %s",
            like,
        ),
        "pact_versions": count(
            broker,
            "SELECT count(*) FROM broker.pact_versions pv JOIN broker.pacticipants p"
            " ON p.id = pv.consumer_id WHERE p.name LIKE %s",
            like,
        ),
        "publications": count(
            broker,
            "SELECT count(*) FROM broker.pact_publications pp JOIN broker.versions v"
            " ON v.id = pp.consumer_version_id JOIN broker.pacticipants p"
            " ON p.id = v.pacticipant_id WHERE p.name LIKE %s",
            like,
        ),
    }


@pytest.fixture
def rw(broker: Broker) -> Iterator[httpx.Client]:
    with broker.client() as client:
        yield client


@pytest.fixture
def anon(broker: Broker) -> Iterator[httpx.Client]:
    with broker.client(None) as client:
        yield client


# --- index -------------------------------------------------------------------

CORE_RELATIONS = {
    "pb:publish-pact": "/pacts/provider/{provider}/consumer/{consumer}/version/"
    "{consumerApplicationVersion}",
    "pb:publish-contracts": "/contracts/publish",
    "pb:latest-pact-versions": "/pacts/latest",
    "pb:pacticipants": "/pacticipants",
    "pb:pacticipant": "/pacticipants/{pacticipant}",
    "pb:latest-provider-pacts": "/pacts/provider/{provider}/latest",
    "pb:latest-provider-pacts-with-tag": "/pacts/provider/{provider}/latest/{tag}",
    "pb:provider-pacts": "/pacts/provider/{provider}",
    "pb:provider-pacts-for-verification": "/pacts/provider/{provider}/for-verification",
    "pb:latest-version": "/pacticipants/{pacticipant}/latest-version",
    "pb:latest-tagged-version": "/pacticipants/{pacticipant}/latest-version/{tag}",
    "pb:pacticipant-version": "/pacticipants/{pacticipant}/versions/{version}",
    "pb:pacticipant-version-tag": "/pacticipants/{pacticipant}/versions/{version}/tags/{tag}",
    "pb:pacticipant-branch": "/pacticipants/{pacticipant}/branches/{branch}",
    "pb:pacticipant-branch-version": "/pacticipants/{pacticipant}/branches/{branch}"
    "/versions/{version}",
    "pb:environments": "/environments",
    "pb:environment": "/environments/{uuid}",
    "pb:can-i-deploy-pacticipant-version-to-environment": "/can-i-deploy?pacticipant="
    "{pacticipant}&version={version}&environment={environment}",
    "pb:can-i-deploy-pacticipant-version-to-tag": "/can-i-deploy?pacticipant={pacticipant}"
    "&version={version}&to={tag}",
    "pb:can-i-deploy-branch-to-environment": "/pacticipants/{pacticipant}/branches/{branch}"
    "/latest-version/can-i-deploy/to-environment/{environment}",
    "pb:webhooks": "/webhooks",
    "pb:webhook": "/webhooks/{uuid}",
}


def test_index_lists_every_relation_with_templates(broker: Broker, anon: httpx.Client) -> None:
    response = anon.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/hal+json")
    links = response.json()["_links"]
    assert links["self"]["href"] == broker.url
    for relation, path in CORE_RELATIONS.items():
        assert relation in links, relation
        assert links[relation]["href"] == broker.url + path, relation
        assert links[relation]["templated"] is ("{" in path), relation
        assert links[relation]["title"], relation
    # every core relation the index advertises answers (templates filled in)
    name = uid("idx")
    assert anon.get(links["pb:pacticipants"]["href"]).status_code == 200
    missing = links["pb:pacticipant"]["href"].replace("{pacticipant}", name)
    assert anon.get(missing).status_code == 404


# --- publishing ----------------------------------------------------------------


def test_publish_contracts_then_read_back_every_way(broker: Broker, rw: httpx.Client) -> None:
    consumer, provider_a, provider_b = uid("web"), uid("api"), uid("events")
    pact_a = make_pact(consumer, provider_a, "get an order", "list orders")
    pact_b = make_pact(consumer, provider_b)
    pact_b["interactions"] = []
    pact_b["messages"] = [{"description": "order created", "contents": {"id": 1}}]
    body = publication(
        consumer,
        "1.0.0",
        [contract(consumer, provider_a, pact_a), contract(consumer, provider_b, pact_b)],
        branch="feature/orders",
        tags=["dev", "rc"],
        buildUrl="https://ci.example/builds/1",
    )
    response = rw.post("/contracts/publish", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/hal+json")
    result = response.json()
    assert result["_embedded"]["pacticipant"]["name"] == consumer
    assert result["_embedded"]["version"]["number"] == "1.0.0"
    assert result["_embedded"]["version"]["_links"]["self"]["title"] == "Version"
    assert [t["name"] for t in result["_links"]["pb:pacticipant-version-tags"]] == ["dev", "rc"]
    contracts = result["_links"]["pb:contracts"]
    assert [c["href"] for c in contracts] == [
        f"{broker.url}/pacts/provider/{provider_a}/consumer/{consumer}/version/1.0.0",
        f"{broker.url}/pacts/provider/{provider_b}/consumer/{consumer}/version/1.0.0",
    ]
    assert all(c["name"] and c["title"] for c in contracts)
    texts = [n["text"] for n in result["notices"]]
    assert texts[0].startswith(f"Created {consumer} version 1.0.0 with branch feature/orders")
    assert any("successfully published" in t and provider_a in t for t in texts)
    assert all(log["deprecationWarning"] for log in result["logs"])

    # by consumer version: the published JSON plus _links and createdAt
    pact = rw.get(contracts[0]["href"]).json()
    assert strip(pact) == pact_a
    assert pact["createdAt"]
    links = pact["_links"]
    assert links["pb:consumer"]["name"] == consumer
    assert links["pb:provider"]["name"] == provider_a
    assert links["pb:consumer-version"]["name"] == "1.0.0"
    sha = sha_of(pact_a)
    assert links["pb:pact-version"]["name"] == sha
    base = f"{broker.url}/pacts/provider/{provider_a}/consumer/{consumer}"
    assert links["pb:publish-verification-results"]["href"] == (
        f"{base}/pact-version/{sha}/verification-results"
    )
    assert links["pb:latest-verification-results"]["href"].endswith("/verification-results/latest")
    assert strip(rw.get(contracts[1]["href"]).json()) == pact_b

    # by content sha, latest, latest by tag, latest on a branch (encoded slash)
    by_sha = rw.get(f"{base}/pact-version/{sha}")
    assert by_sha.status_code == 200
    assert by_sha.json()["_links"]["self"]["href"] == f"{base}/pact-version/{sha}"
    assert strip(rw.get(f"{base}/latest").json()) == pact_a
    assert strip(rw.get(f"{base}/latest/rc").json()) == pact_a
    assert rw.get(f"{base}/latest/prod").status_code == 404
    assert strip(rw.get(f"{base}/branch/feature%2Forders/latest").json()) == pact_a
    assert rw.get(f"{base}/branch/main/latest").status_code == 404
    assert rw.get(f"{base}/pact-version/{'0' * 64}").status_code == 404

    # a newer version becomes "latest"; the tag still points at 1.0.0
    pact_a2 = make_pact(consumer, provider_a, "get an order")
    put = rw.put(f"{base}/version/1.1.0", json=pact_a2)
    assert put.status_code == 201, put.text
    assert strip(rw.get(f"{base}/latest").json()) == pact_a2
    assert strip(rw.get(f"{base}/latest/rc").json()) == pact_a

    # lists
    latest = rw.get("/pacts/latest").json()
    mine = [p for p in latest["pacts"] if p["_embedded"]["consumer"]["name"] == consumer]
    assert {
        (
            p["_embedded"]["provider"]["name"],
            p["_embedded"]["consumer"]["_embedded"]["version"]["number"],
        )
        for p in mine
    } == {(provider_a, "1.1.0"), (provider_b, "1.0.0")}
    assert all(p["createdAt"] for p in mine)
    provider_latest = rw.get(f"/pacts/provider/{provider_a}/latest").json()
    assert [p["href"] for p in provider_latest["_links"]["pb:pacts"]] == [f"{base}/version/1.1.0"]
    assert provider_latest["_links"]["pacts"] == provider_latest["_links"]["pb:pacts"]
    tagged = rw.get(f"/pacts/provider/{provider_a}/latest/dev").json()
    assert [p["href"] for p in tagged["_links"]["pb:pacts"]] == [f"{base}/version/1.0.0"]
    every = rw.get(f"/pacts/provider/{provider_a}").json()
    assert [p["href"] for p in every["_links"]["pb:pacts"]] == [
        f"{base}/version/1.1.0",
        f"{base}/version/1.0.0",
    ]
    assert rw.get(f"/pacts/provider/{uid('nobody')}/latest").status_code == 404


def test_put_pact_is_idempotent_and_refuses_different_content(
    broker: Broker, rw: httpx.Client
) -> None:
    consumer, provider = uid("idem-c"), uid("idem-p")
    url = f"/pacts/provider/{provider}/consumer/{consumer}/version/2.0.0"
    original = make_pact(consumer, provider, "one")
    first = rw.put(url, json=original)
    assert first.status_code == 201, first.text
    sha = first.json()["_links"]["pb:pact-version"]["name"]
    assert sha == sha_of(original)

    # same content, keys in another order: a no-op with the same sha
    reordered = json.loads(json.dumps(original, sort_keys=True))
    again = rw.put(url, json=reordered)
    assert again.status_code == 200
    assert again.json()["_links"]["pb:pact-version"]["name"] == sha
    assert stored(broker, consumer) == {
        "pacticipants": 1,
        "versions": 1,
        "pact_versions": 1,
        "publications": 1,
    }

    changed = make_pact(consumer, provider, "one", "two")
    conflict = rw.put(url, json=changed)
    assert conflict.status_code == 409
    problem = conflict.json()
    assert conflict.headers["content-type"].startswith("application/problem+json")
    assert "allowOverwrite=true" in problem["detail"]
    assert "body" in problem["errors"]
    assert strip(rw.get(url).json()) == original

    via_publish = rw.post(
        "/contracts/publish",
        json=publication(consumer, "2.0.0", [contract(consumer, provider, changed)]),
    )
    assert via_publish.status_code == 409
    assert "contracts[0].content" in via_publish.json()["errors"]
    assert strip(rw.get(url).json()) == original

    assert rw.put(url + "?allowOverwrite=maybe", json=changed).status_code == 400
    overwritten = rw.put(url + "?allowOverwrite=true", json=changed)
    assert overwritten.status_code == 200
    assert overwritten.json()["_links"]["pb:pact-version"]["name"] == sha_of(changed)
    assert strip(rw.get(url).json()) == changed

    third = make_pact(consumer, provider, "three")
    ok = rw.post(
        "/contracts/publish",
        json=publication(
            consumer, "2.0.0", [contract(consumer, provider, third, onConflict="overwrite")]
        ),
    )
    assert ok.status_code == 200, ok.text
    assert any("overwritten" in n["text"] for n in ok.json()["notices"])
    assert strip(rw.get(url).json()) == third
    assert stored(broker, consumer)["publications"] == 1


def test_merge_adds_interactions_and_refuses_conflicting_ones(rw: httpx.Client) -> None:
    consumer, provider = uid("merge-c"), uid("merge-p")
    url = f"/pacts/provider/{provider}/consumer/{consumer}/version/1"
    assert rw.put(url, json=make_pact(consumer, provider, "one")).status_code == 201
    merged = rw.post(
        "/contracts/publish",
        json=publication(
            consumer,
            "1",
            [
                contract(
                    consumer, provider, make_pact(consumer, provider, "two"), onConflict="merge"
                )
            ],
        ),
    )
    assert merged.status_code == 200, merged.text
    descriptions = [i["description"] for i in rw.get(url).json()["interactions"]]
    assert descriptions == ["one", "two"]

    clash = make_pact(consumer, provider, "one")
    clash["interactions"][0]["response"]["status"] = 404
    assert rw.patch(url, json=clash).status_code == 409
    assert rw.patch(url, json=make_pact(consumer, provider, "three")).status_code == 200
    descriptions = [i["description"] for i in rw.get(url).json()["interactions"]]
    assert descriptions == ["one", "two", "three"]


def test_concurrent_publishers_of_one_version_leave_exactly_one_pact(
    broker: Broker,
) -> None:
    consumer, provider = uid("race-c"), uid("race-p")
    url = f"/pacts/provider/{provider}/consumer/{consumer}/version/1.0.0"
    threads = 8
    barrier = threading.Barrier(threads)
    statuses: list[int] = []
    lock = threading.Lock()

    def publish(index: int) -> None:
        content = make_pact(consumer, provider, f"interaction {index}")
        with broker.client() as client:
            barrier.wait(timeout=30)
            if index % 2:
                status = client.put(url, json=content).status_code
            else:
                status = client.post(
                    "/contracts/publish",
                    json=publication(consumer, "1.0.0", [contract(consumer, provider, content)]),
                ).status_code
        with lock:
            statuses.append(status)

    workers = [threading.Thread(target=publish, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert len(statuses) == threads
    assert sorted(statuses)[:1] in ([200], [201]), statuses
    assert sorted(statuses)[1:] == [409] * (threads - 1), statuses
    counts = stored(broker, consumer)
    assert counts["publications"] == 1
    assert counts["pacticipants"] == 1
    with broker.client() as client:
        descriptions = [i["description"] for i in client.get(url).json()["interactions"]]
    assert len(descriptions) == 1


def _bad_bodies(consumer: str, provider: str) -> list[tuple[str, Any, str, int]]:
    """(label, body, field named, status): 400 when the body breaks the documented
    schema, 422 when it matches it but cannot be published (what base64 hides)."""
    good = make_pact(consumer, provider)
    wrong_name = make_pact("someone-else", provider)
    no_consumer = copy.deepcopy(good)
    del no_consumer["consumer"]
    not_list = copy.deepcopy(good)
    not_list["interactions"] = {"a": 1}
    no_interactions = copy.deepcopy(good)
    del no_interactions["interactions"]

    def one(content: Any, **extra: Any) -> dict[str, Any]:
        return publication(consumer, "1.0.0", [contract(consumer, provider, content, **extra)])

    return [
        ("bad base64", one("@@@not base64@@@"), "contracts[0].content", 400),
        ("not JSON", one(b64(b"{not json")), "contracts[0].content", 422),
        ("not UTF-8", one(b64(b"\xff\xfe")), "contracts[0].content", 422),
        ("NaN", one(b64(b'{"consumer": NaN}')), "contracts[0].content", 422),
        ("not an object", one(b64(b"[1, 2]")), "contracts[0].content", 422),
        ("no consumer", one(no_consumer), "contracts[0].content#/consumer", 422),
        ("name mismatch", one(wrong_name), "contracts[0].content#/consumer/name", 422),
        ("interactions not a list", one(not_list), "contracts[0].content#/interactions", 422),
        ("no interactions", one(no_interactions), "contracts[0].content#/interactions", 422),
        ("bad onConflict", one(good, onConflict="sometimes"), "contracts[0].onConflict", 400),
        (
            "bad specification",
            one(good, specification="openapi"),
            "contracts[0].specification",
            400,
        ),
        (
            "consumer differs",
            publication(consumer, "1.0.0", [contract("other", provider, good)]),
            "contracts[0].consumerName",
            422,
        ),
        ("no contracts", publication(consumer, "1.0.0", []), "contracts", 400),
        (
            "no version",
            {"pacticipantName": consumer, "contracts": []},
            "pacticipantVersionNumber",
            400,
        ),
        (
            "tags not strings",
            publication(consumer, "1", [contract(consumer, provider, good)], tags=[1]),
            "tags[0]",
            400,
        ),
        (
            "duplicate provider",
            publication(
                consumer,
                "1",
                [contract(consumer, provider, good), contract(consumer, provider, good)],
            ),
            "contracts[1].providerName",
            422,
        ),
        ("body not an object", [1, 2, 3], "body", 400),
    ]


def test_invalid_publications_are_problems_naming_the_field_and_store_nothing(
    broker: Broker, rw: httpx.Client
) -> None:
    prefix = uid("bad")
    consumer, provider = f"{prefix}-c", f"{prefix}-p"
    for label, body, field, status in _bad_bodies(consumer, provider):
        response = rw.post("/contracts/publish", json=body)
        assert response.status_code == status, (label, response.text)
        assert response.headers["content-type"].startswith("application/problem+json"), label
        problem = response.json()
        assert field in problem["errors"], (label, problem)
        assert field in problem["detail"], label

    malformed = rw.post(
        "/contracts/publish",
        content=b'{"pacticipantName": "x",\n "contracts": [}',
        headers={"Content-Type": "application/json"},
    )
    assert malformed.status_code == 400
    assert "line 2" in malformed.json()["detail"]

    url = f"/pacts/provider/{provider}/consumer/{consumer}/version/1"
    put_mismatch = rw.put(url, json=make_pact("someone-else", provider))
    assert put_mismatch.status_code == 422
    assert "body#/consumer/name" in put_mismatch.json()["errors"]
    put_not_pact = rw.put(url, json={"hello": "world"})
    assert put_not_pact.status_code == 400
    assert {"consumer", "provider"} <= set(put_not_pact.json()["errors"])
    nul = make_pact(consumer, provider, "has \u0000 in it")
    assert rw.put(url, json=nul).status_code == 422
    deep = b"[" * 200_000 + b"]" * 200_000
    for path, payload in (
        (url, deep),
        ("/contracts/publish", b'{"contracts": ' + deep + b"}"),
    ):
        nested = rw.put(path, content=payload) if path == url else rw.post(path, content=payload)
        assert nested.status_code == 400, nested.text
    deep_content = publication(consumer, "1", [contract(consumer, provider, b64(deep))])
    nested = rw.post("/contracts/publish", json=deep_content)
    assert nested.status_code == 422
    assert "contracts[0].content" in nested.json()["errors"]
    assert stored(broker, prefix) == {
        "pacticipants": 0,
        "versions": 0,
        "pact_versions": 0,
        "publications": 0,
    }


def test_oversized_body_is_413_and_stores_nothing(broker: Broker) -> None:
    prefix = uid("big")
    consumer, provider = f"{prefix}-c", f"{prefix}-p"
    app = create_app(broker_config(broker.database_url, max_body_bytes=2048))
    pact = make_pact(consumer, provider, *[f"interaction {i:04d} " + "x" * 40 for i in range(60)])
    with (
        BackgroundServer(app) as server,
        httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {broker.rw_token}"}, timeout=30
        ) as client,
    ):
        small = make_pact(consumer, provider)
        url = f"/pacts/provider/{provider}/consumer/{consumer}/version/1"
        assert client.put(url, json=pact).status_code == 413
        response = client.post(
            "/contracts/publish",
            json=publication(consumer, "1", [contract(consumer, provider, pact)]),
        )
        assert response.status_code == 413
        assert response.json()["status"] == 413
        assert stored(broker, prefix)["pacticipants"] == 0
        assert client.put(url, json=small).status_code == 201


def test_tokens_guard_writes_and_anonymous_reads_are_allowed(
    broker: Broker, rw: httpx.Client, anon: httpx.Client
) -> None:
    prefix = uid("auth")
    consumer, provider = f"{prefix}-c", f"{prefix}-p"
    pact = make_pact(consumer, provider)
    url = f"/pacts/provider/{provider}/consumer/{consumer}/version/1"
    writes: list[tuple[str, str, Any]] = [
        (
            "POST",
            "/contracts/publish",
            publication(consumer, "1", [contract(consumer, provider, pact)]),
        ),
        ("PUT", url, pact),
        ("PATCH", url, pact),
        ("PUT", f"/pacticipants/{consumer}", {"displayName": "X"}),
        ("PATCH", f"/pacticipants/{consumer}", {"displayName": "X"}),
        ("POST", "/pacticipants", {"name": consumer}),
        ("PUT", f"/pacticipants/{consumer}/versions/1", {}),
        ("PUT", f"/pacticipants/{consumer}/versions/1/tags/dev", {}),
        ("DELETE", f"/pacticipants/{consumer}/versions/1/tags/dev", None),
        ("PUT", f"/pacticipants/{consumer}/branches/main/versions/1", {}),
        ("DELETE", f"/pacticipants/{consumer}/branches/main", None),
    ]
    with broker.client(broker.ro_token) as ro, broker.client("not-a-token") as wrong:
        for method, path, body in writes:
            kwargs: dict[str, Any] = {} if body is None else {"json": body}
            response = anon.request(method, path, **kwargs)
            assert response.status_code == 401, (method, path, response.text)
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert wrong.request(method, path, **kwargs).status_code == 401, (method, path)
            assert ro.request(method, path, **kwargs).status_code == 403, (method, path)
        assert stored(broker, prefix)["pacticipants"] == 0
        assert rw.put(url, json=pact).status_code == 201
        for client in (anon, ro):
            assert client.get("/").status_code == 200
            assert strip(client.get(url).json()) == pact
            assert client.get(f"/pacticipants/{consumer}").status_code == 200


# --- pacticipants, versions, branches, tags --------------------------------------


def test_pacticipants_create_update_and_list(rw: httpx.Client, anon: httpx.Client) -> None:
    name = uid("order-service")
    assert rw.get(f"/pacticipants/{name}").status_code == 404
    created = rw.post("/pacticipants", json={"name": name, "mainBranch": "main"})
    assert created.status_code == 201, created.text
    assert created.headers["location"].endswith(f"/pacticipants/{name}")
    assert created.json()["mainBranch"] == "main"
    assert created.json()["displayName"].startswith("Order Service")
    assert rw.post("/pacticipants", json={"name": name}).status_code == 409
    assert rw.post("/pacticipants", json={"mainBranch": "x"}).status_code == 400

    patched = rw.patch(f"/pacticipants/{name}", json={"repositoryUrl": "https://git/x"})
    assert patched.status_code == 200
    assert patched.json()["mainBranch"] == "main"
    assert patched.json()["repositoryUrl"] == "https://git/x"
    replaced = rw.put(f"/pacticipants/{name}", json={"displayName": "Orders"})
    assert replaced.status_code == 200
    body = replaced.json()
    assert (body["displayName"], body["mainBranch"], body["repositoryUrl"]) == (
        "Orders",
        None,
        None,
    )
    assert rw.patch(f"/pacticipants/{name}", json={"name": "other"}).status_code == 422
    assert rw.patch(f"/pacticipants/{name}", json={"mainBranch": 3}).status_code == 400

    fresh = uid("patched-into-being")
    assert rw.patch(f"/pacticipants/{fresh}", json={"mainBranch": "dev"}).status_code == 201

    listing = anon.get("/pacticipants").json()
    names = [p["name"] for p in listing["pacticipants"]]
    assert name in names and fresh in names
    assert listing["_embedded"]["pacticipants"] == listing["pacticipants"]
    one = anon.get(f"/pacticipants/{name}").json()
    assert one["_links"]["self"]["href"].endswith(f"/pacticipants/{name}")
    assert one["_links"]["pb:versions"]["href"].endswith(f"/pacticipants/{name}/versions")


def test_versions_tags_and_branches(broker: Broker, rw: httpx.Client) -> None:
    name = uid("svc")
    assert rw.get(f"/pacticipants/{name}/latest-version").status_code == 404
    # tagging auto-creates the pacticipant and version
    tagged = rw.put(f"/pacticipants/{name}/versions/1.0.0/tags/prod", json={})
    assert tagged.status_code == 201, tagged.text
    assert tagged.json()["name"] == "prod"
    assert rw.put(f"/pacticipants/{name}/versions/1.0.0/tags/prod", json={}).status_code == 200
    assert rw.get(f"/pacticipants/{name}/versions/1.0.0/tags/prod").status_code == 200

    created = rw.put(
        f"/pacticipants/{name}/versions/1.1.0",
        json={"buildUrl": "https://ci/2", "tags": ["dev", {"name": "qa"}]},
    )
    assert created.status_code == 201, created.text
    assert created.json()["buildUrl"] == "https://ci/2"
    assert rw.put(f"/pacticipants/{name}/versions/1.1.0").status_code == 200
    assert rw.put(f"/pacticipants/{name}/versions/1.1.0", json={"tags": "x"}).status_code == 400

    branch = rw.put(f"/pacticipants/{name}/branches/feature%2Flogin/versions/1.1.0", json={})
    assert branch.status_code == 201, branch.text
    again = rw.put(f"/pacticipants/{name}/versions/1.1.0/branches/feature%2Flogin", json={})
    assert again.status_code == 200
    assert rw.put(f"/pacticipants/{name}/versions/1.0.0/branches/main", json={}).status_code == 201

    version = rw.get(f"/pacticipants/{name}/versions/1.1.0").json()
    assert version["number"] == "1.1.0"
    assert [t["name"] for t in version["_embedded"]["tags"]] == ["dev", "qa"]
    assert [b["name"] for b in version["_embedded"]["branchVersions"]] == ["feature/login"]
    assert version["_embedded"]["branchVersions"][0]["latest"] is True
    assert version["_links"]["self"]["name"] == "1.1.0"
    assert version["_links"]["pb:pacticipant"]["name"] == name
    assert isinstance(version["_links"]["pb:record-deployment"], list)
    assert isinstance(version["_links"]["pb:record-release"], list)

    latest = rw.get(f"/pacticipants/{name}/latest-version").json()
    assert latest["number"] == "1.1.0"
    assert rw.get(f"/pacticipants/{name}/latest-version/prod").json()["number"] == "1.0.0"
    assert rw.get(f"/pacticipants/{name}/latest-version/nope").status_code == 404
    on_branch = rw.get(f"/pacticipants/{name}/branches/feature%2Flogin/latest-version")
    assert on_branch.json()["number"] == "1.1.0"
    got_branch = rw.get(f"/pacticipants/{name}/branches/feature%2Flogin")
    assert got_branch.status_code == 200
    assert got_branch.json()["name"] == "feature/login"
    assert got_branch.json()["_links"]["self"]["href"].endswith("/branches/feature%2Flogin")
    assert (
        rw.get(f"/pacticipants/{name}/branches/feature%2Flogin/versions/1.1.0").status_code == 200
    )
    assert rw.get(f"/pacticipants/{name}/branches/main/versions/1.1.0").status_code == 404

    versions = rw.get(f"/pacticipants/{name}/versions?pageSize=1").json()
    assert [v["number"] for v in versions["_embedded"]["versions"]] == ["1.1.0"]
    assert versions["page"]["totalElements"] == 2
    assert "next" in versions["_links"]
    page_two = rw.get(versions["_links"]["next"]["href"]).json()
    assert [v["number"] for v in page_two["_embedded"]["versions"]] == ["1.0.0"]
    assert rw.get(f"/pacticipants/{name}/versions?pageSize=0").status_code == 400

    assert rw.delete(f"/pacticipants/{name}/versions/1.0.0/tags/prod").status_code == 204
    assert rw.delete(f"/pacticipants/{name}/versions/1.0.0/tags/prod").status_code == 404
    assert rw.get(f"/pacticipants/{name}/latest-version/prod").status_code == 404
    assert rw.delete(f"/pacticipants/{name}/branches/feature%2Flogin").status_code == 204
    assert rw.get(f"/pacticipants/{name}/branches/feature%2Flogin").status_code == 404
    assert rw.get(f"/pacticipants/{name}/versions/1.1.0").status_code == 200
    assert rw.get(f"/pacticipants/{name}/versions/9.9.9").status_code == 404
    assert rw.put(f"/pacticipants/{name}/versions/1/tags/%20", json={}).status_code == 400


def test_version_links_record_deployment_per_environment(broker: Broker, rw: httpx.Client) -> None:
    consumer, provider = uid("dep-c"), uid("dep-p")
    env_name = uid("staging")
    env_id = uuid.uuid4()
    with psycopg.connect(broker.database_url) as conn:
        conn.execute(
            "INSERT INTO broker.environments (id, name, display_name) VALUES (%s, %s, %s)",
            (env_id, env_name, "Staging"),
        )
        conn.commit()
    try:
        put = rw.put(
            f"/pacts/provider/{provider}/consumer/{consumer}/version/3",
            json=make_pact(consumer, provider),
        )
        assert put.status_code == 201
        links = rw.get(f"/pacticipants/{consumer}/versions/3").json()["_links"]
        base = f"{broker.url}/pacticipants/{consumer}/versions/3"
        deploy = [link for link in links["pb:record-deployment"] if link["name"] == env_name]
        release = [link for link in links["pb:record-release"] if link["name"] == env_name]
        assert deploy == [
            {
                "href": f"{base}/deployed-versions/environment/{env_id}",
                "title": "Record deployment to Staging",
                "name": env_name,
            }
        ]
        assert release[0]["href"] == f"{base}/released-versions/environment/{env_id}"
        assert [p["href"] for p in links["pb:pact-versions"]] == [
            f"{broker.url}/pacts/provider/{provider}/consumer/{consumer}/version/3"
        ]
        for relation in (
            "pb:tags",
            "pb:environments",
            "pb:latest-verification-results-where-pacticipant-is-consumer",
        ):
            assert links[relation]["href"], relation
        assert links["pb:deployed-environments"] == []
        assert links["pb:released-environments"] == []
    finally:
        with psycopg.connect(broker.database_url) as conn:
            conn.execute("DELETE FROM broker.environments WHERE id = %s", (env_id,))
            conn.commit()


def test_publishing_emits_events_after_commit(broker: Broker) -> None:
    consumer, provider = uid("ev-c"), uid("ev-p")
    app = create_app(broker_config(broker.database_url))
    seen: list[tuple[str, dict[str, Any], int]] = []

    async def listener(event: str, payload: dict[str, Any]) -> None:
        # The publication must already be visible to another connection.
        with psycopg.connect(broker.database_url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM broker.pact_versions WHERE sha = %s",
                (payload["pactVersionSha"],),
            ).fetchone()
        seen.append((event, payload, int(row[0]) if row else 0))

    app.state.broker.listeners.append(listener)
    with (
        BackgroundServer(app) as server,
        httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {broker.rw_token}"}, timeout=30
        ) as client,
    ):
        pact = make_pact(consumer, provider)
        body = publication(
            consumer, "7", [contract(consumer, provider, pact)], branch="main", tags=["dev"]
        )
        assert client.post("/contracts/publish", json=body).status_code == 200
        events = [event for event, _, _ in seen]
        assert events == ["contract_published", "contract_requiring_verification_published"]
        payload = seen[0][1]
        assert payload["consumerName"] == consumer
        assert payload["providerName"] == provider
        assert payload["consumerVersionNumber"] == "7"
        assert payload["consumerVersionBranch"] == "main"
        assert payload["pactVersionSha"] == sha_of(pact)
        assert payload["pactUrl"].startswith(server.url + "/pacts/provider/")
        assert all(visible == 1 for _, _, visible in seen)
        assert client.get(payload["pactUrl"]).status_code == 200

        # republishing identical content is a no-op: no new events
        assert client.post("/contracts/publish", json=body).status_code == 200
        assert len(seen) == 2
        # a refused publish emits nothing
        other = make_pact(consumer, provider, "changed")
        url = f"/pacts/provider/{provider}/consumer/{consumer}/version/7"
        assert client.put(url, json=other).status_code == 409
        assert len(seen) == 2
