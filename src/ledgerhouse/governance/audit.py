"""Reading the audit trail: entries, verification and who-read-what, for auditors and admins.

The trail itself is ``storage/audit.py`` (``meta.audit``): every layer appends to it. This
service is how a caller reads it: ``read_audit`` (auditor, admin) on the caller's own tenant
only, and every read is itself appended (``audit_read``). Recent queries reach the trail from
the query log's background thread: ``flush`` (the composition root passes the query log's)
waits for them before a read.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from ledgerhouse.access import Principal, Resource, authorize
from ledgerhouse.errors import InvalidRequest
from ledgerhouse.storage.metadata import MetadataStore

When = datetime | date | str | None

_MAX_LIMIT = 10_000
_HEX = frozenset("0123456789abcdef")


class AuditService:
    def __init__(self, meta: MetadataStore, flush: Callable[[], None] | None = None) -> None:
        self.meta = meta
        self._flush = flush or (lambda: None)

    def _authorize(self, principal: Principal) -> None:
        authorize(principal, "read_audit", Resource(principal.tenant, "audit"))

    def entries(
        self,
        principal: Principal,
        *,
        user: str | None = None,
        action: str | None = None,
        relation: str | None = None,
        since: When = None,
        until: When = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """The caller's tenant's audit entries, newest first: by ``user``, ``action``,
        ``relation`` (read or written), from ``since`` (inclusive) to ``until`` (exclusive; a
        bare date means its whole day), at most ``limit``."""
        self._authorize(principal)
        if isinstance(limit, bool) or not 1 <= limit <= _MAX_LIMIT:
            raise InvalidRequest(
                f"limit {limit!r} is out of range", hint=f"Give 1 to {_MAX_LIMIT} entries."
            )
        start, end = _when(since, "since"), _when(until, "until", end_of_day=True)
        self._flush()
        found = self.meta.audit.entries(
            principal.tenant, user=user or None, action=action or None,
            relation=(relation or "").lower() or None, since=start, until=end, limit=limit,
        )  # fmt: skip
        filters = {"user": user, "action": action, "relation": relation, "since": since,
                   "until": until, "limit": limit}  # fmt: skip
        self._read_recorded(
            principal,
            {"read": "entries", "filters": {k: v for k, v in filters.items() if v is not None},
             "returned": len(found)},
        )  # fmt: skip
        return found

    def verify(self, principal: Principal, *, expect_head: str | None = None) -> dict[str, Any]:
        """Recompute the caller's tenant's chain: ``ok``, entries checked, the head's seq and
        hash, and each problem (edited, deleted, moved entries, a truncated tail). With
        ``expect_head`` (a hash kept outside the database), also that it is still in the
        chain: a chain rewritten from scratch after it was taken is detected."""
        self._authorize(principal)
        anchor = None
        if expect_head is not None:
            anchor = expect_head.strip().lower()
            if len(anchor) != 64 or not set(anchor) <= _HEX:
                raise InvalidRequest(
                    f"expect_head {expect_head[:80]!r} is not a SHA-256 hash",
                    hint="Give the 64 hex digits of a head_hash an earlier verify reported.",
                )
        self._flush()
        report = self.meta.audit.verify(principal.tenant, expect_head=anchor).to_dict()
        self._read_recorded(
            principal,
            {"read": "verify", "ok": report["ok"], "problems": len(report["problems"]),
             "head_seq": report["head_seq"], "expect_head": anchor},
        )  # fmt: skip
        return report

    def accesses(
        self, principal: Principal, since: When = None, until: When = None
    ) -> list[dict[str, Any]]:
        """Who read what from ``since`` to ``until``: per user and relation, the columns read,
        the reads (failed ones counted apart), the rows, the first and last time (the
        governance report's access section)."""
        self._authorize(principal)
        start, end = _when(since, "since"), _when(until, "until", end_of_day=True)
        self._flush()
        found = self.meta.audit.accesses(principal.tenant, since=start, until=end)
        self._read_recorded(
            principal,
            {"read": "accesses", "since": since, "until": until, "returned": len(found)},
        )
        return found

    def _read_recorded(self, principal: Principal, detail: dict[str, Any]) -> None:
        self.meta.audit.append(
            principal.tenant, principal.user, principal.roles, "audit_read", detail=detail
        )


def _when(value: When, name: str, *, end_of_day: bool = False) -> datetime | None:
    """A filter's instant in UTC: a datetime (naive = UTC), a date (its start, or with
    ``end_of_day`` the start of the next day), or ISO 8601 text of either."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        try:
            value = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
        except ValueError:
            raise InvalidRequest(
                f"{name} {text[:60]!r} is not an ISO 8601 date or time",
                hint="Give e.g. 2026-12-01 or 2026-12-01T17:00:00Z.",
            ) from None
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        start = datetime.combine(value, time(), tzinfo=UTC)
        if end_of_day:
            start += timedelta(days=1)
        return start
    raise InvalidRequest(f"{name} {value!r:.60} is not a date or time", hint="Give ISO 8601.")
