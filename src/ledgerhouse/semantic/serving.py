"""Cube queries for a caller: plan on one pinned commit, run the plan's SQL through the
guarded query service as that caller, shape the answer.

The semantic layer compiles; it does not run SQL. It reaches the query service through the
``Queries`` port below (the composition root passes ``query.QueryService``), so a cube query gets
the same guard, grants, sandbox, cache, admission control and query log as any SQL query.
"""

from __future__ import annotations

from typing import Any, Protocol

import pyarrow as pa

from ledgerhouse.access import Principal, Resource, authorize
from ledgerhouse.semantic.cube_query import CubeQuery
from ledgerhouse.semantic.service import CubeResult, SemanticLayer, parse_query


class _Answer(Protocol):
    @property
    def table(self) -> pa.Table: ...
    @property
    def query_id(self) -> str: ...
    @property
    def route(self) -> str: ...
    @property
    def elapsed_ms(self) -> float: ...
    @property
    def truncated(self) -> bool: ...


class Queries(Protocol):
    """What cube serving needs of the query service."""

    def resolve_commit(self, tenant: str, as_of: Any = None) -> Any: ...
    def rows_at(self, tenant: str, commit: Any, relation: str) -> int: ...
    def sql(self, principal: Principal, sql: str, **options: Any) -> Any: ...


class CubeService:
    def __init__(self, layer: SemanticLayer, queries: Queries) -> None:
        self.layer = layer
        self.queries = queries

    def cubes(self, principal: Principal, *, as_of: Any = None) -> list[dict[str, Any]]:
        """Metadata of every cube, with each rollup's rows at the pinned commit."""
        authorize(principal, "read")
        tenant = principal.tenant
        commit = self.queries.resolve_commit(tenant, as_of)
        return self.layer.describe(lambda rel: self.queries.rows_at(tenant, commit, rel))

    def cube(
        self,
        principal: Principal,
        cube: str,
        query: CubeQuery | dict[str, Any] | str,
        *,
        dry_run: bool = False,
        timeout_s: float | None = None,
        cancel: Any = None,
    ) -> CubeResult:
        """Answer a cube query on one pinned commit, from the smallest rollup that answers it
        exactly or from the star; ``dry_run`` returns the plan (SQL, route) without running."""
        authorize(principal, "read", Resource(principal.tenant, "cube", cube))
        tenant = principal.tenant
        q = parse_query(query)
        commit = self.queries.resolve_commit(tenant, q.as_of)
        plan = self.layer.plan(cube, q, lambda rel: self.queries.rows_at(tenant, commit, rel))
        if dry_run:
            return CubeResult(plan, None, commit.id, route=plan.route)
        res: _Answer = self.queries.sql(
            principal,
            plan.sql,
            as_of=commit.id,
            params=plan.params,
            timeout_s=timeout_s,
            cancel=cancel,
            use_cache=q.cache,
            route=plan.route,
        )
        return CubeResult(
            plan,
            self.layer.shape(plan, res.table),
            commit.id,
            query_id=res.query_id,
            route=res.route,
            elapsed_ms=res.elapsed_ms,
            truncated=res.truncated,
        )

    def drill(
        self,
        principal: Principal,
        cube: str,
        query: CubeQuery | dict[str, Any] | str,
        hierarchy: str,
        *,
        up: bool = False,
        value: Any = None,
    ) -> CubeQuery:
        """The query rolled up (``up``) or drilled down one level along ``hierarchy``; with
        ``value``, drilling keeps only that member of the current level."""
        authorize(principal, "read", Resource(principal.tenant, "cube", cube))
        return self.layer.drill(cube, parse_query(query), hierarchy, up=up, value=value)
