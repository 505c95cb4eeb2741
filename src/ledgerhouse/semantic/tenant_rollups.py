"""A tenant's own rollups: attached to its cubes (a shared cube or its own), checked so that a
row policy can be trusted on them, and the code columns a policy filters them by.

A shared rollup is built from SQL the operator wrote; a tenant's is built from member SQL its
admin wrote, at commit time, before any policy applies. Its rows are then filtered by a row
policy through the column that holds the policed code (``portfolio`` = ``fact.portfolio_code``),
which is sound only when every row of the rollup aggregates the fact rows of that one code.
So a rollup of a tenant's own cube is refused unless each expression it stores is row-local
(no subquery, window or aggregate: nothing reads another fact row) and each join it needs
pins the joined row to the fact row's own member (``fact.k = alias.k`` on the joined table's
key or code, in a conjunction). A rollup that keeps no policed code is never offered to a
caller under a row policy of that dimension (the query routes to the star, which is filtered).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import sqlglot
from pydantic import ValidationError
from sqlglot import exp

from ledgerhouse.errors import ConfigError, did_you_mean
from ledgerhouse.model.marts import MartDef
from ledgerhouse.model.schema import TableDef
from ledgerhouse.semantic.models import Cube, Rollup, load_cube
from ledgerhouse.semantic.service import SemanticLayer

#: Shared dimension tables a row policy may police, and their natural codes.
POLICED_CODES: dict[str, str] = {
    "dim_portfolio": "portfolio_code",
    "dim_instrument": "instrument_code",
    "dim_counterparty": "counterparty_code",
}


def attach(cube: Cube, rollups: Mapping[str, dict[str, Any]]) -> Cube:
    """``cube`` with the tenant's ``rollups`` ({name: rollup fields}) added, checked by the
    cube's own rules (known members, time dimension with granularity)."""
    clash = sorted(set(rollups) & set(cube.rollups))
    if clash:
        raise ConfigError(
            f"cube {cube.name!r} already has rollups named {clash}",
            hint="Name the tenant's rollup differently.",
        )
    try:
        added = {name: Rollup.model_validate(spec) for name, spec in rollups.items()}
        return Cube.model_validate({**cube.model_dump(), "rollups": {**cube.rollups, **added}})
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"a rollup of cube {cube.name!r}: {loc + ': ' if loc else ''}{first['msg']}",
            hint=f"Name members of cube {cube.name!r} (`ledgerhouse cubes`); see docs/cubes.md.",
        ) from None


def check_partitioned(cube: Cube, partitions: Mapping[str, tuple[str, ...]]) -> None:
    """A rollup is refreshed by month of its fact: the fact must be a month-partitioned
    shared table (``partitions``: relation -> its partition columns)."""
    if cube.partition not in partitions.get(cube.fact, ()):
        raise ConfigError(
            f"cube {cube.name!r}: its fact {cube.fact!r} is not partitioned by "
            f"{cube.partition!r}, so a rollup of it cannot be refreshed month by month",
            hint="Declare rollups on cubes over a shared fact table (fact_trade, "
            "fact_position, fact_performance, ...); query this cube from the star.",
        )


def check_row_local(cube: Cube, rollup: str, codes_of: Mapping[str, Collection[str]]) -> None:
    """Refuse a rollup whose stored values could read other fact rows than the ones it
    groups, or whose joins do not pin the joined row to the fact row's member. ``codes_of``:
    each joinable table -> the columns that identify its member (key and code)."""
    spec = cube.rollups[rollup]
    used = [(f"dimension {d}", cube.dimensions[d].sql) for d in spec.dimensions]
    if spec.time_dimension:
        used.append((f"dimension {spec.time_dimension}", cube.dimensions[spec.time_dimension].sql))
    used += [(f"segment {s}", cube.segments[s]) for s in spec.segments]
    for m in spec.measures:
        for name in cube.base_measures(m):
            measure = cube.measures[name]
            used += [(f"measure {name}", s) for s in (measure.sql, measure.weight) if s]
    for where, text in used:
        _row_local(cube, rollup, where, text)
    for join in cube.joins_for(*(text for _, text in used)):
        j = cube.joins[join]
        _row_local(cube, rollup, f"join {join}", j.sql)
        if not _pinned(j.sql, join, codes_of.get(j.table, ())):
            ids = sorted(codes_of.get(j.table, ())) or ["its key"]
            raise ConfigError(
                f"rollup {rollup!r} of cube {cube.name!r}: join {join!r} ({j.sql!r}) does not "
                f"match each fact row to one member of {j.table}",
                hint=f"Join on fact.<column> = {join}.<column> for one of {ids} (AND further "
                "conditions), so that a row policy can be applied to the rollup.",
            )


def code_columns(cube: Cube, rollup: str, codes: Collection[str]) -> dict[str, str]:
    """{policed code: the rollup's column holding it}: a dimension that is the fact's own
    code column (``fact.portfolio_code``)."""
    out: dict[str, str] = {}
    for dim in cube.rollups[rollup].dimensions:
        column = cube.dimensions[dim].sql.strip().removeprefix("fact.")
        if cube.dimensions[dim].sql.strip().startswith("fact.") and column in codes:
            out.setdefault(column, dim)
    return out


