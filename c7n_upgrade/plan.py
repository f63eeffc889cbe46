"""The upgrade plan: the guide's step table as data (plans/*.yaml)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Collection, Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import C7nError

PLANS_DIR = Path(__file__).resolve().parent.parent / "plans"


class PlanError(C7nError):
    """A plan file that cannot be used; the message names the file and the key."""


#: an operation's kind as a plan names it in a step's `before:`/`after:`; the closed set is the registry's
#: keys (fixtures/step_tests.OPERATIONS), passed to load_plan
KIND = re.compile(r"[a-z][a-z0-9-]*")
#: the guide's checks that are operations of the step (`check: eureka` runs the `eureka` operation)
CHECK_OPERATIONS = ("eureka", "front")


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    number: int
    release: str
    chart: str
    action: Literal["upgrade", "install"]
    from_version: Optional[str] = None
    version: str
    service_port: int
    health_port: Optional[int] = None
    check: Literal["eureka", "health", "front", "none"]
    hooks: list[str] = Field(default_factory=list)
    database: Optional[str] = None
    values: dict[str, Any] = Field(default_factory=dict)
    before: list[str] = Field(default_factory=list)  # operations before the helm upgrade, in order
    after: list[str] = Field(default_factory=list)   # operations once the release has rolled out, in order
    section: str = ""

    @model_validator(mode="before")
    @classmethod
    def _no_special(cls, data: Any) -> Any:
        if isinstance(data, dict) and "special" in data:
            raise ValueError("'special' is gone: list the step's operations, in order, in 'before:' and "
                             "'after:' (the helm upgrade)")
        return data

    @field_validator("before", "after")
    @classmethod
    def _kinds(cls, v: list[str]) -> list[str]:
        bad = [k for k in v if not isinstance(k, str) or not KIND.fullmatch(k)]
        if bad:
            raise ValueError(f"operation {bad[0]!r}: expected a kind such as 'database' or 'oauth-client'")
        return v

    @model_validator(mode="after")
    def _operations_agree(self) -> "Step":
        ops = self.operations
        twice = sorted({k for k in ops if ops.count(k) > 1})
        if twice:
            raise ValueError(f"step {self.number} names the operation {twice[0]!r} twice")
        if ("database" in ops) != (self.database is not None):
            raise ValueError(f"step {self.number}: 'database: NAME' and the operation 'database' go together")
        for kind in CHECK_OPERATIONS:
            if (kind in ops) != (self.check == kind):
                raise ValueError(f"step {self.number}: 'check: {kind}' and the operation {kind!r} go together")
        return self

    @field_validator("database")
    @classmethod
    def _sql_name(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and not re.fullmatch(r"[A-Za-z0-9_]{1,64}", v):
            raise ValueError(f"database {v!r}: expected letters, digits and '_' (it goes into SQL)")
        return v

    @property
    def operations(self) -> list[str]:
        """The step's operations besides helm, in the order they run."""
        return [*self.before, *self.after]

    @property
    def id(self) -> str:
        """Stable id, e.g. '05-notify-service'."""
        return f"{self.number:02d}-{self.release}"


class Repo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    url: str


class CrdSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    group: str
    version: str
    scope: str
    names: dict[str, str]


class Plan(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str
    from_: str = Field(alias="from")
    to: str
    guide: str
    namespace: str
    repo: Repo
    retired: list[str] = Field(default_factory=list)
    crd: Optional[CrdSpec] = None
    xwiki_update_extensions: list[str] = Field(default_factory=list)
    steps: list[Step]

    @property
    def title(self) -> str:
        return f"Choerodon {self.from_} → {self.to}"

    def step(self, key: int | str) -> Step:
        for step in self.steps:
            if step.number == key or step.release == key:
                return step
        raise KeyError(key)


DEFAULT_PLAN = "0.8-to-0.9"  # an env that names no plan runs this one


def load_plan(name_or_path: str | Path, operations: Optional[Collection[str]] = None) -> Plan:
    """Load a plan by name (a file in plans/) or by path; with `operations` (the registry's kinds), a
    step naming another kind is refused."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = PLANS_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in PLANS_DIR.glob("*.yaml"))
        raise PlanError(f"plan {name_or_path!r} not found (known plans: {', '.join(known)})")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        plan = Plan.model_validate(data)
    except (yaml.YAMLError, ValidationError) as exc:
        raise PlanError(f"{path}: {exc}") from exc
    numbers = [s.number for s in plan.steps]
    if numbers != sorted(numbers) or len(set(numbers)) != len(numbers):
        raise PlanError(f"{path}: steps must be numbered in strictly increasing order, got {numbers}")
    if operations is not None:
        for step in plan.steps:
            unknown = [k for k in step.operations if k not in operations]
            if unknown:
                raise PlanError(f"{path}: step {step.number} names the operation {unknown[0]!r}; the known ones: "
                                + ", ".join(sorted(operations)))
    needs_crd = [s.number for s in plan.steps if "crd" in s.operations]
    if needs_crd and plan.crd is None:
        raise PlanError(f"{path}: step {needs_crd[0]} names the operation 'crd' and the plan has no 'crd:'")
    return plan
