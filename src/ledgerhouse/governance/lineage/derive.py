"""Deriving transforms from SQL (SQLGlot's column lineage, with the schema) and from a cube's
member expressions.

The composition root passes plain data in (the SQL, the schema as ``{relation: [columns]}``,
a cube's fact, joins and member expressions): governance imports no other domain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.lineage import lineage

from ledgerhouse.governance.lineage.graph import ColumnRef, Transform

Schema = Mapping[str, Sequence[str]]


def _sqlglot_schema(schema: Schema) -> dict[str, dict[str, str]]:
    # types do not matter for lineage; every column is known by name
    return {rel: {c: "VARCHAR" for c in cols} for rel, cols in schema.items()}


def sql_transform(
    job: str, output: str, sql: str, schema: Schema, *, dialect: str = "duckdb"
) -> Transform:
    """The transform of a ``SELECT`` that builds ``output``: each output column's source columns
    by ``sqlglot.lineage.lineage`` over the qualified query (an aggregate's argument, both
    branches of a CASE, a join's key). A column computed from no column (``count(*)``,
    ``now()``) has no source: it is generated, noted as its expression."""
    tree = sqlglot.parse_one(sql, read=dialect)
    inputs = sorted(
        {t.name for t in tree.find_all(exp.Table) if t.name in schema},
    )
    nodes = lineage(None, tree, schema=_sqlglot_schema(schema), dialect=dialect)
    assert isinstance(nodes, dict)
    columns: dict[str, list[ColumnRef]] = {}
    notes: dict[str, str] = {}
    for col, node in nodes.items():
        refs: list[ColumnRef] = []
        for n in node.walk():
            if n.downstream or not isinstance(n.expression, exp.Table):
                continue
            ref = ColumnRef(n.expression.name, n.name.split(".")[-1])
            if ref not in refs:
                refs.append(ref)
        columns[col] = sorted(refs)
        if not refs:
            notes[col] = f"generated: {node.expression.sql(dialect=dialect)}"
    return Transform(job, "sql", output, tuple(inputs), columns, notes, sql)


@dataclass(frozen=True)
class CubeSpec:
    """What lineage needs of a cube: its fact, its joins (alias -> table) and, per member
    (dimension or measure), the SQL expressions it is computed from (a ratio's: those of its
    numerator and denominator; a plain count's: none)."""

    name: str
    fact: str
    joins: Mapping[str, str]
    members: Mapping[str, Sequence[str]]
    kinds: Mapping[str, str]  # member -> "dimension" | "measure:<type>"


def cube_transform(spec: CubeSpec, schema: Schema, *, dialect: str = "duckdb") -> Transform:
    """The node ``cube:<name>``: each member's source columns, the aliases of its expressions
    resolved to tables (``fact`` to the cube's fact)."""
    aliases = {"fact": spec.fact, **spec.joins}
    columns: dict[str, list[ColumnRef]] = {}
    notes: dict[str, str] = {}
    for member, expressions in spec.members.items():
        refs: list[ColumnRef] = []
        for text in expressions:
            for col in sqlglot.parse_one(text, read=dialect).find_all(exp.Column):
                table = aliases.get(col.table, spec.fact)
                ref = ColumnRef(table, col.name)
                if ref not in refs and col.name in schema.get(table, (col.name,)):
                    refs.append(ref)
        columns[member] = sorted(refs)
        kind = spec.kinds.get(member, "")
        notes[member] = kind if refs else f"{kind} (generated: counts the rows of {spec.fact})"
    inputs = (spec.fact, *dict.fromkeys(spec.joins.values()))
    return Transform(f"cube {spec.name}", "cube", f"cube:{spec.name}", inputs, columns, notes)
