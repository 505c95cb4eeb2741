"""The records the API answers with and ``ledgerhouse ... --json`` prints: one schema per
record (a commit, a batch report, a table, an API key, a logged query, a model, a cube), so
the CLI and the API cannot drift apart. Built from the domain's objects with ``of``."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from ledgerhouse.storage import ApiKeyRecord, IssuedKey, WarehouseCommit


class Column(BaseModel):
    name: str
    type: str


class CommitRecord(BaseModel):
    """A warehouse commit: the table versions it pins (usable as ``as_of``)."""

    id: int
    created_at: str = Field(description="ISO 8601, with the UTC offset.")
    operation: str = Field(description="ingest:<dataset>, create_tenant, ml:<model>, ...")
    batch_id: str | None
    changed_tables: list[str]
    table_versions: dict[str, int]

    @classmethod
    def of(cls, commit: WarehouseCommit) -> CommitRecord:
        return cls(
            id=commit.id,
            created_at=commit.created_at.isoformat(),
            operation=commit.operation,
            batch_id=commit.batch_id,
            changed_tables=list(commit.changed_tables),
            table_versions=dict(commit.table_versions),
        )


class BatchRecord(BaseModel):
    """What happened to one batch (the report of its ingestion, kept in the ledger)."""

    model_config = ConfigDict(extra="allow")  # a report field this version does not name

    batch_id: str
    dataset: str
    status: str = Field(description="committed, rejected, rejected_by_quality or duplicate")
    rows_received: int | None = Field(
        default=0, description="Null when withheld from a caller under a row or column policy."
    )
    rows_accepted: int | None = Field(default=0, description="Rows stored: 0 when rejected.")
    rows_quarantined: int | None = 0
    rows_valid: int = Field(
        default=0, description="Rows that passed validation (received - quarantined)."
    )
    reason: str = ""
    quarantine_reasons: dict[str, int] = Field(default_factory=dict)
    quarantine_sample: list[dict[str, Any]] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    tables_written: dict[str, int] = Field(default_factory=dict)
    commit_id: int | None = None
    duration_s: float = 0.0
    rows_per_s: float = 0.0
    content_digest: str = Field(default="", description="sha256:<hex> of the bytes sent")


class TableRecord(BaseModel):
    """A queryable table at a commit."""

    name: str
    layer: str = Field(description="core, mart, ml, raw, ingest or rollup")
    description: str
    grain: str
    version: int | None = Field(description="The Delta version the commit pins; null if none.")
    rows: int | None = Field(
        description="Rows at the pinned commit; null when a row policy filters the table for "
        "the caller (its own count is a query away)."
    )
    policy: dict[str, Any] | None = Field(
        default=None,
        description="What the caller's policies do to it: row_filtered, masked, hidden columns.",
    )
    partition_by: list[str]
    columns: list[Column]
    commit_id: int


class KeyRecord(BaseModel):
    """An API key as it may be shown: never its secret, nor the secret's hash."""

    id: int
    user: str
    roles: list[str]
    created_at: datetime
    last_used_at: datetime | None = Field(
        description="When the key last authenticated a request (to about a minute); null if never."
    )
    revoked_at: datetime | None = Field(description="Null while the key works.")
    attributes: dict[str, Any] = Field(
        default_factory=dict, description="The attributes row policies read (may be empty)."
    )

    @classmethod
    def of(cls, key: ApiKeyRecord) -> KeyRecord:
        return cls.model_validate(key.to_dict())


class KeyResponse(BaseModel):
    user: str
    roles: list[str]
    attributes: dict[str, Any] = Field(default_factory=dict)
    api_key: str = Field(description="Shown once; stored only as a hash.")


class RotatedKeyResponse(KeyRecord):
    api_key: str = Field(description="The new secret: shown once; stored only as a hash.")
    replaces: int = Field(description="The id of the old key, revoked in the same transaction.")

    @classmethod
    def issued(cls, issued: IssuedKey, replaces: int) -> RotatedKeyResponse:
        return cls.model_validate(
            {**issued.key.to_dict(), "api_key": issued.secret, "replaces": replaces}
        )


class QueryRecord(BaseModel):
    """One query of the query log. ``plan`` is there only when asked for."""

    id: str
    user: str
    fingerprint: str = Field(description="The same for the same query with other literals.")
    text: str
    route: str
    commit_id: int | None
    started_at: str = Field(description="ISO 8601, with the UTC offset.")
    duration_ms: float
    rows: int
    bytes: int
    status: str = Field(description="ok, error, rejected or timeout")
    error: str | None
    tenant: str
    request: dict[str, Any] | None = Field(
        default=None, description="A cube query's or analytics call's request (None for SQL)."
    )
    relations: dict[str, int | None] | None = Field(
        default=None, description="The relations read: {relation: pinned Delta version}."
    )
    columns: dict[str, list[str]] | None = Field(
        default=None, description="The columns read per relation (None when not analysed)."
    )
    params: list[Any] | None = Field(
        default=None, description="The query's parameters (None without, or when omitted)."
    )
    params_omitted: dict[str, Any] | None = Field(
        default=None, description="Set when the parameters were too large to keep: why."
    )
    plan: str | None = Field(
        default=None, description="With ?plan=true: DuckDB's plan on the commit it pinned."
    )

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_unset=True)


class ModelRecord(BaseModel):
    """A trained model: what it learnt from, where it wrote, how it did."""

    model_config = ConfigDict(extra="allow")

    id: str
    name: str
    created_at: datetime
    training_commit: int
    scoring_commit: int | None
    kind: str | None = None
    features: list[str] | None = None
    parameters: dict[str, Any] | None = None
    training_window: list[str] | None = None
    scoring_window: list[str] | None = None
    metrics: dict[str, Any] | None = None
    table: str | None = Field(default=None, description="Where the scores are.")
    artifact: str | None = Field(default=None, description="Relative to the tenant's folder.")

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_unset=True)


# -- cubes ----------------------------------------------------------------------------------
class CubeDimension(BaseModel):
    name: str
    type: str
    title: str
    description: str


class CubeMeasure(CubeDimension):
    rollup_safe: bool = Field(description="Whether rollups can answer it exactly.")
    currency: str | None = Field(
        default=None,
        description="The reporting currency's ISO code, `base` (each portfolio's), `local` "
        "(each instrument's) or null (not an amount).",
    )


class CubeSegment(BaseModel):
    name: str
    sql: str


class CubeRollup(BaseModel):
    name: str
    table: str
    dimensions: list[str]
    time_dimension: str | None
    granularity: str | None
    measures: list[str]
    segments: list[str]
    rows: int | None = Field(description="Rows at the commit read.")
    description: str


class CubeRecord(BaseModel):
    """A cube's metadata: members, hierarchies (coarse to fine), segments, rollups."""

    name: str
    title: str
    description: str
    fact: str
    default_time_dimension: str | None
    dimensions: list[CubeDimension]
    measures: list[CubeMeasure]
    hierarchies: dict[str, list[str]]
    segments: list[CubeSegment]
    rollups: list[CubeRollup]


def dump(records: BaseModel | list[Any]) -> Any:
    """JSON-ready form of a record or a list of records, as the API sends it."""
    if isinstance(records, list):
        return [dump(r) for r in records]
    if isinstance(records, QueryRecord | ModelRecord):
        return records.dump()
    return records.model_dump(mode="json")
