"""Refreshing the data marts after a commit, for the months that changed only.

The months come from the Delta log: the Parquet files added or removed in a source table
between the committed version and the new one live in partition directories named by month.
Each mart's SQL runs on a session of the tenant's engine, over the new (not yet committed)
versions bound to that session only, and its result replaces those months of the mart (an
overwrite with a partition predicate), so the refresh lands in the same warehouse commit as the
data it derives from.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pyarrow as pa

from ledgerhouse.errors import QueryFailed
from ledgerhouse.model.marts import MARTS, MartDef
from ledgerhouse.query.guard import check_query
from ledgerhouse.query.service import QueryService, _interruptible, to_dialect
from ledgerhouse.storage.engines import PinnedFiles


class PinnedSession:
    """One session of a tenant's engine whose names are bound to table versions that need not
    be committed yet (what a commit listener reads): the quality checks run on it
    (governance/quality/runner.py ``PinnedSession``)."""

    def __init__(self, queries: QueryService, tenant: str, session: Any, dialect: str) -> None:
        self._queries = queries
        self._tenant = tenant
        self._session = session
        self._dialect = dialect

    def bind(
        self,
        name: str,
        relation: str,
        version: int | None,
        since: int | None,
        *,
        kept: bool = False,
    ) -> None:
        """Bind ``name`` to ``relation`` at ``version``; with ``since``, to the rows of the
        Parquet files that version added after ``since`` only (the changed partitions), or with
        ``kept`` too, to the rows of the files it kept from ``since`` (the unchanged ones)."""
        table = self._queries.relations_of(self._tenant)[relation]
        source = self._queries.bindings.source(self._tenant, table, version)
        if since is not None and isinstance(source, PinnedFiles):
            old = set(self._queries.store.files(self._tenant, table, since))
            part = tuple(f for f in source.files if (f in old) == kept)
            source = dataclasses.replace(source, files=part) if part else table.schema.empty_table()
        elif since is not None and version == since and not kept:
            source = table.schema.empty_table()
        self._session.bind(name, source)

    def execute(self, sql: str) -> pa.Table:
        """Ledgerhouse's own SQL; an engine error is a QueryFailed. Each statement has the
        query time limit (``query_timeout_s``): a tenant's custom check runs inside its
        commit, under the tenant's writer lock, and must not hold it without end."""
        timeout = self._queries.timeout_s
        with _interruptible(self._session, timeout, None):
            rows = self._session.execute(to_dialect(sql, self._dialect), timeout_s=timeout)
        table: pa.Table = rows.table
        return table

    def checked(self, sql: str) -> tuple[str, frozenset[str]]:
        """A caller's SQL through the guard: the checked text and the relations it reads."""
        checked = check_query(sql, self._queries.known_of(self._tenant))
        return checked.sql, checked.relations


