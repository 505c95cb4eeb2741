"""Cell lineage: from one row of a logged answer back to the batches that produced it.

The answer is reproduced at its pinned commit (through the query service, as the caller: the
guard, grants and later row policies apply), row ``row`` is taken, and its contributing fact
rows are found by a second query at the same commit:

- a cube answer: the cube query compiled on the raw route with the row's dimension values as
  filters, returning the fact's ``batch_id`` and the rows of each batch (semantic/provenance.py);
- a SQL answer over core tables: the query rewritten with SQLGlot to return the ``batch_id`` of
  each table it reads, filtered on its GROUP BY expressions equal to the row's values
  (null-safe), or on every projected column for a query that does not aggregate;
- a SQL answer over one mart (no join): the mart rows behind the answer's row are those the
  query's own filters and grouping select; the mart's grain (the grouping columns of its SQL,
  model/marts.py) maps each of them to the expression over the core tables that makes it, and
  the mart's SQL, joined to those rows' DISTINCT grain (null-safe), returns the core tables'
  ``batch_id``. Sound because at any commit a mart is its SQL over the core tables (it is
  refreshed inside the commit, all months when a joined dimension changes);
- anything else (a set operation, a window function, a derived table, a rollup, a mart read
  with other relations, a grouping not in the select list): *relation* precision, every batch
  of the relations read (a mart or rollup: of the facts it is built from) at the commit.

A logged query's parameters (query log, migration 0009) are bound again when the answer is
reproduced, and renumbered (``$n``) in the provenance query wherever the rewrite moves, copies
or drops them.

Because both queries pin the answer's commit, an explanation stays true after later commits.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq
import sqlglot
from sqlglot import exp

from ledgerhouse.access import Principal, authorize
from ledgerhouse.errors import InvalidRequest, NotFound
from ledgerhouse.governance.lineage.derive import sql_transform
from ledgerhouse.governance.lineage.graph import ColumnRef, LineageGraph
from ledgerhouse.model.values import python_rows

#: Column paths listed per answer column at most.
MAX_COLUMN_PATHS = 20


class Queries(Protocol):
    """What cell lineage needs of the query service (``query.QueryService``)."""

    def sql(self, principal: Principal, sql: str, **options: Any) -> Any: ...


@dataclass(frozen=True)
class CellPorts:
    """What the composition root passes in."""

    queries: Queries
    #: ``(tenant, query_id) -> entry`` (NotFound for another tenant's id)
    entry: Callable[[str, str], dict[str, Any]]
    #: ``(principal, cube, query, commit_id) -> the reproduced answer``
    cube_answer: Callable[[Principal, str, dict[str, Any], int], pa.Table]
    #: ``(cube, query, row values) -> {"sql", "params", "fact", "scope", "filters"}``
    cube_provenance: Callable[[str, dict[str, Any], dict[str, Any]], dict[str, Any]]
    #: ``(tenant, batch ids) -> {batch_id: {dataset, received_at, report, ...}}``
    batches: Callable[[str, Sequence[str]], dict[str, dict[str, Any]]]
    #: ``(tenant, relation, version) -> the Parquet files of that version``
    files: Callable[[str, str, int], list[str]]
    #: ``(tenant, commit_id) -> the graph in force at that commit``
    graph_at: Callable[[str, int], LineageGraph]
    #: the tenant root (file paths are given relative to it)
    tenant_root: Callable[[str], Path]
    #: a derived relation (mart, rollup) -> the relations it is built from
    derived_from: Mapping[str, Sequence[str]]
    #: a mart -> its SQL (model/marts.py): an answer over one mart is attributed through it
    mart_sql: Mapping[str, str] = field(default_factory=dict)


def _plain(v: Any) -> Any:
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, datetime | date):
        return v.isoformat()
    return v


class CellLineage:
    def __init__(self, ports: CellPorts) -> None:
        self.ports = ports

    def explain(self, principal: Principal, query_id: str, row: int) -> dict[str, Any]:
        authorize(principal, "read_governance")
        tenant = principal.tenant
        entry = self.ports.entry(tenant, query_id)
        if entry.get("status") != "ok" or entry.get("commit_id") is None:
            raise InvalidRequest(
                f"query {query_id!r} has no answer to explain (status {entry.get('status')!r})",
                hint="Explain a row of a query that succeeded.",
            )
        if not isinstance(row, int) or row < 0:
            raise InvalidRequest(f"row {row!r} is not a row number", hint="Rows count from 0.")
        if entry.get("params_omitted"):
            raise InvalidRequest(
                f"query {query_id!r} cannot be reproduced: its parameters were not kept "
                f"({entry['params_omitted'].get('reason', 'too large')})",
                hint="Run the query again with smaller parameters (or literals) and explain "
                "that answer.",
            )
        commit = int(entry["commit_id"])
        request = entry.get("request") or {}
        if request.get("kind") == "cube":
            out = self._cube(principal, entry, request, commit, row)
        elif request.get("kind") in (None, "sql"):
            out = self._sql(principal, entry, commit, row)
        else:
            out = self._relations(principal, entry, commit, row, method=request["kind"])
        out = {"query_id": query_id, "commit_id": commit, "row": row, **out}
        out["batches"] = self._describe_batches(principal, commit, out.pop("_found"))
        return out

    # -- reproducing the answer ---------------------------------------------------------------
    def _row(self, table: pa.Table, row: int, query_id: str) -> dict[str, Any]:
        if row >= table.num_rows:
            raise NotFound(
                f"query {query_id!r} answered {table.num_rows} rows: there is no row {row}",
                hint=f"Rows count from 0; use 0 to {table.num_rows - 1}.",
                rows=table.num_rows,
            )
        values = python_rows(table.slice(row, 1))[0]
        return dict(zip(table.column_names, values, strict=True))

    # -- cube answers -------------------------------------------------------------------------
    def _cube(
        self, principal: Principal, entry: dict[str, Any], request: dict[str, Any], commit: int,
        row: int,
    ) -> dict[str, Any]:  # fmt: skip
        cube, query = request["cube"], dict(request.get("query") or {})
        query.pop("as_of", None)
        answer = self.ports.cube_answer(principal, cube, query, commit)
        values = self._row(answer, row, entry["id"])
        prov = self.ports.cube_provenance(cube, query, values)
        found = self.ports.queries.sql(
            principal, prov["sql"], params=prov["params"], as_of=commit, use_cache=False,
            route="lineage",
        )  # fmt: skip
        batches = {prov["fact"]: _counts(found.table)}
        for table, dim_sql in (prov.get("dimensions_sql") or {}).items():
            # the dimension rows the group joined (each version once): their batches
            rows = self.ports.queries.sql(
                principal, dim_sql, params=prov["params"], as_of=commit, use_cache=False,
                route="lineage",
            )  # fmt: skip
            if counts := _counts(rows.table):
                batches[table] = counts
        graph = self.ports.graph_at(principal.tenant, commit)
        columns = {
            c: self._paths(graph, ColumnRef(f"cube:{cube}", c)) for c in values if c in
            graph.columns(f"cube:{cube}")
        }  # fmt: skip
        return {
            "kind": "cube",
            "cube": cube,
            "values": {k: _plain(v) for k, v in values.items()},
            "precision": "row",
            "scope": prov["scope"],
            "filters": prov["filters"],
            "method": "the cube query on the raw route, filtered to this row's dimension "
            "values, selecting the fact's batch_id (and, for each joined dimension, the "
            "batch_id of the distinct dimension rows it joined)",
            "provenance_sql": prov["sql"],
            "columns": columns,
            "_found": batches,
        }

    # -- SQL answers --------------------------------------------------------------------------
    def _sql(
        self, principal: Principal, entry: dict[str, Any], commit: int, row: int
    ) -> dict[str, Any]:
        text, params = entry["text"], entry.get("params")
        answer = self.ports.queries.sql(
            principal, text, params=params, as_of=commit, route="lineage"
        )
        values = self._row(answer.table, row, entry["id"])
        graph = self.ports.graph_at(principal.tenant, commit)
        schema = {
            r: list(info.columns) for r, info in graph.relations.items() if info.layer != "cube"
        }
        columns = self._sql_columns(graph, text, schema, list(values))
        plan = attribution(
            text, schema, list(values.values()), self.ports.derived_from, params=params,
            marts=self.ports.mart_sql,
        )  # fmt: skip
        if plan is None:
            return {
                **self._relations(principal, entry, commit, row, method="sql", values=values),
                "columns": columns,
            }
        found_table = self.ports.queries.sql(
            principal, plan.sql, params=plan.params, as_of=commit, use_cache=False,
            route="lineage",
        ).table  # fmt: skip
        found: dict[str, dict[str, int]] = {}
        names = found_table.column_names
        for rec in found_table.to_pylist():
            n = int(rec[names[-1]])
            for i, relation in enumerate(plan.relations):
                b = rec[names[i]]
                if b is not None:
                    found.setdefault(relation, {})
                    found[relation][str(b)] = found[relation].get(str(b), 0) + n
        return {
            "kind": "sql",
            "values": {k: _plain(v) for k, v in values.items()},
            "precision": "row",
            "scope": plan.scope,
            "filters": plan.filters,
            "method": (
                f"the rows of {plan.mart} this row's "
                + ("group" if plan.scope == "group" else "projected values")
                + " selects, through the mart's grain columns to the rows of its SQL over the "
                "core tables, returning each table's batch_id"
                if plan.mart
                else "the query rewritten to return each table's batch_id, filtered to this "
                "row's " + ("group" if plan.scope == "group" else "projected values")
            ),
            "provenance_sql": plan.sql,
            "columns": columns,
            "_found": found,
        }

    def _sql_columns(
        self, graph: LineageGraph, text: str, schema: dict[str, list[str]], names: list[str]
    ) -> dict[str, list[dict[str, Any]]]:
        try:
            t = sql_transform("answer", "answer", text, schema)
        except Exception:  # a query SQLGlot's lineage cannot follow: no column paths
            return {}
        out: dict[str, list[dict[str, Any]]] = {}
        for col in names:
            paths: list[dict[str, Any]] = []
            for ref in t.columns.get(col, []):
                for p in self._paths(graph, ref):
                    paths.append({**p, "path": [*p["path"], f"answer.{col}"]})
                if not graph.sources(ref):
                    paths.append({"from": str(ref), "path": [str(ref), f"answer.{col}"]})
            out[col] = paths[:MAX_COLUMN_PATHS]
        return out

    # -- relation precision -------------------------------------------------------------------
    def _relations(
        self, principal: Principal, entry: dict[str, Any], commit: int, row: int, *,
        method: str, values: dict[str, Any] | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        if values is None:
            answer = self.ports.queries.sql(
                principal, entry["text"], params=entry.get("params"), as_of=commit,
                route="lineage",
            )  # fmt: skip
            values = self._row(answer.table, row, entry["id"])
        read = entry.get("relations") or {}
        relations = sorted(read) if read else _tables_of(entry["text"])
        sources: set[str] = set()
        todo = list(relations)
        while todo:  # a mart or rollup: the facts and dimensions it is built from
            r = todo.pop()
            if r in sources:
                continue
            sources.add(r)
            todo.extend(self.ports.derived_from.get(r, ()))
        graph = self.ports.graph_at(principal.tenant, commit)
        found: dict[str, dict[str, int]] = {}
        for r in sorted(sources):
            info = graph.relations.get(r)
            if info is None or r in self.ports.derived_from:
                continue
            col = "batch_id" if "batch_id" in info.columns else (
                "_batch_id" if "_batch_id" in info.columns else None
            )  # fmt: skip
            if col is None:
                continue
            res = self.ports.queries.sql(
                principal, f'SELECT "{col}", count(*) FROM "{r}" GROUP BY 1 ORDER BY 1',
                as_of=commit, use_cache=False, route="lineage",
            )  # fmt: skip
            counts = _counts(res.table)
            if counts:
                found[r] = counts
        return {
            "kind": method,
            "values": {k: _plain(v) for k, v in values.items()},
            "precision": "relation",
            "scope": "relations",
            "filters": {},
            "method": "too complex to attribute row by row (set operation, window function, "
            "derived table, a rollup or a mart read with other relations, or a grouping not "
            "selected): every batch of the relations read at the commit",
            "provenance_sql": None,
            "columns": {},
            "_found": found,
        }

    # -- batches, raw records, files ----------------------------------------------------------
    def _describe_batches(
        self, principal: Principal, commit: int, found: dict[str, dict[str, int]]
    ) -> list[dict[str, Any]]:
        tenant = principal.tenant
        ids = sorted({b for per in found.values() for b in per})
        ledger = self.ports.batches(tenant, ids)
        by_raw: dict[str, list[str]] = {}
        for b in ids:
            if b in ledger:
                by_raw.setdefault(f"raw_{ledger[b]['dataset']}", []).append(b)
        raw_info: dict[str, dict[str, Any]] = {}
        graph = self.ports.graph_at(tenant, commit)
        for raw, batch_ids in sorted(by_raw.items()):
            if raw not in graph.relations:
                continue
            raw_info.update(self._raw_location(principal, commit, raw, batch_ids))
        out = []
        for b in ids:
            info = ledger.get(b, {})
            report = info.get("report", {})
            out.append(
                {
                    "batch_id": b,
                    "dataset": info.get("dataset"),
                    "received_at": info.get("received_at"),
                    "commit_id": info.get("commit_id"),
                    "rows_in_answer": {rel: per[b] for rel, per in found.items() if b in per},
                    "report": {
                        k: report.get(k)
                        for k in ("rows_received", "rows_accepted", "rows_quarantined")
                    },
                    "raw": raw_info.get(b),
                }
            )
        return out

    def _raw_location(
        self, principal: Principal, commit: int, raw: str, batch_ids: list[str]
    ) -> dict[str, dict[str, Any]]:
        marks = ", ".join("?" * len(batch_ids))
        res = self.ports.queries.sql(
            principal,
            f'SELECT "_batch_id", min("_row_number"), max("_row_number"), count(*) FROM "{raw}" '
            f'WHERE "_batch_id" IN ({marks}) GROUP BY 1',
            params=list(batch_ids), as_of=commit, use_cache=False, route="lineage",
        )  # fmt: skip
        version = res.commit.table_versions.get(raw)
        files = (
            self._files(principal.tenant, raw, version, batch_ids) if version is not None else {}
        )
        out = {}
        for b, lo, hi, n in (tuple(r.values()) for r in res.table.to_pylist()):
            out[str(b)] = {
                "relation": raw,
                "version": version,
                "batch_id": str(b),
                "row_numbers": [lo, hi],
                "rows": int(n),
                "files": files.get(str(b), []),
            }
        return out

    def _files(
        self, tenant: str, relation: str, version: int, batch_ids: list[str]
    ) -> dict[str, list[str]]:
        """The Parquet files of ``relation`` at ``version`` holding each batch (statistics
        first, then the batch column of the candidate files)."""
        root = self.ports.tenant_root(tenant)
        wanted = set(batch_ids)
        out: dict[str, list[str]] = {}
        for uri in self.ports.files(tenant, relation, version):
            path = uri.removeprefix("file://")
            try:
                ids = set(pq.read_table(path, columns=["_batch_id"]).column(0).unique().to_pylist())
            except (OSError, KeyError, pa.ArrowInvalid):
                continue
            try:
                shown = str(Path(path).resolve().relative_to(root.resolve()))
            except ValueError:
                shown = Path(path).name
            for b in ids & wanted:
                out.setdefault(str(b), []).append(shown)
        return out

    # -- column paths -------------------------------------------------------------------------
    def _paths(self, graph: LineageGraph, ref: ColumnRef) -> list[dict[str, Any]]:
        out = []
        for origin in graph.sources(ref):
            for p in graph.path(origin, ref)[:3]:
                out.append({"from": str(origin), "path": [str(c) for c in p]})
                if len(out) >= MAX_COLUMN_PATHS:
                    return out
        return out


def _counts(table: pa.Table) -> dict[str, int]:
    out: dict[str, int] = {}
    for rec in table.to_pylist():
        b, n = tuple(rec.values())[:2]
        if b is not None:
            out[str(b)] = out.get(str(b), 0) + int(n)
    return out


def _tables_of(sql: str) -> list[str]:
    try:
        return sorted({t.name for t in sqlglot.parse_one(sql, read="duckdb").find_all(exp.Table)})
    except sqlglot.errors.ParseError:
        return []


# -- SQL rewriting ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Attribution:
    sql: str
    params: list[Any]
    relations: list[str]  # the relation of each batch column, in order
    scope: str  # group | row
    filters: dict[str, Any]
    mart: str | None = None  # an answer over this mart: through its grain to the core rows


_AGGREGATES = (exp.AggFunc,)


def attribution(
    text: str,
    schema: Mapping[str, Sequence[str]],
    values: list[Any],
    derived: Mapping[str, Sequence[str]],
    params: Sequence[Any] | None = None,
    marts: Mapping[str, str] | None = None,
) -> Attribution | None:
    """The query rewritten to return, for the rows behind one answer row, the batch id of each
    table it reads and how many joined rows each combination has; None when the query cannot
    be attributed row by row (the caller falls back to relation precision).

    ``params`` are the logged query's: its placeholders become numbered ones (``$n``) so that
    they keep their values wherever the rewrite moves, copies or drops them. ``marts`` (mart
    -> its SQL) lets an answer over one mart be attributed through the mart's grain."""
    try:
        tree = sqlglot.parse_one(text, read="duckdb")
    except sqlglot.errors.ParseError:
        return None
    given = _numbered(tree, list(params or ()))
    if given is None:
        return None
    if not isinstance(tree, exp.Select) or tree.args.get("with") is not None:
        return None  # set operations, CTEs
    if tree.find(exp.Window) or tree.args.get("distinct") is not None:
        return None
    if any(isinstance(s.this, exp.Subquery | exp.Select) for s in tree.find_all(exp.From)):
        return None
    if any(isinstance(j.this, exp.Subquery) for j in tree.args.get("joins") or []):
        return None
    if any(isinstance(q, exp.Subquery) for q in tree.find_all(exp.Subquery)):
        return None
    tables = [t for t in tree.find_all(exp.Table)]
    mart = tables[0].name if len(tables) == 1 and tables[0].name in (marts or {}) else None
    if mart is None and any(t.name in derived or t.name not in schema for t in tables):
        return None  # a rollup, a mart read with others, or an unknown relation
    if not tables or any(t.name not in schema for t in tables):
        return None
    selected = _answer_conditions(tree, schema, values, tables)
    if selected is None:
        return None
    conditions, params, filters, scope = selected
    if mart is not None:
        assert marts is not None
        return _mart_attribution(tree, tables[0], marts[mart], schema, conditions, given, params,
                                 filters, scope)  # fmt: skip
    batch_cols = _batch_columns(tables, schema)
    if not batch_cols:
        return None
    new = tree.copy()
    for key in ("group", "having", "order", "limit", "offset", "qualify"):
        new.set(key, None)
    _select_batches(new, batch_cols)
    for cond in conditions:
        new = new.where(cond, copy=False)
    bound = _compacted(new, given, params)
    return Attribution(
        new.sql(dialect="duckdb"), bound, [r for _, _, r in batch_cols], scope, filters
    )


