"""Cube queries for a caller: plan on one pinned commit, run the plan's SQL through the
guarded query service as that caller, shape the answer.

The semantic layer compiles; it does not run SQL. It reaches the query service through the
``Queries`` port below (the composition root passes ``query.QueryService``), so a cube query gets
the same guard, grants, sandbox, cache, admission control and query log as any SQL query.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

import pyarrow as pa

from ledgerhouse.access import Principal, Resource, authorize
from ledgerhouse.errors import NotFound, did_you_mean
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
    @property
    def policy(self) -> dict[str, Any] | None: ...


class Queries(Protocol):
    """What cube serving needs of the query service."""

    def resolve_commit(self, tenant: str, as_of: Any = None) -> Any: ...
    def rows_at(self, tenant: str, commit: Any, relation: str) -> int: ...
    def sql(self, principal: Principal, sql: str, **options: Any) -> Any: ...
    def readable(self, principal: Principal, relation: str) -> str | None: ...
    def unrestricted(self, principal: Principal, relation: str) -> bool: ...
    def scope(self) -> AbstractContextManager[None]: ...


class CubeService:
    def __init__(self, layer: SemanticLayer, queries: Queries) -> None:
        self.layer = layer
        self.queries = queries
        #: the layer of a tenant: the shared cubes and its own (docs/tenancy/schemas.md)
        self.layer_of: Callable[[str], SemanticLayer] = lambda _tenant: layer

    def cubes(self, principal: Principal, *, as_of: Any = None) -> list[dict[str, Any]]:
        """Metadata of every cube, with each rollup's rows at the pinned commit."""
        authorize(principal, "read")
        tenant = principal.tenant
        commit = self.queries.resolve_commit(tenant, as_of)

        def rows_of(relation: str) -> int | None:
            # a rollup's whole row count would tell a restricted caller about rows it may
            # not see: None unless the caller reads it unrestricted
            if not self.queries.unrestricted(principal, relation):
                return None
            return self.queries.rows_at(tenant, commit, relation)

        with self.queries.scope():  # the tenant's rules, read once for every rollup
            return self.layer_of(tenant).describe(rows_of)

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
        with self.queries.scope():  # the plan and its SQL read the metadata once
            return self._cube(principal, cube, query, dry_run, timeout_s, cancel)

    def _cube(
        self,
        principal: Principal,
        cube: str,
        query: CubeQuery | dict[str, Any] | str,
        dry_run: bool,
        timeout_s: float | None,
        cancel: Any,
    ) -> CubeResult:
        authorize(principal, "read", Resource(principal.tenant, "cube", cube))
        tenant = principal.tenant
        q = parse_query(query, cube)
        commit = self.queries.resolve_commit(tenant, q.as_of)
        layer = self.layer_of(tenant)
        plan = layer.plan(
            cube,
            q,
            lambda rel: self.queries.rows_at(tenant, commit, rel),
            lambda rel: self.queries.readable(principal, rel),
        )
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
            # the query log and the audit trail record what was asked, not just the SQL
            request={"kind": "cube", "cube": cube, "query": q.model_dump(mode="json")},
        )
        return CubeResult(
            plan,
            layer.shape(plan, res.table),
            commit.id,
            query_id=res.query_id,
            route=res.route,
            elapsed_ms=res.elapsed_ms,
            truncated=res.truncated,
            policy=res.policy,
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
        asked = parse_query(query, cube)
        drilled = self.layer_of(principal.tenant).drill(cube, asked, hierarchy, up=up, value=value)
        if value is not None and len(drilled.filters) > len(asked.filters):
            self._check_member(principal, cube, drilled.filters[-1].member, value, asked.as_of)
        return drilled

    def _check_member(
        self, principal: Principal, cube: str, dimension: str, value: Any, as_of: Any
    ) -> None:
        """Refuse a drill into a member the dimension does not have (a misspelt name is an
        empty answer otherwise), naming the closest members."""
        measure = next(iter(self.layer_of(principal.tenant).cube(cube).measures))
        members_query = {"dimensions": [dimension], "measures": [measure], "as_of": as_of}
        found = self.cube(principal, cube, members_query)
        members = [str(row[0]) for row in found.rows() if row[0] is not None]
        if str(value) in members:
            return
        raise NotFound(
            f"cube {cube!r}: {dimension} has no member {value!r}."
            f"{did_you_mean(str(value), members)}",
            hint=f"List the members with a cube query grouped by {dimension!r}.",
            member=dimension,
            value=value,
        )
