"""Whether a measure is exact (money, quantities: decimals) or a float (returns, weights).

Decision 0014: an exact measure is aggregated as DECIMAL, exactly, on the raw route and on a
rollup alike. A float measure's values are summed as DECIMAL(38, 18) (each value rounded once
to 18 places, then added exactly): a parallel sum of doubles depends on the order the threads
finish in, a sum of decimals does not, so the same query gives the same bits every time and a
rollup's sums of sums equal the raw sum.

A measure is exact when every column its SQL reads is a decimal or an integer, it uses only
operations that keep decimals exact (+, -, *, abs, greatest, least, coalesce, CASE, negation)
and its value has at most EXACT_SCALE places; anything else (a float column or literal, a
division, another function, an unknown column) is a float.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa
import sqlglot
from sqlglot import exp

from ledgerhouse.errors import ConfigError
from ledgerhouse.model.schema import TableDef
from ledgerhouse.semantic.models import Cube, Measure

#: SQL types of the primitives (compiler.py): what a rollup stores and both routes return.
#: An exact measure's values have at most EXACT_SCALE places (a product adds its factors'
#: places: quantity * price has 12); one with more is a float measure, summed at 18 places.
EXACT_SCALE = 12
EXACT = f"DECIMAL(38, {EXACT_SCALE})"
#: Sums of squares of an exact measure (for its standard deviation): each square in doubles,
#: then added exactly at 6 places — the same bits every run, and no 38-digit overflow for
#: amounts up to 10^16 (a statistic is a float anyway).
SQUARES = "DECIMAL(38, 6)"
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
    """``cube`` with every plain measure's ``numeric`` set. A declared ``numeric`` is kept,
    except ``exact`` on an expression this module can see is not exact: refused."""
    aliases = {"fact": cube.fact, **{a: j.table for a, j in cube.joins.items()}}
    changed = {}
    for name, m in cube.measures.items():
        if m.sql is None:
            continue
        found = _kind(m, aliases, tables)
        if m.numeric == "exact" and found == "float":
            raise ConfigError(
                f"measure {name!r} of cube {cube.name!r} is declared `numeric: exact` but its "
                "SQL is not exact (a float column, a float literal, a division or another "
                f"function, or a scale above {EXACT_SCALE})",
                hint="Drop `numeric: exact` (it is then summed order-independently as a float).",
                cube=cube.name,
                measure=name,
            )
        if m.numeric is None:
            changed[name] = m.model_copy(update={"numeric": "float" if found != "exact" else found})
    if not changed:
        return cube
    return cube.model_copy(update={"measures": {**cube.measures, **changed}})


def _kind(m: Measure, aliases: Mapping[str, str], tables: Mapping[str, TableDef]) -> str:
    """``exact``, ``float``, or ``unknown`` (exact but for columns of tables not known)."""
    kinds = [_expression_kind(t, aliases, tables) for t in (m.sql, m.weight) if t]
    if "float" in kinds:
        return "float"
    return "unknown" if "unknown" in kinds else "exact"


def _expression_kind(sql: str, aliases: Mapping[str, str], tables: Mapping[str, TableDef]) -> str:
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError:
        return "float"
    state = {"unknown": False}
    scale = _scale(tree, aliases, tables, state)
    if scale is None or scale > EXACT_SCALE:
        return "float"
    return "unknown" if state["unknown"] else "exact"


def _scale(
    node: exp.Expr,
    aliases: Mapping[str, str],
    tables: Mapping[str, TableDef],
    state: dict[str, bool],
) -> int | None:
    """The decimal places of an exact expression's value (a product adds its factors'), or
    None when it is not exact."""
    if not isinstance(node, _EXACT_NODES):
        return None
    if isinstance(node, exp.Literal):
        if node.is_string:
            return 0
        text = node.this
        if "e" in text.lower():
            return None  # 1e3 is a DOUBLE in DuckDB
        return len(text.split(".", 1)[1]) if "." in text else 0
    if isinstance(node, exp.Column):
        table = tables.get(aliases.get(node.table, ""))
        t = dict(table.columns).get(node.name) if table is not None else None
        if t is None:
            state["unknown"] = True
            return 0
        if pa.types.is_decimal(t):
            return int(t.scale)
        if pa.types.is_integer(t):
            return 0
        if pa.types.is_string(t) or pa.types.is_boolean(t) or pa.types.is_temporal(t):
            return 0  # compared in a CASE, not added up
        return None
    scales = []
    for child in node.iter_expressions():
        s = _scale(child, aliases, tables, state)
        if s is None:
            return None
        scales.append(s)
    if isinstance(node, exp.Mul):
        return sum(scales)
    return max(scales, default=0)
