"""Ingestion models: dataset contracts and the batch report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import pyarrow as pa

Kind = Literal["str", "float", "decimal", "int", "date", "ts", "currency", "bool"]

ARROW_TYPES: dict[str, pa.DataType] = {
    "str": pa.string(),
    "currency": pa.string(),
    "float": pa.float64(),
    "int": pa.int64(),
    "date": pa.date32(),
    "ts": pa.timestamp("us", tz="UTC"),
    "bool": pa.bool_(),  # a tenant's own attributes (docs/tenancy/schemas.md)
}


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    required: bool = True
    description: str = ""
    enum: tuple[str, ...] = ()
    min: float | None = None
    min_exclusive: bool = False
    max: float | None = None
    pattern: str | None = None
    default: Any = None
    #: a decimal column's declared type: at most ``scale`` decimal places and
    #: ``precision - scale`` integer digits; a value that does not fit is refused, never rounded
    precision: int = 24
    scale: int = 6

    @property
    def arrow_type(self) -> pa.DataType:
        if self.kind == "decimal":
            return pa.decimal128(self.precision, self.scale)
        return ARROW_TYPES[self.kind]

    @property
    def type_text(self) -> str:
        return f"decimal({self.precision},{self.scale})" if self.kind == "decimal" else self.kind

    def rule_text(self) -> str:
        parts = []
        if self.enum:
            parts.append("one of " + ", ".join(self.enum))
        if self.min is not None:
            parts.append(f"{'>' if self.min_exclusive else '≥'} {self.min:g}")
        if self.max is not None:
            parts.append(f"≤ {self.max:g}")
        if self.pattern:
            parts.append(f"matches `{self.pattern}`")
        if self.kind == "currency":
            parts.append("ISO 4217 code")
        if self.default is not None:
            default = self.default if self.kind == "decimal" else repr(self.default)
            parts.append(f"default {default}")
        return "; ".join(parts)


@dataclass(frozen=True)
class Contract:
    """What a dataset must look like: columns, types, keys and rules."""

    dataset: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    target: str
    rules: tuple[str, ...] = ()

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def arrow_columns(self) -> tuple[tuple[str, pa.DataType], ...]:
        return tuple((c.name, c.arrow_type) for c in self.columns)


@dataclass
class BatchReport:
    """What happened to one batch; returned by every ingestion, stored in the ledger."""

    batch_id: str
    dataset: str
    status: Literal["committed", "rejected", "rejected_by_quality", "duplicate"]
    rows_received: int = 0
    #: rows stored: 0 when the batch is rejected
    rows_accepted: int = 0
    rows_quarantined: int = 0
    #: rows that passed validation (received - quarantined), stored or not
    rows_valid: int = 0
    reason: str = ""
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    quarantine_sample: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    tables_written: dict[str, int] = field(default_factory=dict)
    commit_id: int | None = None
    duration_s: float = 0.0
    rows_per_s: float = 0.0
    #: ``sha256:<hex>`` of the bytes sent: a batch id names one content
    content_digest: str = ""
    #: quality checks that did not pass: the failing ones of a ``rejected_by_quality`` batch,
    #: the warnings of a committed one (check, relation, severity, status, failing, sample)
    quality: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "dataset": self.dataset,
            "status": self.status,
            "rows_received": self.rows_received,
            "rows_accepted": self.rows_accepted,
            "rows_quarantined": self.rows_quarantined,
            "rows_valid": self.rows_valid,
            "reason": self.reason,
            "quarantine_reasons": self.quarantine_reasons,
            "quarantine_sample": self.quarantine_sample,
            "warnings": self.warnings,
            "tables_written": self.tables_written,
            "commit_id": self.commit_id,
            "duration_s": round(self.duration_s, 3),
            "rows_per_s": round(self.rows_per_s, 1),
            "content_digest": self.content_digest,
            "quality": self.quality,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BatchReport:
        fields = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in fields})
