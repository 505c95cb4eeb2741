"""Row and column policies: which rows and which column values a principal's reads return.

A **row policy** is a predicate on a dimension (``dim_portfolio``, ``dim_instrument``,
``dim_counterparty``) parameterized by the caller's attributes, e.g. ``desk IN (:desks)``
for desk heads or ``portfolio_code IN (:portfolios)`` for a client. It applies to the roles
and users it names. The members it allows (the dimension's codes whose current version
satisfies it) filter every relation that carries that code, on every path a row can leave by;
a relation built from such rows that cannot be filtered (it has no code column) is refused.
Several row policies on one dimension allow the union of their members; policies on
different dimensions all apply.

A **column policy** masks (``mask``: ``redact``, ``null`` or ``hash``) or denies (``deny``)
the columns that carry a governance classification (``confidential``, ``pii``, ...) for the
roles and users it names; what is derived from a classified column is classified too. The
query layer applies both inside each relation a query reads (query/policies.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from ledgerhouse.access.principal import Principal
from ledgerhouse.errors import InvalidRequest

#: The dimensions a row policy may filter by, and the code column that carries a member in
#: every relation (fact, mart, raw record) built from it.
POLICY_DIMENSIONS: dict[str, str] = {
    "dim_portfolio": "portfolio_code",
    "dim_instrument": "instrument_code",
    "dim_counterparty": "counterparty_code",
}
MASKS = ("redact", "null", "hash")
_NAME = re.compile(r"[a-z][a-z0-9_-]{0,62}")


def check_policy_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidRequest(
            f"policy name {name!r:.60} is not valid",
            hint="Use 1-63 lower-case letters, digits, '_' or '-', starting with a letter.",
        )
    return name


@dataclass(frozen=True)
class _Applies:
    roles: tuple[str, ...] = ()
    users: tuple[str, ...] = ()

    def applies(self, principal: Principal) -> bool:
        return bool(set(self.roles) & set(principal.roles)) or principal.user in self.users


@dataclass(frozen=True)
class RowPolicy(_Applies):
    name: str = ""
    dimension: str = "dim_portfolio"
    predicate: str = "false"
    description: str = ""
    version: int = 1

    @property
    def code_column(self) -> str:
        return POLICY_DIMENSIONS[self.dimension]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "kind": "row", "dimension": self.dimension,
            "predicate": self.predicate, "roles": list(self.roles), "users": list(self.users),
            "description": self.description, "version": self.version,
        }  # fmt: skip


@dataclass(frozen=True)
class ColumnPolicy(_Applies):
    name: str = ""
    classification: str = "confidential"
    action: Literal["mask", "deny"] = "mask"
    mask: str = "redact"
    description: str = ""
    version: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "kind": "column", "classification": self.classification,
            "action": self.action, "mask": self.mask, "roles": list(self.roles),
            "users": list(self.users), "description": self.description,
            "version": self.version,
        }  # fmt: skip


def policy_from_spec(name: str, kind: str, spec: dict[str, Any], version: int = 1) -> Any:
    """A RowPolicy or ColumnPolicy from its stored (or posted) spec; errors name the field."""
    check_policy_name(name)
    roles = tuple(_texts(spec.get("roles", ()), "roles"))
    users = tuple(_texts(spec.get("users", ()), "users"))
    if not roles and not users:
        raise InvalidRequest(
            f"policy {name!r} names no role and no user",
            hint="Say whom it applies to: --role client (repeat) or --user NAME.",
        )
    description = str(spec.get("description") or "")
    if kind == "row":
        dimension = spec.get("dimension", "dim_portfolio")
        if dimension not in POLICY_DIMENSIONS:
            raise InvalidRequest(
                f"a row policy filters by a dimension, not {dimension!r}",
                hint=f"Use one of: {', '.join(POLICY_DIMENSIONS)}.",
            )
        predicate = spec.get("predicate")
        if not isinstance(predicate, str) or not predicate.strip():
            raise InvalidRequest(
                f"row policy {name!r} has no predicate",
                hint="Give a condition on the dimension's columns, e.g. "
                '"desk IN (:desks)" (:name is the caller\'s attribute).',
            )
        return RowPolicy(roles, users, name, dimension, predicate.strip(), description, version)
    if kind == "column":
        classification = spec.get("classification")
        if not isinstance(classification, str) or not classification:
            raise InvalidRequest(
                f"column policy {name!r} names no classification",
                hint="e.g. --classification confidential (`ledgerhouse metadata show "
                "TABLE.COLUMN` shows a column's).",
            )
        action = spec.get("action", "mask")
        mask = spec.get("mask", "redact")
        if action not in ("mask", "deny"):
            raise InvalidRequest(
                f"column policy {name!r}: action {action!r} is not mask or deny",
                hint="mask shows a masked value; deny leaves the column out.",
            )
        if mask not in MASKS:
            raise InvalidRequest(
                f"column policy {name!r}: mask {mask!r} is not one of {', '.join(MASKS)}",
                hint="redact: '****' for text, NULL otherwise; null: NULL; hash: a keyed "
                "pseudonym that keeps joins and groups.",
            )
        return ColumnPolicy(roles, users, name, classification, action, mask, description, version)
    raise InvalidRequest(f"a policy is a row or a column policy, not {kind!r}", hint="--kind row")


def _texts(value: Any, field: str) -> list[str]:
    values = [value] if isinstance(value, str) else list(value or ())
    if not all(isinstance(v, str) and v for v in values):
        raise InvalidRequest(f"{field} must be names", hint=f"e.g. {field}: [client]")
    return values
