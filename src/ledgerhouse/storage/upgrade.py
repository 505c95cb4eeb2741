"""Upgrading a tenant's tables to the layout of this Ledgerhouse (docs/storage.md, upgrading).

A table written by an older release may differ from its ``TableDef``: a column stored with
another type (float64 money before decimal 0014), or a column it lacks (``dim_currency
.minor_unit``). Delta does not change a column's type in place, so the upgrade rewrites each
such table once, through the commit writer, as one warehouse commit ``upgrade`` of the tenant:

- every affected core table is read at its committed version and written again, whole, with
  the new schema (a Delta overwrite that replaces the schema): its older Delta versions stay,
  so an older warehouse commit still reads the float columns it pinned;
- a float becomes a decimal by its shortest text (``repr``), rounded half to even to the
  column's scale; the values that needed rounding are counted (``UpgradeReport.rounded``);
- a missing column is computed by a ``Filler`` (``minor_unit`` from ``model/currencies.py``;
  the composition root passes in the others, e.g. the reporting-currency amounts); a column
  nothing can compute stops the upgrade with the re-ingest hint (``UpgradeImpossible``);
- derived tables (marts, rollups) are emptied with their new schema and rebuilt from the
  upgraded facts in the same commit: by the mart listener for the months of a rewritten fact
  (every month, since the whole fact is rewritten), or by ``rebuild`` when none of their
  sources changed.

Each table streams in batches (bounded memory). A crash before the commit point leaves Delta
versions no commit knows: the next transaction restores them (``storage/commits.py``), and the
upgrade can be run again. A tenant already in the current layout has nothing to do: no commit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable, write_deltalake

from ledgerhouse.errors import StorageError
from ledgerhouse.model.currencies import minor_unit
from ledgerhouse.model.marts import MartDef
from ledgerhouse.model.schema import DIM_CURRENCY, TableDef
from ledgerhouse.storage.commits import CommitWriter
from ledgerhouse.storage.delta import DeltaStore

_BATCH_ROWS = 131_072
#: At most this many rounded values are shown in a report (the count is always exact).
_EXAMPLES = 5


class UpgradeRequired(StorageError):
    """A tenant's tables have the layout of an older Ledgerhouse (``ledgerhouse upgrade``)."""

    code = "upgrade_required"


class UpgradeImpossible(StorageError):
    """A table lacks a column no upgrade can compute from what is stored: re-ingest."""

    code = "upgrade_impossible"


@dataclass(frozen=True)
class TableChange:
    """How one table's stored layout differs from its ``TableDef``."""

    table: TableDef
    #: (column, stored type, new type) of each column stored with another type
    retyped: tuple[tuple[str, str, str], ...]
    #: columns of the TableDef the stored table lacks
    missing: tuple[str, ...]

    def describe(self) -> str:
        """Every change: ``price float64 -> decimal128(24, 6), +minor_unit``."""
        parts = [f"{c} {old} -> {new}" for c, old, new in self.retyped]
        parts += [f"+{c}" for c in self.missing]
        return ", ".join(parts)

    def summary(self) -> str:
        """In a few words: ``14 columns float64 -> decimal, lacks minor_unit``."""
        parts = []
        if self.retyped:
            kinds = sorted({_change(old, new) for _, old, new in self.retyped})
            parts.append(f"{len(self.retyped)} columns {', '.join(kinds)}")
        if self.missing:
            parts.append(f"lacks {', '.join(self.missing)}")
        return "; ".join(parts)


def _kind(type_text: str) -> str:
    return "decimal" if type_text.startswith("decimal") else type_text


def _change(old: str, new: str) -> str:
    """``float64 -> decimal``; the full types where that would read ``decimal -> decimal``."""
    if _kind(old) == _kind(new):
        return f"{old} -> {new}"
    return f"{_kind(old)} -> {_kind(new)}"


