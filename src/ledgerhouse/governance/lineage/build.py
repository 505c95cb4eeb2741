"""Building a warehouse's graph from what the composition root hands in: the marts' and
rollups' SQL (``MartDef``), ingestion's declared transforms, the cubes' member expressions and
every table's definition."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from ledgerhouse.governance.lineage.derive import CubeSpec, cube_transform, sql_transform
from ledgerhouse.governance.lineage.graph import ColumnRef, LineageGraph, RelationInfo, Transform
from ledgerhouse.model.marts import MartDef
from ledgerhouse.model.schema import TableDef


class Declared(Protocol):
    """A declared (Polars) transform, as ``ingest/lineage.py`` writes it."""

    @property
    def job(self) -> str: ...
    @property
    def output(self) -> str: ...
    @property
    def inputs(self) -> tuple[str, ...]: ...
    @property
    def columns(self) -> Mapping[str, Sequence[str]]: ...
    @property
    def notes(self) -> Mapping[str, str]: ...


def mart_sql(mart: MartDef) -> str:
    """A mart's refresh SQL as one query (every month: the month filter is a placeholder)."""
    return mart.sql.format(months="'*'")


def declared_transform(d: Declared) -> Transform:
    return Transform(
        d.job,
        "declared",
        d.output,
        tuple(d.inputs),
        {c: [ColumnRef.parse(s) for s in srcs] for c, srcs in d.columns.items()},
        dict(d.notes),
    )


def build_graph(
    tables: Sequence[TableDef],
    marts: Sequence[MartDef],
    declared: Iterable[Declared],
    cubes: Iterable[CubeSpec | Mapping[str, Any]] = (),
) -> LineageGraph:
    """The graph of one tenant's transforms: ``marts`` (the product's marts and the cubes'
    rollups) through SQLGlot with the schema, ``declared`` as declared, ``cubes`` from their
    member expressions."""
    schema = {t.relation: t.column_names for t in tables}
    transforms = [declared_transform(d) for d in declared]
    for mart in marts:
        rel = mart.table.relation
        transforms.append(sql_transform(f"refresh:{rel}", rel, mart_sql(mart), schema))
    relations = {t.relation: RelationInfo(t.layer, tuple(t.column_names)) for t in tables}
    for cube in cubes:
        spec = cube if isinstance(cube, CubeSpec) else CubeSpec(**cube)
        transform = cube_transform(spec, schema)
        transforms.append(transform)
        relations[transform.output] = RelationInfo("cube", tuple(spec.members))
    return LineageGraph(transforms, relations)