def _batch_columns(
    tables: Sequence[exp.Table], schema: Mapping[str, Sequence[str]]
) -> list[tuple[str, str, str]]:
    """(alias, batch column, relation) of each table that has a batch column."""
    out = []
    for t in tables:
        cols = schema.get(t.name, ())
        col = "batch_id" if "batch_id" in cols else ("_batch_id" if "_batch_id" in cols else None)
        if col is not None:  # dim_date has no batch
            out.append((t.alias_or_name, col, t.name))
    return out


def _select_batches(tree: exp.Select, batch_cols: list[tuple[str, str, str]]) -> None:
    """Make ``tree`` return each table's batch id and the rows of each combination."""
    tree.set(
        "expressions",
        [
            *(
                exp.alias_(exp.column(c, table=a), f"__b{i}")
                for i, (a, c, _) in enumerate(batch_cols)
            ),
            exp.alias_(exp.Count(this=exp.Star()), "__n"),
        ],
    )
    tree.set(
        "group", exp.Group(expressions=[exp.column(f"__b{i}") for i in range(len(batch_cols))])
    )


def _answer_conditions(
    tree: exp.Select,
    schema: Mapping[str, Sequence[str]],
    values: list[Any],
    tables: Sequence[exp.Table],
) -> tuple[list[exp.Expr], list[Any], dict[str, Any], str] | None:
    """The conditions that select the input rows of one answer row: its GROUP BY expressions
    equal to the row's values (null-safe), or every projected column for a query that does not
    aggregate; with their parameters, the filters shown, and the scope (group | row)."""
    selects = list(tree.expressions)
    if len(selects) != len(values) and not any(isinstance(s, exp.Star) for s in selects):
        return None
    aggregate = bool(tree.args.get("group")) or any(s.find(*_AGGREGATES) for s in selects)
    conditions: list[exp.Expr] = []
    params: list[Any] = []
    filters: dict[str, Any] = {}
    if aggregate:
        group = tree.args.get("group")
        keys: list[int] = []
        if group is None:
            keys = []  # one group: the whole filtered input
        elif group.args.get("all") or any(
            isinstance(e, exp.Var) and e.name.upper() == "ALL" for e in group.expressions
        ):
            keys = [i for i, s in enumerate(selects) if not s.find(*_AGGREGATES)]
        else:
            for g in group.expressions:
                i = _select_index(g, selects)
                if i is None:
                    return None  # grouped by something not returned: cannot filter on it
                keys.append(i)
        for i in keys:
            expr = selects[i].unalias() if isinstance(selects[i], exp.Alias) else selects[i]
            conditions.append(_null_safe(expr.copy(), values[i], params))
            filters[selects[i].alias_or_name] = _plain(values[i])
        return conditions, params, filters, "group"
    if any(isinstance(s, exp.Star) for s in selects):
        if len(tables) != 1 or len(selects) != 1:
            return None
        cols = list(schema[tables[0].name])
        if len(cols) != len(values):
            return None
        selects = [exp.column(c, table=tables[0].alias_or_name) for c in cols]
    for s, v in zip(selects, values, strict=True):
        expr = s.unalias() if isinstance(s, exp.Alias) else s
        conditions.append(_null_safe(expr.copy(), v, params))
        filters[s.alias_or_name] = _plain(v)
    return conditions, params, filters, "row"


