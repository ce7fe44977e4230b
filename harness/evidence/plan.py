"""Drill plans (plans/*.yaml): what a drill is meant to do, who takes part and who approved it.

A plan is the "test plan" of the DR plan's section 6.5 and the planning step of section 6.4: scope and
objectives, participants and roles (section 7.2), the maintenance window and the success criteria. The file's
SHA-256 goes into every drill record run under it, so an auditor can tell which version of the plan was used.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from harness.yamlfile import load_model

# Section 7.2 of the DR plan, verbatim: the only roles a participant may hold.
ROLES = (
    "DR Coordinator",
    "Infrastructure Lead",
    "Application Lead",
    "Database Lead",
    "Security Lead",
    "Communications Lead",
)


class DrillType(str, Enum):
    """The four rows of the DR plan's section 6.1 testing strategy."""

    component_test = "component-test"
    scenario_based = "scenario-based"
    dr_drill = "dr-drill"
    full_dr = "full-dr"


class Participant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    role: str

    @field_validator("role")
    @classmethod
    def _role_from_plan(cls, role: str) -> str:
        for known in ROLES:
            if role.strip().lower() == known.lower():
                return known
        raise ValueError(f"'{role}' is not a role of the DR plan §7.2; use one of: {', '.join(ROLES)}")


class Approver(BaseModel):
    """Someone who may approve the drill; their title is free text (a CTO is not a §7.2 role)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    title: str | None = None


class TagExpression(str):
    """A scenario tag expression such as `@quarterly and not @destructive` (and/or/not, parentheses)."""

    def matches(self, tags: list[str] | set[str]) -> bool:
        have = {t if t.startswith("@") else f"@{t}" for t in tags}
        return _TagParser(self).parse(have)

    @classmethod
    def checked(cls, expr: str) -> TagExpression:
        """The expression, parsed once: ValueError saying what is wrong if it is malformed."""
        _TagParser(expr).parse(set())
        return cls(expr)


class Scope(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scenarios: list[str] = []
    tags: str | None = Field(default=None, description="tag expression, e.g. '@quarterly and not @slow'")

    @field_validator("tags")
    @classmethod
    def _tags_parse(cls, expr: str | None) -> str | None:
        if expr is not None:
            TagExpression.checked(expr)  # raises ValueError on a malformed expression
        return expr

    @model_validator(mode="after")
    def _not_empty(self) -> Scope:
        if not self.scenarios and not self.tags:
            raise ValueError("scope needs scenario names and/or a tag expression")
        return self

    def includes(self, scenario: str, tags: list[str] | set[str] = ()) -> bool:
        """True when a scenario is named by the scope or its tags match the scope's expression."""
        if scenario in self.scenarios:
            return True
        return bool(self.tags) and TagExpression(self.tags).matches(tags)


_DURATION = re.compile(r"^(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?$")


def parse_duration(text: str) -> timedelta:
    """'2h', '90m', '1h30m', '1d' -> timedelta."""
    m = _DURATION.match(text.strip())
    if not text.strip() or not m or not any(m.groups()):
        raise ValueError(f"'{text}' is not a duration like 2h, 90m or 1h30m")
    d, h, mi, s = (int(g or 0) for g in m.groups())
    return timedelta(days=d, hours=h, minutes=mi, seconds=s)


class Window(BaseModel):
    """The maintenance window: start plus an end or a duration; times without a zone are taken as UTC."""

    model_config = ConfigDict(extra="forbid")

    start: datetime
    end: datetime | None = None
    duration: str | None = None

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value is not None else None

    @model_validator(mode="after")
    def _end_or_duration(self) -> Window:
        if (self.end is None) == (self.duration is None):
            raise ValueError("a window needs exactly one of end or duration")
        if self.duration is not None:
            self.end = self.start + parse_duration(self.duration)
        if self.end <= self.start:
            raise ValueError("the window ends before it starts")
        return self


