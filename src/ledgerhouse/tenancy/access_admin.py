"""A tenant's access control, managed by its admins: its own roles, grants of actions on
resources, and row and column policies (docs/tenancy/access.md, docs/tenancy/policies.md).

``rules(tenant)`` is what every decision reads: the tenant's rules at its current access
generation, re-read when another process (or this one) changed them. Every change is
audited.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ledgerhouse.access import ROLES, Principal, Resource, authorize
from ledgerhouse.access.grants import GRANT_KINDS, Grant, TenantRules, check_grant
from ledgerhouse.access.policies import (
    ColumnPolicy,
    RowPolicy,
    check_policy_name,
    policy_from_spec,
)
from ledgerhouse.access.principal import PLATFORM_ROLE, ROLE_NAME
from ledgerhouse.errors import InvalidRequest
from ledgerhouse.storage.metadata import MetadataStore

#: check_predicate(dimension relation, predicate) -> (normalized text, attribute names)
PredicateCheck = Callable[[str, str], tuple[str, tuple[str, ...]]]


class AccessService:
    def __init__(
        self,
        meta: MetadataStore,
        check_predicate: PredicateCheck,
        known: Callable[[str], dict[str, Any]] | None = None,
    ) -> None:
        self.meta = meta
        self.check_predicate = check_predicate
        #: known(tenant) -> {"tables": {relation: [columns]}, "cubes": [names]}: what a grant
        #: may name (a misspelt name would grant nothing, silently)
        self.known = known
        self._rules: dict[str, TenantRules] = {}
        self._lock = threading.Lock()

    # -- what decisions read --------------------------------------------------------------
    def rules(self, tenant: str) -> TenantRules:
        """The tenant's rules at its current generation (one primary-key read when cached)."""
        generation = self.meta.access.generation(tenant)
        held = self._rules.get(tenant)
        if held is not None and held.generation == generation:
            return held
        loaded = self.meta.access.load(tenant)
        rules = TenantRules(
            tenant,
            loaded["generation"],
            {name: r["description"] for name, r in loaded["roles"].items()},
            tuple(_grant(g) for g in loaded["grants"]),
            tuple(p for p in (_policy(r) for r in loaded["policies"]) if isinstance(p, RowPolicy)),
            tuple(
                p for p in (_policy(r) for r in loaded["policies"]) if isinstance(p, ColumnPolicy)
            ),
        )
        with self._lock:
            if len(self._rules) > 10_000:
                self._rules.clear()
            self._rules[tenant] = rules
        return rules

    def role_names(self, tenant: str) -> frozenset[str]:
        return self.rules(tenant).role_names

    def check_roles(self, tenant: str, roles: tuple[str, ...]) -> None:
        """Refuse roles the tenant does not have (a key or a token for a role that does not
        exist would hold nothing, silently)."""
        known = self.role_names(tenant)
        unknown = sorted(set(roles) - known)
        if PLATFORM_ROLE in roles:
            unknown = sorted({*unknown, PLATFORM_ROLE})
        if unknown or not roles:
            raise InvalidRequest(
                f"unknown roles {unknown}" if roles else "no role given",
                hint=f"Roles of tenant {tenant!r}: {', '.join(sorted(known))} "
                "(create one with `ledgerhouse roles create NAME`).",
                roles=unknown,
            )

    # -- what a caller may see of its own access -------------------------------------------
    def mine(self, principal: Principal) -> dict[str, Any]:
        """The caller's own access: roles, attributes, the grants and policies that apply."""
        rules = self.rules(principal.tenant)
        return {
            "tenant": principal.tenant,
            "user": principal.user,
            "roles": list(principal.roles),
            "attributes": principal.attribute_map,
            "via": principal.via,
            "grants": [g.to_dict() for g in rules.grants if g.matches(principal)],
            "policies": [p.to_dict() for p in rules.row_policies_for(principal)]
            + [p.to_dict() for p in rules.column_policies_for(principal)],
        }

    # -- roles ----------------------------------------------------------------------------
    def _authorize(self, principal: Principal) -> None:
        authorize(principal, "manage_access", Resource(principal.tenant, "access"))

    def roles(self, principal: Principal) -> list[dict[str, Any]]:
        self._authorize(principal)
        rules = self.rules(principal.tenant)
        builtin = [{"name": r, "builtin": True, "description": _BUILTIN[r]} for r in ROLES]
        own = [
            {"name": n, "builtin": False, "description": d} for n, d in sorted(rules.roles.items())
        ]
        return builtin + own

    def create_role(self, principal: Principal, name: str, description: str = "") -> dict[str, Any]:
        self._authorize(principal)
        if not isinstance(name, str) or not ROLE_NAME.fullmatch(name) or name in ROLES or (
            name == PLATFORM_ROLE
        ):  # fmt: skip
            raise InvalidRequest(
                f"role name {name!r:.60} is not valid"
                + (" (a built-in role)" if name in ROLES or name == PLATFORM_ROLE else ""),
                hint="Use 1-63 lower-case letters, digits, '_' or '-', not a built-in name.",
            )
        self.meta.access.create_role(principal.tenant, name, description or "", principal.user)
        self._audit(principal, "role_create", role=name, description=description)
        return {"name": name, "builtin": False, "description": description}

    def drop_role(self, principal: Principal, name: str) -> dict[str, Any]:
        self._authorize(principal)
        removed = self.meta.access.drop_role(principal.tenant, name)
        self._audit(principal, "role_drop", role=name, grants_removed=removed)
        return {"name": name, "dropped": True, "grants_removed": removed}

    # -- grants ---------------------------------------------------------------------------
    def grants(self, principal: Principal) -> list[dict[str, Any]]:
        self._authorize(principal)
        return [g.to_dict() for g in self.rules(principal.tenant).grants]

    def grant(
        self,
        principal: Principal,
        action: str,
        to: str,
        on: str = "tenant",
        *,
        deny: bool = False,
    ) -> dict[str, Any]:
        """Grant (or, with ``deny``, refuse) ``action`` on ``on`` (``tenant``,
        ``table:NAME``, ``column:TABLE.COLUMN``, ``cube:NAME``, ``analytics[:CALL]``) to
        ``to`` (``role:NAME`` or ``user:NAME``)."""
        self._authorize(principal)
        kind, _, grantee = str(to).partition(":")
        if kind not in ("role", "user") or not grantee:
            raise InvalidRequest(
                f"grantee {to!r:.60} is not role:NAME or user:NAME",
                hint="e.g. --to role:client or --to user:ana",
            )
        resource_kind, _, resource_name = str(on).partition(":")
        if resource_kind not in GRANT_KINDS:
            raise InvalidRequest(
                f"resource {on!r:.80} is not one of {', '.join(GRANT_KINDS)}",
                hint="e.g. --on tenant, --on table:fact_trade, --on column:fact_trade.price, "
                "--on cube:trades, --on analytics:pnl",
            )
        grant = Grant(
            kind,  # type: ignore[arg-type]
            grantee,
            action,
            resource_kind,
            resource_name or None,
            "deny" if deny else "allow",
        )
        check_grant(grant, self.role_names(principal.tenant))
        self._check_resource(principal.tenant, grant)
        stored = self.meta.access.add_grant(
            principal.tenant,
            {"grantee_kind": grant.grantee_kind, "grantee": grant.grantee,
             "action": grant.action, "resource_kind": grant.resource_kind,
             "resource_name": grant.resource_name, "effect": grant.effect},
            principal.user,
        )  # fmt: skip
        out = _grant(stored).to_dict()
        self._audit(principal, "grant_add", grant=_plain(out))
        return out

    def _check_resource(self, tenant: str, grant: Grant) -> None:
        """Refuse a grant on a table, column or cube the tenant does not have."""
        if self.known is None or grant.resource_name is None:
            return
        from ledgerhouse.errors import did_you_mean

        known = self.known(tenant)
        tables: dict[str, list[str]] = known["tables"]
        name = grant.resource_name
        if grant.resource_kind == "cube" and name not in known["cubes"]:
            raise InvalidRequest(
                f"no cube {name!r}.{did_you_mean(name, known['cubes'])}",
                hint="List the cubes with `ledgerhouse cubes`.",
            )
        table, _, column = name.partition(".")
        if grant.resource_kind in ("table", "column") and table not in tables:
            raise InvalidRequest(
                f"no table {table!r}.{did_you_mean(table, tables)}",
                hint="List the tables with `ledgerhouse tables`.",
            )
        if grant.resource_kind == "column" and column not in tables[table]:
            raise InvalidRequest(
                f"{table} has no column {column!r}.{did_you_mean(column, tables[table])}",
                hint=f"Columns: {', '.join(tables[table])}.",
            )

    def revoke_grant(self, principal: Principal, grant_id: int) -> dict[str, Any]:
        self._authorize(principal)
        out = _grant(self.meta.access.remove_grant(principal.tenant, int(grant_id))).to_dict()
        self._audit(principal, "grant_remove", grant=_plain(out))
        return out

    # -- policies -------------------------------------------------------------------------
    def policies(self, principal: Principal) -> list[dict[str, Any]]:
        self._authorize(principal)
        rules = self.rules(principal.tenant)
        return [p.to_dict() for p in rules.row_policies] + [
            p.to_dict() for p in rules.column_policies
        ]

    def put_policy(
        self, principal: Principal, name: str, kind: str, spec: dict[str, Any]
    ) -> dict[str, Any]:
        """Create or replace a row or column policy (validated: the predicate is checked
        against the dimension's columns and the guard)."""
        self._authorize(principal)
        check_policy_name(name)
        if not isinstance(spec, dict):
            raise InvalidRequest("a policy is an object", hint="See docs/tenancy/policies.md.")
        spec = {k: v for k, v in spec.items() if v is not None}
        policy = policy_from_spec(name, kind, spec)
        known = self.role_names(principal.tenant)
        unknown = sorted(set(policy.roles) - known)
        if unknown:
            raise InvalidRequest(
                f"policy {name!r} names unknown roles {unknown}",
                hint=f"Roles: {', '.join(sorted(known))}.",
            )
        if isinstance(policy, RowPolicy):
            _, attributes = self.check_predicate(policy.dimension, policy.predicate)
            spec = {**spec, "predicate": policy.predicate, "dimension": policy.dimension}
        else:
            attributes = ()
        stored = {k: spec[k] for k in _SPEC_FIELDS[kind] if k in spec}
        version = self.meta.access.put_policy(principal.tenant, name, kind, stored, principal.user)
        out = policy_from_spec(name, kind, stored, version).to_dict()
        out["attributes"] = list(attributes)
        self._audit(principal, "policy_put", policy=out)
        return out

    def drop_policy(self, principal: Principal, name: str) -> dict[str, Any]:
        self._authorize(principal)
        self.meta.access.drop_policy(principal.tenant, name)
        self._audit(principal, "policy_drop", policy=name)
        return {"name": name, "dropped": True}

    def _audit(self, principal: Principal, action: str, **detail: Any) -> None:
        self.meta.audit.append(
            principal.tenant, principal.user, principal.roles, action, detail=detail
        )


_BUILTIN = {
    "reader": "reads tables, cubes and analytics",
    "writer": "a reader that also ingests",
    "admin": "everything in the tenant, keys and access control included",
    "steward": "a reader that curates metadata and quality checks",
    "auditor": "reads the audit trail, governance reports and usage",
}
_SPEC_FIELDS = {
    "row": ("dimension", "predicate", "roles", "users", "description"),
    "column": ("classification", "action", "mask", "roles", "users", "description"),
}


def _grant(row: dict[str, Any]) -> Grant:
    return Grant(
        row["grantee_kind"], row["grantee"], row["action"], row["resource_kind"],
        row["resource_name"], row["effect"], row["id"], row.get("created_at"),
        row.get("created_by", ""),
    )  # fmt: skip


def _policy(row: dict[str, Any]) -> RowPolicy | ColumnPolicy:
    policy: RowPolicy | ColumnPolicy = policy_from_spec(
        row["name"], row["kind"], row["spec"], row["version"]
    )
    return policy


def _plain(grant: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if k == "created_at" else v) for k, v in grant.items()}
