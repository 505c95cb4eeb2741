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

import logging
import re
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

log = logging.getLogger(__name__)

_MEMBER = re.compile(r"[a-z][a-z0-9_]{0,62}")
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
        for name, r in added.items():
            _check_members(cube, name, r)
        return Cube.model_validate({**cube.model_dump(), "rollups": {**cube.rollups, **added}})
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"a rollup of cube {cube.name!r}: {loc + ': ' if loc else ''}{first['msg']}",
            hint=f"Name members of cube {cube.name!r} (`ledgerhouse cubes`); see docs/cubes.md.",
        ) from None


#: Measure types computed from other measures: a rollup keeps those instead.
_COMPUTED = frozenset({"ratio", "running_total", "share"})
#: Columns every rollup table has besides its members'.
_ROLLUP_COLUMNS = frozenset({"rollup_month", "refreshed_at"})


def _check_members(cube: Cube, name: str, r: Rollup) -> None:
    """What a rollup table cannot hold: a computed measure (its parts are kept instead), a
    member twice, a member named like a column the table has or a stored measure's part."""
    for field, values in (("dimensions", r.dimensions), ("measures", r.measures)):
        twice = sorted({v for v in values if values.count(v) > 1})
        if twice:
            raise ConfigError(
                f"rollup {name!r} of cube {cube.name!r} lists {field} {twice} twice",
                hint="Name each member once.",
            )
    computed = [m for m in r.measures if m in cube.measures and cube.measures[m].type in _COMPUTED]
    if computed:
        parts = sorted({b for m in computed for b in cube.base_measures(m)})
        raise ConfigError(
            f"rollup {name!r} of cube {cube.name!r}: {computed} are computed from other "
            "measures and are not stored",
            hint=f"List the measures they are computed from instead: {parts}.",
        )
    clash = [d for d in (*r.dimensions, r.time_dimension or "")
             if d in _ROLLUP_COLUMNS or "__" in d]  # fmt: skip
    if clash:
        raise ConfigError(
            f"rollup {name!r} of cube {cube.name!r}: members {clash} take the name of a column "
            "every rollup has (rollup_month, refreshed_at, <measure>__<part>)",
            hint="Rename those dimensions in the cube.",
        )


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


def check_row_local(
    cube: Cube,
    rollup: str,
    codes_of: Mapping[str, Collection[str]],
    columns_of: Mapping[str, Collection[str]],
) -> None:
    """Refuse a rollup whose stored values could read other fact rows than the ones it
    groups, whose joins do not pin the joined row to the fact row's member, or whose columns
    the lineage could not trace to what they read (a column policy masks a rollup column by
    the labels of the columns it is derived from). ``codes_of``: each joinable table -> the
    columns that identify its member (key and code); ``columns_of``: each table's columns."""
    spec = cube.rollups[rollup]
    for member in (*spec.dimensions, *([spec.time_dimension] if spec.time_dimension else []),
                   *spec.measures):  # fmt: skip
        if not _MEMBER.fullmatch(member) or member.endswith("_key"):
            raise ConfigError(
                f"rollup {rollup!r} of cube {cube.name!r}: member {member!r} must be named in "
                "lower case (letters, digits, _), not ending in _key",
                hint="Rename it in the cube (a rollup column is named after its member; a "
                "*_key column is taken for an opaque surrogate key).",
            )
    if any(j.lower() == "fact" for j in cube.joins):
        raise ConfigError(
            f"cube {cube.name!r}: a join may not be named like the fact (`fact`)",
            hint="Name the join after its table (e.g. portfolio).",
        )
    aliases = {"fact": cube.fact, **{j: cube.joins[j].table for j in cube.joins}}
    used = [(f"dimension {d}", cube.dimensions[d].sql) for d in spec.dimensions]
    if spec.time_dimension:
        used.append((f"dimension {spec.time_dimension}", cube.dimensions[spec.time_dimension].sql))
    used += [(f"segment {s}", cube.segments[s]) for s in spec.segments]
    for m in spec.measures:
        for name in cube.base_measures(m):
            measure = cube.measures[name]
            used += [(f"measure {name}", s) for s in (measure.sql, measure.weight) if s]
    for where, text in used:
        _row_local(cube, rollup, where, text, aliases, columns_of)
    for join in cube.joins_for(*(text for _, text in used)):
        j = cube.joins[join]
        _row_local(cube, rollup, f"join {join}", j.sql, aliases, columns_of)
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


