"""Whether a measure is exact (money, quantities: decimals) or a float (returns, weights).

Decision 0014: an exact measure is aggregated as DECIMAL, exactly, on the raw route and on a
rollup alike. A float measure's values are summed as DECIMAL(38, 18) (each value rounded once
to 18 places, then added exactly): a parallel sum of doubles depends on the order the threads
finish in, a sum of decimals does not, so the same query gives the same bits every time and a
rollup's sums of sums equal the raw sum.

A measure is exact when every column its SQL reads is a decimal or an integer and it uses only
operations that keep decimals exact (+, -, *, abs, greatest, least, coalesce, CASE, negation);
anything else (a float column, a division, another function, an unknown column) is a float.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa
import sqlglot
from sqlglot import exp

from ledgerhouse.model.schema import TableDef
from ledgerhouse.semantic.models import Cube, Measure

#: SQL types of the primitives (compiler.py): what a rollup stores and both routes return.
EXACT = "DECIMAL(38, 12)"
FLOAT_SUM = "DECIMAL(38, 18)"
#: Decimal places of an exact measure's value when it declares no ``decimals``.
EXACT_DECIMALS = 6

_EXACT_NODES = (
    exp.Column,
    exp.Literal,
    exp.Null,
    exp.Boolean,
    exp.Identifier,
    exp.Paren,
    exp.Neg,
    exp.Add,
    exp.Sub,
    exp.Mul,
    exp.Abs,
    exp.Greatest,
    exp.Least,
    exp.Coalesce,
    exp.Case,
    exp.If,
    exp.EQ,
    exp.NEQ,
    exp.GT,
    exp.GTE,
    exp.LT,
    exp.LTE,
    exp.And,
    exp.Or,
    exp.Not,
    exp.Is,
    exp.In,
    exp.Tuple,
    exp.Table,
)


def classified(cube: Cube, tables: Mapping[str, TableDef]) -> Cube:
    """``cube`` with every plain measure's ``numeric`` set (a declared one is kept)."""
    aliases = {"fact": cube.fact, **{a: j.table for a, j in cube.joins.items()}}
    changed = {
        name: m.model_copy(update={"numeric": _kind(m, aliases, tables)})
        for name, m in cube.measures.items()
        if m.numeric is None and m.sql is not None
    }
    if not changed:
        return cube
    return cube.model_copy(update={"measures": {**cube.measures, **changed}})


def _kind(m: Measure, aliases: Mapping[str, str], tables: Mapping[str, TableDef]) -> str:
    texts = [t for t in (m.sql, m.weight) if t]
    return "exact" if all(_exact(t, aliases, tables) for t in texts) else "float"


def _exact(sql: str, aliases: Mapping[str, str], tables: Mapping[str, TableDef]) -> bool:
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError:
        return False
    for node in tree.walk():
        if not isinstance(node, _EXACT_NODES):
            return False
        if isinstance(node, exp.Literal) and not node.is_string and "." in node.this:
            continue  # a decimal literal (0.5) is exact in DuckDB
        if isinstance(node, exp.Column):
            table = tables.get(aliases.get(node.table, ""))
            types = dict(table.columns) if table is not None else {}
            t = types.get(node.name)
            if t is None or not (pa.types.is_decimal(t) or pa.types.is_integer(t)):
                if t is not None and (
                    pa.types.is_string(t) or pa.types.is_boolean(t) or pa.types.is_temporal(t)
                ):
                    continue  # compared in a CASE, not added up
                return False
    return True
