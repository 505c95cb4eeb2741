"""What a caller may look up about its warehouse: the tables at a commit, the commit history
and the query log (with a past query's plan)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ledgerhouse.access import Principal, Resource, authorize
from ledgerhouse.errors import NotFound, scrub_paths
from ledgerhouse.query.service import AsOf, QueryService
from ledgerhouse.storage.metadata import MetadataStore, WarehouseCommit


class Catalog:
    def __init__(self, queries: QueryService, meta: MetadataStore, root: Path) -> None:
        self.queries = queries
        self.meta = meta
        self.root = root

    def tables(self, principal: Principal, *, as_of: AsOf = None) -> list[dict[str, Any]]:
        """Every queryable table with its layer, description, pinned version and row count."""
        with self.queries.scope():  # the tenant's rules and relations, read once for all
            return self._tables(principal, as_of)

    def _tables(self, principal: Principal, as_of: AsOf) -> list[dict[str, Any]]:
        authorize(principal, "read")
        tenant = principal.tenant
        commit = self.queries.resolve_commit(tenant, as_of)
        relations = self.queries.relations_of(tenant)  # the tenant's own tables too
        out = []
        for name, table in sorted(relations.items(), key=lambda kv: (kv[1].layer, kv[0])):
            if self.queries.readable(principal, name) is not None:
                continue  # a grant or a row policy keeps it from the caller: not listed
            policy = self.queries.effective(principal, [name]).of(name)
            hidden = policy.hidden if policy is not None else frozenset()
            out.append(
                {
                    "name": name,
                    "layer": table.layer,
                    "description": table.description,
                    "grain": table.grain,
                    "version": commit.table_versions.get(name),
                    # the whole table's count would tell a row-filtered caller what it
                    # may not see: its own count is a query away
                    "rows": None
                    if policy is not None and policy.filters
                    else self.queries.rows_at(tenant, commit, name),
                    "partition_by": list(table.partition_by),
                    "columns": [
                        {"name": n, "type": str(t)} for n, t in table.columns if n not in hidden
                    ],
                    "commit_id": commit.id,
                    "policy": policy.summary() if policy is not None else None,
                }
            )
        return out

    def commits(self, principal: Principal, limit: int = 100) -> list[WarehouseCommit]:
        """The tenant's warehouse commits, newest first."""
        authorize(principal, "read")
        return self.meta.commit_log.commits(principal.tenant, limit)

    def query_log_entries(
        self,
        principal: Principal,
        *,
        status: str | None = None,
        slowest: bool = False,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Logged queries of the tenant, newest (or slowest) first."""
        authorize(principal, "read", Resource(principal.tenant, "query_log"))
        if self.queries.log is not None:
            self.queries.log.flush()
        entries = self.meta.query_store.queries(
            principal.tenant, status=status, slowest=slowest, limit=limit
        )
        if self._restricted(principal):  # others' texts and errors name what it may not see
            entries = [e for e in entries if e.get("user") == principal.user]
        return [self._scrubbed(e) for e in entries]

    def _restricted(self, principal: Principal) -> bool:
        engine = self.queries.policies
        return engine is not None and engine.restricts(principal)

    def query_log_entry(
        self, principal: Principal, query_id: str, *, plan: bool = False
    ) -> dict[str, Any]:
        """One logged query; with ``plan``, the engine's plan for it on the commit it pinned."""
        authorize(principal, "read", Resource(principal.tenant, "query_log"))
        if self.queries.log is not None:
            self.queries.log.flush()
        entry = self._scrubbed(self.meta.query_store.query_entry(principal.tenant, query_id))
        if self._restricted(principal) and entry.get("user") != principal.user:
            raise NotFound(
                f"no query {query_id!r}",
                hint="List your queries with `ledgerhouse queries` (GET /v1/queries).",
            )
        if plan:
            rejected = entry["status"] == "rejected"
            entry["plan"] = (
                None
                if rejected
                else self.queries.plan(principal, entry["text"], entry["commit_id"])
            )
        return entry

    def _scrubbed(self, entry: dict[str, Any]) -> dict[str, Any]:
        """A logged query whose error names no server path (an internal error's text may)."""
        if entry.get("error"):
            entry["error"] = scrub_paths(entry["error"], self.root)
        return entry
