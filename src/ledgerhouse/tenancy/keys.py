"""API-key management for a tenant's admins: issue, list, revoke and rotate keys."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ledgerhouse.access import ROLES, Principal, Resource, authorize
from ledgerhouse.access.principal import normalize_attributes
from ledgerhouse.errors import InvalidRequest
from ledgerhouse.storage.keys import ApiKeyRecord, IssuedKey
from ledgerhouse.storage.metadata import MetadataStore


class KeyService:
    def __init__(self, meta: MetadataStore) -> None:
        self.meta = meta
        #: refuses roles the tenant does not have (built-in or its own; the access service)
        self.check_roles: Callable[[str, tuple[str, ...]], None] = _builtin_roles_only

    def _authorize(self, principal: Principal) -> None:
        authorize(principal, "manage_keys", Resource(principal.tenant, "keys"))

    def create(
        self,
        principal: Principal,
        user: str,
        roles: tuple[str, ...],
        attributes: dict[str, Any] | None = None,
    ) -> str:
        """A new API key for ``user`` of the caller's tenant (admins only); shown once. Its
        ``attributes`` ({name: value or [values]}) parameterize the row policies that apply
        to it (docs/tenancy/policies.md)."""
        self._authorize(principal)
        self.check_roles(principal.tenant, tuple(roles))
        attrs = {k: list(v) for k, v in normalize_attributes(attributes)}
        if not user.strip() or len(user) > 128:
            raise InvalidRequest("user must be 1-128 characters", hint="Name the key's owner.")
        if principal.tenant not in self.meta.tenants_store.tenants():
            raise InvalidRequest(
                f"tenant {principal.tenant!r} does not exist",
                hint=f"Create it with `ledgerhouse init --tenant {principal.tenant}`.",
            )
        issued = self.meta.keys.issue(principal.tenant, user.strip(), tuple(roles), attrs)
        self._audit(principal, "key_create", issued.key)
        return issued.secret

    def list(self, principal: Principal, *, active: bool = False) -> list[ApiKeyRecord]:
        """The keys of the caller's tenant: id, user, roles, created, last used (to about a
        minute) and revoked times; never a secret or its hash."""
        self._authorize(principal)
        return self.meta.keys.records(principal.tenant, active=active)

    def revoke(self, principal: Principal, key_id: int, *, force: bool = False) -> ApiKeyRecord:
        """Revoke a key; it fails from the next request on, in every process. The tenant's
        last admin key is refused (409) unless ``force``."""
        self._authorize(principal)
        record = self.meta.keys.revoke(principal.tenant, key_id, force=force)
        self._audit(principal, "key_revoke", record, force=force)
        return record

    def rotate(self, principal: Principal, key_id: int) -> IssuedKey:
        """A new secret for the same user and roles (shown once); the old key is revoked at
        once, in the same transaction."""
        self._authorize(principal)
        issued = self.meta.keys.rotate(principal.tenant, key_id)
        self._audit(principal, "key_rotate", issued.key, replaces=key_id)
        return issued

    def _audit(self, principal: Principal, action: str, key: ApiKeyRecord, **detail: Any) -> None:
        """The key change in the audit trail (never a secret or its hash)."""
        self.meta.audit.append(
            principal.tenant, principal.user, principal.roles, action,
            detail={"key_id": key.id, "key_user": key.user, "key_roles": list(key.roles),
                    "key_attributes": dict(key.attributes), **detail},
        )  # fmt: skip


def _builtin_roles_only(_tenant: str, roles: tuple[str, ...]) -> None:
    unknown = sorted(set(roles) - set(ROLES))
    if unknown or not roles:
        raise InvalidRequest(
            f"unknown roles {unknown}" if unknown else "no role given",
            hint=f"Use one or more of: {', '.join(ROLES)}.",
        )