@dataclass
class TableUpgrade:
    """What the upgrade did (or, in a dry run, would do) to one table."""

    relation: str
    changes: str
    #: ``rewritten`` (converted), ``rebuilt`` (a derived table, from the upgraded facts)
    action: str
    rows: int = 0
    rounded: int = 0
    version: int | None = None
    #: up to 5 ``{"column", "stored", "upgraded"}`` of values that needed rounding
    examples: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class UpgradeReport:
    tenant: str
    dry_run: bool
    tables: list[TableUpgrade] = field(default_factory=list)
    #: the warehouse commit the upgrade made (None: a dry run, or nothing to do)
    commit_id: int | None = None
    #: the last commit before it: reading ``as_of`` it (or older) returns the old layout
    previous_commit_id: int | None = None

    @property
    def up_to_date(self) -> bool:
        return not self.tables

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    @property
    def rounded(self) -> int:
        return sum(t.rounded for t in self.tables)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "dry_run": self.dry_run,
            "up_to_date": self.up_to_date,
            "commit_id": self.commit_id,
            "previous_commit_id": self.previous_commit_id,
            "tables_rewritten": len(self.tables),
            "rows": self.rows,
            "rounded": self.rounded,
            "tables": [t.to_dict() for t in self.tables],
        }


@dataclass(frozen=True)
class Filler:
    """Computes ``adds`` (columns an older layout lacks) of a batch of ``tables``, from the
    batch's other columns (already converted to the new types)."""

    tables: frozenset[str]
    adds: frozenset[str]
    #: ``fill(tenant, table, batch, read) -> batch with the columns added``; ``read(table)``
    #: gives another table of the tenant in the new layout (upgraded first: ``reads``)
    fill: Callable[[str, TableDef, pa.Table, Callable[[TableDef], pl.DataFrame]], pa.Table]
    reads: frozenset[str] = frozenset()


def _fill_minor_unit(
    tenant: str, table: TableDef, batch: pa.Table, read: Callable[[TableDef], pl.DataFrame]
) -> pa.Table:
    codes = batch.column("currency_code").to_pylist()
    return batch.append_column("minor_unit", pa.array([minor_unit(c) for c in codes], pa.int16()))


#: Fillers of the storage layer itself (from the model); the composition root adds others.
BUILTIN_FILLERS: tuple[Filler, ...] = (
    Filler(frozenset({DIM_CURRENCY.relation}), frozenset({"minor_unit"}), _fill_minor_unit),
)

#: ``rebuild(tenant, derived relation, versions) -> its new version``: recompute a derived
#: table from every month of its sources at ``versions`` (the mart refresher, passed in).
Rebuild = Callable[[str, str, dict[str, int]], int]
#: ``progress(relation, what)``: a table's upgrade starts (``what`` is its changes) or ends.
Progress = Callable[[str, str], None]