def _parse(cube: Cube, rollup: str, where: str, text: str) -> Any:
    try:
        return sqlglot.parse_one(text, read="duckdb")
    except sqlglot.errors.ParseError:
        raise ConfigError(
            f"rollup {rollup!r} of cube {cube.name!r}: {where} is not an SQL expression",
            hint="Fix its SQL.",
        ) from None


def _row_local(cube: Cube, rollup: str, where: str, text: str) -> None:
    node = _parse(cube, rollup, where, text)
    bad = node.find(exp.Subquery, exp.Select, exp.Window, exp.AggFunc, exp.Table)
    if bad is not None:
        raise ConfigError(
            f"rollup {rollup!r} of cube {cube.name!r}: {where} ({text!r:.80}) reads beyond "
            f"its own fact row ({type(bad).__name__.lower()})",
            hint="A tenant's rollup stores row-local expressions only (no subquery, window or "
            "aggregate: the measure's type aggregates); query such a member from the star.",
        )


def _pinned(sql: str, alias: str, ids: Collection[str]) -> bool:
    """Whether the join condition is a conjunction holding ``fact.c = alias.c`` for an
    identifying column ``c``."""
    try:
        node = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError:
        return False
    terms = list(node.flatten()) if isinstance(node, exp.And) else [node]
    for term in terms:
        if not isinstance(term, exp.EQ):
            continue
        sides = [s for s in (term.left, term.right) if isinstance(s, exp.Column)]
        if len(sides) != 2:
            continue
        refs = {(s.table, s.name) for s in sides}
        if any(("fact", c) in refs and (alias, c) in refs for c in ids):
            return True
    return False


@dataclass(frozen=True)
class TenantLayer:
    """A tenant's semantic layer and what its own rollups add to the warehouse."""

    layer: SemanticLayer
    marts: tuple[MartDef, ...]  # the tenant's rollups, as month-partitioned marts
    #: {rollup relation: {policed code: its column}}; every rollup of the tenant is a key (a
    #: rollup is filtered by the columns named here only, never by a column's name alone)
    code_columns: dict[str, dict[str, str]]
    reads: dict[str, frozenset[str]]  # rollup relation -> the tables it is built from

    @property
    def tables(self) -> dict[str, TableDef]:
        return {m.table.relation: m.table for m in self.marts}


def build_tenant_layer(
    shared: SemanticLayer,
    shared_relations: Mapping[str, TableDef],
    own_tables: Mapping[str, TableDef],
    cube_texts: Mapping[str, str],
    rollups: Mapping[str, Any],
) -> TenantLayer:
    """The shared cubes and the tenant's own (``cube_texts``: name -> YAML), with the tenant's
    rollup objects (``rollups``: name -> an object with ``cube`` and ``spec``) attached; every
    rollup the tenant adds is checked (ConfigError naming the problem)."""
    relations = {**shared_relations, **own_tables}
    own = {name: load_cube(name, text) for name, text in cube_texts.items()}
    cubes: dict[str, Cube] = {**shared.cubes, **own}
    attached: dict[str, dict[str, dict[str, Any]]] = {}
    for name, r in rollups.items():
        if r.cube not in cubes:
            raise ConfigError(
                f"rollup {name!r}: no cube {r.cube!r}.{did_you_mean(r.cube, cubes)}",
                hint=f"Cubes: {', '.join(sorted(cubes))}.",
            )
        attached.setdefault(r.cube, {})[name] = dict(r.spec)
    for cube_name, specs in attached.items():
        cubes[cube_name] = attach(cubes[cube_name], specs)
    added = set(own) | set(attached)
    layer = shared.with_cubes({n: cubes[n] for n in added}, relations) if added else shared
    partitions = {r: t.partition_by for r, t in shared_relations.items() if t.layer == "core"}
    ids: dict[str, set[str]] = {}
    for relation, table in relations.items():
        if relation.startswith(("dim_", "ext_")) and table.natural_key:
            found = ids.setdefault(relation, {table.natural_key[0]})
            key = relation.removeprefix("dim_") + "_key"
            found |= {key} & set(table.column_names)
    codes = set(POLICED_CODES.values())
    marts: list[MartDef] = []
    code_cols: dict[str, dict[str, str]] = {}
    reads: dict[str, frozenset[str]] = {}
    by_relation = {m.table.relation: m for m in layer.rollup_marts()}
    for cube_name in sorted(added):
        cube = layer.cubes[cube_name]
        for rollup in cube.rollups:
            relation = cube.rollup_relation(rollup)
            if relation in shared_relations:
                continue  # a shared rollup of a shared cube
            check_partitioned(cube, partitions)
            if cube_name in own:  # member SQL the tenant's admin wrote
                check_row_local(cube, rollup, ids)
            if relation in reads:
                raise ConfigError(
                    f"rollup {rollup!r} of cube {cube_name!r} stores what another of its "
                    "rollups stores",
                    hint="Drop one of them.",
                )
            mart = by_relation[relation]
            marts.append(mart)
            code_cols[relation] = code_columns(cube, rollup, codes)
            reads[relation] = frozenset({*mart.sources, *mart.dimensions})
    return TenantLayer(layer, tuple(marts), code_cols, reads)
