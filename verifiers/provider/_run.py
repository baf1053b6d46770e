"""Drive pact-python's Verifier against a running provider.

The Pact verifier (Rust, through pact-python's FFI) replays each interaction;
this module chooses the pacts, wires the provider-state and message endpoints
of the reference convention (``reference/API.md``), and turns the verifier's
JSON results into typed outcomes.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from pact.types import Message

from contracts.pactfile import DEFAULT_LIMITS, PactFile, ReadLimits, read_pact_files
from covenant.kernel.errors import CovenantError, ErrorKind
from covenant.kernel.redact import redact_url
from verifiers.provider._model import InteractionOutcome, Mismatch, VerifyOptions, VerifyResult

__all__ = ["ProviderUnreachable", "pacts_for_provider", "verify_provider"]

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class ProviderUnreachable(CovenantError):
    kind = ErrorKind.UNREACHABLE


def pacts_for_provider(
    pacts_dir: Path, provider: str, *, limits: ReadLimits = DEFAULT_LIMITS
) -> list[PactFile]:
    """The pacts in ``pacts_dir`` whose provider is ``provider``; every file of the
    directory is checked first (a malformed one is an error even if it is another
    provider's: the directory is one set of contracts)."""
    if not pacts_dir.is_dir():
        raise CovenantError(f"{pacts_dir}: no such directory of pacts", kind=ErrorKind.USAGE)
    found = [
        pact for pact in read_pact_files([pacts_dir], limits=limits) if pact.provider == provider
    ]
    if not found:
        raise CovenantError(f"{pacts_dir}: no pact has provider '{provider}'", kind=ErrorKind.USAGE)
    return found


def _check_reachable(options: VerifyOptions) -> None:
    try:
        httpx.get(options.base_url, timeout=min(options.request_timeout_s, 5.0))
    except httpx.TransportError as exc:
        raise ProviderUnreachable(
            f"provider '{options.provider}' is not reachable at "
            f"{redact_url(options.base_url)}: {exc or type(exc).__name__}"
        ) from None


def _check_broker_reachable(options: VerifyOptions) -> None:
    """The broker (or a pact URL's host) answers at all: an unreachable one is exit 3,
    not the verifier's "no pacts found"."""
    targets = [options.broker_url] if options.broker_url else list(options.pact_urls[:1])
    for target in targets:
        try:
            httpx.get(target, timeout=min(options.request_timeout_s, 5.0))
        except httpx.TransportError as exc:
            raise ProviderUnreachable(
                f"the broker is not reachable at {redact_url(target)}: {exc or type(exc).__name__}"
            ) from None


def _message_producer(options: VerifyOptions) -> Callable[..., Message]:
    """Ask the provider for the message its real producer code builds for a description."""
    url = options.message_url

    def produce(name: str, metadata: dict[str, Any] | None = None) -> Message:
        response = httpx.post(
            url, json={"description": name, "metadata": metadata or {}}, timeout=10
        )
        if response.status_code != 200:
            raise RuntimeError(
                f"{url} answered {response.status_code} for message '{name}': {response.text[:200]}"
            )
        answer = response.json()
        message_metadata = answer.get("metadata") or {}
        return Message(
            contents=json.dumps(answer.get("contents")).encode(),
            metadata=message_metadata,
            content_type=message_metadata.get("contentType", "application/json"),
        )

    return produce


def _mismatches(raw: dict[str, Any] | None) -> tuple[Mismatch, ...]:
    if not raw:
        return ()
    if raw.get("type") == "error":
        return (Mismatch("Error", None, str(raw.get("message", "error"))),)
    found = []
    for item in raw.get("mismatches", []):
        expected, actual = item.get("expected"), item.get("actual")
        found.append(
            Mismatch(
                kind=str(item.get("type", "Mismatch")),
                path=item.get("path") or item.get("key"),
                message=str(item.get("mismatch", "")),
                expected=None if expected is None else str(expected),
                actual=None if actual is None else str(actual),
            )
        )
    return tuple(found)


def _outcomes(results: dict[str, Any]) -> tuple[InteractionOutcome, ...]:
    outcomes = []
    for item in results.get("interactionResults", []):
        mismatch = item.get("mismatch")
        outcomes.append(
            InteractionOutcome(
                consumer=str(item.get("consumer", "?")),
                description=str(item.get("description", "?")),
                states=tuple(str(s) for s in item.get("providerStates", [])),
                passed=item.get("result") in ("OK", "Success") and not mismatch,
                pending=bool(item.get("pending")),
                duration=str(item.get("duration", "")),
                mismatches=_mismatches(mismatch),
                error=None,
            )
        )
    return tuple(outcomes)


@contextlib.contextmanager
def _native_output_captured() -> Iterator[None]:
    """The Rust verifier prints its report straight to file descriptor 1, and the
    message relay logs each request to 2; keep both out of our output (the
    report is in ``results["output"]``, shown on request)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    with tempfile.TemporaryFile() as sink:
        for fd in saved:
            os.dup2(sink.fileno(), fd)
        try:
            yield
        finally:
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)


def verify_provider(options: VerifyOptions) -> VerifyResult:
    """Verify ``options.provider`` at ``options.base_url``; raise only for usage or reachability."""
    os.environ.setdefault("PACT_DO_NOT_TRACK", "true")
    sources: list[PactFile] = []
    if options.broker_url is None and not options.pact_urls:
        if options.pacts_dir is None:
            raise CovenantError("give --pacts DIR or --broker URL", kind=ErrorKind.USAGE)
        sources = pacts_for_provider(
            options.pacts_dir, options.provider, limits=options.pact_limits
        )
    _check_reachable(options)
    _check_broker_reachable(options)
    with tempfile.TemporaryDirectory(prefix="covenant-pacts-") as scratch:
        return _verify(
            options,
            _copies(sources, Path(scratch)),
            has_messages=any(pact.has_messages for pact in sources),
        )


def _copies(pacts: list[PactFile], directory: Path) -> list[Path]:
    """The checked bytes, written where the verifier reads them: it sees exactly
    what was validated, even if a file changes meanwhile."""
    paths = []
    for index, pact in enumerate(pacts):
        path = directory / f"{index:03d}.json"
        path.write_bytes(pact.raw)
        paths.append(path)
    return paths


def _verify(options: VerifyOptions, sources: list[Path], *, has_messages: bool) -> VerifyResult:
    from pact import Verifier  # the FFI loads a native library; only when verifying

    base = options.base_url.rstrip("/")
    host = urlsplit(base).hostname or "localhost"
    verifier = (
        Verifier(options.provider, host=host)
        .add_transport(url=base)
        .state_handler(options.state_url, teardown=options.state_change_teardown, body=True)
        .set_request_timeout(int(options.request_timeout_s * 1000))
        .set_coloured_output(enabled=False)
    )
    credentials = {
        "username": options.broker_username,
        "password": options.broker_password,
        "token": options.broker_token,
    }
    if options.pact_urls:
        for url in options.pact_urls:
            verifier.add_source(url, **credentials)
        verifier.message_handler(_message_producer(options))
    elif options.broker_url is not None:
        selectors = verifier.broker_source(
            options.broker_url, **credentials, selector=True, use_env=False
        )
        if options.enable_pending:
            selectors.include_pending()
        else:
            selectors.exclude_pending()
        if options.include_wip_pacts_since:
            selectors.include_wip_since(options.include_wip_pacts_since)
        selectors.consumer_versions(*options.consumer_version_selectors)
        if options.provider_branch:
            selectors.provider_branch(options.provider_branch)
        if options.provider_tags:
            selectors.provider_tags(*options.provider_tags)
        verifier = selectors.build()
        verifier.message_handler(_message_producer(options))
    else:
        for path in sources:
            verifier.add_source(path)
        if has_messages:
            verifier.message_handler(_message_producer(options))
    if options.filter_consumers:
        verifier.filter_consumers(*options.filter_consumers)
    if options.filter_description or options.filter_state or options.filter_no_state:
        verifier.filter(
            options.filter_description,
            state=options.filter_state,
            no_state=options.filter_no_state,
        )
    if options.publish:
        if not options.provider_version:
            raise CovenantError("--publish needs --version", kind=ErrorKind.USAGE)
        verifier.set_publish_options(
            options.provider_version,
            url=options.build_url,
            branch=options.provider_branch,
            tags=list(options.provider_tags) or None,
        )

    started = time.perf_counter()
    failure: Exception | None = None
    with _native_output_captured():
        try:
            verifier.verify()
        except Exception as exc:  # the verifier raises on any failed interaction
            failure = exc
    seconds = time.perf_counter() - started
    results = verifier.results
    outcomes = _outcomes(results)
    if failure is not None and not outcomes:
        reasons = [
            str((e.get("mismatch") or {}).get("message") or e.get("interaction"))
            for e in results.get("errors", [])
        ]
        raise CovenantError(
            "the Pact verifier failed before verifying anything: "
            + ("; ".join(reasons) or str(failure)),
            kind=ErrorKind.USAGE if reasons else ErrorKind.ENGINE,
        )
    output = _ANSI.sub("", "\n".join(results.get("output", [])))
    return VerifyResult(options.provider, redact_url(base), outcomes, seconds, output)
