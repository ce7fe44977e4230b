"""docs/extending.md followed once per recipe, with a throwaway item registered at test time (no lab, no cloud).

Each test adds only what its recipe names (the class, the table entries, the module) and then looks for the
item everywhere it must appear without any other file being edited: `drill fault list`, the target files,
the Chaos Toolkit provider, the intent log, `drill plan`, the target loader, the step registry.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import Field
from pytest_bdd import parsers, when
from pytest_bdd.steps import step_function_context_registry
from typer.testing import CliRunner

from harness import dryrun, targets
from harness.chaos import actions
from harness.cli import app
from harness.drills.phrases import needs
from harness.errors import FaultParamError
from harness.faults import registry
from harness.faults.base import BlastRadius, FaultParams, Injection, Journal, register
from harness.faults.intent import IntentLog
from harness.faults.lab import LabFault
from harness.faults.undo import undo_action
from harness.measure import probes
from harness.targets import load_target

ROOT = Path(__file__).resolve().parents[1]
FAULT = "test-disk-full"


def recipe(title: str) -> list[str]:
    """The files a recipe of docs/extending.md names, in order (the `code` paths of its numbered steps)."""
    text = (ROOT / "docs" / "extending.md").read_text()
    section = text.split(f"\n## {title}", 1)[1].split("\n## ", 1)[0]
    steps = re.findall(r"^\d+\. (.+?)(?=\n\n|\n\d+\. |\Z)", section, re.S | re.M)
    return [m for step in steps for m in re.findall(r"`((?:harness|targets|docs|tests|steps)/[^`]*)`", step)]


# -- a lab fault -------------------------------------------------------------------------------------------------
@undo_action("test_remove_ballast")
def _remove_ballast(record: dict[str, Any]) -> str:
    path = Path(record["path"])
    if not path.exists():
        return f"{path} already gone"
    path.unlink()
    return f"removed {path}"


@pytest.fixture
def disk_full(tmp_path: Path):
    """The recipe's step 1: one class in harness/faults/lab.py (here: defined by the test, same shape)."""

    @register
    class DiskFull(LabFault):
        name = FAULT
        plan_section = "test: 5.1.1 Storage Full"
        summary = "fill the database volume with a ballast file"
        undo_summary = "delete the ballast file"
        needs_lab = False  # acts on a file under the test's tmp dir, not on a lab process
        ballast_dir = tmp_path

        class Params(FaultParams):
            percent: int = Field(ge=1, le=100, description="how full the volume gets")

        def describe(self, target: Any) -> BlastRadius:
            return BlastRadius(
                summary=f"fill the volume to {self.params.percent} %",
                resources=[f"ballast file in {self.ballast_dir}"],
                undo=self.undo_summary,
            )

        def inject(self, target: Any, journal: Journal) -> Injection:
            ballast = self.ballast_dir / f"{journal.id}.ballast"
            journal.record_undo("test_remove_ballast", path=str(ballast))  # durable BEFORE the side effect
            ballast.write_bytes(b"\0" * self.params.percent)
            return Injection(detail={"ballast": str(ballast)})

    yield DiskFull
    registry.unregister(FAULT)


def test_the_lab_fault_recipe_names_the_vocabulary_module_its_docs_row_and_its_test():
    assert recipe("A lab fault") == ["harness/faults/lab.py", "docs/faults.md", "tests/faults/"]


def test_a_lab_fault_appears_in_the_list_the_target_files_the_provider_and_the_plan(disk_full, tmp_path):
    # drill fault list: its name and parameters; validation names the parameter
    listed = json.loads(CliRunner().invoke(app, ["fault", "list", "--json"]).output)
    row = next(r for r in listed if r["name"] == FAULT)
    assert row["params"] == "percent: int" and row["undo"] == "delete the ballast file"
    with pytest.raises(FaultParamError, match="fault 'test-disk-full': parameter 'percent'"):
        registry.get(FAULT).parse({"percent": "0"})

    # the target files: derived on the lab, unsupported (with why) on the staging examples
    local = load_target("local").faults[FAULT]
    assert local.action.ref == "harness.chaos.actions:inject"
    assert local.action.arguments == {"fault": FAULT, "percent": "${param:percent}"}
    for name in ("aws-staging.example", "k8s-staging.example"):
        assert "mapping in this target file yet" in load_target(name).faults[FAULT].unsupported

    # the Chaos Toolkit provider: the intent log holds intend -> undo -> injected, the rollback undoes it
    log = tmp_path / "intent.jsonl"
    out = actions.inject(FAULT, intent_log=str(log), percent=42)
    ballast = Path(out["detail"]["ballast"])
    assert ballast.stat().st_size == 42 and out["blast"]["summary"] == "fill the volume to 42 %"
    assert [e["event"] for e in IntentLog(log).events()] == ["intend", "undo_record", "injected"]
    assert actions.undo_fault(id=out["id"], intent_log=str(log))["ok"] and not ballast.exists()
    assert IntentLog(log).pending() == []

    # drill plan: the activity and the fault's own blast radius
    view = targets.load("local").plan("fault", FAULT, {"percent": "90"}, {})
    assert view.activity == "harness.chaos.actions:inject"
    assert "touches: fill the volume to 90 %" in view.touches and view.undo == "delete the ballast file"


def test_no_file_outside_the_recipe_restates_the_lab_faults():
    """What adding a fault used to touch as well (the provider module, the local target file) names none."""
    local = (ROOT / "targets" / "local.yaml").read_text()
    provider = (ROOT / "harness" / "chaos" / "actions.py").read_text()
    for name in registry.names():
        assert name not in local, name
        assert f"def {name.replace('-', '_')}(" not in provider, name


