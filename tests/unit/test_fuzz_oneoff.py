"""``covenant fuzz --spec ... --url ...`` without fuzzing: parsing -H, --auth, --token
and --url, the checks before the run (loopback servers only), masking the secrets
they carry, and the command's usage errors."""

from __future__ import annotations

import base64
import json
import subprocess
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from covenant.kernel.config import CovenantConfig
from covenant.kernel.errors import CovenantError, ErrorKind
from covenant.stack._ports import free_port
from tests.conftest import covenant_argv, covenant_env
from verifiers.fuzz import FuzzOptions, SpecTarget, parse_header
from verifiers.fuzz._events import Masker
from verifiers.fuzz._runner import SENSITIVE_MARKERS_DEFAULT, build_command, write_config

SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "t", "version": "1"},
    "paths": {"/x": {"get": {"responses": {"200": {"description": "ok"}}}}},
}

# -- parsing -------------------------------------------------------------------------


def test_headers_auth_and_token_become_the_headers_sent() -> None:
    target = SpecTarget.parse(
        "s.json",
        "http://127.0.0.1:1/api/",
        headers=["X-Tenant:  t-1 ", "X-Empty:"],
        auth="ci:p:w",
    )
    assert target.base_url == "http://127.0.0.1:1/api"
    pair = base64.b64encode(b"ci:p:w").decode()
    assert target.headers == {"X-Tenant": "t-1", "X-Empty": "", "Authorization": f"Basic {pair}"}
    assert SpecTarget.parse("s.json", token="tok").headers == {"Authorization": "Bearer tok"}
    assert parse_header("A-B_c.d: v: w") == ("A-B_c.d", "v: w")


def test_secrets_never_reach_the_targets_repr() -> None:
    target = SpecTarget.parse("s.json", headers=["X-Key: hush-1"], token="hush-2")
    assert "hush" not in repr(target)


@pytest.mark.parametrize(
    ("headers", "auth", "token", "words"),
    [
        (["no-colon-hush"], None, None, "expected 'Name: value'"),
        ([": hush"], None, None, "has no name"),
        (["Bad Name: hush"], None, None, "not a valid header name"),
        (["X-A: hush\r\nX-Injected: 1"], None, None, "line break"),
        (["X-A: hush", "x-a: hush"], None, None, "given twice"),
        ([], "user:hush", "hush", "--auth and --token"),
        (["Authorization: hush"], None, "hush", "--token and -H Authorization"),
        ([], "no-colon-hush", None, "--auth: expected user:password"),
        ([], ":hush", None, "--auth: expected user:password"),
        ([], None, "two words-hush", "--token: expected a token"),
    ],
)
def test_malformed_headers_and_credentials_are_usage_errors_that_show_no_value(
    headers: list[str], auth: str | None, token: str | None, words: str
) -> None:
    with pytest.raises(CovenantError) as caught:
        SpecTarget.parse("s.json", "http://h", headers=headers, auth=auth, token=token)
    assert caught.value.kind is ErrorKind.USAGE
    assert words in caught.value.message
    assert "hush" not in caught.value.message


@pytest.mark.parametrize("url", ["localhost:8080", "ftp://h/", "http://", "http://h:port/"])
def test_a_malformed_base_url_is_a_usage_error(url: str) -> None:
    with pytest.raises(CovenantError, match="--url") as caught:
        SpecTarget.parse("s.json", url)
    assert caught.value.kind is ErrorKind.USAGE


def test_the_name_is_the_service_and_must_be_a_plain_word() -> None:
    assert SpecTarget.parse("s.json").name == "api"
    assert SpecTarget.parse("s.json", name="orders-v2").name == "orders-v2"
    with pytest.raises(CovenantError, match="--name"):
        SpecTarget.parse("s.json", name="../up")


