"""The lineage service: a tenant's graph (stored per commit), its traversals for a caller, and
cell lineage.

The graph of a tenant is built by a callable the composition root passes in (the marts, the
rollups, ingestion's declared transforms and the cubes the tenant sees), so a tenant whose cubes
differ gets a graph of its own. Each distinct graph is stored once, by digest; a commit observer
links each new commit to the digest in force when it was made. A commit made before lineage was
recorded has no link: reading it falls back to the newest linked commit before it, or else to the
graph in force now (``recorded: false`` in the answer says so).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ledgerhouse.access import Principal, Resource, authorize, may
from ledgerhouse.errors import InvalidRequest, NotFound, did_you_mean
from ledgerhouse.governance.lineage.cells import CellLineage
from ledgerhouse.governance.lineage.graph import LineageGraph
from ledgerhouse.storage.lineage import LineageStore

DIRECTIONS = ("upstream", "downstream")


class LineageRecorder:
    """A commit observer (``CommitWriter.add_observer``): links each commit to its graph."""

    def __init__(self, service: LineageService) -> None:
        self.service = service

    def started(self, txn: Any) -> None:
        pass

    def committed(self, txn: Any) -> None:
        if txn.commit is not None:
            self.service.record_commit(txn.tenant, txn.commit.id)

    def failed(self, txn: Any, error: BaseException) -> None:
        pass

    def abandoned(self, txn: Any) -> None:
        pass


class LineageService:
    def __init__(
        self,
        store: LineageStore,
        graph_of: Callable[[str], LineageGraph],
        resolve_commit: Callable[[str, Any], Any],
        cells: CellLineage | None = None,
    ) -> None:
        self.store = store
        self._graph_of = graph_of
        self._resolve_commit = resolve_commit
        self.cells = cells
        self._lock = threading.Lock()
        self._by_digest: dict[str, LineageGraph] = {}

    # -- graphs per commit --------------------------------------------------------------------
    def current(self, tenant: str) -> LineageGraph:
        """The tenant's graph now (stored under its digest)."""
        graph = self._graph_of(tenant)
        with self._lock:
            if graph.digest not in self._by_digest:
                self.store.save_snapshot(graph.digest, graph.to_dict())
                self._by_digest[graph.digest] = graph
        return graph

    def record_commit(self, tenant: str, commit_id: int) -> str:
        graph = self.current(tenant)
        self.store.link(tenant, commit_id, graph.digest)
        return graph.digest

    def graph_at(self, tenant: str, commit_id: int) -> LineageGraph:
        return self._at(tenant, commit_id)[0]

    def _at(self, tenant: str, commit_id: int) -> tuple[LineageGraph, bool]:
        digest = self.store.digest_at(tenant, commit_id)
        if digest is None:
            return self.current(tenant), False
        with self._lock:
            hit = self._by_digest.get(digest)
        if hit is not None:
            return hit, True
        data = self.store.snapshot(digest)
        if data is None:  # a link without its snapshot: never written that way; be safe
            return self.current(tenant), False
        graph = LineageGraph.from_dict(data)
        with self._lock:
            self._by_digest[digest] = graph
        return graph, True

    # -- a caller's view ----------------------------------------------------------------------
    def lineage(
        self,
        principal: Principal,
        relation: str,
        column: str | None = None,
        direction: str = "upstream",
        depth: int | None = None,
        as_of: Any = None,
    ) -> dict[str, Any]:
        """The edges up or down from ``relation`` (or one of its columns) in the graph of the
        commit ``as_of`` pins (the latest by default), limited to the relations the caller
        may read."""
        authorize(principal, "read_governance", Resource(principal.tenant, "lineage", relation))
        if direction not in DIRECTIONS:
            raise InvalidRequest(
                f"direction must be upstream or downstream, not {direction!r}",
                hint="Use direction=upstream (where it comes from) or downstream (what uses it).",
            )
        if depth is not None and (not isinstance(depth, int) or depth < 1):
            raise InvalidRequest(f"depth must be a positive integer, not {depth!r}",
                                 hint="Leave depth out for every level.")  # fmt: skip
        tenant = principal.tenant
        commit = self._resolve_commit(tenant, as_of)
        graph, recorded = self._at(tenant, commit.id)
        visible = self._visible(principal, graph)
        if relation not in visible:
            known = sorted(visible)
            raise NotFound(
                f"no relation {relation!r} in the lineage graph.{did_you_mean(relation, known)}",
                hint="List relations with `ledgerhouse tables`; a cube is cube:<name>.",
                relation=relation,
            )
        own = graph.columns(relation)
        info = graph.relations.get(relation)
        all_columns = list(info.columns) if info else list(own)
        if column is not None and column not in all_columns:
            raise NotFound(
                f"relation {relation!r} has no column {column!r}."
                f"{did_you_mean(column, all_columns)}",
                hint=f"Columns: {', '.join(all_columns)}.",
                relation=relation,
                column=column,
            )
        walk = graph.upstream if direction == "upstream" else graph.downstream
        edges = [
            e
            for e in walk(relation, column, depth)
            if e["from"].split(".")[0] in visible and e["to"].split(".")[0] in visible
        ]
        notes = graph.notes(relation)
        out: dict[str, Any] = {
            "relation": relation,
            "column": column,
            "layer": graph.layer(relation),
            "direction": direction,
            "depth": depth,
            "commit_id": commit.id,
            "digest": graph.digest,
            "recorded": recorded,
            "jobs": [{"job": t.job, "kind": t.kind} for t in graph.jobs(relation)],
            "edges": edges,
        }
        out["columns"] = (
            {
                c: {"sources": [str(r) for r in own.get(c, [])], "note": notes.get(c)}
                for c in all_columns
                if c in own
            }
            if column is None
            else None
        )
        out["note"] = notes.get(column) if column is not None else None
        return out

    def coverage(self, principal: Principal, as_of: Any = None) -> dict[str, Any]:
        """Share of columns with lineage, per layer (the governance report's figure)."""
        authorize(principal, "read_governance", Resource(principal.tenant, "lineage"))
        commit = self._resolve_commit(principal.tenant, as_of)
        graph, _ = self._at(principal.tenant, commit.id)
        return {"commit_id": commit.id, "digest": graph.digest, **graph.coverage()}

    def _visible(self, principal: Principal, graph: LineageGraph) -> set[str]:
        out = set()
        for relation in graph.tables():
            if relation.startswith("cube:"):
                res = Resource(principal.tenant, "cube", relation.removeprefix("cube:"))
            else:
                res = Resource(principal.tenant, "table", relation)
            if may(principal, "read_governance", res):
                out.add(relation)
        return out

    def explain_cell(self, principal: Principal, query_id: str, row: int) -> dict[str, Any]:
        """Cell lineage of row ``row`` of logged answer ``query_id`` (cells.py)."""
        if self.cells is None:
            raise NotFound("cell lineage is not available", hint="Open the warehouse with it.")
        return self.cells.explain(principal, query_id, row)
