"""Data-quality records: checks, results, scores, trend points (GET/POST /v1/quality/...,
`ledgerhouse quality ... --json`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class QualityCheckRecord(BaseModel):
    """One declared check."""

    name: str
    relation: str
    kind: str = Field(
        description="not_null, unique, accepted_values, range, referential, freshness, volume, "
        "reconciliation, sql (or a kind a plug-in registered)"
    )
    severity: str = Field(description="warn (recorded) or error (blocks the commit)")
    description: str = ""
    params: dict[str, Any] = Field(default_factory=dict, description="The kind's parameters.")
    origin: str = Field(description="builtin, cube_dir or tenant")


class QualityChecksUpload(BaseModel):
    """The YAML text of one or more checks (docs/governance/quality.md)."""

    model_config = ConfigDict(extra="forbid")

    yaml: str = Field(min_length=1, max_length=256 * 1024)


class QualityRunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    relation: str | None = Field(default=None, description="Only this relation's checks.")


class QualityResultRecord(BaseModel):
    """One check's verdict on one commit, rejected batch or on-demand run."""

    model_config = ConfigDict(extra="allow")

    id: int | None = None
    check: str
    relation: str
    kind: str
    severity: str
    status: str = Field(description="pass, warn, fail, error (could not run) or skipped")
    failing: int | None = Field(
        description="Failing rows; null when withheld from a caller "
        "under a row or column policy (a whole-table count)."
    )
    rows_checked: int | None
    sample: list[dict[str, Any]] = Field(default_factory=list)
    sample_withheld: bool = Field(
        False,
        description="True when failing rows were sampled but the caller may not read the "
        "relation (an auditor): the sample is left out",
    )
    detail: dict[str, Any] = Field(default_factory=dict)
    message: str = ""
    duration_ms: float = 0.0
    commit_id: int | None = Field(description="The commit judged (None: a rejected batch).")
    batch_id: str | None = None
    trigger: str = Field(description="commit or on_demand")
    recorded_at: str | None = None


class QualityScoreRecord(BaseModel):
    relation: str
    score: float | None = Field(
        description="0-100: severity-weighted share of passing checks (error 3, warn 1)"
    )
    checks: int
    passing: int
    failing: list[str]
    last_run: str
    last_commit: int | None


class QualityTrendPoint(BaseModel):
    model_config = ConfigDict(extra="allow")

    relation: str
    score: float | None
    commit_id: int | None
    day: str | None = None
    recorded_at: str | None = None
