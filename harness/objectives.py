"""The DR plan's recovery objectives (objectives.yaml): loaded, validated, looked up.

Every row of the plan's RTO/RPO tables (section 1.1 by component class, section 5 by component and failure
scenario) is one entry. Values keep the plan's words verbatim and say what a drill is judged against, so no
code ever parses "1-2 minutes" at verdict time.
"""

from __future__ import annotations

import os
import re
from difflib import get_close_matches
from enum import Enum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.errors import HarnessError
from harness.yamlfile import load_model

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PATH = REPO_ROOT / "objectives.yaml"


class BoundKind(str, Enum):
    duration = "duration"
    near_zero = "near_zero"
    depends_on_detection = "depends_on_detection"
    last_training_cycle = "last_training_cycle"
    last_checkpoint = "last_checkpoint"
    last_synchronized_model = "last_synchronized_model"
    minimal = "minimal"
    not_applicable = "not_applicable"


class Bound(BaseModel):
    """One RTO or RPO cell of the plan."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str = Field(min_length=1, description="the plan's words, verbatim")
    kind: BoundKind = BoundKind.duration
    min_s: float | None = Field(default=None, ge=0)
    max_s: float | None = Field(default=None, ge=0)
    note: str | None = None

    @model_validator(mode="after")
    def _numbers_match_kind(self) -> Bound:
        if self.kind is BoundKind.duration:
            if self.min_s is None or self.max_s is None:
                raise ValueError("a duration needs both min_s and max_s (seconds)")
            if self.min_s > self.max_s:
                raise ValueError(f"min_s ({self.min_s:g}) is greater than max_s ({self.max_s:g})")
        elif self.min_s is not None or self.max_s is not None:
            raise ValueError(f"kind {self.kind.value} carries no seconds; remove min_s/max_s")
        return self

    @property
    def judged_s(self) -> float | None:
        """What a measurement is judged against: the upper end of a range; None when the plan gives no number."""
        return self.max_s if self.kind is BoundKind.duration else None

    def describe(self) -> str:
        if self.kind is BoundKind.duration:
            return f"≤ {_fmt_s(self.max_s)}" + (f" (plan: {self.text})" if self.text else "")
        return f"not numeric ({self.kind.value}): {self.text}"


class Criticality(str, Enum):
    high = "high"
    medium = "medium"
    low = "low"


class ComponentClass(BaseModel):
    """A row of section 1.1 (objectives by component class)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    section: str
    component: str
    criticality: Criticality
    rto: Bound
    rpo: Bound


class ScenarioRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str
    procedure: str
    rto: Bound
    rpo: Bound


