"""Governance metadata and the glossary: read by every role, edited by stewards and admins,
every change versioned (docs/governance/metadata.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ledgerhouse.api.deps import Me
from ledgerhouse.api.schemas import ERRORS
from ledgerhouse.api.schemas.metadata import (
    AnnotateRequest,
    ChangeRecord,
    LinkRequest,
    ObjectRecord,
    TermRequest,
)

router = APIRouter(prefix="/v1", tags=["metadata"], responses=ERRORS)

Limit = Annotated[int, Query(ge=1, le=1000)]


@router.get("/metadata/history")
def all_history(me: Me, limit: Limit = 100) -> list[ChangeRecord]:
    """Every metadata change of the tenant, newest first."""
    return [ChangeRecord.model_validate(c) for c in me.metadata_history(limit=limit)]


@router.get("/metadata/{name}", response_model_exclude_unset=True)
def describe_object(name: str, me: Me) -> ObjectRecord:
    """An object's metadata: `fact_trade`, `fact_trade.price`, `cube:trades`,
    `cube:trades.notional`, `dimension:trades.desk` or `term:Exposure`."""
    return ObjectRecord.model_validate(me.describe_object(name))


@router.patch("/metadata/{name}", response_model_exclude_unset=True)
def annotate(name: str, body: AnnotateRequest, me: Me) -> ObjectRecord:
    """Set an object's owner, description, tags, classifications or glossary terms (stewards
    and admins); the change is versioned and, for a table's or a column's description or
    classifications, written into the Delta table's log too."""
    done = me.annotate(
        name, owner=body.owner, description=body.description, tags=body.tags,
        classifications=body.classifications, terms=body.terms, reset=body.reset,
        reason=body.reason,
    )  # fmt: skip
    return ObjectRecord.model_validate(done)


@router.get("/metadata/{name}/history")
def history(name: str, me: Me, limit: Limit = 100) -> list[ChangeRecord]:
    """The object's changes, newest first: who, when, before and after, why."""
    return [ChangeRecord.model_validate(c) for c in me.metadata_history(name, limit=limit)]


@router.get("/glossary", response_model_exclude_unset=True)
def glossary(me: Me) -> list[ObjectRecord]:
    """The tenant's glossary terms with their definitions, synonyms and linked objects."""
    return [ObjectRecord.model_validate(t) for t in me.glossary()]


@router.put("/glossary/{term}", response_model_exclude_unset=True)
def define_term(term: str, body: TermRequest, me: Me) -> ObjectRecord:
    """Add a term (with a definition) or change one's definition, owner or synonyms."""
    done = me.define_term(
        term,
        definition=body.definition,
        owner=body.owner,
        synonyms=body.synonyms,
        reason=body.reason,
    )
    return ObjectRecord.model_validate(done)


@router.post("/glossary/{term}/links", response_model_exclude_unset=True)
def link_term(term: str, body: LinkRequest, me: Me) -> list[ObjectRecord]:
    """Link the term to columns, measures or other objects (`unlink` removes the links)."""
    done = me.link_term(term, body.objects, unlink=body.unlink, reason=body.reason)
    return [ObjectRecord.model_validate(o) for o in done]
