"""A tenant's own schema: its extensions, cubes and marts (GET/POST/DELETE /v1/schema,
POST/DELETE /v1/cubes, `ledgerhouse schema ... --json`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class SchemaObjectRecord(BaseModel):
    """One extension, cube or mart of the tenant."""

    kind: str = Field(description="extension, cube or mart")
    name: str
    status: str = Field(description="active, or dropped (an extension's or mart's data is kept)")
    relation: str | None = Field(
        default=None, description="The table it adds (ext_<dimension>_<name>, tmart_<name>)"
    )
    description: str = ""
    created_by: str
    created_at: datetime
    reads: list[str] = Field(default_factory=list, description="The relations it reads")
    dimension: str | None = Field(default=None, description="An extension's dimension")
    attributes: list[dict[str, Any]] | None = Field(
        default=None, description="An extension's attributes: name, type, required, description"
    )
    sql: str | None = Field(default=None, description="A mart's SQL")
    yaml: str | None = Field(default=None, description="A cube's YAML, as declared")


class SchemaUpload(BaseModel):
    """The YAML text of one extension, mart or cube (docs/tenancy/schemas.md)."""

    model_config = ConfigDict(extra="forbid")

    yaml: str = Field(min_length=1, max_length=200_000)
