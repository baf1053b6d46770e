"""The GitHub Actions example runs commands the real CLI accepts.

Every ``covenant ...`` line of the workflow is parsed (not run) by the very
click command ``covenant`` is built from, so a renamed command or option, or a
required option that went missing, fails here instead of in someone's pipeline.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.main
import yaml
from typer.core import TyperGroup

from covenant.cli._main import app

WORKFLOW = Path(__file__).parents[2] / "examples" / "github-actions" / "covenant.yml"

#: ``${{ expression }}`` of GitHub Actions, and ``$NAME`` / ``${NAME}`` of the shell.
_EXPRESSION = re.compile(r"\$\{\{.*?\}\}")
_SHELL_VARIABLE = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?")


def _workflow() -> dict[str, Any]:
    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{WORKFLOW} is not a YAML mapping"
    return data


def _steps() -> list[tuple[str, dict[str, Any]]]:
    return [
        (job_name, step)
        for job_name, job in _workflow()["jobs"].items()
        for step in job.get("steps") or []
    ]


def _covenant_lines(script: str) -> list[list[str]]:
    """The argument lists (after ``covenant``) of every covenant command in a run script."""
    found: list[list[str]] = []
    for line in script.replace("\\\n", " ").splitlines():
        line = _EXPRESSION.sub("dummy", line).strip()
        if not line.startswith("covenant "):
            continue
        words = shlex.split(line, comments=True)
        found.append([_SHELL_VARIABLE.sub("dummy", word) for word in words[1:]])
    return found


def _commands() -> list[list[str]]:
    return [args for _, step in _steps() for args in _covenant_lines(step.get("run") or "")]


def parse(args: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """Parse ``covenant ARGS`` as the CLI would, down to the leaf command; run nothing.

    Returns the command path below ``covenant`` and the parsed parameters. Groups
    are walked with their own ``resolve_command``; the leaf is parsed strictly, so
    unknown options, bad values and missing required options raise the CLI's
    usage errors.
    """
    command = typer.main.get_command(app)
    ctx = command.make_context("covenant", [], resilient_parsing=True)
    rest = list(args)
    while isinstance(command, TyperGroup):
        if not rest or rest[0].startswith("-"):
            ctx.fail(f"Missing command after {ctx.command_path!r} in {list(args)}")
        name, sub, rest = command.resolve_command(ctx, rest)
        if name is None or sub is None:
            ctx.fail(f"No such command {rest[0]!r} under {ctx.command_path!r}")
        assert name is not None and sub is not None
        leaf = not isinstance(sub, TyperGroup)
        ctx = sub.make_context(name, rest if leaf else [], parent=ctx, resilient_parsing=not leaf)
        command = sub
    return ctx.command_path.removeprefix("covenant "), dict(ctx.params)


def _refusal(args: Sequence[str]) -> str:
    """The name of the usage error the CLI raises for ``args``."""
    with pytest.raises(typer.TyperException) as refused:
        parse(args)
    return type(refused.value).__name__


def _path(args: Sequence[str]) -> str:
    return parse(args)[0]


COMMANDS = _commands()


def test_the_workflow_has_every_step_of_the_contract_loop() -> None:
    paths = [_path(args) for args in COMMANDS]
    for expected in (
        "contracts publish",
        "verify",
        "fuzz",
        "contracts compare",
        "can-i-deploy",
        "record-deployment",
    ):
        assert expected in paths, f"no `covenant {expected}` in {WORKFLOW.name}: {paths}"


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(a[:3]) for a in COMMANDS])
def test_every_covenant_command_parses(args: list[str]) -> None:
    path, _ = parse(args)
    assert path == " ".join(args[: len(path.split())]), args


def test_the_commands_say_what_the_readme_says() -> None:
    parsed = [parse(args) for args in COMMANDS]
    by_path = dict(item for item in parsed if not item[1].get("pact_url"))
    publish = by_path["contracts publish"]
    assert str(publish["directory"]) == "contracts/pacts"
    assert publish["version"] and publish["branch"]
    verify = by_path["verify"]
    assert verify["provider"] == "hono-api" and verify["publish"] is True
    assert verify["broker"] and verify["version"] and verify["branch"]
    assert by_path["fuzz"]["service"] == "hono-api"
    assert isinstance(by_path["fuzz"]["seed"], int)
    gate = by_path["can-i-deploy"]
    assert gate["pacticipant"] == "web-client"
    assert gate["to_environment"] == "production" and gate["compare"] is True
    assert gate["retry_while_unknown"] > 0
    # The webhook's job verifies the one changed pact and publishes the result.
    [changed] = [values for path, values in parsed if values.get("pact_url")]
    assert changed["provider"] == "hono-api" and changed["publish"] is True
    assert changed["broker"] is None and changed["version"]
    recorded = by_path["record-deployment"]
    assert (recorded["pacticipant"], recorded["environment"]) == ("web-client", "production")


def test_renamed_options_and_commands_are_caught() -> None:
    """The checker itself: what the CLI would refuse, ``parse`` refuses too."""
    refused = _refusal(["can-i-deploy", "--pacticipant", "a", "--version", "1", "--to-env", "x"])
    assert refused == "NoSuchOption"
    assert _refusal(["record-deployment", "--pacticipant", "a", "--version", "1"]) == (
        "MissingParameter"
    )
    assert _refusal(["contracts", "publication", "contracts/pacts", "--version", "1"]) == (
        "UsageError"
    )
    assert _refusal(["contracts"]) == "UsageError"
    assert _refusal(["fuzz", "hono-api", "--seed", "not-a-number"]) == "BadParameter"
    assert _refusal(["verify", "hono-api", "extra"]) == "UsageError"


def test_the_deploy_is_gated_and_then_recorded() -> None:
    deploy = _workflow()["jobs"]["deploy"]
    assert "contracts" in (
        [deploy["needs"]] if isinstance(deploy["needs"], str) else deploy["needs"]
    )
    order = [
        _path(args) for step in deploy["steps"] for args in _covenant_lines(step.get("run") or "")
    ]
    names = [step.get("name") for step in deploy["steps"]]
    assert order == ["can-i-deploy", "record-deployment"], order
    assert names.index("Deploy") > names.index("Can web-client be deployed to production?")
    assert names.index("Record the deployment") > names.index("Deploy")


def test_the_broker_token_comes_from_a_secret_and_reports_are_uploaded() -> None:
    workflow = _workflow()
    assert workflow["env"]["PACT_BROKER_TOKEN"] == "${{ secrets.PACT_BROKER_TOKEN }}"
    assert "--token" not in {word for args in COMMANDS for word in args}
    uploads = [
        step
        for _, step in _steps()
        if str(step.get("uses", "")).startswith("actions/upload-artifact@")
    ]
    assert uploads, "no actions/upload-artifact step"
    paths = str(uploads[0]["with"]["path"])
    assert "junit.xml" in paths and "reports/fuzz" in paths
    # YAML 1.1 (PyYAML) reads the bare key `on` as the boolean true.
    triggers = next(value for key, value in workflow.items() if key in ("on", True))
    assert triggers and "push" in triggers