def test_the_options_take_the_configured_defaults_and_an_absolute_spec_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = CovenantConfig.model_validate({"fuzz": {"max_examples": 9, "seed": 3}})
    options = SpecTarget.parse("spec.yaml", "http://h:1", token="t").options(config)
    assert (options.service, options.spec, options.base_url) == (
        "api",
        str(tmp_path / "spec.yaml"),
        "http://h:1",
    )
    assert (options.max_examples, options.seed) == (9, 3)
    assert options.headers == {"Authorization": "Bearer t"}


# -- the checks before the run -------------------------------------------------------


@pytest.fixture
def server() -> Iterator[tuple[str, dict[str, Any]]]:
    """A loopback server answering ``routes[path] = (status, body)``, 404 otherwise;
    ``routes["seen"]`` collects the headers of each request."""
    routes: dict[str, Any] = {"seen": []}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            routes["seen"].append(dict(self.headers.items()))
            status, body = routes.get(self.path, (404, b"not here"))
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", routes
    finally:
        httpd.shutdown()
        httpd.server_close()


def _check(spec: str, url: str | None = None, **kwargs: Any) -> None:
    SpecTarget.parse(spec, url, **kwargs).check(timeout_s=5)


def test_a_spec_url_that_answers_and_a_base_url_that_answers_pass(
    server: tuple[str, dict[str, Any]],
) -> None:
    base, routes = server
    routes["/openapi.json"] = (200, json.dumps(SPEC).encode())
    _check(f"{base}/openapi.json", f"{base}/api", headers=["X-Tenant: t1"])
    # The spec is asked for with the run's headers (Schemathesis sends them too).
    assert routes["seen"][0]["X-Tenant"] == "t1"
    # A base URL answering 404 is reachable: something listens there.
    assert len(routes["seen"]) == 2


def test_a_spec_url_nothing_listens_at_is_unreachable() -> None:
    with pytest.raises(CovenantError, match="is not reachable") as caught:
        _check(f"http://127.0.0.1:{free_port()}/openapi.json")
    assert caught.value.kind is ErrorKind.UNREACHABLE


def test_a_base_url_nothing_listens_at_is_unreachable(
    server: tuple[str, dict[str, Any]], tmp_path: Path
) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPEC))
    url = f"http://127.0.0.1:{free_port()}/api"
    with pytest.raises(CovenantError, match=f"--url {url} is not reachable") as caught:
        _check(str(spec), url)
    assert caught.value.kind is ErrorKind.UNREACHABLE


@pytest.mark.parametrize(
    ("path", "answer", "words"),
    [
        ("/missing.json", None, "it answered 404"),
        ("/html", (200, b"<html>\n<body>\n"), "is not an OpenAPI or Swagger 2.0 document"),
        ("/broken", (200, b"openapi: 3.0.0\npaths: [\n"), "neither JSON nor YAML"),
    ],
)
def test_a_spec_url_that_is_not_a_spec_is_a_usage_error(
    server: tuple[str, dict[str, Any]], path: str, answer: tuple[int, bytes] | None, words: str
) -> None:
    base, routes = server
    if answer is not None:
        routes[path] = answer
    with pytest.raises(CovenantError, match=words) as caught:
        _check(f"{base}{path}", base)
    assert caught.value.kind is ErrorKind.USAGE


def test_spec_files_that_cannot_be_loaded_are_usage_errors(tmp_path: Path) -> None:
    cases = {
        "missing.json": (None, "no such file"),
        "list.yaml": ("- a\n- b\n", "not an OpenAPI or Swagger 2.0 document"),
        "broken.yaml": ("openapi: 3.0.0\ninfo: {title: [\n", r"broken\.yaml:3: neither JSON"),
        "serverless.json": (json.dumps(SPEC), "names no absolute server URL"),
    }
    for name, (text, words) in cases.items():
        path = tmp_path / name
        if text is not None:
            path.write_text(text)
        with pytest.raises(CovenantError, match=words) as caught:
            _check(str(path))
        assert caught.value.kind is ErrorKind.USAGE, name
    served = tmp_path / "served.json"
    served.write_text(json.dumps({**SPEC, "servers": [{"url": "http://127.0.0.1:1"}]}))
    _check(str(served))  # its server is the base URL (checked by the run, exit 3)
    swagger = tmp_path / "swagger.json"
    swagger.write_text(json.dumps({"swagger": "2.0", "host": "h", "paths": {}}))
    _check(str(swagger))


