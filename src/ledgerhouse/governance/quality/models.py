"""Quality checks and their results (docs/governance/quality.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Severity = Literal["warn", "error"]
#: pass; warn (a ``warn`` check failed); fail (an ``error`` check failed); error (the check
#: could not run); skipped (no verdict: nothing to check, or not enough history yet)
Status = Literal["pass", "warn", "fail", "error", "skipped"]
SEVERITIES: tuple[str, ...] = ("warn", "error")
#: Where a check was declared: shipped in the package, a file of the cube folder, the tenant's.
Origin = Literal["builtin", "cube_dir", "tenant"]
#: Sample rows kept per failing check.
SAMPLE_ROWS = 5


@dataclass(frozen=True)
class CheckSpec:
    """One declared check: ``kind`` on ``relation`` with the kind's parameters."""

    name: str
    relation: str
    kind: str
    severity: Severity = "warn"
    description: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    origin: Origin = "builtin"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "relation": self.relation,
            "kind": self.kind,
            "severity": self.severity,
            "description": self.description,
            "params": dict(self.params),
            "origin": self.origin,
        }


@dataclass
class Outcome:
    """What a kind found: the failing rows (count and a sample) among the rows it checked.
    ``skipped`` gives no verdict (``detail`` says why)."""

    failing: int = 0
    rows_checked: int = 0
    sample: list[dict[str, Any]] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)
    skipped: bool = False


@dataclass
class CheckResult:
    """One check's verdict on one commit (or on one rejected batch)."""

    check: str
    relation: str
    kind: str
    severity: Severity
    status: Status
    failing: int = 0
    rows_checked: int = 0
    sample: list[dict[str, Any]] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)
    duration_ms: float = 0.0
    message: str = ""
    commit_id: int | None = None
    batch_id: str | None = None
    recorded_at: datetime | None = None
    #: the commit run in: "commit" (inside a commit) or "on_demand" (run_quality)
    trigger: str = "commit"

    @property
    def failed(self) -> bool:
        return self.status in ("warn", "fail", "error")

    @property
    def blocks(self) -> bool:
        """Whether this result keeps a commit from being published."""
        return self.severity == "error" and self.status in ("fail", "error")

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "relation": self.relation,
            "kind": self.kind,
            "severity": self.severity,
            "status": self.status,
            "failing": self.failing,
            "rows_checked": self.rows_checked,
            "sample": self.sample,
            "detail": self.detail,
            "duration_ms": round(self.duration_ms, 3),
            "message": self.message,
            "commit_id": self.commit_id,
            "batch_id": self.batch_id,
            "recorded_at": self.recorded_at.isoformat() if self.recorded_at else None,
            "trigger": self.trigger,
        }
