"""Access: who is calling (a Principal) and what they may do (``authorize``).

A leaf layer every domain package may import (it imports only the errors): each service takes
the caller's Principal and asks ``authorize(principal, action, resource)`` before it acts.
"""

from ledgerhouse.access.permissions import (
    ACTION_DEFS,
    ACTIONS,
    Action,
    ActionDef,
    Resource,
    authorize,
    by_default,
    may,
)
from ledgerhouse.access.principal import PLATFORM_ROLE, PLATFORM_TENANT, ROLES, Principal, Rules

__all__ = [
    "ACTIONS", "ACTION_DEFS", "PLATFORM_ROLE", "PLATFORM_TENANT", "ROLES", "Action", "ActionDef",
    "Principal", "Resource", "Rules", "authorize", "by_default", "may",
]  # fmt: skip