class Upgrader:
    def __init__(
        self,
        store: DeltaStore,
        writer: CommitWriter,
        tables: Iterable[TableDef],
        derived: Sequence[MartDef],
        rebuild: Rebuild,
        fillers: Iterable[Filler] = (),
    ) -> None:
        self.store = store
        self.writer = writer
        self.tables = tuple(tables)
        self.derived = {m.table.relation: m for m in derived}
        self.rebuild = rebuild
        self.fillers = (*BUILTIN_FILLERS, *fillers)

    # -- detection ----------------------------------------------------------------------------
    def changes(self, tenant: str, versions: dict[str, int]) -> list[TableChange]:
        """The committed tables whose stored layout differs from this release's (tables no
        commit knows yet are not changes: ``Warehouse.open`` creates them)."""
        out = []
        for table in self.tables:
            version = versions.get(table.relation)
            if version is None:
                continue
            stored = self._stored_schema(tenant, table, version)
            retyped = tuple(
                (f.name, _type_text(stored.field(f.name).type), _type_text(f.type))
                for f in table.schema
                if f.name in stored.names and not _same_type(stored.field(f.name).type, f.type)
            )
            missing = tuple(c for c in table.column_names if c not in stored.names)
            if retyped or missing:
                out.append(TableChange(table, retyped, missing))
        return out

    def check(self, tenant: str, versions: dict[str, int]) -> None:
        """Raise ``UpgradeRequired`` (what differs, and the command that fixes it) when the
        tenant's committed tables have an older layout; ``UpgradeImpossible`` when a column
        no upgrade can compute is missing."""
        changes = self.changes(tenant, versions)
        if not changes:
            return
        self._refuse_uncomputable(tenant, changes)
        listed = "; ".join(f"{c.table.relation}: {c.summary()}" for c in changes[:3])
        more = f"; and {len(changes) - 3} more tables" if len(changes) > 3 else ""
        raise UpgradeRequired(
            f"tenant {tenant!r} has {len(changes)} tables in the layout of an older Ledgerhouse "
            f"({listed}{more}); nothing was changed",
            hint=f"Run `ledgerhouse upgrade --tenant {tenant}` (`--dry-run` first to see what "
            "it rewrites): one new commit; older commits still read as they did "
            "(docs/storage.md, upgrading).",
            tenant=tenant,
            tables=[c.table.relation for c in changes],
        )

    # -- the upgrade --------------------------------------------------------------------------
    def upgrade(
        self, tenant: str, *, dry_run: bool = False, progress: Progress | None = None
    ) -> UpgradeReport:
        """Rewrite every table of ``tenant`` whose layout is older, in one warehouse commit
        (``upgrade``); a dry run converts without writing and reports the same counts."""
        say = progress or (lambda relation, what: None)
        if dry_run:  # no lock, no recovery: read the committed state, write nothing
            base = self.writer.meta.commit_log.latest_commit(tenant)
            versions = dict(base.table_versions) if base else {}
            report = UpgradeReport(tenant, True, previous_commit_id=base.id if base else None)
            self._run(tenant, versions, self._planned(tenant, versions), report, say, None)
            return report
        with self.writer.transaction(tenant, "upgrade") as txn:
            base_id = txn.base.id if txn.base else None
            report = UpgradeReport(tenant, False, previous_commit_id=base_id)
            self._run(tenant, txn.committed, self._planned(tenant, txn.committed), report, say, txn)
        if txn.commit is not None:
            report.commit_id = txn.commit.id
            for t in report.tables:  # a listener's rebuild is the version committed
                t.version = txn.commit.table_versions.get(t.relation, t.version)
        return report

    def _planned(self, tenant: str, versions: dict[str, int]) -> list[TableChange]:
        changes = self.changes(tenant, versions)
        self._refuse_uncomputable(tenant, changes)
        # what a filler reads first, then the other core tables (in TableDef order), then the
        # derived ones built from them
        read = set().union(*(f.reads for f in self.fillers))
        return sorted(
            changes,
            key=lambda c: (c.table.relation in self.derived, c.table.relation not in read),
        )

    def _run(
        self,
        tenant: str,
        versions: dict[str, int],
        changes: list[TableChange],
        report: UpgradeReport,
        say: Progress,
        txn: Any,
    ) -> None:
        rewritten = {c.table.relation for c in changes if c.table.relation not in self.derived}
        versions = dict(versions)  # a rewritten table's new version, for the fillers' reads
        tables = {t.relation: t for t in self.tables}

        cache: dict[str, pl.DataFrame] = {}

        def read(table: TableDef) -> pl.DataFrame:
            # read before a table's write starts: delta-rs cannot be called again from inside
            # the write that consumes the batches
            return cache[table.relation]

        for change in changes:
            table = change.table
            say(table.relation, change.describe())
            if table.relation in self.derived:
                result = TableUpgrade(table.relation, change.describe(), "rebuilt")
                if txn is not None:
                    result.version = self._rebuild(tenant, table, rewritten, txn)
            else:
                result = TableUpgrade(table.relation, change.describe(), "rewritten")
                for filler in self.fillers:
                    if table.relation in filler.tables and set(change.missing) & filler.adds:
                        for name in filler.reads:
                            cache[name] = self.store.read(tenant, tables[name], versions[name])
                batches = self._converted(tenant, change, versions[table.relation], result, read)
                if txn is None:
                    for _ in batches:
                        pass
                else:
                    result.version = txn.stage(
                        table, lambda t=table, b=batches: self._write(tenant, t, b)
                    )
                    versions[table.relation] = result.version
            report.tables.append(result)
            say(table.relation, f"done: {result.rows:,} rows, {result.rounded:,} rounded")

    def _rebuild(self, tenant: str, table: TableDef, rewritten: set[str], txn: Any) -> int:
        """Empty the derived table with its new schema; unless every source is rewritten (then
        the mart listener rebuilds every month in this commit), rebuild it from its sources."""
        mart = self.derived[table.relation]
        version = txn.stage(table, lambda: self._write(tenant, table, iter(())))
        if set(mart.sources) <= rewritten:
            return int(version)
        return int(txn.stage(table, lambda: self.rebuild(tenant, table.relation, txn.versions)))

    def _converted(
        self,
        tenant: str,
        change: TableChange,
        version: int,
        result: TableUpgrade,
        read: Callable[[TableDef], pl.DataFrame],
    ) -> Iterator[pa.RecordBatch]:
        """The stored rows of ``version``, batch by batch, in the new layout (the Delta table
        is opened now, not by the write that consumes the batches)."""
        table = change.table
        dataset = self._delta(tenant, table, version).to_pyarrow_dataset()
        fillers = [f for f in self.fillers if table.relation in f.tables]
        return self._batches(
            table, dataset.to_batches(batch_size=_BATCH_ROWS), fillers, tenant, result, read
        )

    def _batches(
        self,
        table: TableDef,
        stored: Iterator[pa.RecordBatch],
        fillers: list[Filler],
        tenant: str,
        result: TableUpgrade,
        read: Callable[[TableDef], pl.DataFrame],
    ) -> Iterator[pa.RecordBatch]:
        for batch in stored:
            data = pa.Table.from_batches([batch])
            columns, names = [], []
            for f in table.schema:
                if f.name not in data.column_names:
                    continue
                col = data.column(f.name)
                if not _same_type(col.type, f.type):
                    col, rounded = convert(col, f.type, table.relation, f.name)
                    result.rounded += len(rounded)
                    room = _EXAMPLES - len(result.examples)
                    result.examples += [
                        {"column": f.name, "stored": s, "upgraded": u} for s, u in rounded[:room]
                    ]
                columns.append(col)
                names.append(f.name)
            data = pa.table(columns, names=names)
            for filler in fillers:
                data = filler.fill(tenant, table, data, read)
            result.rows += data.num_rows
            yield from _conform(table, data).to_batches(max_chunksize=_BATCH_ROWS)

    def _write(self, tenant: str, table: TableDef, batches: Iterator[pa.RecordBatch]) -> int:
        """One Delta version holding exactly ``batches``, with ``table``'s schema (the old
        schema and files stay in the older versions)."""
        reader = pa.RecordBatchReader.from_batches(table.schema, batches)
        write_deltalake(
            str(self.store.path(tenant, table)),
            reader,
            mode="overwrite",
            schema_mode="overwrite",
            partition_by=list(table.partition_by) or None,
        )
        return self.store.version(tenant, table)

    def _refuse_uncomputable(self, tenant: str, changes: list[TableChange]) -> None:
        for change in changes:
            relation = change.table.relation
            if relation in self.derived:
                continue  # rebuilt from its sources
            computable = set().union(*(f.adds for f in self.fillers if relation in f.tables), set())
            lost = [c for c in change.missing if c not in computable]
            if lost:
                raise UpgradeImpossible(
                    f"table {relation!r} of tenant {tenant!r} has the layout of an older "
                    f"Ledgerhouse: it lacks {lost}, which the upgrade cannot compute from "
                    "what is stored",
                    hint="Re-ingest into a new root: `ledgerhouse init --root NEW`, then load "
                    "every dataset again (docs/storage.md, upgrading).",
                    table=relation,
                    tenant=tenant,
                )

    def _delta(self, tenant: str, table: TableDef, version: int) -> DeltaTable:
        try:
            return DeltaTable(str(self.store.path(tenant, table)), version=version)
        except Exception as exc:  # a table or version gone: the store's message
            self.store.column_names(tenant, table, version)  # raises StorageError with a hint
            raise StorageError(f"cannot read {table.relation!r} at version {version}") from exc

    def _stored_schema(self, tenant: str, table: TableDef, version: int) -> pa.Schema:
        return pa.schema(self._delta(tenant, table, version).schema().to_arrow())