class SuccessCriteria(BaseModel):
    model_config = ConfigDict(extra="forbid")

    all_objectives_met: bool = True
    max_rto_s: float | None = Field(default=None, ge=0, description="stricter RTO than the objectives, seconds")
    max_rpo_s: float | None = Field(default=None, ge=0, description="stricter RPO than the objectives, seconds")
    notes: str | None = None


class DrillPlan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    type: DrillType
    description: str | None = None
    scope: Scope
    target: str = Field(min_length=1)
    environment: str | None = None
    window: Window | None = None
    participants: list[Participant] = Field(min_length=1)
    approvers: list[Approver] = []
    success_criteria: SuccessCriteria = SuccessCriteria()

    _path: Path | None = PrivateAttr(default=None)
    _sha256: str | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _section_6_4(self) -> DrillPlan:
        # Plan §6.4: anything beyond a component test is approved; DR drills run in a scheduled window
        # under a DR Coordinator (§6.1 "Scheduled maintenance window", §7.2).
        if self.type is not DrillType.component_test and not self.approvers:
            raise ValueError(f"a {self.type.value} drill needs at least one approver")
        if self.type in (DrillType.dr_drill, DrillType.full_dr):
            if self.window is None:
                raise ValueError(f"a {self.type.value} drill needs a maintenance window (plan §6.1)")
            if not any(p.role == "DR Coordinator" for p in self.participants):
                raise ValueError(f"a {self.type.value} drill needs a participant with role DR Coordinator")
        return self

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def sha256(self) -> str | None:
        """SHA-256 of the plan file's bytes, as loaded."""
        return self._sha256

    def approver_names(self) -> set[str]:
        return {a.name for a in self.approvers}


def load_plan(path: str | Path) -> DrillPlan:
    """Load and validate a plan; any problem is one ConfigError naming the file, the line and the field."""
    plan, data = load_model(
        path, DrillPlan, what="plan", expect="name, type, scope, target and participants", name_of=_field_name
    )
    plan._path = Path(path)
    plan._sha256 = hashlib.sha256(data).hexdigest()
    return plan


def _field_name(raw: Any, loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class _TagParser:
    """Recursive descent over: expr := term ('or' term)*; term := factor ('and' factor)*;
    factor := 'not' factor | '(' expr ')' | @tag."""

    _TOKEN = re.compile(r"\s*(\(|\)|@[\w:.-]+|and\b|or\b|not\b|\S+)")

    def __init__(self, text: str):
        self.text = text
        self.tokens = [m.group(1) for m in self._TOKEN.finditer(text)]
        self.pos = 0

    def parse(self, tags: set[str]) -> bool:
        if not self.tokens:
            raise ValueError("empty tag expression")
        self.pos = 0
        value = self._expr(tags)
        if self.pos != len(self.tokens):
            raise ValueError(f"unexpected '{self.tokens[self.pos]}' in tag expression '{self.text}'")
        return value

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self) -> str:
        tok = self._peek()
        if tok is None:
            raise ValueError(f"tag expression '{self.text}' ends too early")
        self.pos += 1
        return tok

    def _expr(self, tags: set[str]) -> bool:
        value = self._term(tags)
        while self._peek() == "or":
            self._take()
            rhs = self._term(tags)  # evaluate both sides: the whole expression is always syntax-checked
            value = value or rhs
        return value

    def _term(self, tags: set[str]) -> bool:
        value = self._factor(tags)
        while self._peek() == "and":
            self._take()
            rhs = self._factor(tags)
            value = value and rhs
        return value

    def _factor(self, tags: set[str]) -> bool:
        tok = self._take()
        if tok == "not":
            return not self._factor(tags)
        if tok == "(":
            value = self._expr(tags)
            if self._take() != ")":
                raise ValueError(f"missing ')' in tag expression '{self.text}'")
            return value
        if tok.startswith("@") and len(tok) > 1:
            return tok in tags
        raise ValueError(f"'{tok}' in tag expression '{self.text}' is not a @tag, and, or, not or parenthesis")
