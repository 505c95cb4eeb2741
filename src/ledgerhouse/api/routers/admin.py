"""API keys of the caller's tenant (admins only): create, list, revoke, rotate."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ledgerhouse.api.deps import Me
from ledgerhouse.api.schemas import (
    ERRORS,
    KeyRecord,
    KeyRequest,
    KeyResponse,
    RotatedKeyResponse,
)

router = APIRouter(prefix="/v1/keys", tags=["admin"], responses=ERRORS)


@router.post("", status_code=201)
def create_key(body: KeyRequest, me: Me) -> KeyResponse:
    """Create an API key for a user of the caller's tenant (admins only)."""
    key = me.create_api_key(body.user, tuple(body.roles), attributes=body.attributes)
    return KeyResponse(
        user=body.user, roles=body.roles, attributes=body.attributes or {}, api_key=key
    )


@router.get("")
def list_keys(
    me: Me,
    active: Annotated[bool, Query(description="Only the keys not revoked")] = False,
) -> list[KeyRecord]:
    """The API keys of the caller's tenant (admins only), without their secrets."""
    return [KeyRecord.of(k) for k in me.list_api_keys(active=active)]


@router.post("/{key_id}/revoke")
def revoke_key(
    key_id: int,
    me: Me,
    force: Annotated[bool, Query(description="Revoke even the last admin key")] = False,
) -> KeyRecord:
    """Revoke a key of the caller's tenant (admins only): it fails from the next request on.
    The tenant's last admin key answers 409 unless `force=true`."""
    return KeyRecord.of(me.revoke_api_key(key_id, force=force))


@router.post("/{key_id}/rotate", status_code=201)
def rotate_key(key_id: int, me: Me) -> RotatedKeyResponse:
    """A new secret for the same user and roles (shown once); the old key is revoked at
    once (admins only)."""
    issued = me.rotate_api_key(key_id)
    return RotatedKeyResponse.issued(issued, replaces=key_id)