_ALL_MONTHS = "__ledgerhouse_every_month__"


def mart_grain(mart_sql: str) -> tuple[exp.Select, dict[str, exp.Expr]] | None:
    """A mart's SQL over every month (its ``{months}`` filter made TRUE) and its grain: each
    grouping column of the mart -> the expression over the core tables that makes it. None
    when the SQL is not one grouped SELECT (the caller keeps relation precision)."""
    try:
        tree = sqlglot.parse_one(mart_sql.replace("{months}", f"'{_ALL_MONTHS}'"), read="duckdb")
    except sqlglot.errors.ParseError:
        return None
    if not isinstance(tree, exp.Select) or tree.args.get("with") is not None:
        return None
    if tree.find(exp.Window, exp.Subquery) or tree.args.get("having") is not None:
        return None
    group = tree.args.get("group")
    if group is None:
        return None
    for node in list(tree.find_all(exp.In)):  # the refresh's month filter: every month here
        if any(isinstance(v, exp.Literal) and v.name == _ALL_MONTHS for v in node.expressions):
            node.replace(exp.true())
    if _ALL_MONTHS in tree.sql(dialect="duckdb"):
        return None
    grouped_all = group.args.get("all") or any(
        isinstance(e, exp.Var) and e.name.upper() == "ALL" for e in group.expressions
    )
    grain: dict[str, exp.Expr] = {}
    for s in tree.expressions:
        inner = s.unalias() if isinstance(s, exp.Alias) else s
        if inner.find(*_AGGREGATES):
            continue
        if not inner.find(exp.Column):
            continue  # now() AS refreshed_at: the same for every row, not a grain column
        if not grouped_all and not any(inner == g for g in group.expressions):
            return None
        grain[s.alias_or_name] = inner
    return (tree, grain) if grain else None


