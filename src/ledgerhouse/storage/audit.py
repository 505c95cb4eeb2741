"""The audit trail: an append-only, hash-chained log of every access, one chain per tenant.

Each entry has a gapless ``seq`` per tenant and ``hash = sha256(canonical JSON of every field,
prev_hash included)``, where ``prev_hash`` is the previous entry's hash (64 zeros for the
first). The canonical JSON is kept beside the columns, so ``verify`` can say which field of an
edited row changed. The tenant's chain head (last seq and hash, ``audit_heads``) moves in the
same transaction as the insert, with a compare-and-set on the previous seq: appends from any
number of threads and processes (SQLite or PostgreSQL) keep one chain, and a conflict is
retried. ``verify`` recomputes the chain and names each problem: an edited entry (with the
fields that changed), a deleted one (a seq gap, a broken link), a moved one, a truncated tail
(the head row against the last entry), and, given an anchor kept outside the database, a
chain rewritten from scratch (docs/governance/audit.md).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from ledgerhouse.errors import Conflict, MetadataUnavailable, metadata_refused
from ledgerhouse.storage.rows import _aware, _now
from ledgerhouse.storage.rows_audit import AuditEntryRow, AuditHeadRow

log = logging.getLogger("ledgerhouse.audit")

#: The ``prev_hash`` of a tenant's first entry.
GENESIS = "0" * 64

#: What an entry's ``action`` says: each read kind, each write, each administrative change.
ACTIONS = (
    "query",
    "cube",
    "analytics",
    "export",
    "ingest",
    "ingest_rejected",
    "key_create",
    "key_revoke",
    "key_rotate",
    "metadata_change",
    "quality_change",
    "audit_read",
)
#: The actions that read warehouse data (what ``accesses`` reports).
READ_ACTIONS = ("query", "cube", "analytics", "export")

#: The fields an entry's hash covers, in the canonical JSON (keys sorted there).
HASHED = (
    "tenant",
    "seq",
    "at",
    "user",
    "roles",
    "action",
    "relations",
    "columns",
    "rows",
    "query_id",
    "batch_id",
    "status",
    "detail",
    "prev_hash",
)

_ATTEMPTS = 200
_CHUNK = 2_000
_MAX_PROBLEMS = 200

T = TypeVar("T")


class AuditConflict(Conflict):
    """An append kept losing the compare-and-set on the chain head (retry later)."""

    retryable = True


class _HeadMoved(Exception):
    """Another writer moved the chain head between our read and our write: retry."""


@dataclass(frozen=True)
class AuditItem:
    """An entry to append (it gets its seq, prev_hash and hash when it is chained)."""

    tenant: str
    user: str
    roles: tuple[str, ...]
    action: str
    relations: dict[str, Any] | None = None
    columns: dict[str, list[str]] | None = None
    rows: int | None = None
    query_id: str | None = None
    batch_id: str | None = None
    status: str = "ok"
    detail: dict[str, Any] | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class Problem:
    """One thing ``verify`` found wrong: at which seq, what kind, and (an edit) which fields
    changed from what was recorded to what is stored now."""

    seq: int | None
    kind: str  # edited | moved | hash_mismatch | missing | broken_link | truncated | ...
    message: str
    fields: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "kind": self.kind, "message": self.message,
                "fields": self.fields}  # fmt: skip


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of recomputing one tenant's chain."""

    tenant: str
    ok: bool
    entries_checked: int
    head_seq: int  # the head row's (0 when the tenant has no entry)
    head_hash: str
    last_seq: int  # the last stored entry's
    problems: list[Problem]
    anchor: dict[str, Any] | None = None  # {"hash", "seq" (None: not found)} with expect_head

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "ok": self.ok,
            "entries_checked": self.entries_checked,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "last_seq": self.last_seq,
            "anchor": self.anchor,
            "problems": [p.to_dict() for p in self.problems],
        }


