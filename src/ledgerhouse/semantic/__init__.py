"""Semantic layer: cubes (measures, dimensions, hierarchies, segments) over the star schema,
compiled to SQL, with rollups (pre-aggregations) that answer queries exactly."""

from ledgerhouse.semantic.compiler import CubePlan
from ledgerhouse.semantic.cube_query import CubeQuery, Filter, Order, TimeDimension
from ledgerhouse.semantic.models import Cube, load_cube, load_cubes
from ledgerhouse.semantic.service import CubeResult, SemanticLayer, parse_query
from ledgerhouse.semantic.serving import CubeService

__all__ = [
    "Cube",
    "CubePlan",
    "CubeQuery",
    "CubeResult",
    "CubeService",
    "Filter",
    "Order",
    "SemanticLayer",
    "TimeDimension",
    "load_cube",
    "load_cubes",
    "parse_query",
]
