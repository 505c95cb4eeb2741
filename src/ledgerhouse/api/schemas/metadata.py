"""Schemas of governance metadata, the glossary and catalog search (``/v1/metadata``,
``/v1/glossary``, ``/v1/catalog``): the request bodies and the records, which
``ledgerhouse metadata|glossary|catalog ... --json`` prints too."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

_CLASSES = "public, internal, confidential, pii, restricted"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AnnotateRequest(_Body):
    """The fields to set (a field left out stays as it is)."""

    owner: str | None = Field(default=None, description='Who answers for it ("" for nobody).')
    description: str | None = Field(default=None, max_length=4000)
    tags: list[str] | None = Field(default=None, description="Replaces the tags.")
    classifications: list[str] | None = Field(
        default=None, description=f"Replaces the classifications: any of {_CLASSES}."
    )
    terms: list[str] | None = Field(default=None, description="Glossary terms it is linked to.")
    reset: list[str] = Field(
        default_factory=list, description="Fields to return to their built-in value."
    )
    reason: str | None = Field(default=None, max_length=2000, description="Kept in the history.")


class TermRequest(_Body):
    definition: str | None = Field(default=None, max_length=4000, description="Needed if new.")
    owner: str | None = None
    synonyms: list[str] | None = Field(default=None, description="Replaces the synonyms.")
    reason: str | None = Field(default=None, max_length=2000)


class LinkRequest(_Body):
    objects: list[str] = Field(
        min_length=1, max_length=200, description="fact_trade.price, cube:trades.notional, ..."
    )
    unlink: bool = Field(default=False, description="Remove the links instead.")
    reason: str | None = Field(default=None, max_length=2000)


class ChangeRecord(BaseModel):
    """One versioned edit of one object."""

    id: int
    object: str
    kind: str
    name: str
    version: int = Field(description="The object's version this edit made.")
    before: dict[str, Any] = Field(description="The fields it changed, as they were.")
    after: dict[str, Any] = Field(description="The same fields, as they are now.")
    user: str
    roles: list[str]
    reason: str | None
    changed_at: str = Field(description="ISO 8601, with the UTC offset.")
    commit_id: int | None = Field(
        description="The warehouse commit that wrote it into the Delta log (descriptions and "
        "classifications of tables and columns); null otherwise."
    )


class MemberRecord(BaseModel):
    object: str
    kind: str
    name: str
    title: str
    type: str
    description: str
    owner: str | None
    tags: list[str]
    classifications: list[str]
    terms: list[str]


class ObjectRecord(BaseModel):
    """An object's metadata: built-in values with the tenant's annotations over them."""

    model_config = ConfigDict(extra="allow")

    object: str = Field(description="Its name in calls: fact_trade.price, cube:trades, ...")
    kind: str = Field(description="table, column, cube, measure, dimension or term")
    name: str
    title: str
    layer: str
    type: str
    relation: str | None
    column: str | None
    parent: str | None
    source: str | None = Field(description="The table that holds its data.")
    description: str
    builtin_description: str | None = None
    owner: str | None
    tags: list[str]
    classifications: list[str]
    terms: list[str]
    version: int = Field(description="0 until the first edit.")
    updated_at: str | None
    updated_by: str | None
    overridden: list[str] = Field(description="The fields the tenant set.")
    definition: str | None = None
    synonyms: list[str] | None = None
    links: list[str] | None = Field(default=None, description="A term's linked objects.")
    members: list[MemberRecord] | None = Field(default=None, description="Columns, members.")
    change: ChangeRecord | None = Field(
        default=None, description="After an edit: the change it made (null: nothing changed)."
    )

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_unset=True)


class SearchHit(BaseModel):
    model_config = ConfigDict(extra="allow")

    object: str
    kind: str
    name: str
    title: str
    description: str
    layer: str
    owner: str | None
    tags: list[str]
    classifications: list[str]
    terms: list[str]
    relation: str | None
    column: str | None
    type: str
    score: float = Field(description="BM25 relevance (higher is better).")
    lineage: dict[str, list[str]] = Field(description="Direct upstream and downstream.")
    freshness: dict[str, Any] | None = Field(
        description="The last data commit that changed its table: commit_id and at."
    )
    quality_score: float | None = Field(description="0-100; null before any check ran.")
    rows: int | None = Field(description="Rows of its table at the latest commit.")
    samples: dict[str, Any] | None = Field(
        description="A few values (columns, rows), only for a caller who may read the table."
    )


class SearchResponse(BaseModel):
    query: str
    total: int = Field(description="Objects matched (with the filters).")
    hits: list[SearchHit]
    facets: dict[str, dict[str, int]] = Field(
        description="Per facet (kind, layer, tag, owner, classification): value -> matches."
    )
    filters: dict[str, list[str]]