def _mart_attribution(
    tree: exp.Select,
    table: exp.Table,
    mart_sql: str,
    schema: Mapping[str, Sequence[str]],
    conditions: list[exp.Expr],
    given: list[Any],
    params: list[Any],
    filters: dict[str, Any],
    scope: str,
) -> Attribution | None:
    """An answer over one mart: its mart rows are those the answer's own filters and grouping
    select; the core rows behind them are the rows of the mart's SQL whose grain expressions
    equal one of those rows' grain columns (null-safe, joined to their DISTINCT grain); both
    read at the
    answer's commit, where the mart is its SQL over the core tables (refreshed in the commit)."""
    found = mart_grain(mart_sql)
    if found is None:
        return None
    source, grain = found
    alias = table.alias_or_name
    inner = exp.select(*(exp.column(c, table="__m") for c in grain)).distinct()
    inner = inner.from_(exp.to_table(table.name).as_("__m"))
    where = tree.args.get("where")
    parts = [*([where.this.copy()] if where is not None else []), *conditions]
    for part in parts:
        for col in part.find_all(exp.Column):
            if col.table in ("", alias):
                col.set("table", exp.to_identifier("__m"))
        inner = inner.where(part, copy=False)
    on = exp.and_(
        *(
            exp.NullSafeEQ(this=expr.copy(), expression=exp.column(column, table="__g"))
            for column, expr in grain.items()
        )
    )
    sources = [t for t in source.find_all(exp.Table)]
    batch_cols = _batch_columns(sources, schema)
    if not batch_cols:
        return None
    new = source.copy()
    for key in ("having", "order", "limit", "offset", "qualify"):
        new.set(key, None)
    _select_batches(new, batch_cols)
    new = new.join(inner.subquery("__g"), on=on, copy=False)  # DISTINCT: one match per row
    bound = _compacted(new, given, params)
    return Attribution(
        new.sql(dialect="duckdb"), bound, [r for _, _, r in batch_cols], scope, filters,
        mart=table.name,
    )  # fmt: skip


