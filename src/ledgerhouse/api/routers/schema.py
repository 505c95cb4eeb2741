"""The tenant's own schema: extensions of the shared dimensions, cubes and marts (admins:
``manage_schema``; everyone who may read lists them). docs/tenancy/schemas.md."""

from __future__ import annotations

from fastapi import APIRouter

from ledgerhouse.api.deps import Me
from ledgerhouse.api.schemas import ERRORS
from ledgerhouse.api.schemas.tenant_schema import SchemaObjectRecord, SchemaUpload

router = APIRouter(tags=["schema"], responses=ERRORS)


@router.get("/v1/schema")
def schema_objects(me: Me) -> list[SchemaObjectRecord]:
    """Every extension, cube and mart of the tenant (active and dropped)."""
    return [SchemaObjectRecord.model_validate(o) for o in me.schema()]


@router.post("/v1/schema", status_code=201)
def add_schema_object(body: SchemaUpload, me: Me) -> SchemaObjectRecord:
    """Add an extension (`extension:`), a mart (`mart:`) or a cube (the format of
    docs/cubes.md). A bad declaration answers 400 naming the field; a taken name 409."""
    return SchemaObjectRecord.model_validate(me.add_schema(body.yaml))


@router.delete("/v1/schema/{kind}/{name}")
def drop_schema_object(kind: str, name: str, me: Me) -> SchemaObjectRecord:
    """Drop an extension, cube or mart (409 while a cube or mart of the tenant reads it)."""
    return SchemaObjectRecord.model_validate(me.drop_schema(kind, name))


@router.post("/v1/cubes", status_code=201)
def add_cube(body: SchemaUpload, me: Me) -> SchemaObjectRecord:
    """Add (or replace) one of the tenant's own cubes (the YAML of docs/cubes.md)."""
    return SchemaObjectRecord.model_validate(me.add_cube(body.yaml))


@router.delete("/v1/cubes/{name}")
def drop_cube(name: str, me: Me) -> SchemaObjectRecord:
    """Drop one of the tenant's own cubes (a shared cube answers 404)."""
    return SchemaObjectRecord.model_validate(me.drop_schema("cube", name))