def _row_local(
    cube: Cube,
    rollup: str,
    where: str,
    text: str,
    aliases: Mapping[str, str],
    columns_of: Mapping[str, Collection[str]],
) -> None:
    node = _parse(cube, rollup, where, text)
    bad = node.find(exp.Subquery, exp.Select, exp.Window, exp.AggFunc, exp.Table)
    if bad is not None:
        raise ConfigError(
            f"rollup {rollup!r} of cube {cube.name!r}: {where} ({text!r:.80}) reads beyond "
            f"its own fact row ({type(bad).__name__.lower()})",
            hint="A tenant's rollup stores row-local expressions only (no subquery, window or "
            "aggregate: the measure's type aggregates); query such a member from the star.",
        )
    opaque = node.find(exp.Star, exp.Columns, exp.Bracket, exp.Dot, exp.Lambda)
    for column in node.find_all(exp.Column):
        table = aliases.get(column.table)
        if table is None or column.name not in columns_of.get(table, ()):
            opaque = opaque or column
    if opaque is not None:
        raise ConfigError(
            f"rollup {rollup!r} of cube {cube.name!r}: {where} ({text!r:.80}) reads "
            f"{opaque.sql(dialect='duckdb')!r:.60}, which is not a column of a joined table",
            hint="Name each column as <alias>.<column> (fact.quantity, portfolio.desk): no "
            "whole-row reference, struct field, COLUMNS(...) or * — a column policy masks a "
            "rollup's column by the columns it reads.",
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
    *,
    strict: bool = True,
) -> TenantLayer:
    """The shared cubes and the tenant's own (``cube_texts``: name -> YAML), with the tenant's
    rollup objects (``rollups``: name -> an object with ``cube`` and ``spec``) attached; every
    rollup the tenant adds is checked. ``strict`` (a declaration being added): a rollup that
    fails raises ConfigError naming the problem; else (serving what is stored, after the
    operator changed a shared cube) it is left out and logged, and the tenant's other cubes
    and rollups keep working."""
    relations = {**shared_relations, **own_tables}
    own = {name: load_cube(name, text) for name, text in cube_texts.items()}
    cubes: dict[str, Cube] = {**shared.cubes, **own}
    partitions = {r: t.partition_by for r, t in shared_relations.items() if t.layer == "core"}
    ids: dict[str, set[str]] = {}
    for relation, table in relations.items():
        if relation.startswith(("dim_", "ext_")) and table.natural_key:
            found = ids.setdefault(relation, {table.natural_key[0]})
            key = relation.removeprefix("dim_") + "_key"
            found |= {key} & set(table.column_names)
    columns = {r: t.column_names for r, t in relations.items()}

    def failed(exc: ConfigError, what: str) -> None:
        if strict:
            raise exc
        log.warning("%s is left out of the tenant's layer: %s", what, exc.message)

    def checked(cube: Cube, rollup: str) -> bool:
        """Whether a tenant's rollup of ``cube`` may be kept."""
        try:
            if cube.rollup_relation(rollup) in shared_relations:
                return True  # a shared rollup of a shared cube
            check_partitioned(cube, partitions)
            if cube.name in own:  # member SQL the tenant's admin wrote
                check_row_local(cube, rollup, ids, columns)
            return True
        except ConfigError as exc:
            failed(exc, f"rollup {rollup!r} of cube {cube.name!r}")
            return False

    for name, cube in own.items():  # its own cubes' rollups
        kept = {r: spec for r, spec in cube.rollups.items() if checked(cube, r)}
        if kept.keys() != cube.rollups.keys():
            own[name] = cubes[name] = cube.model_copy(update={"rollups": kept})
    attached: dict[str, list[str]] = {}
    for name, r in sorted(rollups.items()):  # its rollups of any cube
        if r.cube not in cubes:
            failed(ConfigError(
                f"rollup {name!r}: no cube {r.cube!r}.{did_you_mean(r.cube, cubes)}",
                hint=f"Cubes: {', '.join(sorted(cubes))}.",
            ), f"rollup {name!r}")  # fmt: skip
            continue
        try:
            trial = attach(cubes[r.cube], {name: dict(r.spec)})
        except ConfigError as exc:
            failed(exc, f"rollup {name!r}")
            continue
        if checked(trial, name):
            cubes[r.cube] = trial
            attached.setdefault(r.cube, []).append(name)
    added = set(own) | set(attached)
    layer = shared.with_cubes({n: cubes[n] for n in added}, relations) if added else shared
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
                continue
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