# -- a probe kind ------------------------------------------------------------------------------------------------
class FileProbe(probes.Probe):
    """`file=PATH`: healthy while the file exists."""

    async def check(self) -> str | None:
        if not Path(self.spec.target).exists():
            raise probes.ProbeFailed(f"{self.spec.target} is missing")
        return None


@pytest.fixture
def file_probe_kind(monkeypatch):
    """The recipe's step 1: the kind's entries in the tables of harness/measure/probes.py."""
    monkeypatch.setattr(probes, "PROBE_KINDS", (*probes.PROBE_KINDS, "file"))
    monkeypatch.setitem(probes.DEFAULT_BUDGET_S, "file", 0.5)
    monkeypatch.setitem(probes._OPTIONS, "file", {"name"})  # the options table the recipe names
    monkeypatch.setitem(probes._PROBES, "file", FileProbe)  # make_probe's table


def test_the_probe_kind_recipe_names_the_probe_module_its_docs_row_and_its_test():
    assert recipe("A probe kind") == ["harness/measure/probes.py", "docs/measure.md", "tests/measure/"]


def test_a_probe_kind_parses_runs_and_is_usable_from_a_target_file_at_once(file_probe_kind, tmp_path):
    watched = tmp_path / "ready"
    spec = probes.parse_probe_spec(f"ready@file={watched}")
    assert (spec.kind, spec.name, spec.budget_s()) == ("file", "ready", 0.5)
    probe = probes.make_probe(spec)
    with pytest.raises(probes.ProbeFailed, match="missing"):
        asyncio.run(probe.check())
    watched.touch()
    assert asyncio.run(probe.check()) is None

    data = yaml.safe_load((ROOT / "targets" / "local.yaml").read_text())
    data["probes"]["ready"] = {"spec": f"ready@file={watched}"}
    path = tmp_path / "with-file-probe.yaml"
    path.write_text(yaml.safe_dump(data))
    assert load_target(path).probe_spec("ready") == f"ready@file={watched}"


# -- a target kind -----------------------------------------------------------------------------------------------
TARGET_MODULE = """
from harness.targets.base import FileTarget


class ThrowawayTarget(FileTarget):
    provider = "{provider}"

    def preflight(self, approval=None, approver=None):
        return None

    def zone_of_primary(self, service):
        return "az-a"

    def other_zones(self, zone):
        return [z for z in ("az-a", "az-b") if z != zone]

    def primary(self, service):
        return "primary-1"

    def versions(self):
        return {{}}

    def _plan_activity(self, view, kind, name, params, configuration):
        super()._plan_activity(view, kind, name, params, configuration)
        view.touches = ["touches: the throwaway environment"]
"""


def test_the_target_kind_recipe_names_the_module_the_file_safety_its_test_and_docs():
    assert recipe("A target kind") == [
        "harness/targets/<kind>.py",
        "targets/<name>.yaml",
        "targets/<name>.example.yaml",
        "harness/safety.py",
        "tests/cloud/",
        "docs/cloud.md",
    ]


def test_a_target_module_in_the_package_is_the_class_its_provider_loads(monkeypatch, tmp_path):
    """Step 1: a module of harness/targets/ (here a folder on the package's path) whose class declares the
    provider. Nothing else dispatches on the provider: the loader finds it. (A new provider also needs its
    allowlist kind in harness/safety.py, step 3; the throwaway one is checked by class lookup.)"""
    (tmp_path / "throwaway_env.py").write_text(textwrap.dedent(TARGET_MODULE.format(provider="throwaway")))
    monkeypatch.setattr(targets, "__path__", [*targets.__path__, str(tmp_path)])
    monkeypatch.delitem(sys.modules, "harness.targets.throwaway_env", raising=False)
    cls = targets.target_class("throwaway")
    assert cls.__name__ == "ThrowawayTarget" and cls.__module__ == "harness.targets.throwaway_env"
    target = cls(load_target("local"))
    assert target.zone_of_primary("db") == "az-a"
    view = target.plan("fault", "db-primary-crash", {}, {})
    assert view.activity == "harness.chaos.actions:inject" and view.touches == ["touches: the throwaway environment"]


# -- a phrase ----------------------------------------------------------------------------------------------------
def test_the_phrase_recipe_names_the_step_module_and_the_steps_doc():
    assert recipe("A phrase (a Gherkin step)") == ["steps/given.py", "steps/when.py", "steps/then.py", "docs/steps.md"]


def test_a_phrase_with_needs_is_matched_and_planned_from_its_declaration(disk_full, tmp_path):
    @when(parsers.parse("the database volume fills to {percent:d} percent"))
    @needs(lambda percent: [("fault", FAULT, {"percent": str(percent)})])
    def volume_fills(drill, percent: int):
        drill.inject(FAULT, {"percent": str(percent)})

    try:
        assert dryrun.step_to_faults("the database volume fills to 90 percent") == [("fault", FAULT, {"percent": "90"})]
        feature = tmp_path / "volume.feature"
        feature.write_text(
            "Feature: storage\n  Scenario: the volume fills\n"
            "    Given the lab is healthy\n    When the database volume fills to 90 percent\n"
        )
        plan = dryrun.plan_drill("local", features=[str(feature)])
        step = next(s for s in plan.steps if s.name == FAULT)
        assert step.kind == "fault" and step.params == {"percent": "90"}
        assert "touches: fill the volume to 90 %" in step.touches
    finally:
        for marker in [m for m, ctx in step_function_context_registry.items() if ctx.step_func is volume_fills]:
            del step_function_context_registry[marker]