# -- masking ---------------------------------------------------------------------------


def test_the_masker_scrubs_every_form_of_a_secret_in_text_and_files(tmp_path: Path) -> None:
    pair = base64.b64encode(b"ci:pass-word").decode()
    masker = Masker.of({"Authorization": f"Basic {pair}", "X-Tenant": 'ten"ant', "X-Org": "7"})
    text = f'Basic {pair} / {pair} / ci:pass-word / pass-word / ten"ant / ten\\"ant / 7'
    assert masker.text(text) == "*** / *** / *** / *** / *** / *** / 7"
    # The tenant id 7 is too short to search free text for, but masked as a header.
    assert masker.headers({"x-org": "7", "Accept": 'ten"ant'}) == {"x-org": "***", "Accept": "***"}
    report = tmp_path / "events.ndjson"
    report.write_text(json.dumps({"headers": {"X-Tenant": ['ten"ant']}, "auth": pair}))
    masker.file(report)
    assert report.read_text() == json.dumps({"headers": {"X-Tenant": ["***"]}, "auth": "***"})


def test_schemathesis_masks_the_given_headers_and_keeps_its_own_markers(tmp_path: Path) -> None:
    from schemathesis.config._output import DEFAULT_SENSITIVE_MARKERS

    assert set(SENSITIVE_MARKERS_DEFAULT) == set(DEFAULT_SENSITIVE_MARKERS)
    options = FuzzOptions(service="s", spec="x", headers={"X-Tenant": "hush", "X-Api-Key": "k"})
    config, env = write_config(options, tmp_path)
    markers = tomllib.loads(config.read_text())["output"]["sanitization"]["sensitive-markers"]
    assert markers == [*SENSITIVE_MARKERS_DEFAULT, "x-api-key", "x-tenant"]
    assert "hush" not in config.read_text() and "hush" not in " ".join(
        build_command(options, tmp_path, config)
    )
    assert sorted(env.values()) == ["hush", "k"]


# -- the command -----------------------------------------------------------------------


def _covenant(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        covenant_argv("fuzz", *args),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=covenant_env(cwd / "state"),
        cwd=cwd,
    )


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--url", "http://127.0.0.1:1"), "--url goes only with --spec"),
        (("-H", "X-A: hush", "--token", "hush"), "-H, --token go only with --spec"),
        (("hono-api", "--spec", "s.json"), "leave out SERVICE, --all and --replay"),
        (("--spec", "s.json", "-H", "nocolon-hush"), "expected 'Name: value'"),
        (("--spec", "missing.json", "--url", "http://127.0.0.1:1"), "no such file"),
        (("--spec", "s.json", "--update-baseline"), "--update-baseline needs --baseline"),
    ],
)
def test_the_command_refuses_what_it_cannot_run_with_exit_2(
    tmp_path: Path, args: tuple[str, ...], words: str
) -> None:
    done = _covenant(*args, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert words in done.stderr and "Traceback" not in done.stderr
    assert "hush" not in done.stdout + done.stderr


def test_the_command_says_an_unreachable_base_url_with_exit_3(tmp_path: Path) -> None:
    (tmp_path / "spec.json").write_text(json.dumps(SPEC))
    url = f"http://127.0.0.1:{free_port()}"
    done = _covenant("--spec", "spec.json", "--url", url, "--token", "hush-hush", cwd=tmp_path)
    assert done.returncode == 3, done.stdout + done.stderr
    assert f"--url {url} is not reachable" in done.stderr
    assert "hush" not in done.stdout + done.stderr and "Traceback" not in done.stderr
