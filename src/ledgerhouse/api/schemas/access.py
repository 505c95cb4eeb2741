"""Request and response bodies of the access-control routes (docs/tenancy/access.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class RoleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="Lower-case letters, digits, '_' or '-'; not a built-in role.")
    description: str = Field(default="", max_length=2000)


class RoleRecord(BaseModel):
    name: str
    builtin: bool
    description: str


class GrantRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: str = Field(description="read, export, analyze, ingest, ... (`ledgerhouse grants "
                        "actions`).")  # fmt: skip
    to: str = Field(description="role:NAME or user:NAME")
    on: str = Field(
        default="tenant",
        description="tenant, table:NAME, column:TABLE.COLUMN, cube:NAME, analytics[:CALL]",
    )
    deny: bool = Field(default=False, description="A deny wins over every allow.")


class GrantRecord(BaseModel):
    id: int
    effect: Literal["allow", "deny"]
    action: str
    resource: str
    grantee: str
    created_at: datetime | None = None
    created_by: str = ""


class PolicyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["row", "column"]
    roles: list[str] = Field(default_factory=list, description="The roles it applies to.")
    users: list[str] = Field(default_factory=list, description="The users it applies to.")
    description: str | None = None
    dimension: str | None = Field(
        default=None, description="Row policy: dim_portfolio, dim_instrument, dim_counterparty"
    )
    predicate: str | None = Field(
        default=None,
        description="Row policy: a condition on the dimension's columns; :name is the "
        "caller's attribute, e.g. desk IN (:desks).",
    )
    classification: str | None = Field(
        default=None, description="Column policy: the label of the columns it covers."
    )
    action: Literal["mask", "deny"] | None = Field(default=None, description="Column policy.")
    mask: Literal["redact", "null", "hash"] | None = Field(
        default=None, description="Column policy: how a masked value reads."
    )


class PolicyRecord(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    kind: Literal["row", "column"]
    roles: list[str]
    users: list[str]
    version: int
    description: str = ""


class MyAccess(BaseModel):
    tenant: str
    user: str
    roles: list[str]
    attributes: dict[str, list[str]]
    via: str
    grants: list[GrantRecord]
    policies: list[dict[str, Any]]
