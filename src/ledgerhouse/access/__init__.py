"""Access: who is calling (a Principal) and what they may do (``authorize``).

A leaf layer every domain package may import (it imports only the errors): each service takes
the caller's Principal and asks ``authorize(principal, action, resource)`` before it acts.
"""

from ledgerhouse.access.permissions import ACTIONS, Action, Resource, authorize, may
from ledgerhouse.access.principal import ROLES, Principal

__all__ = ["ACTIONS", "ROLES", "Action", "Principal", "Resource", "authorize", "may"]
