"""The principal that accompanies every call into a service: a tenant, a user and roles.

There is no default: a service called without a principal is a programming error, never an
admin. A local (CLI or library) caller names its roles (``Warehouse.local(roles=...)``); a
remote one gets them from its API key.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledgerhouse.errors import InvalidRequest

#: The roles a key (or a local caller) may hold: the data roles weakest first, then the
#: governance roles (a ``steward`` curates metadata and quality checks, an ``auditor`` reads
#: the audit trail and governance reports).
ROLES = ("reader", "writer", "admin", "steward", "auditor")


@dataclass(frozen=True)
class Principal:
    tenant: str
    user: str
    roles: tuple[str, ...]

    def __post_init__(self) -> None:
        if isinstance(self.roles, str):  # ("admin") is a string, not a one-role tuple
            object.__setattr__(self, "roles", (self.roles,))
        else:
            object.__setattr__(self, "roles", tuple(self.roles))
        unknown = sorted(set(self.roles) - set(ROLES))
        if unknown or not self.roles:
            raise InvalidRequest(
                f"unknown roles {unknown}" if unknown else "a principal needs at least one role",
                hint=f"Use one or more of: {', '.join(ROLES)}.",
            )

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles
