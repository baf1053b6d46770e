"""JUnit XML for CI and a readable summary that names interaction and field."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import defaultdict

from verifiers.provider._model import InteractionOutcome, VerifyResult

__all__ = ["render_json", "render_junit", "render_summary_lines"]


def _seconds(duration: str) -> str:
    text = duration.strip()
    try:
        if text.endswith("ms"):
            return f"{float(text[:-2]) / 1000:.3f}"
        if text.endswith("s"):
            return f"{float(text[:-1]):.3f}"
    except ValueError:
        pass
    return "0"


def _failure_text(outcome: InteractionOutcome) -> str:
    lines = [m.describe() for m in outcome.mismatches]
    if outcome.error:
        lines.append(outcome.error)
    return "\n".join(lines) or "failed"


def render_junit(result: VerifyResult) -> str:
    """One ``testsuite`` per consumer, one ``testcase`` per interaction."""
    by_consumer: dict[str, list[InteractionOutcome]] = defaultdict(list)
    for outcome in result.outcomes:
        by_consumer[outcome.consumer].append(outcome)
    suites = ET.Element("testsuites", name=f"pact verification of {result.provider}")
    for consumer, outcomes in sorted(by_consumer.items()):
        failures = sum(1 for o in outcomes if not o.passed and not o.pending)
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=f"{consumer} -> {result.provider}",
            tests=str(len(outcomes)),
            failures=str(failures),
            skipped=str(sum(1 for o in outcomes if o.pending and not o.passed)),
        )
        for outcome in outcomes:
            name = outcome.description
            if outcome.states:
                name += f" [given {'; '.join(outcome.states)}]"
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"{consumer}.{result.provider}",
                name=name,
                time=_seconds(outcome.duration),
            )
            if outcome.passed:
                continue
            text = _failure_text(outcome)
            if outcome.pending:
                ET.SubElement(case, "skipped", message="pending interaction failed").text = text
            else:
                first = text.splitlines()[0]
                ET.SubElement(case, "failure", message=first, type="PactMismatch").text = text
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode")


def render_summary_lines(result: VerifyResult) -> list[str]:
    """Plain lines: a verdict, then each failed interaction with its mismatches."""
    total = len(result.outcomes)
    failed = result.failed
    pending = [o for o in result.outcomes if o.pending and not o.passed]
    verdict = "verified" if result.passed else "FAILED"
    lines = [
        f"{result.provider} at {result.base_url}: {verdict} "
        f"({total - len(failed) - len(pending)}/{total} interactions passed"
        + (f", {len(pending)} pending failed" if pending else "")
        + f", {result.seconds:.1f}s)"
    ]
    for outcome in failed:
        given = f" given {'; '.join(outcome.states)}" if outcome.states else ""
        lines.append(f"  x {outcome.consumer}: {outcome.description}{given}")
        lines.extend(f"      {m.describe()}" for m in outcome.mismatches)
        if outcome.error:
            lines.append(f"      {outcome.error}")
    return lines


def render_json(result: VerifyResult) -> str:
    """The whole result as JSON for CI: the verdict, and each interaction with its
    consumer, states, pending flag, duration and mismatches (field, expected, actual)."""
    document = {
        "provider": result.provider,
        "baseUrl": result.base_url,
        "passed": result.passed,
        "seconds": round(result.seconds, 3),
        "counts": {
            "interactions": len(result.outcomes),
            "failed": len(result.failed),
            "pending": sum(1 for o in result.outcomes if o.pending),
        },
        "interactions": [
            {
                "consumer": o.consumer,
                "description": o.description,
                "providerStates": list(o.states),
                "passed": o.passed,
                "pending": o.pending,
                "duration": o.duration,
                "mismatches": [
                    {
                        "type": m.kind,
                        "path": m.path,
                        "message": m.message,
                        "expected": m.expected,
                        "actual": m.actual,
                    }
                    for m in o.mismatches
                ],
                "error": o.error,
            }
            for o in result.outcomes
        ],
    }
    return json.dumps(document, indent=2) + "\n"
