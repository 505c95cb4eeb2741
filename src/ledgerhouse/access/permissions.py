"""Authorization, decided in one place: which principal may do which action on which resource.

Every service asks ``authorize(principal, action, resource)`` before it acts. A resource
belongs to a tenant; a principal acts only on its own tenant's resources (tenant isolation
does not rest on each caller passing the right tenant). Roles grant actions; grants of actions
on single tables, cubes and columns, and row and column policies, will be decided here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ledgerhouse.access.principal import Principal
from ledgerhouse.errors import Forbidden

Action = Literal[
    "read", "ingest", "manage_keys", "read_governance", "edit_metadata", "manage_quality",
    "read_audit",
]  # fmt: skip
Kind = Literal[
    "tenant", "table", "cube", "analytics", "batches", "keys", "models", "query_log",
    "lineage", "quality", "metadata", "catalog", "audit", "governance_report",
]  # fmt: skip

#: The roles that may do each action.
ACTIONS: dict[Action, frozenset[str]] = {
    "read": frozenset({"reader", "writer", "admin", "steward"}),
    "ingest": frozenset({"writer", "admin"}),
    "manage_keys": frozenset({"admin"}),
    # lineage, quality results, the catalog's metadata: what every data role may look at
    "read_governance": frozenset({"reader", "writer", "admin", "steward", "auditor"}),
    # owners, descriptions, tags, classifications, glossary terms
    "edit_metadata": frozenset({"steward", "admin"}),
    # a tenant's own quality checks, and running them on demand
    "manage_quality": frozenset({"steward", "admin"}),
    # the audit trail and the governance report (who read what)
    "read_audit": frozenset({"auditor", "admin"}),
}


@dataclass(frozen=True)
class Resource:
    """Something an action is done on: a tenant's table, cube, analytics, batches, keys..."""

    tenant: str
    kind: Kind = "tenant"
    name: str | None = None

    def __str__(self) -> str:
        return self.kind if self.name is None else f"{self.kind} {self.name!r}"


def may(principal: Principal, action: Action, resource: Resource | None = None) -> bool:
    """Whether ``principal`` may do ``action`` on ``resource`` (its tenant when None)."""
    if resource is not None and resource.tenant != principal.tenant:
        return False
    return bool(ACTIONS[action] & set(principal.roles))


def authorize(principal: Principal, action: Action, resource: Resource | None = None) -> None:
    """Raise Forbidden unless ``principal`` may do ``action`` on ``resource``."""
    if may(principal, action, resource):
        return
    target = resource or Resource(principal.tenant)
    if target.tenant != principal.tenant:
        raise Forbidden(
            f"user {principal.user!r} of tenant {principal.tenant!r} may not "
            f"{action.replace('_', ' ')} {target} of another tenant",
            hint="Use a key of the tenant that owns it.",
            action=action,
        )
    where = "" if target.kind == "tenant" else f" {target}"
    raise Forbidden(
        f"user {principal.user!r} (roles {', '.join(principal.roles)}) may not "
        f"{action.replace('_', ' ')}{where} in tenant {principal.tenant!r}",
        hint=f"Use a key with one of the roles: {', '.join(sorted(ACTIONS[action]))}.",
        action=action,
    )
