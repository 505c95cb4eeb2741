"""Authorization, decided in one place: which principal may do which action on which resource.

Every service asks ``authorize(principal, action, resource)`` before it acts. A resource
belongs to a tenant; a principal acts only on its own tenant's resources (tenant isolation
does not rest on each caller passing the right tenant). Each action is tied to the resource
classes it applies to (datasette's ``permissions.py`` is the model) and to the built-in roles
that hold it on the whole tenant by default. A tenant's grants (access/grants.py) refine that:
an ``allow`` of an action on a table, a cube, a column, an analytics call, to a role (a
built-in one or the tenant's own) or to one user; a ``deny`` wins over every allow. What rows
and columns a read returns (row and column policies) is decided in access/policies.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ledgerhouse.access.principal import PLATFORM_ROLE, PLATFORM_TENANT, Principal
from ledgerhouse.errors import Forbidden

Action = Literal[
    "read", "ingest", "export", "analyze", "manage_keys", "manage_access", "read_governance",
    "edit_metadata", "manage_quality", "read_audit", "manage_schema", "manage_resources",
    "read_usage", "manage_tenants",
]  # fmt: skip
Kind = Literal[
    "tenant", "table", "column", "cube", "analytics", "batches", "keys", "models", "query_log",
    "lineage", "quality", "metadata", "catalog", "audit", "governance_report", "access",
    "schema", "resources", "usage", "tenants",
]  # fmt: skip

_DATA = frozenset({"reader", "writer", "admin", "steward"})


@dataclass(frozen=True)
class ActionDef:
    """An action: the resource classes it is decided on, and the built-in roles that hold it
    on the whole tenant by default (a grant adds a role or a user; a deny takes it away)."""

    name: Action
    kinds: tuple[Kind, ...]
    roles: frozenset[str]
    description: str


ACTION_DEFS: dict[Action, ActionDef] = {
    a.name: a
    for a in (
        ActionDef("read", ("tenant", "table", "column", "cube", "batches", "models",
                           "query_log"), _DATA,
                  "query tables and cubes, list batches, models and the query log"),
        ActionDef("ingest", ("tenant", "table"), frozenset({"writer", "admin"}),
                  "load batches, train and score models"),
        ActionDef("export", ("tenant", "table"), _DATA,
                  "stream every row of a query to a file (no row cap)"),
        ActionDef("analyze", ("tenant", "analytics"), _DATA,
                  "run analytics calls (performance, pnl, exposures, ...)"),
        ActionDef("manage_keys", ("tenant", "keys"), frozenset({"admin"}),
                  "issue, list, revoke and rotate the tenant's API keys"),
        ActionDef("manage_access", ("tenant", "access"), frozenset({"admin"}),
                  "manage the tenant's roles, grants and row and column policies"),
        # lineage, quality results, the catalog's metadata: what every data role may look at
        ActionDef("read_governance", ("tenant", "lineage", "quality", "metadata", "catalog"),
                  _DATA | {"auditor"}, "read lineage, quality results and the catalog"),
        # owners, descriptions, tags, classifications, glossary terms
        ActionDef("edit_metadata", ("tenant", "metadata"), frozenset({"steward", "admin"}),
                  "edit owners, descriptions, tags, classifications and the glossary"),
        # a tenant's own quality checks, and running them on demand
        ActionDef("manage_quality", ("tenant", "quality"), frozenset({"steward", "admin"}),
                  "add, remove and run the tenant's quality checks"),
        # the audit trail and the governance report (who read what)
        ActionDef("read_audit", ("tenant", "audit", "governance_report"),
                  frozenset({"auditor", "admin"}), "read the audit trail and governance reports"),
        ActionDef("manage_schema", ("tenant", "schema"), frozenset({"admin"}),
                  "add the tenant's own attributes, cubes and marts"),
        ActionDef("manage_resources", ("tenant", "resources"), frozenset({PLATFORM_ROLE}),
                  "set a tenant's resource limits and quotas"),
        ActionDef("read_usage", ("tenant", "usage"), frozenset({"admin", "auditor",
                                                                PLATFORM_ROLE}),
                  "read the tenant's metered usage"),
        ActionDef("manage_tenants", ("tenants",), frozenset({PLATFORM_ROLE}),
                  "create, list, suspend, resume and delete tenants"),
    )
}  # fmt: skip

#: The built-in roles that hold each action on the whole tenant by default.
ACTIONS: dict[Action, frozenset[str]] = {name: a.roles for name, a in ACTION_DEFS.items()}
#: Actions a platform principal may do on any tenant (it never reads a tenant's data).
PLATFORM_ACTIONS = frozenset({"manage_tenants", "manage_resources", "read_usage"})


@dataclass(frozen=True)
class Resource:
    """Something an action is done on: a tenant's table, column (``name`` "table.column"),
    cube, analytics call, batches, keys..."""

    tenant: str
    kind: Kind = "tenant"
    name: str | None = None

    def __str__(self) -> str:
        return self.kind if self.name is None else f"{self.kind} {self.name!r}"


def by_default(principal: Principal, action: Action) -> bool:
    """Whether the principal's built-in roles hold ``action`` on the whole tenant."""
    return bool(ACTIONS[action] & set(principal.roles))


def may(principal: Principal, action: Action, resource: Resource | None = None) -> bool:
    """Whether ``principal`` may do ``action`` on ``resource`` (its tenant when None)."""
    if principal.is_platform_admin:
        return action in PLATFORM_ACTIONS
    if PLATFORM_ROLE in principal.roles or principal.tenant == PLATFORM_TENANT:
        return False  # a platform role outside the platform tenant, or the reverse: nothing
    if resource is not None and resource.tenant != principal.tenant:
        return False
    if action in ("manage_tenants", "manage_resources"):
        return False  # the platform's own actions: no tenant role or grant reaches them
    target = resource or Resource(principal.tenant)
    if principal.rules is not None:
        decided = principal.rules.decide(principal, action, target)
        if decided is not None:
            return decided
    return by_default(principal, action)


def authorize(principal: Principal, action: Action, resource: Resource | None = None) -> None:
    """Raise Forbidden unless ``principal`` may do ``action`` on ``resource``."""
    if may(principal, action, resource):
        return
    target = resource or Resource(principal.tenant)
    if principal.is_platform_admin or principal.tenant == PLATFORM_TENANT:
        raise Forbidden(
            f"a platform principal may not {action.replace('_', ' ')} {target}: it manages "
            "tenants and reads no tenant's data",
            hint="Use a key of the tenant (its admin issues one).",
            action=action,
        )
    if target.tenant != principal.tenant:
        raise Forbidden(
            f"user {principal.user!r} of tenant {principal.tenant!r} may not "
            f"{action.replace('_', ' ')} {target} of another tenant",
            hint="Use a key of the tenant that owns it.",
            action=action,
        )
    where = "" if target.kind == "tenant" else f" {target}"
    holders = sorted(ACTIONS[action])
    raise Forbidden(
        f"user {principal.user!r} (roles {', '.join(principal.roles)}) may not "
        f"{action.replace('_', ' ')}{where} in tenant {principal.tenant!r}",
        hint=f"Use a key with one of the roles: {', '.join(holders)}, or ask an admin for a "
        f"grant (`ledgerhouse grants add --action {action} ...`).",
        action=action,
    )