def _select_index(g: exp.Expression, selects: list[exp.Expression]) -> int | None:
    if isinstance(g, exp.Literal) and g.is_int:
        i = int(g.name) - 1
        return i if 0 <= i < len(selects) else None
    for i, s in enumerate(selects):
        inner = s.unalias() if isinstance(s, exp.Alias) else s
        if inner == g or (isinstance(g, exp.Column) and not g.table and s.alias_or_name == g.name):
            return i
    return None


def _null_safe(expr: Any, value: Any, params: list[Any]) -> exp.Expr:
    """``expr IS NOT DISTINCT FROM $k``; ``params`` collects the values (numbered after the
    query's own parameters: ``_compacted`` renumbers them all)."""
    params.append(value)
    return exp.NullSafeEQ(this=expr, expression=exp.Placeholder(this=f"+{len(params)}"))


def _numbered(tree: exp.Expr, params: list[Any]) -> list[Any] | None:
    """Make the query's own placeholders numbered (``?`` in text order -> ``$1, $2, ...``), in
    place; their values by number (index 0 is ``$1``). None when the placeholders do not match
    ``params`` (mixed ``?`` and ``$n``, or a count the rewrite cannot be sure of)."""
    marks = [p for p in tree.walk(bfs=False) if isinstance(p, exp.Placeholder)]
    anonymous = [p for p in marks if p.this is None]
    if anonymous and len(anonymous) != len(marks):
        return None  # DuckDB refuses the mix anyway
    if anonymous:
        if len(anonymous) != len(params):
            return None
        for i, p in enumerate(anonymous):
            p.set("this", str(i + 1))
        # the depth-first order is the text order when the SQL the tree writes numbers them
        # 1, 2, ... from left to right: otherwise do not guess which value is which
        if [int(n) for n in re.findall(r"\$(\d+)", tree.sql(dialect="duckdb"))] != list(
            range(1, len(anonymous) + 1)
        ):
            return None
        return list(params)
    for p in marks:
        if not (isinstance(p.this, str) and p.this.isdigit() and 1 <= int(p.this) <= len(params)):
            return None
    return list(params)


def _compacted(tree: exp.Expr, given: list[Any], added: list[Any]) -> list[Any]:
    """Renumber the placeholders of the rewritten ``tree`` (in place) ``$1..$m`` in order of
    first use, dropping the query's parameters the rewrite no longer uses (DuckDB refuses an
    unused one); the values in that order. ``$k`` is the query's own ``given[k-1]``, ``$+k``
    the rewrite's ``added[k-1]``."""
    values, own = [*given, *added], len(given)
    order: dict[int, int] = {}
    for p in tree.walk(bfs=False):
        if not isinstance(p, exp.Placeholder):
            continue
        name = str(p.this)
        index = own + int(name[1:]) - 1 if name.startswith("+") else int(name) - 1
        order.setdefault(index, len(order) + 1)
        p.set("this", str(order[index]))
    return [values[i] for i in order]
