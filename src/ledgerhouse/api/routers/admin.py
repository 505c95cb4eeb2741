"""API keys of the caller's tenant (admins only): create, list, revoke, rotate."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ledgerhouse.api.deps import Caller, Wh
from ledgerhouse.api.schemas import (
    ERRORS,
    KeyRecord,
    KeyRequest,
    KeyResponse,
    RotatedKeyResponse,
)

router = APIRouter(prefix="/v1/keys", tags=["admin"], responses=ERRORS)


@router.post("", status_code=201)
def create_key(body: KeyRequest, caller: Caller, warehouse: Wh) -> KeyResponse:
    """Create an API key for a user of the caller's tenant (admins only)."""
    key = warehouse.create_api_key(body.user, tuple(body.roles), principal=caller)
    return KeyResponse(user=body.user, roles=body.roles, api_key=key)


@router.get("")
def list_keys(
    caller: Caller,
    warehouse: Wh,
    active: Annotated[bool, Query(description="Only the keys not revoked")] = False,
) -> list[KeyRecord]:
    """The API keys of the caller's tenant (admins only), without their secrets."""
    return [KeyRecord.of(k) for k in warehouse.list_api_keys(active=active, principal=caller)]


@router.post("/{key_id}/revoke")
def revoke_key(
    key_id: int,
    caller: Caller,
    warehouse: Wh,
    force: Annotated[bool, Query(description="Revoke even the last admin key")] = False,
) -> KeyRecord:
    """Revoke a key of the caller's tenant (admins only): it fails from the next request on.
    The tenant's last admin key answers 409 unless `force=true`."""
    return KeyRecord.of(warehouse.revoke_api_key(key_id, force=force, principal=caller))


@router.post("/{key_id}/rotate", status_code=201)
def rotate_key(key_id: int, caller: Caller, warehouse: Wh) -> RotatedKeyResponse:
    """A new secret for the same user and roles (shown once); the old key is revoked at
    once (admins only)."""
    issued = warehouse.rotate_api_key(key_id, principal=caller)
    return RotatedKeyResponse.issued(issued, replaces=key_id)
