"""Access control of the caller's tenant: its own roles, grants, row and column policies
(admins; docs/tenancy/access.md), and any caller's view of its own access."""

from __future__ import annotations

from fastapi import APIRouter

from ledgerhouse.api.deps import Me
from ledgerhouse.api.schemas import ERRORS
from ledgerhouse.api.schemas.access import (
    GrantRecord,
    GrantRequest,
    MyAccess,
    PolicyRecord,
    PolicyRequest,
    RoleRecord,
    RoleRequest,
)

router = APIRouter(prefix="/v1", tags=["access"], responses=ERRORS)


@router.get("/access/me")
def my_access(me: Me) -> MyAccess:
    """The caller's own roles, attributes, and the grants and policies that apply to it."""
    return MyAccess.model_validate(me.access())


@router.get("/roles")
def list_roles(me: Me) -> list[RoleRecord]:
    """The tenant's roles: built-in and its own (admins)."""
    return [RoleRecord.model_validate(r) for r in me.roles()]


@router.post("/roles", status_code=201)
def create_role(body: RoleRequest, me: Me) -> RoleRecord:
    """A role of the tenant's own; it holds only what is granted to it (admins)."""
    return RoleRecord.model_validate(me.create_role(body.name, body.description))


@router.delete("/roles/{name}")
def drop_role(name: str, me: Me) -> dict[str, object]:
    """Drop one of the tenant's roles and its grants; 409 while an active key holds it."""
    return me.drop_role(name)


@router.get("/grants")
def list_grants(me: Me) -> list[GrantRecord]:
    """The tenant's grants (admins)."""
    return [GrantRecord.model_validate(g) for g in me.grants()]


@router.post("/grants", status_code=201)
def add_grant(body: GrantRequest, me: Me) -> GrantRecord:
    """Allow (or deny) an action on a resource to a role or a user (admins)."""
    return GrantRecord.model_validate(me.grant(body.action, body.to, body.on, deny=body.deny))


@router.delete("/grants/{grant_id}")
def remove_grant(grant_id: int, me: Me) -> GrantRecord:
    """Remove one grant (admins)."""
    return GrantRecord.model_validate(me.revoke_grant(grant_id))


@router.get("/policies")
def list_policies(me: Me) -> list[PolicyRecord]:
    """The tenant's row and column policies (admins)."""
    return [PolicyRecord.model_validate(p) for p in me.policies()]


@router.put("/policies/{name}")
def put_policy(name: str, body: PolicyRequest, me: Me) -> PolicyRecord:
    """Create or replace a row or column policy (admins; docs/tenancy/policies.md)."""
    spec = body.model_dump(exclude={"kind"}, exclude_none=True)
    return PolicyRecord.model_validate(me.put_policy(name, body.kind, **spec))


@router.delete("/policies/{name}")
def drop_policy(name: str, me: Me) -> dict[str, object]:
    """Drop one policy (admins)."""
    return me.drop_policy(name)
