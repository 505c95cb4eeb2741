"""Catalog search across tables, columns, cubes, measures, dimensions and glossary terms
(docs/governance/catalog.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ledgerhouse.api.deps import Me
from ledgerhouse.api.schemas import ERRORS
from ledgerhouse.api.schemas.metadata import SearchResponse

router = APIRouter(prefix="/v1/catalog", tags=["catalog"], responses=ERRORS)

Facet = Annotated[list[str] | None, Query(description="Keep these values only (repeatable).")]


@router.get("/search")
def search(
    me: Me,
    q: Annotated[str, Query(max_length=400, description="Words to search for.")] = "",
    kind: Facet = None,
    layer: Facet = None,
    tag: Facet = None,
    owner: Facet = None,
    classification: Facet = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 10,
    samples: Annotated[bool, Query(description="Sample values, where you may read")] = True,
) -> SearchResponse:
    """Ranked search (BM25) with facet counts; each hit with its lineage, freshness, quality
    score, row count and, when the caller may read its table, sample values."""
    found = me.catalog_search(
        q, kind=kind, layer=layer, tag=tag, owner=owner, classification=classification,
        limit=limit, samples=samples,
    )  # fmt: skip
    return SearchResponse.model_validate(found)
