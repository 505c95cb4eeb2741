"""What the HTTP client answers with: the same attributes and methods as the library's results
(``ledgerhouse.query.QueryResult``, ``ledgerhouse.semantic.CubeResult``, the commit and key
records), rebuilt from what the server sends (an Arrow IPC stream and its ``X-`` headers, or
JSON). Defined here because the client imports nothing of the server (tests/test_layers.py);
tests/interface/test_caller_behaviours.py holds both to one behaviour."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import polars as pl
import pyarrow as pa


@dataclass(frozen=True)
class Commit:
    """A warehouse commit. A result's commit carries only its ``id`` (the ``X-Commit``
    header); ``Client.commits()`` fills in the rest."""

    id: int
    created_at: datetime | None = None
    operation: str | None = None
    batch_id: str | None = None
    table_versions: dict[str, int] = field(default_factory=dict)
    changed_tables: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, record: dict[str, Any]) -> Commit:
        return cls(
            id=int(record["id"]),
            created_at=datetime.fromisoformat(record["created_at"]),
            operation=record["operation"],
            batch_id=record.get("batch_id"),
            table_versions=dict(record.get("table_versions") or {}),
            changed_tables=list(record.get("changed_tables") or []),
        )


def _columns(table: pa.Table | None) -> list[dict[str, str]]:
    return [] if table is None else [{"name": f.name, "type": str(f.type)} for f in table.schema]


def _frame(table: pa.Table | None) -> pl.DataFrame:
    out = pl.from_arrow(table if table is not None else pa.table({}))
    assert isinstance(out, pl.DataFrame)
    return out


def _integer(value: Decimal | None) -> int | None:
    return None if value is None else int(value)


def _python_rows(table: pa.Table, *, decimals_as_numbers: bool) -> list[list[Any]]:
    """Rows as Python values, as the library gives them. A column Python cannot hold (a date
    past 9999, DuckDB's infinities) comes as text."""
    cols = []
    for column in table.columns:
        try:
            values = column.to_pylist()
        except (OverflowError, ValueError, pa.ArrowException):
            values = column.cast(pa.string()).to_pylist()
        if decimals_as_numbers and pa.types.is_decimal(column.type) and column.type.scale == 0:
            values = [_integer(v) for v in values]
        cols.append(values)
    return [list(r) for r in zip(*cols, strict=True)] if cols else []


@dataclass
class QueryResult:
    """A SQL answer: ``table`` (Arrow), ``rows()``, ``to_polars()``, its ``commit``."""

    query_id: str
    table: pa.Table
    commit: Commit
    elapsed_ms: float
    truncated: bool
    sql: str
    route: str = "raw"
    #: the row and column policies the answer was computed under (None: none applied)
    policy: dict[str, Any] | None = None

    @property
    def cache_hit(self) -> bool:
        return self.route == "cache"

    @property
    def columns(self) -> list[dict[str, str]]:
        return _columns(self.table)

    def to_polars(self) -> pl.DataFrame:
        return _frame(self.table)

    def rows(self) -> list[list[Any]]:
        """Rows as Python values; decimals are exact ``Decimal`` values (of scale 0: ints)."""
        return _python_rows(self.table, decimals_as_numbers=True)


@dataclass
class CubeResult:
    """A cube answer (or, for a dry run, no table): ``rows()``, ``to_polars()``, ``table``,
    ``route`` and ``commit`` (the commit id, as in the library). ``answer`` is the server's
    JSON answer of a dry run (its ``sql``, ``navigation``, ``rollups_considered``)."""

    cube: str
    table: pa.Table | None
    commit: int
    query_id: str | None = None
    route: str = "raw"
    elapsed_ms: float = 0.0
    truncated: bool = False
    answer: dict[str, Any] | None = None
    policy: dict[str, Any] | None = None

    @property
    def cache_hit(self) -> bool:
        return self.route == "cache"

    @property
    def columns(self) -> list[dict[str, str]]:
        return _columns(self.table)

    def rows(self) -> list[list[Any]]:
        return [] if self.table is None else _python_rows(self.table, decimals_as_numbers=False)

    def to_polars(self) -> pl.DataFrame:
        return _frame(self.table)


def _when(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


@dataclass(frozen=True)
class ApiKey:
    """What may be shown about an API key: never its secret, nor the secret's hash."""

    id: int
    user: str
    roles: tuple[str, ...]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, record: dict[str, Any]) -> ApiKey:
        return cls(
            id=int(record["id"]),
            user=record["user"],
            roles=tuple(record["roles"]),
            created_at=datetime.fromisoformat(record["created_at"]),
            last_used_at=_when(record.get("last_used_at")),
            revoked_at=_when(record.get("revoked_at")),
        )


@dataclass(frozen=True)
class IssuedKey:
    """A newly issued key: its record and its secret, which is shown this once."""

    key: ApiKey
    secret: str = field(repr=False)


def policy_of(headers: Any) -> dict[str, Any] | None:
    """The policies an answer was computed under, from its ``X-Policy-Detail`` header."""
    import json

    text = headers.get("X-Policy-Detail")
    return None if not text else dict(json.loads(text))
