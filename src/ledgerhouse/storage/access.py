"""A tenant's roles, grants and row and column policies in the metadata store (migration 0010).

Every change bumps the tenant's ``access_generation`` in the same transaction: a process
holding the tenant's rules re-reads them when the generation it holds is no longer current
(one primary-key read per request, like the API keys' ``key_generation``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from ledgerhouse.errors import Conflict, NotFound
from ledgerhouse.storage.rows import ApiKeyRow, TenantRow, _aware, _now
from ledgerhouse.storage.rows_access import AccessGrantRow, AccessPolicyRow, AccessRoleRow

_GENERATION = select(TenantRow.access_generation).where(TenantRow.id == bindparam("tenant"))


class AccessStore:
    def __init__(self, engine: Engine, sessions: sessionmaker[Session]) -> None:
        self._engine = engine
        self._sessions = sessions

    def generation(self, tenant: str) -> int:
        with self._engine.connect() as c:
            return int(c.execute(_GENERATION, {"tenant": tenant}).scalar() or 0)

    def load(self, tenant: str) -> dict[str, Any]:
        """Everything at one generation: {generation, roles, grants, policies}."""
        with self._sessions.begin() as s:
            generation = s.execute(_GENERATION, {"tenant": tenant}).scalar() or 0
            roles = {
                r.name: {"description": r.description, "created_at": _aware(r.created_at),
                         "created_by": r.created_by}
                for r in s.scalars(select(AccessRoleRow).where(AccessRoleRow.tenant_id == tenant))
            }  # fmt: skip
            grants = [
                _grant(g)
                for g in s.scalars(
                    select(AccessGrantRow)
                    .where(AccessGrantRow.tenant_id == tenant)
                    .order_by(AccessGrantRow.id)
                )
            ]
            policies = [
                {"name": p.name, "kind": p.kind, "spec": dict(p.spec), "version": p.version,
                 "updated_at": _aware(p.updated_at), "updated_by": p.updated_by}
                for p in s.scalars(
                    select(AccessPolicyRow)
                    .where(AccessPolicyRow.tenant_id == tenant)
                    .order_by(AccessPolicyRow.name)
                )
            ]  # fmt: skip
        return {"generation": int(generation), "roles": roles, "grants": grants,
                "policies": policies}  # fmt: skip

    # -- roles ----------------------------------------------------------------------------
    def create_role(self, tenant: str, name: str, description: str, user: str) -> None:
        with self._sessions.begin() as s:
            if s.get(AccessRoleRow, (tenant, name)) is not None:
                raise Conflict(f"role {name!r} exists", hint="Pick another name, or drop it first.")
            s.add(AccessRoleRow(tenant_id=tenant, name=name, description=description,
                                created_at=_now(), created_by=user))  # fmt: skip
            _bump(s, tenant)

    def drop_role(self, tenant: str, name: str) -> int:
        """Drop a role and its grants; refused while an active key holds it. Returns the
        number of grants removed."""
        with self._sessions.begin() as s:
            if s.get(AccessRoleRow, (tenant, name)) is None:
                raise NotFound(f"no role {name!r}", hint="List them with `ledgerhouse roles list`.")
            keys = s.scalars(
                select(ApiKeyRow.id).where(
                    ApiKeyRow.tenant_id == tenant,
                    ApiKeyRow.revoked_at.is_(None),
                    ApiKeyRow.roles.contains(name),
                )
            ).all()
            holders = [
                k
                for k in keys
                if name in (s.get(ApiKeyRow, k).roles or "").split(",")  # type: ignore[union-attr]
            ]
            if holders:
                raise Conflict(
                    f"role {name!r} is held by API keys {holders}",
                    hint="Revoke those keys first (`ledgerhouse keys revoke ID`).",
                    keys=holders,
                )
            of_role = (
                AccessGrantRow.tenant_id == tenant,
                AccessGrantRow.grantee_kind == "role",
                AccessGrantRow.grantee == name,
            )
            removed = len(s.scalars(select(AccessGrantRow.id).where(*of_role)).all())
            s.execute(delete(AccessGrantRow).where(*of_role))
            s.delete(s.get(AccessRoleRow, (tenant, name)))
            _bump(s, tenant)
            return int(removed or 0)

    # -- grants ---------------------------------------------------------------------------
    def add_grant(self, tenant: str, grant: dict[str, Any], user: str) -> dict[str, Any]:
        """Store a grant (an identical one is returned as it is)."""
        with self._sessions.begin() as s:
            same = s.scalars(
                select(AccessGrantRow).where(
                    AccessGrantRow.tenant_id == tenant,
                    *(getattr(AccessGrantRow, k) == grant[k] for k in _GRANT_FIELDS if
                      grant[k] is not None),
                    *(getattr(AccessGrantRow, k).is_(None) for k in _GRANT_FIELDS if
                      grant[k] is None),
                )
            ).first()  # fmt: skip
            if same is not None:
                return _grant(same)
            row = AccessGrantRow(tenant_id=tenant, created_at=_now(), created_by=user,
                                 **{k: grant[k] for k in _GRANT_FIELDS})  # fmt: skip
            s.add(row)
            s.flush()
            _bump(s, tenant)
            return _grant(row)

    def remove_grant(self, tenant: str, grant_id: int) -> dict[str, Any]:
        with self._sessions.begin() as s:
            # a larger id overflows the database's 64-bit INTEGER: no such grant either way
            row = s.get(AccessGrantRow, grant_id) if 0 < grant_id < 2**63 else None
            if row is None or row.tenant_id != tenant:
                raise NotFound(
                    f"no grant {grant_id}", hint="List them with `ledgerhouse grants list`."
                )
            out = _grant(row)
            s.delete(row)
            _bump(s, tenant)
            return out

    # -- policies -------------------------------------------------------------------------
    def put_policy(self, tenant: str, name: str, kind: str, spec: dict[str, Any], user: str) -> int:
        """Create or replace a policy; returns its version (1 when new)."""
        with self._sessions.begin() as s:
            row = s.get(AccessPolicyRow, (tenant, name))
            if row is None:
                row = AccessPolicyRow(tenant_id=tenant, name=name, kind=kind, spec=spec,
                                      version=1, updated_at=_now(), updated_by=user)  # fmt: skip
                s.add(row)
            else:
                if row.kind != kind:
                    raise Conflict(
                        f"policy {name!r} is a {row.kind} policy",
                        hint="Drop it first, or pick another name.",
                    )
                row.spec, row.version = spec, row.version + 1
                row.updated_at, row.updated_by = _now(), user
            _bump(s, tenant)
            return row.version

    def drop_policy(self, tenant: str, name: str) -> None:
        with self._sessions.begin() as s:
            row = s.get(AccessPolicyRow, (tenant, name))
            if row is None:
                raise NotFound(
                    f"no policy {name!r}", hint="List them with `ledgerhouse policies list`."
                )
            s.delete(row)
            _bump(s, tenant)


_GRANT_FIELDS = ("grantee_kind", "grantee", "action", "resource_kind", "resource_name", "effect")


def _grant(row: AccessGrantRow) -> dict[str, Any]:
    return {"id": row.id, **{k: getattr(row, k) for k in _GRANT_FIELDS},
            "created_at": _aware(row.created_at), "created_by": row.created_by}  # fmt: skip


def _bump(s: Session, tenant: str) -> None:
    s.execute(
        update(TenantRow)
        .where(TenantRow.id == tenant)
        .values(access_generation=TenantRow.access_generation + 1)
    )
