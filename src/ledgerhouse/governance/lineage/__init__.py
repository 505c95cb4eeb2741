"""Lineage: the table and column graph of every transformation (derived from SQL with SQLGlot,
declared for ingestion's Polars steps, from the cubes' member expressions), stored per commit,
and cell lineage, from a logged answer's row back to the batches it came from
(docs/governance/lineage.md)."""

from ledgerhouse.governance.lineage.derive import CubeSpec, cube_transform, sql_transform
from ledgerhouse.governance.lineage.graph import (
    ColumnRef,
    LineageGraph,
    RelationInfo,
    Transform,
    TransformKind,
)

__all__ = [
    "ColumnRef",
    "CubeSpec",
    "LineageGraph",
    "RelationInfo",
    "Transform",
    "TransformKind",
    "cube_transform",
    "sql_transform",
]