class ComponentTable(BaseModel):
    """One table of section 5: a component and its failure scenarios."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    section: str = Field(pattern=r"^5\.\d+\.\d+$")
    name: str
    aliases: list[str] = []
    class_: str | None = Field(default=None, alias="class")
    owner_role: str
    scenarios: list[ScenarioRow] = Field(min_length=1)


class CatalogFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, le=1)
    plan: str
    classes: list[ComponentClass] = Field(min_length=1)
    components: list[ComponentTable] = Field(min_length=1)

    @model_validator(mode="after")
    def _references_resolve(self) -> CatalogFile:
        class_ids = {c.id for c in self.classes}
        seen: set[str] = set()
        for i, comp in enumerate(self.components):
            if comp.class_ is not None and comp.class_ not in class_ids:
                raise ValueError(
                    f"components[{i}] ({comp.id}): class '{comp.class_}' is not one of {sorted(class_ids)}"
                )
            if comp.id in seen:
                raise ValueError(f"components[{i}]: duplicate component id '{comp.id}'")
            seen.add(comp.id)
            ids = [s.id for s in comp.scenarios]
            dup = {x for x in ids if ids.count(x) > 1}
            if dup:
                raise ValueError(f"components[{i}] ({comp.id}): duplicate scenario id(s) {sorted(dup)}")
        return self


class Objective(BaseModel):
    """A resolved objective: what a drill of one component/scenario is judged against, and where it comes from."""

    component: str
    component_name: str
    scenario: str | None
    scenario_name: str | None
    procedure: str | None
    rto: Bound
    rpo: Bound
    section: str
    criticality: Criticality | None
    criticality_source: str
    owner_role: str | None

    @property
    def key(self) -> str:
        return f"{self.component}/{self.scenario}" if self.scenario else self.component

    @property
    def source(self) -> str:
        return f"dr-plan.md §{self.section}"


class Catalog:
    def __init__(self, data: CatalogFile, path: Path):
        self.data, self.path = data, path
        self._classes = {c.id: c for c in data.classes}

    def objectives(self) -> list[Objective]:
        rows = [
            Objective(
                component=c.id,
                component_name=c.component,
                scenario=None,
                scenario_name=None,
                procedure=None,
                rto=c.rto,
                rpo=c.rpo,
                section=c.section,
                criticality=c.criticality,
                criticality_source=f"§{c.section}",
                owner_role=None,
            )
            for c in self.data.classes
        ]
        for comp in self.data.components:
            cls = self._classes.get(comp.class_) if comp.class_ else None
            for s in comp.scenarios:
                rows.append(
                    Objective(
                        component=comp.id,
                        component_name=comp.name,
                        scenario=s.id,
                        scenario_name=s.name,
                        procedure=s.procedure,
                        rto=s.rto,
                        rpo=s.rpo,
                        section=comp.section,
                        criticality=cls.criticality if cls else None,
                        criticality_source=(
                            f"§1.1 '{cls.component}' (catalog's class mapping)" if cls else "not rated by the plan"
                        ),
                        owner_role=comp.owner_role,
                    )
                )
        return rows

    def component(self, name: str) -> ComponentTable | ComponentClass:
        want = _slug(name)
        for comp in self.data.components:
            if want in {comp.id, _slug(comp.name), *(_slug(a) for a in comp.aliases)}:
                return comp
        for cls in self.data.classes:
            if want in {cls.id, _slug(cls.component)}:
                return cls
        known = [c.id for c in self.data.components] + [c.id for c in self.data.classes]
        raise HarnessError(f"unknown component '{name}' in {self.path.name}{_suggest(want, known)}")

    def lookup(self, component: str, scenario: str | None = None) -> Objective:
        """The objective for a component (name, id or alias) and failure scenario (name or id).

        Without a scenario, a section-1.1 class is returned (by class name or a component's class)."""
        comp = self.component(component)
        rows = self.objectives()
        if isinstance(comp, ComponentClass) or scenario is None:
            cls_id = comp.id if isinstance(comp, ComponentClass) else comp.class_
            if cls_id is None:
                raise HarnessError(f"component '{component}' has no class objective in §1.1; name a scenario")
            return next(r for r in rows if r.component == cls_id and r.scenario is None)
        want = _slug(scenario)
        for s in comp.scenarios:
            if want in {s.id, _slug(s.name)}:
                return next(r for r in rows if r.component == comp.id and r.scenario == s.id)
        raise HarnessError(
            f"component '{comp.id}' (§{comp.section}) has no scenario '{scenario}'; it has: "
            f"{', '.join(s.id for s in comp.scenarios)}{_suggest(want, [s.id for s in comp.scenarios])}"
        )


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _suggest(word: str, options: list[str]) -> str:
    close = get_close_matches(word, options, n=3, cutoff=0.5)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def _fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def load(path: str | Path | None = None) -> Catalog:
    """Load and validate the catalog; any problem is one ConfigError naming the file, line, entry and field."""
    path = Path(path or os.environ.get("DRILL_OBJECTIVES") or DEFAULT_PATH)
    data, _ = load_model(path, CatalogFile, what="objectives file", expect="version, plan, classes and components")
    return Catalog(data, path)


# --- Checking the catalog against the plan itself ----------------------------------------------------

_HEADING = re.compile(r"^#{3,4}\s+(\d+(?:\.\d+)+)\s+(.*)$")


def plan_tables(plan_text: str) -> dict[str, list[list[str]]]:
    """Section number -> data rows (cells) of the first table under each heading of the plan."""
    tables: dict[str, list[list[str]]] = {}
    section, in_code = None, False
    for line in plan_text.splitlines():
        if line.strip().startswith("```"):
            in_code = not in_code
            continue
        if in_code:
            continue
        m = _HEADING.match(line)
        if m:
            section = m.group(1)
            continue
        if section and line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if set("".join(cells)) <= set("-: "):
                continue
            tables.setdefault(section, []).append(cells)
    # drop header rows
    return {s: rows[1:] for s, rows in tables.items()}


def check_against_plan(catalog: Catalog, plan_path: str | Path) -> list[str]:
    """Differences between the catalog and the plan's RTO/RPO tables (section 1.1 and section 5).

    Empty when every row of those tables is in the catalog with the same words, and nothing extra is."""
    tables = plan_tables(Path(plan_path).read_text())
    problems: list[str] = []
    want_1_1 = {r[0]: (r[1], r[2]) for r in tables.get("1.1", [])}
    have_1_1 = {c.component: (c.rto.text, c.rpo.text) for c in catalog.data.classes}
    problems += _diff("§1.1", want_1_1, have_1_1)
    sections_5 = {s for s in tables if s.startswith("5.") and s.count(".") == 2}
    have_sections = {c.section for c in catalog.data.components}
    for s in sorted(sections_5 - have_sections):
        problems.append(f"§{s}: table in the plan but no component in the catalog")
    for s in sorted(have_sections - sections_5):
        problems.append(f"§{s}: component in the catalog but no such table in the plan")
    for comp in catalog.data.components:
        if comp.section not in tables:
            continue
        want = {r[0]: (r[1], r[2], r[3]) for r in tables[comp.section]}
        have = {s.name: (s.procedure, s.rto.text, s.rpo.text) for s in comp.scenarios}
        problems += _diff(f"§{comp.section}", want, have)
    return problems


def _diff(where: str, want: dict[str, tuple], have: dict[str, tuple]) -> list[str]:
    out = [f"{where}: plan row '{k}' is missing from the catalog" for k in want if k not in have]
    out += [f"{where}: catalog row '{k}' is not in the plan" for k in have if k not in want]
    out += [
        f"{where}: row '{k}' differs: plan says {want[k]}, catalog says {have[k]}"
        for k in want
        if k in have and want[k] != have[k]
    ]
    return out
