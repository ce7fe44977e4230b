"""The faults' import graph (issue 15 §4): no cycles among the harness's modules, and the faults core (base,
intent, undo, plan, runner) imports no fault implementation, no lab and nothing above the faults layer."""

from __future__ import annotations

import grimp

CORE = ("harness.faults.base", "harness.faults.intent", "harness.faults.undo", "harness.faults.plan")


def _graph():
    return grimp.build_graph("harness", cache_dir=None)


def _cycles(graph, modules: set[str]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), restricted to `modules`."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.find_modules_directly_imported_by(v) & modules:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for m in sorted(modules):
        if m not in index:
            visit(m)
    return found


def test_no_import_cycle_through_faults_targets_chaos_lab_or_safety():
    graph = _graph()
    mine = {
        m
        for m in graph.modules
        if m.startswith(("harness.faults", "harness.targets", "harness.chaos", "harness.lab", "harness.drills"))
        or m in ("harness.safety", "harness.dryrun")
    }
    assert _cycles(graph, mine) == []


def test_the_faults_core_reaches_no_implementation_lab_or_loader():
    graph = _graph()
    for module in CORE:
        reached = graph.find_upstream_modules(module)  # everything it imports, directly or not
        bad = sorted(
            m
            for m in reached
            if m.startswith(("harness.lab", "harness.targets", "harness.chaos"))
            or m in ("harness.faults.registry", "harness.faults.lab", "harness.faults.aws", "harness.faults.k8s")
        )
        assert bad == [], f"{module} reaches {bad}"
