"""Authorization, decided in one place: which roles may do which action.

Every service entry point asks ``authorize(principal, action)``; tenant isolation comes from the
principal's tenant, which selects the tenant's own tables and engine.
"""

from __future__ import annotations

from typing import Literal

from ledgerhouse.errors import Forbidden
from ledgerhouse.tenancy.models import Principal

Action = Literal["read", "ingest", "manage_keys"]

ALLOWED: dict[Action, frozenset[str]] = {
    "read": frozenset({"reader", "writer", "admin"}),
    "ingest": frozenset({"writer", "admin"}),
    "manage_keys": frozenset({"admin"}),
}


def authorize(principal: Principal, action: Action) -> None:
    if not ALLOWED[action] & set(principal.roles):
        raise Forbidden(
            f"user {principal.user!r} (roles {', '.join(principal.roles) or 'none'}) may not "
            f"{action.replace('_', ' ')} in tenant {principal.tenant!r}",
            hint=f"Use a key with one of the roles: {', '.join(sorted(ALLOWED[action]))}.",
            action=action,
        )
