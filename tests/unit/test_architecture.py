"""The floor plan, as the code's own imports draw it (the README's Architecture).

Every module of Covenant belongs to one component; components stand on floors:

- floor 0, the kernel (``covenant.kernel``): imports nothing of Covenant;
- floor 1, the capabilities, in this order: each may import the kernel and the
  public face of a capability listed before it, never one after it;
- floor 2, the shell, in this order: it may import anything below it and the
  face of a shell component listed before it.

A component's face is its package and its modules whose names do not start with
``_``; reaching into another component's ``_private`` module is refused. Inside
a component no two modules may import each other, directly or around a circle.
Imports inside functions count as much as those at the top: a lazy import that
hides a circle is still a circle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("covenant", "contracts", "verifiers", "schedules", "observability")

#: (component, floor, the packages or modules it is made of), lowest first.
COMPONENTS: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    ("kernel", 0, ("covenant.kernel",)),
    ("pacts", 1, ("contracts.pactfile", "contracts.paths")),
    ("broker", 1, ("contracts.broker",)),
    ("verify", 1, ("verifiers.provider",)),
    ("compare", 1, ("verifiers.compare",)),
    ("fuzz", 1, ("verifiers.fuzz",)),
    ("checks", 1, ("schedules",)),
    ("telemetry", 1, ("observability",)),
    ("doubles", 2, ("observability.doubles",)),
    ("stack", 2, ("covenant.stack",)),
    ("app", 2, ("covenant.app",)),
    ("cli", 2, ("covenant.cli", "covenant.__main__")),
)
#: Package roots that only group components and import nothing themselves.
GROUPS = ("covenant", "contracts", "verifiers")
#: Tests of the consumers that write the pacts: not part of the installed tool.
NOT_CODE = ("contracts.consumers",)
#: Only these may import a web framework: the broker's HTTP resources and the shell.
WEB_FRAMEWORKS = ("fastapi", "starlette", "uvicorn")
WEB_LAYERS = ("contracts.broker.resources", "covenant.app", "covenant.cli", "observability.doubles")

#: The broker's own top floor: its HTTP resources, which nothing else in the broker imports.
BROKER = "contracts.broker"
BROKER_RESOURCES = "contracts.broker.resources"
#: The broker's faces that mount the resources for the shell (nothing below them imports them).
BROKER_MOUNTS = ("contracts.broker", "contracts.broker.api")


@dataclass(frozen=True)
class Import:
    source: str
    target: str
    line: int


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


@cache
def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = _module_name(path)
            if not any(_within(name, skip) for skip in NOT_CODE):
                found[name] = path
    return found


def component_of(module: str) -> tuple[str, int, int] | None:
    """(name, floor, rank) of the component ``module`` belongs to: the longest match."""
    best: tuple[str, int, int] | None = None
    best_length = -1
    for rank, (name, floor, prefixes) in enumerate(COMPONENTS):
        for prefix in prefixes:
            if _within(module, prefix) and len(prefix) > best_length:
                best, best_length = (name, floor, rank), len(prefix)
    return best


def _resolve(source: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = source.split(".")
    if path.name != "__init__.py":
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports_of(source: str, path: Path) -> Iterator[Import]:
    known = modules()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(source, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(source, path, node)
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                yield Import(source, submodule if submodule in known else target, node.lineno)


@cache
def all_imports() -> tuple[Import, ...]:
    return tuple(found for name, path in modules().items() for found in imports_of(name, path))


def _ours(target: str) -> bool:
    return target.split(".")[0] in PACKAGES


def _private_beyond(target: str, prefix: str) -> bool:
    """Whether ``target`` names a ``_private`` module below the component's ``prefix``."""
    rest = target[len(prefix) :].strip(".")
    return any(part.startswith("_") for part in rest.split(".") if part)


def _where(found: Import) -> str:
    return f"{modules()[found.source].relative_to(ROOT)}:{found.line}: {found.target}"


def test_every_module_belongs_to_a_component() -> None:
    strays = [name for name in modules() if component_of(name) is None and name not in GROUPS]
    assert strays == []


def test_group_packages_import_nothing_of_covenant() -> None:
    wrong = [_where(i) for i in all_imports() if i.source in GROUPS and _ours(i.target)]
    assert wrong == []


def test_imports_only_point_down_and_only_at_faces() -> None:
    wrong: list[str] = []
    for found in all_imports():
        if not _ours(found.target):
            continue
        source = component_of(found.source)
        target = component_of(found.target)
        if source is None or target is None:
            if found.target not in GROUPS and found.target != "covenant":
                wrong.append(f"{_where(found)} (outside every component)")
            continue
        if source[0] == target[0]:
            continue
        if target[2] >= source[2]:
            wrong.append(f"{_where(found)} ({source[0]} may not import {target[0]}: not below)")
            continue
        prefixes = next(p for name, _, p in COMPONENTS if name == target[0])
        prefix = max((p for p in prefixes if _within(found.target, p)), key=len)
        if _private_beyond(found.target, prefix):
            wrong.append(f"{_where(found)} (private module of {target[0]})")
    assert wrong == [], "\n".join(wrong)


def test_no_import_circle_inside_a_component() -> None:
    graph: dict[str, set[str]] = {name: set() for name in modules()}
    for found in all_imports():
        same = component_of(found.source) == component_of(found.target)
        if found.target in graph and found.target != found.source and same:
            graph[found.source].add(found.target)
    circles = [" -> ".join(sorted(c)) for c in _strongly_connected(graph) if len(c) > 1]
    assert circles == [], "\n".join(circles)


def test_web_frameworks_only_in_the_http_layers() -> None:
    wrong = [
        _where(i)
        for i in all_imports()
        if i.target.split(".")[0] in WEB_FRAMEWORKS
        and not any(_within(i.source, layer) for layer in WEB_LAYERS)
    ]
    assert wrong == [], "\n".join(wrong)


def test_the_broker_below_its_resources_never_imports_them() -> None:
    # Resources -> services, renderers -> store: the HTTP floor of the broker is on
    # top, so a service or a store importing a resource would point up.
    wrong = [
        _where(i)
        for i in all_imports()
        if _within(i.source, BROKER)
        and not _within(i.source, BROKER_RESOURCES)
        and i.source not in BROKER_MOUNTS
        and _within(i.target, BROKER_RESOURCES)
    ]
    assert wrong == [], "\n".join(wrong)
    resources = [i for i in all_imports() if _within(i.source, BROKER_RESOURCES)]
    assert any(i.target.startswith("fastapi") for i in resources)  # the rule sees them


@pytest.mark.parametrize("probe", ["covenant.kernel.config", "contracts.broker.resources.x"])
def test_the_rules_see_what_they_claim(probe: str) -> None:
    # The component table resolves to the most specific owner (so the checks above
    # are not vacuous: broker resources are the broker, the kernel is floor 0).
    found = component_of(probe)
    assert found is not None
    assert found[1] == (0 if probe.startswith("covenant.kernel") else 1)


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (the graph is a few hundred modules)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                found.append(component)
    return found


def test_a_private_module_and_an_upward_import_are_told_apart() -> None:
    assert not _private_beyond("contracts.broker.client", "contracts.broker")
    checks, telemetry = component_of("schedules._scheduler"), component_of("observability.tracing")
    assert checks is not None and telemetry is not None
    assert telemetry[2] > checks[2]  # so checks importing telemetry is refused as "not below"
