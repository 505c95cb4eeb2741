"""The principal that accompanies every call into a service: a tenant, a user, roles and the
attributes row policies are parameterized by.

There is no default: a service called without a principal is a programming error, never an
admin. A local (CLI or library) caller names its roles (``Warehouse.local(roles=...)``); a
remote one gets them from its API key or its single sign-on token.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ledgerhouse.errors import InvalidRequest

#: The built-in roles: the data roles weakest first, then the governance roles (a ``steward``
#: curates metadata and quality checks, an ``auditor`` reads the audit trail and governance
#: reports). A tenant adds its own roles (``ledgerhouse roles create``); they hold only what
#: is granted to them. ``platform_admin`` is above every tenant: it manages tenants and reads
#: no tenant's data (docs/tenancy/lifecycle.md).
ROLES = ("reader", "writer", "admin", "steward", "auditor")
PLATFORM_ROLE = "platform_admin"
#: The tenant name of a platform principal: not a valid tenant name, so it owns no data.
PLATFORM_TENANT = "_platform"
#: A role's name: built-in or a tenant's own (lower case, like a tenant name).
ROLE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_ATTRIBUTE = re.compile(r"[a-z][a-z0-9_]{0,62}")
MAX_ATTRIBUTE_VALUES = 10_000


class Rules(Protocol):
    """A tenant's grants, seen live: whether a principal may do an action on a resource,
    or None when no grant decides and the roles' defaults do (access/permissions.py)."""

    def decide(self, principal: Principal, action: str, resource: Any) -> bool | None: ...


@dataclass(frozen=True)
class Principal:
    tenant: str
    user: str
    roles: tuple[str, ...]
    #: what row policies are parameterized by: {name: values}, e.g. {"desks": ("Rates",)}
    #: (from the API key, or the claims of a single sign-on token)
    attributes: Any = ()
    #: how the caller proved who it is: "key", "oidc" or "local"
    via: str = "local"
    #: the tenant's grants, attached by ``Warehouse.session`` (None: the roles' defaults)
    rules: Rules | None = field(default=None, compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.roles, str):  # ("admin") is a string, not a one-role tuple
            object.__setattr__(self, "roles", (self.roles,))
        else:
            object.__setattr__(self, "roles", tuple(self.roles))
        bad = sorted(r for r in self.roles if not isinstance(r, str) or not ROLE_NAME.fullmatch(r))
        if bad or not self.roles:
            raise InvalidRequest(
                f"role names {bad} are not valid" if bad else "a principal needs at least one role",
                hint=f"Use one or more of: {', '.join(ROLES)}, or a role the tenant created "
                "(lower-case letters, digits, '_' or '-').",
            )
        object.__setattr__(self, "attributes", normalize_attributes(self.attributes))

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def is_platform_admin(self) -> bool:
        return PLATFORM_ROLE in self.roles and self.tenant == PLATFORM_TENANT

    def attribute(self, name: str) -> tuple[str, ...]:
        """The values of one attribute (empty when the principal has none)."""
        return dict(self.attributes).get(name, ())

    @property
    def attribute_map(self) -> dict[str, list[str]]:
        return {k: list(v) for k, v in self.attributes}

    def with_rules(self, rules: Rules | None) -> Principal:
        from dataclasses import replace

        return replace(self, rules=rules)


def normalize_attributes(
    attributes: Mapping[str, Any] | Iterable[tuple[str, Any]] | None,
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Attributes as sorted (name, values) pairs of texts: a value may be one text, number or
    boolean, or a list of them. Names are lower-case identifiers."""
    if not attributes:
        return ()
    items = attributes.items() if isinstance(attributes, Mapping) else attributes
    out: dict[str, tuple[str, ...]] = {}
    for name, value in items:
        if not isinstance(name, str) or not _ATTRIBUTE.fullmatch(name):
            raise InvalidRequest(
                f"attribute name {name!r:.60} is not valid",
                hint="Name attributes with lower-case letters, digits and '_' (e.g. desks).",
            )
        values = value if isinstance(value, list | tuple | set | frozenset) else [value]
        texts = []
        for v in values:
            if isinstance(v, bool) or not isinstance(v, str | int | float):
                if isinstance(v, bool):
                    texts.append("true" if v else "false")
                    continue
                raise InvalidRequest(
                    f"attribute {name!r} has a value of type {type(v).__name__}",
                    hint="Give texts or numbers (or a list of them).",
                )
            texts.append(str(v))
        if len(texts) > MAX_ATTRIBUTE_VALUES:
            raise InvalidRequest(
                f"attribute {name!r} has {len(texts)} values; the limit is {MAX_ATTRIBUTE_VALUES}",
                hint="Group the values in the dimension (a desk, a client) and name that.",
            )
        out[name] = tuple(sorted(set(texts)))
    return tuple(sorted(out.items()))
