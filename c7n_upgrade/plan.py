"""The upgrade plan: the guide's step table as data (plans/*.yaml)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import C7nError

PLANS_DIR = Path(__file__).resolve().parent.parent / "plans"


class PlanError(C7nError):
    """A plan file that cannot be used; the message names the file and the key."""


#: the operations a step may name besides its helm upgrade (`special:` in the plan file); each has its
#: test in fixtures/step_tests.py, which the step's module binds
Operation = Literal["crd", "gitlab-ssh", "devops-smooth-upgrade", "xwiki", "wiki-home-page", "oauth-client"]


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
    special: list[Operation] = Field(default_factory=list)
    section: str = ""

    @field_validator("database")
    @classmethod
    def _sql_name(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and not re.fullmatch(r"[A-Za-z0-9_]{1,64}", v):
            raise ValueError(f"database {v!r}: expected letters, digits and '_' (it goes into SQL)")
        return v

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


def load_plan(name_or_path: str | Path) -> Plan:
    """Load a plan by name (a file in plans/) or by path."""
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
    needs_crd = [s.number for s in plan.steps if "crd" in s.special]
    if needs_crd and plan.crd is None:
        raise PlanError(f"{path}: step {needs_crd[0]} names the operation 'crd' and the plan has no 'crd:'")
    return plan
