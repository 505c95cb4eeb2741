"""Grants: an action on a resource, allowed or denied to a role or a user of one tenant.

The order of decision (``TenantRules.decide``), the same for every action:

1. a ``deny`` that matches the principal (one of its roles, or its user) and covers the
   resource wins, whatever else is granted;
2. else an ``allow`` that matches and covers it grants it;
3. else the built-in roles' defaults decide (access/permissions.py ``ACTION_DEFS``).

A grant on the tenant covers everything in it; on a table, the table and its columns; on a
column, that column; on a cube or an analytics call, that one (an analytics grant without a
name covers every call). Reading a table that is granted only column by column returns just
those columns (``hidden_columns``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ledgerhouse.access.permissions import ACTION_DEFS, Resource, by_default
from ledgerhouse.access.policies import ColumnPolicy, RowPolicy
from ledgerhouse.access.principal import ROLES, Principal

Effect = Literal["allow", "deny"]
#: The resource classes a grant may name (the tenant's own things, never another tenant's).
GRANT_KINDS = ("tenant", "table", "column", "cube", "analytics")


@dataclass(frozen=True)
class Grant:
    grantee_kind: Literal["role", "user"]
    grantee: str
    action: str
    resource_kind: str = "tenant"
    resource_name: str | None = None
    effect: Effect = "allow"
    id: int = 0
    created_at: Any = None
    created_by: str = ""

    def matches(self, principal: Principal) -> bool:
        if self.grantee_kind == "user":
            return principal.user == self.grantee
        return self.grantee in principal.roles

    def covers(self, resource: Resource) -> bool:
        if self.resource_kind == "tenant":
            return True
        if resource.kind == self.resource_kind:
            return self.resource_name is None or self.resource_name == resource.name
        if self.resource_kind == "table" and resource.kind == "column":
            return (resource.name or "").split(".", 1)[0] == self.resource_name
        return False

    @property
    def resource(self) -> str:
        return (
            self.resource_kind
            if self.resource_name is None
            else (f"{self.resource_kind}:{self.resource_name}")
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "effect": self.effect, "action": self.action,
            "resource": self.resource, "grantee": f"{self.grantee_kind}:{self.grantee}",
            "created_at": self.created_at, "created_by": self.created_by,
        }  # fmt: skip


@dataclass(frozen=True)
class TenantRules:
    """A tenant's roles, grants and policies at one access generation (immutable: a change
    makes a new one)."""

    tenant: str
    generation: int = 0
    roles: Mapping[str, str] = field(default_factory=dict)  # the tenant's own: name -> text
    grants: tuple[Grant, ...] = ()
    row_policies: tuple[RowPolicy, ...] = ()
    column_policies: tuple[ColumnPolicy, ...] = ()

    @property
    def role_names(self) -> frozenset[str]:
        return frozenset(ROLES) | frozenset(self.roles)

    def _relevant(self, principal: Principal, action: str) -> list[Grant]:
        return [g for g in self.grants if g.action == action and g.matches(principal)]

    def decide(self, principal: Principal, action: str, resource: Any) -> bool | None:
        grants = self._relevant(principal, action)
        if not grants:
            return None
        if any(g.effect == "deny" and g.covers(resource) for g in grants):
            return False
        allows = [g for g in grants if g.effect == "allow"]
        if any(g.covers(resource) for g in allows):
            return True
        if resource.kind == "tenant" and allows:
            return True  # "may it do this at all": something in the tenant is granted
        if resource.name is None and any(g.resource_kind == resource.kind for g in allows):
            return True  # "any analytics call at all": one of them is granted
        if resource.kind == "table" and any(
            g.resource_kind == "column" and (g.resource_name or "").split(".", 1)[0] ==
            resource.name for g in allows
        ):  # fmt: skip
            return True  # some of its columns are granted (hidden_columns keeps only those)
        return None

    def hidden_columns(
        self, principal: Principal, relation: str, columns: Iterable[str]
    ) -> frozenset[str]:
        """The columns of ``relation`` the principal may not read: denied ones, and, when the
        table is granted only column by column, every column not granted."""
        grants = self._relevant(principal, "read")
        if not grants:
            return frozenset()
        table = Resource(self.tenant, "table", relation)
        broad = by_default(principal, "read") or any(
            g.effect == "allow" and g.covers(table) for g in grants
        )
        hidden = set()
        for column in columns:
            res = Resource(self.tenant, "column", f"{relation}.{column}")
            denied = any(g.effect == "deny" and g.covers(res) for g in grants)
            granted = broad or any(g.effect == "allow" and g.covers(res) for g in grants)
            if denied or not granted:
                hidden.add(column)
        return frozenset(hidden)

    def denied_columns(
        self, principal: Principal, relation: str, columns: Iterable[str]
    ) -> frozenset[str]:
        """The columns of ``relation`` a deny covers for the principal (a deny of the column,
        or of the whole table): what a column derived from them inherits."""
        denies = [g for g in self._relevant(principal, "read") if g.effect == "deny"]
        if not denies:
            return frozenset()
        return frozenset(
            c
            for c in columns
            if any(g.covers(Resource(self.tenant, "column", f"{relation}.{c}")) for g in denies)
        )

    def allowed_column(self, principal: Principal, relation: str, column: str) -> bool:
        """Whether a grant names this very column (it then wins over an inherited deny)."""
        res = Resource(self.tenant, "column", f"{relation}.{column}")
        return any(
            g.effect == "allow" and g.resource_kind == "column" and g.covers(res)
            for g in self._relevant(principal, "read")
        )

    def row_policies_for(self, principal: Principal) -> list[RowPolicy]:
        return [p for p in self.row_policies if p.applies(principal)]

    def column_policies_for(self, principal: Principal) -> list[ColumnPolicy]:
        return [p for p in self.column_policies if p.applies(principal)]


def check_grant(grant: Grant, tenant_roles: Iterable[str]) -> None:
    """Refuse a grant that cannot mean anything: an unknown action or role, a resource class
    the action is not decided on."""
    from ledgerhouse.errors import InvalidRequest

    action = ACTION_DEFS.get(grant.action)  # type: ignore[call-overload]
    if action is None:
        raise InvalidRequest(
            f"unknown action {grant.action!r}",
            hint=f"Actions: {', '.join(sorted(ACTION_DEFS))} (`ledgerhouse grants actions`).",
        )
    if "platform" in grant.action or grant.action in ("manage_tenants", "manage_resources"):
        raise InvalidRequest(
            f"action {grant.action!r} belongs to the platform, not to a tenant",
            hint="A platform admin holds it (docs/tenancy/lifecycle.md).",
        )
    if grant.resource_kind not in GRANT_KINDS or grant.resource_kind not in action.kinds:
        kinds = [k for k in action.kinds if k in GRANT_KINDS]
        raise InvalidRequest(
            f"action {grant.action!r} is not granted on a {grant.resource_kind}",
            hint=f"Grant {grant.action!r} on: {', '.join(kinds)} "
            "(e.g. --on table:fact_trade, --on column:fact_trade.price, --on tenant).",
        )
    if grant.grantee_kind == "role" and grant.grantee not in set(tenant_roles):
        raise InvalidRequest(
            f"no role {grant.grantee!r} in this tenant",
            hint=f"Roles: {', '.join(sorted(set(tenant_roles)))}; create one with "
            "`ledgerhouse roles create NAME`.",
        )
    if grant.resource_kind == "column" and "." not in (grant.resource_name or ""):
        raise InvalidRequest(
            f"column {grant.resource_name!r} is not table.column",
            hint="Name a column as table.column, e.g. column:fact_trade.price.",
        )
    if (
        grant.resource_kind != "tenant"
        and grant.resource_kind != "analytics"
        and not (grant.resource_name)
    ):
        raise InvalidRequest(
            f"a grant on a {grant.resource_kind} names it",
            hint=f"e.g. --on {grant.resource_kind}:NAME.",
        )