def canonical(fields: Mapping[str, Any]) -> str:
    """The canonical JSON of an entry's hashed fields: sorted keys, no spaces, UTF-8."""
    return json.dumps(
        {k: fields[k] for k in HASHED}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def entry_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON (dates and decimals as text, a non-finite float as text), so
    what is stored is exactly what was hashed."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    return str(value)


def _iso(ts: datetime) -> str:
    return _aware(ts).astimezone(UTC).isoformat(timespec="microseconds")


def _fields(row: AuditEntryRow) -> dict[str, Any]:
    """The hashed fields of a stored row, as they read now."""
    return {
        "tenant": row.tenant_id,
        "seq": row.seq,
        "at": _iso(row.at),
        "user": row.user,
        "roles": row.roles,
        "action": row.action,
        "relations": row.relations,
        "columns": row.columns,
        "rows": row.rows,
        "query_id": row.query_id,
        "batch_id": row.batch_id,
        "status": row.status,
        "detail": row.detail,
        "prev_hash": row.prev_hash,
    }


def entry_dict(row: AuditEntryRow) -> dict[str, Any]:
    """A stored entry as the API and the CLI show it."""
    return {**_fields(row), "hash": row.hash}


class AuditStore:
    """A tenant's audit chain in the metadata store: ``append`` (any layer may call it),
    ``entries``, ``accesses``, ``head`` and ``verify``."""

    def __init__(
        self,
        engine: Engine,
        sessions: sessionmaker[Session],
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._engine = engine
        self._sessions = sessions
        self._clock = clock
        # Appends of one process queue here instead of racing on the head; the compare-and-set
        # keeps the chain whole across processes.
        self._lock = threading.Lock()

    # -- appending ----------------------------------------------------------------------------
    def append(
        self,
        tenant: str,
        user: str,
        roles: Iterable[str],
        action: str,
        *,
        relations: Mapping[str, Any] | Iterable[str] | None = None,
        columns: Mapping[str, Iterable[str]] | None = None,
        rows: int | None = None,
        query_id: str | None = None,
        batch_id: str | None = None,
        status: str = "ok",
        detail: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """Append one entry to ``tenant``'s chain (its own transaction); returns it with its
        seq and hash. ``relations`` is {relation: pinned version} (or just names), ``columns``
        {relation: [columns read]}, ``detail`` any JSON-able mapping."""
        item = make_item(
            tenant, user, roles, action, relations=relations, columns=columns, rows=rows,
            query_id=query_id, batch_id=batch_id, status=status, detail=detail, at=at,
        )  # fmt: skip
        return self.append_many([item])[0]

    def append_many(self, items: Sequence[AuditItem]) -> list[dict[str, Any]]:
        """Append ``items`` in one transaction (each to its tenant's chain, in order)."""
        if not items:
            return []
        return self.run(lambda s: self.chain(s, items))

    def run(self, work: Callable[[Session], T]) -> T:
        """Run ``work(session)`` in one transaction, again from the start when another writer
        moved a chain head meanwhile (``work`` must build its rows anew each time)."""
        with self._lock:
            for attempt in range(_ATTEMPTS):
                try:
                    with self._sessions.begin() as s:
                        return work(s)
                except (_HeadMoved, IntegrityError, OperationalError) as exc:
                    if metadata_refused(exc, locked=False):  # no attempt can succeed: say so
                        raise MetadataUnavailable(
                            "the metadata store refuses writes (read-only): the audit trail "
                            "cannot be appended to",
                            hint="Make the metadata store writable, then try again.",
                        ) from exc
                    if isinstance(exc, OperationalError) and not (
                        "locked" in str(exc) or "busy" in str(exc).lower()
                    ):
                        raise
                    _backoff(attempt, exc)
        raise AuditConflict(
            f"could not append to the audit trail after {_ATTEMPTS} attempts",
            hint="Another writer keeps moving the chain head; try again.",
        )

    def chain(self, s: Session, items: Sequence[AuditItem]) -> list[dict[str, Any]]:
        """Chain ``items`` inside the transaction of ``s``: read each tenant's head, insert the
        entries, move the head with a compare-and-set (``_HeadMoved`` when it moved)."""
        out: list[dict[str, Any]] = []
        for tenant in dict.fromkeys(i.tenant for i in items):
            group = [i for i in items if i.tenant == tenant]
            head = s.execute(
                select(AuditHeadRow.seq, AuditHeadRow.hash).where(AuditHeadRow.tenant_id == tenant)
            ).first()
            if head is None:  # the tenant's first entry: a concurrent first one conflicts
                s.execute(insert(AuditHeadRow).values(tenant_id=tenant, seq=0, hash=GENESIS))
                seq0, prev = 0, GENESIS
            else:
                seq0, prev = int(head[0]), str(head[1])
            seq = seq0
            for item in group:
                seq += 1
                at = _iso(item.at or self._clock())
                fields: dict[str, Any] = {
                    "tenant": tenant,
                    "seq": seq,
                    "at": at,
                    "user": item.user,
                    "roles": list(item.roles),
                    "action": item.action,
                    "relations": item.relations,
                    "columns": item.columns,
                    "rows": item.rows,
                    "query_id": item.query_id,
                    "batch_id": item.batch_id,
                    "status": item.status,
                    "detail": item.detail,
                    "prev_hash": prev,
                }
                text = canonical(fields)
                digest = entry_hash(text)
                s.add(
                    AuditEntryRow(
                        tenant_id=tenant,
                        seq=seq,
                        at=datetime.fromisoformat(at),
                        user=item.user,
                        roles=fields["roles"],
                        action=item.action,
                        relations=item.relations,
                        columns=item.columns,
                        rows=item.rows,
                        query_id=item.query_id,
                        batch_id=item.batch_id,
                        status=item.status,
                        detail=item.detail,
                        prev_hash=prev,
                        hash=digest,
                        canonical=text,
                    )
                )
                out.append({**fields, "hash": digest})
                prev = digest
            s.flush()  # a concurrent writer's entry of the same seq: IntegrityError, retried
            moved = s.execute(
                update(AuditHeadRow)
                .where(AuditHeadRow.tenant_id == tenant, AuditHeadRow.seq == seq0)
                .values(seq=seq, hash=prev)
            )
            if getattr(moved, "rowcount", 0) != 1:
                raise _HeadMoved(tenant)
        return out

    # -- reading ------------------------------------------------------------------------------
    def head(self, tenant: str) -> tuple[int, str]:
        """The tenant's chain head: (last seq, its hash); (0, GENESIS) with no entry."""
        with self._engine.connect() as c:
            found = c.execute(
                select(AuditHeadRow.seq, AuditHeadRow.hash).where(AuditHeadRow.tenant_id == tenant)
            ).first()
        return (0, GENESIS) if found is None else (int(found[0]), str(found[1]))

    def entries(
        self,
        tenant: str,
        *,
        user: str | None = None,
        action: str | None = None,
        relation: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """The tenant's entries, newest first, filtered (``relation``: entries that read or
        wrote it; ``since`` inclusive, ``until`` exclusive)."""
        out = []
        for row in self._scan(tenant, user=user, action=action, since=since, until=until):
            if relation is not None and relation not in (row.relations or {}):
                continue
            out.append(entry_dict(row))
            if len(out) >= limit:
                break
        return out

    def reads(
        self, tenant: str, since: datetime | None = None, until: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Every read entry (query, cube, analytics, export) from ``since`` to ``until``,
        newest first: user, roles, action, relations, columns, rows, at, query_id..."""
        return [
            entry_dict(r)
            for r in self._scan(tenant, since=since, until=until, actions=READ_ACTIONS)
        ]

    def accesses(
        self, tenant: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Who read what: per user and relation, the columns read, how many reads and rows,
        the first and last time (reads that failed included, with their count)."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for row in self._scan(tenant, since=since, until=until, actions=READ_ACTIONS):
            columns = row.columns or {}
            for relation in row.relations or {}:
                key = (row.user, relation)
                at = _iso(row.at)
                acc = found.setdefault(
                    key,
                    {"user": row.user, "relation": relation, "columns": set(), "reads": 0,
                     "failed": 0, "rows": 0, "first_at": at, "last_at": at,
                     "columns_known": True},
                )  # fmt: skip
                acc["reads"] += 1
                acc["failed"] += row.status != "ok"
                acc["rows"] += row.rows or 0
                acc["first_at"] = min(acc["first_at"], at)
                acc["last_at"] = max(acc["last_at"], at)
                if relation in columns:
                    acc["columns"].update(columns[relation])
                else:
                    acc["columns_known"] = False  # not analysed: a read of unknown columns
        return [
            {**acc, "columns": sorted(acc["columns"])}
            for _, acc in sorted(found.items(), key=lambda kv: kv[0])
        ]

    def _scan(
        self,
        tenant: str,
        *,
        user: str | None = None,
        action: str | None = None,
        actions: Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Iterator[AuditEntryRow]:
        """Matching rows, newest first, read in chunks."""
        q = select(AuditEntryRow).where(AuditEntryRow.tenant_id == tenant)
        if user is not None:
            q = q.where(AuditEntryRow.user == user)
        if action is not None:
            q = q.where(AuditEntryRow.action == action)
        if actions is not None:
            q = q.where(AuditEntryRow.action.in_(actions))
        if since is not None:
            q = q.where(AuditEntryRow.at >= _utc(since))
        if until is not None:
            q = q.where(AuditEntryRow.at < _utc(until))
        before: int | None = None
        while True:
            page = q if before is None else q.where(AuditEntryRow.seq < before)
            with self._sessions.begin() as s:
                rows = list(s.scalars(page.order_by(AuditEntryRow.seq.desc()).limit(_CHUNK)))
            yield from rows
            if len(rows) < _CHUNK:
                return
            before = rows[-1].seq

    # -- verifying ----------------------------------------------------------------------------
    def verify(self, tenant: str, *, expect_head: str | None = None) -> VerifyReport:
        """Recompute ``tenant``'s chain from its first entry. ``expect_head`` is a hash taken
        earlier and kept outside the database: it must still be in the chain."""
        problems: list[Problem] = []
        checked, expected_seq, prev, last_seq, last_hash = 0, 1, GENESIS, 0, GENESIS
        anchor_seq: int | None = None
        for row in self._ascending(tenant):
            checked += 1
            gap = row.seq != expected_seq
            if gap:
                first, end = expected_seq, row.seq - 1
                span = f"seq {first}" if first == end else f"seqs {first} to {end}"
                problems.append(
                    Problem(first, "missing", f"{span} missing: deleted before seq {row.seq}")
                )
            elif row.prev_hash != prev:
                problems.append(
                    Problem(
                        row.seq,
                        "broken_link",
                        f"entry {row.seq} links to {row.prev_hash[:12]}…, but the entry before "
                        f"it has hash {prev[:12]}…: an entry before it was changed, removed or "
                        "moved",
                    )
                )
            problems.extend(_check_row(row))
            if expect_head is not None and row.hash == expect_head:
                anchor_seq = row.seq
            prev, expected_seq = row.hash, row.seq + 1
            last_seq, last_hash = row.seq, row.hash
        head_seq, head_hash = self._head_row(tenant)
        if head_seq is None:
            if checked:
                problems.append(
                    Problem(None, "head_missing", "the chain head row is missing (deleted)")
                )
            head_seq, head_hash = 0, GENESIS
        elif head_seq > last_seq:
            span = f"seq {head_seq}" if head_seq == last_seq + 1 else (
                f"seqs {last_seq + 1} to {head_seq}"
            )  # fmt: skip
            problems.append(
                Problem(
                    last_seq + 1,
                    "truncated",
                    f"the chain head says seq {head_seq}, the last entry is seq {last_seq}: "
                    f"{span} deleted from the end",
                )
            )
        elif head_seq < last_seq:
            problems.append(
                Problem(
                    head_seq + 1,
                    "head_mismatch",
                    f"entries after the chain head (seq {head_seq}) up to seq {last_seq}: "
                    "written around the audit store",
                )
            )
        elif head_hash != last_hash:
            problems.append(
                Problem(
                    last_seq,
                    "head_mismatch",
                    f"the chain head's hash {head_hash[:12]}… is not the last entry's "
                    f"{last_hash[:12]}…: the last entry was replaced",
                )
            )
        anchor = None
        if expect_head is not None:
            anchor = {"hash": expect_head, "seq": anchor_seq}
            if anchor_seq is None:
                problems.append(
                    Problem(
                        None,
                        "anchor_not_found",
                        f"the expected head {expect_head[:16]}… is not in the chain: the chain "
                        "was rewritten or truncated after that hash was taken",
                    )
                )
        return VerifyReport(
            tenant=tenant,
            ok=not problems,
            entries_checked=checked,
            head_seq=head_seq,
            head_hash=head_hash,
            last_seq=last_seq,
            problems=problems[:_MAX_PROBLEMS],
            anchor=anchor,
        )

    def _head_row(self, tenant: str) -> tuple[int | None, str]:
        with self._engine.connect() as c:
            found = c.execute(
                select(AuditHeadRow.seq, AuditHeadRow.hash).where(AuditHeadRow.tenant_id == tenant)
            ).first()
        return (None, GENESIS) if found is None else (int(found[0]), str(found[1]))

    def _ascending(self, tenant: str) -> Iterator[AuditEntryRow]:
        after = None
        q = select(AuditEntryRow).where(AuditEntryRow.tenant_id == tenant)
        while True:
            page = q if after is None else q.where(AuditEntryRow.seq > after)
            with self._sessions.begin() as s:
                rows = list(s.scalars(page.order_by(AuditEntryRow.seq).limit(_CHUNK)))
            yield from rows
            if len(rows) < _CHUNK:
                return
            after = rows[-1].seq


def _check_row(row: AuditEntryRow) -> list[Problem]:
    """What is wrong with one row by itself: its fields against the canonical JSON recorded
    with it, and that JSON against its hash."""
    problems = []
    try:
        now = canonical(_fields(row))
    except (TypeError, ValueError, KeyError):  # a column edited into something not JSON
        now = ""
    if now != row.canonical:
        try:
            recorded = json.loads(row.canonical)
        except ValueError:
            recorded = {}
        current = _fields(row)
        changed = {
            k: {"recorded": recorded.get(k), "stored": jsonable(current.get(k))}
            for k in HASHED
            if recorded.get(k) != jsonable(current.get(k))
        }
        if set(changed) == {"seq"}:
            problems.append(
                Problem(
                    row.seq,
                    "moved",
                    f"the entry at seq {row.seq} was recorded as seq {changed['seq']['recorded']}"
                    ": entries were reordered",
                    changed,
                )
            )
        else:
            names = ", ".join(changed) or "its fields"
            problems.append(
                Problem(row.seq, "edited", f"entry {row.seq} was edited: {names} changed", changed)
            )
    if entry_hash(row.canonical) != row.hash:
        problems.append(
            Problem(
                row.seq,
                "hash_mismatch",
                f"entry {row.seq}'s hash does not match its recorded content: the entry or its "
                "hash was rewritten",
            )
        )
    return problems


def make_item(
    tenant: str,
    user: str,
    roles: Iterable[str],
    action: str,
    *,
    relations: Mapping[str, Any] | Iterable[str] | None = None,
    columns: Mapping[str, Iterable[str]] | None = None,
    rows: int | None = None,
    query_id: str | None = None,
    batch_id: str | None = None,
    status: str = "ok",
    detail: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditItem:
    """An entry to append, its values normalized to what will be stored and hashed."""
    if relations is not None and not isinstance(relations, Mapping):
        relations = {str(r): None for r in relations}
    return AuditItem(
        tenant=tenant,
        user=user,
        roles=tuple(str(r) for r in roles),
        action=action,
        relations=jsonable(dict(sorted(relations.items()))) if relations is not None else None,
        columns=(
            {str(k): sorted(str(c) for c in v) for k, v in sorted(columns.items())}
            if columns is not None
            else None
        ),
        rows=None if rows is None else int(rows),
        query_id=query_id,
        batch_id=batch_id,
        status=status,
        detail=jsonable(dict(detail)) if detail is not None else None,
        at=at,
    )


def _utc(ts: datetime) -> datetime:
    return _aware(ts).astimezone(UTC)


def _backoff(attempt: int, exc: Exception) -> None:
    if attempt and attempt % 50 == 0:
        log.warning("audit append retried %d times (%s)", attempt, type(exc).__name__)
    time.sleep(random.uniform(0, min(0.05, 0.001 * 2 ** min(attempt, 6))))