class MartRefresher:
    def __init__(self, queries: QueryService, marts: tuple[MartDef, ...] = MARTS) -> None:
        self.queries = queries
        self.marts = marts
        #: a tenant's own rollups (by month, as the shared ones) and SQL marts (rebuilt whole
        #: after them) (docs/tenancy/schemas.md)
        self.marts_of: Callable[[str], tuple[MartDef, ...]] = lambda _tenant: ()

    @contextmanager
    def pinned(self, tenant: str) -> Iterator[PinnedSession]:
        """A session of the tenant's engine to bind (uncommitted) versions in, as a listener
        reads them: the quality checks' SQL runs there, as the marts' does."""
        engine = self.queries.engines.get(tenant)
        with engine.session() as session:
            yield PinnedSession(self.queries, tenant, session, engine.dialect)

    def guard(self, sql: str) -> frozenset[str]:
        """The relations a caller's SQL reads, through the guard (QueryRejected otherwise)."""
        return check_query(sql, self.queries.known_relations).relations

    def changed_months(
        self, tenant: str, source: str, column: str, before: int | None, after: int | None
    ) -> set[str]:
        if before == after or after is None:
            return set()
        table = self.queries.relations_of(tenant)[source]
        store = self.queries.store
        old = set(store.files(tenant, table, before)) if before is not None else set()
        new = set(store.files(tenant, table, after))
        pattern = re.compile(rf"[/\\]{re.escape(column)}=([^/\\]+)[/\\]")
        return {m.group(1) for f in old ^ new if (m := pattern.search(f))}

    def dimension_rewritten(
        self, tenant: str, dimension: str, before: int | None, after: int | None
    ) -> bool:
        """Whether a version that facts may reference changed its attributes or disappeared.
        New versions alone do not matter: no stored fact references them yet."""
        if before == after or before is None or after is None:
            return False
        table = self.queries.relations_of(tenant)[dimension]
        store = self.queries.store
        # closing a version (valid_to, is_current) leaves what facts see of it unchanged
        ignore = {"batch_id", "loaded_at", "valid_to", "is_current"}
        compare = [c for c in table.column_names if c not in ignore]
        old = store.read(tenant, table, before).select(compare)
        new = store.read(tenant, table, after).select(compare)
        return old.join(new, on=compare, how="anti", nulls_equal=True).height > 0

    def refresh(
        self,
        tenant: str,
        before: dict[str, int],
        after: dict[str, int],
    ) -> dict[str, int]:
        """Rebuild the changed months of every affected mart; return the new mart versions.
        A mart ``before`` does not know (new in this commit) is built from every month.
        A commit listener (``storage/commits.py``): registered once in the composition root."""
        written: dict[str, int] = {}
        own = self.marts_of(tenant)
        # a tenant's rollups are partitioned by month like the shared marts; its SQL marts not
        partitioned = (*self.marts, *(m for m in own if m.table.partition_by))
        for mart in partitioned:
            months: set[str] = set()
            relation = mart.table.relation
            # new in this commit, or written by its body (emptied: a rollup declared again
            # after a drop, whose stored months are stale): built from every month
            rebuild_all = (
                relation not in before
                or before[relation] != after.get(relation)
                or any(
                    self.dimension_rewritten(tenant, d, before.get(d), after.get(d))
                    for d in mart.dimensions
                )
            )
            for source, column in mart.sources.items():
                months |= self.changed_months(
                    tenant,
                    source,
                    column,
                    None if rebuild_all else before.get(source),
                    after.get(source),
                )
            if not months:
                continue
            rows = self._compute(tenant, mart, sorted(months), after)
            part = mart.table.partition_by[0]
            quoted = ", ".join("'" + m.replace("'", "''") + "'" for m in sorted(months))
            written[mart.table.relation] = self.queries.store.overwrite(
                tenant, mart.table, rows, predicate=f"{part} IN ({quoted})"
            )
        for mart in (m for m in own if not m.table.partition_by):  # rebuilt whole on change
            now = {**after, **written}  # the shared marts refreshed above included
            reads = (*mart.sources, *mart.dimensions)
            if mart.table.relation in before and all(before.get(r) == now.get(r) for r in reads):
                continue
            rows = self._compute(tenant, mart, [], now)
            written[mart.table.relation] = self.queries.store.overwrite(tenant, mart.table, rows)
        return written

    def count(self, tenant: str, sql: str) -> int:
        """The first value of Ledgerhouse's own query ``sql`` (a count) on the tenant's latest
        commit, unrestricted (what a derived table would hold: the rollup advisor's sizes)."""
        versions = self.queries.resolve_commit(tenant).table_versions
        table = self._run(tenant, sql, dict(versions), "counting")
        return int(table.column(0)[0].as_py() or 0) if table.num_rows else 0

    def _compute(
        self, tenant: str, mart: MartDef, months: list[str], versions: dict[str, int]
    ) -> pa.Table:
        quoted = ", ".join("'" + m.replace("'", "''") + "'" for m in months)
        sql = mart.sql.format(months=quoted) if mart.table.partition_by else mart.sql
        return self._run(tenant, sql, versions, f"refreshing {mart.table.relation}")

    def _run(self, tenant: str, sql: str, versions: dict[str, int], what: str) -> pa.Table:
        checked = check_query(sql, self.queries.known_of(tenant))
        engine = self.queries.engines.get(tenant)
        relations = self.queries.relations_of(tenant)
        with engine.session() as session:
            for name in sorted(checked.relations):
                table = relations[name]
                # versions not committed yet: bound to this session, not through Bindings
                session.bind(name, self.queries.bindings.source(tenant, table, versions.get(name)))
            try:
                return session.execute(to_dialect(checked.sql, engine.dialect)).table
            except QueryFailed as exc:  # Ledgerhouse's own SQL: a bug, not the caller's (a 500)
                raise RuntimeError(f"{what} failed: {exc}") from exc
