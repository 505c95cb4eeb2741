"""Governance annotations in the metadata store, and descriptions in the Delta log.

``AnnotationStore`` keeps, per tenant, the fields a steward overrode on each object (a table,
a column, a cube, a measure, a dimension, a glossary term) and one change row per edit with the
effective values before and after it. A write checks the version it read (optimistic
concurrency): two stewards editing the same object at once cannot lose one's edit.

``delta_descriptions``/``write_delta_descriptions`` read and write what other engines see of a
table's metadata: the table's ``description`` and each column's field metadata (``comment``,
the key Spark and Databricks read a column comment from, and ``ledgerhouse.classification``).
These are metadata-only Delta commits (``ALTER TABLE``-style: no data file is added or
removed), run by the domain inside a warehouse commit (``txn.stage``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from deltalake import CommitProperties, DeltaTable
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from ledgerhouse.errors import Conflict
from ledgerhouse.storage.rows import _aware
from ledgerhouse.storage.rows_metadata import AnnotationRow, MetadataChangeRow

#: The column-metadata keys Ledgerhouse writes into the Delta schema.
COMMENT_KEY = "comment"
CLASSIFICATION_KEY = "ledgerhouse.classification"


@dataclass(frozen=True)
class Annotation:
    """One object's overrides and the version they are at (0: never edited)."""

    kind: str
    name: str
    fields: dict[str, Any]
    version: int
    updated_at: datetime | None
    updated_by: str | None


class AnnotationStore:
    def __init__(self, engine: Engine, sessions: sessionmaker[Session]) -> None:
        self._engine = engine
        self._sessions = sessions

    def annotations(self, tenant: str) -> dict[tuple[str, str], Annotation]:
        """Every annotated object of the tenant, by (kind, name)."""
        with self._sessions.begin() as s:
            rows = s.scalars(select(AnnotationRow).where(AnnotationRow.tenant_id == tenant))
            return {(r.kind, r.name): _annotation(r) for r in rows}

    def annotation(self, tenant: str, kind: str, name: str) -> Annotation:
        with self._sessions.begin() as s:
            row = s.get(AnnotationRow, (tenant, kind, name))
            if row is None:
                return Annotation(kind, name, {}, 0, None, None)
            return _annotation(row)

    def apply(
        self,
        tenant: str,
        kind: str,
        name: str,
        fields: dict[str, Any],
        *,
        expected_version: int,
        before: dict[str, Any],
        after: dict[str, Any],
        user: str,
        roles: tuple[str, ...],
        reason: str | None,
        commit_id: int | None = None,
    ) -> dict[str, Any]:
        """Store ``fields`` as the object's overrides (the whole set) and record the change
        (effective ``before``/``after`` of the fields it changed), in one transaction; refuse
        when another edit got there since the caller read ``expected_version``."""
        now = datetime.now(UTC)
        with self._sessions.begin() as s:
            row = s.get(AnnotationRow, (tenant, kind, name), with_for_update=True)
            current = row.version if row is not None else 0
            if current != expected_version:
                raise Conflict(
                    f"{kind} {name!r} was changed by someone else while this edit was made "
                    f"(version {current}, not {expected_version})",
                    hint="Read it again (`ledgerhouse metadata show`) and repeat the edit.",
                    object=name,
                )
            version = current + 1
            if row is None:
                row = AnnotationRow(tenant_id=tenant, kind=kind, name=name)
                s.add(row)
            row.fields = dict(fields)
            row.version = version
            row.updated_at = now
            row.updated_by = user
            change = MetadataChangeRow(
                tenant_id=tenant,
                kind=kind,
                name=name,
                version=version,
                before=before,
                after=after,
                user=user,
                roles=",".join(roles),
                reason=reason,
                changed_at=now,
                commit_id=commit_id,
            )
            s.add(change)
            s.flush()
            return _change(change)

    def changes(
        self,
        tenant: str,
        *,
        kind: str | None = None,
        name: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Changes of the tenant (of one object, or in a time window), newest first."""
        q = select(MetadataChangeRow).where(MetadataChangeRow.tenant_id == tenant)
        if kind is not None:
            q = q.where(MetadataChangeRow.kind == kind)
        if name is not None:
            q = q.where(MetadataChangeRow.name == name)
        if since is not None:
            q = q.where(MetadataChangeRow.changed_at >= since)
        if until is not None:
            q = q.where(MetadataChangeRow.changed_at < until)
        q = q.order_by(MetadataChangeRow.id.desc()).limit(limit)
        with self._sessions.begin() as s:
            return [_change(r) for r in s.scalars(q)]

    def last_change_id(self, tenant: str) -> int:
        """The newest change's id (0 for none): what a cache of the tenant's metadata keys on."""
        q = (
            select(MetadataChangeRow.id)
            .where(MetadataChangeRow.tenant_id == tenant)
            .order_by(MetadataChangeRow.id.desc())
            .limit(1)
        )
        with self._sessions.begin() as s:
            return int(s.scalar(q) or 0)


def _annotation(row: AnnotationRow) -> Annotation:
    return Annotation(
        row.kind, row.name, dict(row.fields), row.version, _aware(row.updated_at), row.updated_by
    )


def _change(row: MetadataChangeRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "name": row.name,
        "version": row.version,
        "before": row.before,
        "after": row.after,
        "user": row.user,
        "roles": [r for r in row.roles.split(",") if r],
        "reason": row.reason,
        "changed_at": _aware(row.changed_at).isoformat(),
        "commit_id": row.commit_id,
    }


# -- descriptions in the Delta log ----------------------------------------------------------
def delta_descriptions(path: str) -> tuple[str | None, dict[str, dict[str, str]]]:
    """The table's Delta ``description`` and each column's field metadata."""
    dt = DeltaTable(path)
    return dt.metadata().description, {f.name: dict(f.metadata) for f in dt.schema().fields}


def write_delta_descriptions(
    path: str,
    description: str | None,
    columns: Mapping[str, Mapping[str, str]],
    commit_info: Mapping[str, str],
) -> int:
    """Write the table's description (when not None) and the column metadata given into the
    Delta log, as metadata-only commits that skip what is already there; ``commit_info``
    goes into each commit's info (who, why). Returns the table's version after them."""
    dt = DeltaTable(path)
    props = CommitProperties(custom_metadata=dict(commit_info))
    if description is not None and dt.metadata().description != description:
        dt.alter.set_table_description(description, commit_properties=props)
    have = {f.name: dict(f.metadata) for f in dt.schema().fields}
    for column, wanted in columns.items():
        if any(have.get(column, {}).get(k) != v for k, v in wanted.items()):
            dt.alter.set_column_metadata(column, dict(wanted), commit_properties=props)
    dt.update_incremental()
    return dt.version()