# -- values ---------------------------------------------------------------------------------
def convert(
    column: pa.ChunkedArray | pa.Array, target: pa.DataType, relation: str, name: str
) -> tuple[pa.Array, list[tuple[str, str]]]:
    """``column`` as ``target``; and (stored text, upgraded text) of each value that needed
    rounding. A float becomes a decimal by its shortest text rounded half to even to the
    scale; a decimal is rescaled the same way; any other change must be a lossless cast."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_decimal(target) and pa.types.is_floating(column.type):
        return _float_to_decimal(column.cast(pa.float64()), target, relation, name)
    if pa.types.is_decimal(target) and pa.types.is_decimal(column.type):
        if column.type.scale <= target.scale:
            return _cast(column, target, relation, name), []
        return _decimal_to_decimal(column, target, relation, name)
    return _cast(column, target, relation, name), []


def _cast(column: pa.Array, target: pa.DataType, relation: str, name: str) -> pa.Array:
    try:
        return column.cast(target)  # safe: refuses a lossy cast
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise StorageError(
            f"column {name!r} of {relation!r} cannot be upgraded from {column.type} to "
            f"{target}: {exc}",
            hint="Re-ingest into a new root (docs/storage.md, upgrading).",
            table=relation,
        ) from exc


def _float_to_decimal(
    x: pa.Array, target: pa.Decimal128Type, relation: str, name: str
) -> tuple[pa.Array, list[tuple[str, str]]]:
    # Fast path, vectorized: r = rint(x·10^s). When |r| < 2^52 the float's rounding interval
    # is narrower than 10^-s, so r·10^-s is the only s-place decimal that can round to x; if
    # it does (r / 10^s == x, one correctly rounded division), it is x's shortest text. The
    # rest (more places than the scale, or too large) goes through Decimal(repr(x)), once per
    # distinct value.
    scale = target.scale
    values = x.to_numpy(zero_copy_only=False)
    valid = ~np.asarray(x.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    factor = 10.0**scale
    with np.errstate(invalid="ignore", over="ignore"):
        r = np.rint(values * factor)
        fast = valid & np.isfinite(r) & (np.abs(r) < 2.0**52) & (r / factor == values)
    unscaled = np.where(fast, r, 0).astype(np.int64)
    words = np.empty((len(x), 2), dtype=np.int64)  # decimal128: little-endian two's complement
    words[:, 0] = unscaled
    words[:, 1] = np.where(unscaled < 0, -1, 0)
    validity = pa.array(valid, pa.bool_()).buffers()[1]  # a bitmap at offset 0
    out = pa.Array.from_buffers(target, len(x), [validity, pa.py_buffer(words.tobytes())])
    slow = valid & ~fast
    rounded: list[tuple[str, str]] = []
    if not slow.any():
        return out, rounded
    distinct, inverse, counts = np.unique(values[slow], return_inverse=True, return_counts=True)
    quantum = Decimal(1).scaleb(-scale)
    exact: list[Decimal] = []
    for value, n in zip(distinct.tolist(), counts.tolist(), strict=True):
        text = repr(float(value))
        if not math.isfinite(value):
            raise _unfit(relation, name, text, target)
        d = Decimal(text)
        try:
            q = d.quantize(quantum, rounding=ROUND_HALF_EVEN)
        except InvalidOperation as exc:
            raise _unfit(relation, name, text, target) from exc
        if len(q.as_tuple().digits) > target.precision:
            raise _unfit(relation, name, text, target)
        if q != d:
            rounded += [(text, str(q))] * n
        exact.append(q)
    replacements = pa.array([exact[i] for i in inverse.tolist()], target)
    return pc.replace_with_mask(out, pa.array(slow), replacements), rounded


def _decimal_to_decimal(
    column: pa.Array, target: pa.Decimal128Type, relation: str, name: str
) -> tuple[pa.Array, list[tuple[str, str]]]:
    quantum = Decimal(1).scaleb(-target.scale)
    out: list[Decimal | None] = []
    rounded: list[tuple[str, str]] = []
    for d in column.to_pylist():
        if d is None:
            out.append(None)
            continue
        q = d.quantize(quantum, rounding=ROUND_HALF_EVEN)
        if q != d:
            rounded.append((str(d), str(q)))
        out.append(q)
    try:
        return pa.array(out, target), rounded
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise _unfit(relation, name, str(column.type), target) from exc


def _unfit(relation: str, name: str, text: str, target: pa.DataType) -> StorageError:
    return StorageError(
        f"value {text} of column {name!r} in {relation!r} does not fit {target}: the table "
        "cannot be upgraded",
        hint="Correct the value at its source and re-ingest into a new root "
        "(docs/storage.md, upgrading).",
        table=relation,
        column=name,
    )


def _type_text(t: pa.DataType) -> str:
    return "float64" if t == pa.float64() else str(t)


def _same_type(stored: pa.DataType, wanted: pa.DataType) -> bool:
    """Equal as Delta types (string, large_string and string_view are one Delta type)."""
    if stored == wanted:
        return True
    strings = (pa.types.is_string, pa.types.is_large_string, pa.types.is_string_view)
    binaries = (pa.types.is_binary, pa.types.is_large_binary, pa.types.is_binary_view)
    for group in (strings, binaries):
        if any(p(stored) for p in group) and any(p(wanted) for p in group):
            return True
    if pa.types.is_timestamp(stored) and pa.types.is_timestamp(wanted):
        return stored.unit == wanted.unit and bool(stored.tz) == bool(wanted.tz)
    return False


def _conform(table: TableDef, data: pa.Table) -> pa.Table:
    columns = []
    for f in table.schema:
        col = data.column(f.name)
        columns.append(col if col.type == f.type else col.cast(f.type))
    return pa.table(columns, schema=table.schema)
