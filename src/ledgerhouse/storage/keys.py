"""API keys in the metadata store: issued, looked up on every request, listed, revoked, rotated.

A key is random, shown once, and stored as its SHA-256 hash. A lookup is remembered for
``KEY_CACHE_S`` seconds, but every lookup also reads the tenant's *key generation* (one
primary-key read), which each revocation raises in the same transaction: a key revoked by any
process sharing the metadata store fails on the very next request of every server.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from ledgerhouse.errors import ApiKeyConflict, NotFound
from ledgerhouse.storage.rows import ApiKeyRow, TenantRow, _aware, _now

log = logging.getLogger("ledgerhouse.storage")

#: How long a looked-up key is remembered before its row is read again (revocations do not
#: wait for it: they raise the tenant's key generation, which every lookup reads).
KEY_CACHE_S = 2.0
#: A key's ``last_used_at`` is written at most this often per key and process, off the request
#: path; it is accurate to about this many seconds.
LAST_USED_EVERY_S = 60.0


@dataclass(frozen=True)
class ApiKeyInfo:
    tenant: str
    user: str
    roles: tuple[str, ...]
    key_id: int = 0
    #: {name: [values]}: what the key's row policies are parameterized by
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ApiKeyRecord:
    """What may be shown about an API key: never its secret, nor the secret's hash."""

    id: int
    tenant: str
    user: str
    roles: tuple[str, ...]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    attributes: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user": self.user,
            "roles": list(self.roles),
            "attributes": dict(self.attributes),
            "created_at": self.created_at,
            "last_used_at": self.last_used_at,
            "revoked_at": self.revoked_at,
        }


@dataclass(frozen=True)
class IssuedKey:
    """A newly issued key: its record and its secret, which is shown this once."""

    key: ApiKeyRecord
    secret: str = field(repr=False)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass
class _CachedKey:
    expires: float  # time.monotonic()
    generation: int  # the tenant's key generation when the key row was read
    info: ApiKeyInfo


# Built once: every authenticated request runs one of these two.
_GENERATION = select(TenantRow.key_generation).where(TenantRow.id == bindparam("tenant"))
_BY_HASH = (
    select(
        ApiKeyRow.id,
        ApiKeyRow.tenant_id,
        ApiKeyRow.user,
        ApiKeyRow.roles,
        ApiKeyRow.last_used_at,
        TenantRow.key_generation,
        ApiKeyRow.attributes,
    )
    .join(TenantRow, TenantRow.id == ApiKeyRow.tenant_id)
    .where(ApiKeyRow.key_hash == bindparam("digest"), ApiKeyRow.revoked_at.is_(None))
)


class ApiKeyStore:
    def __init__(self, engine: Engine, sessions: sessionmaker[Session]) -> None:
        self._engine = engine
        self._sessions = sessions
        self._cache: dict[str, _CachedKey] = {}
        self._written: dict[int, float] = {}  # key id -> time.monotonic() of its last use write
        self._usage_writer: ThreadPoolExecutor | None = None

    def close(self) -> None:
        if self._usage_writer is not None:
            self._usage_writer.shutdown(wait=True)
            self._usage_writer = None

    def issue(
        self,
        tenant: str,
        user: str,
        roles: tuple[str, ...],
        attributes: dict[str, Any] | None = None,
    ) -> IssuedKey:
        with self._sessions.begin() as s:
            return _issue(s, tenant, user, roles, attributes)

    def records(self, tenant: str, *, active: bool = False) -> list[ApiKeyRecord]:
        """The tenant's keys in creation order (only the unrevoked ones when ``active``)."""
        q = select(ApiKeyRow).where(ApiKeyRow.tenant_id == tenant)
        if active:
            q = q.where(ApiKeyRow.revoked_at.is_(None))
        with self._sessions.begin() as s:
            return [_to_record(r) for r in s.scalars(q.order_by(ApiKeyRow.id))]

    def revoke(self, tenant: str, key_id: int, *, force: bool = False) -> ApiKeyRecord:
        """Revoke a key of ``tenant`` at once, in every process; revoking a revoked key changes
        nothing. The tenant's last unrevoked admin key is refused unless ``force``."""
        with self._sessions.begin() as s:
            row = _key_for_change(s, tenant, key_id)
            if row.revoked_at is None:
                if not force:
                    _refuse_last_admin(s, row)
                row.revoked_at = _now()
            record, digest = _to_record(row), row.key_hash
        self._cache.pop(digest, None)
        return record

    def rotate(self, tenant: str, key_id: int) -> IssuedKey:
        """A new key for the same user and roles; the old one is revoked in the same
        transaction, so it fails from the next request on (no grace period)."""
        with self._sessions.begin() as s:
            row = _key_for_change(s, tenant, key_id)
            if row.revoked_at is not None:
                raise ApiKeyConflict(
                    f"API key {key_id} is revoked and cannot be rotated",
                    hint="Create a new key with `ledgerhouse keys create` or POST /v1/keys.",
                    key_id=key_id,
                    reason="revoked",
                )
            row.revoked_at = _now()
            issued = _issue(s, tenant, row.user, _roles(row.roles), row.attributes)
            digest = row.key_hash
        self._cache.pop(digest, None)
        return issued

    def lookup(self, key: str) -> ApiKeyInfo | None:
        """The key's owner, or None (unknown or revoked). Every request asks."""
        digest = hash_key(key)
        now = time.monotonic()
        hit = self._cache.get(digest)
        with self._engine.connect() as c:
            if hit is not None and hit.expires > now:
                generation = c.execute(_GENERATION, {"tenant": hit.info.tenant}).scalar()
                if generation == hit.generation:
                    self._note_use(hit.info.key_id, now)
                    return hit.info
            row = c.execute(_BY_HASH, {"digest": digest}).first()
        if row is None:
            self._cache.pop(digest, None)
            return None
        key_id, tenant, user, roles, last_used, generation, attributes = row
        info = ApiKeyInfo(tenant, user, _roles(roles), key_id, dict(attributes or {}))
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = _CachedKey(now + KEY_CACHE_S, generation, info)
        if last_used is not None and key_id not in self._written:  # e.g. by another process
            age = (_now() - _aware(last_used)).total_seconds()
            self._written[key_id] = now - max(age, 0.0)
        self._note_use(key_id, now)
        return info

    def flush_usage(self) -> None:
        """Wait until every pending ``last_used_at`` write is stored."""
        if self._usage_writer is not None:
            self._usage_writer.submit(lambda: None).result()

    def _note_use(self, key_id: int, now: float) -> None:
        last = self._written.get(key_id)
        if last is not None and now - last < LAST_USED_EVERY_S:
            return
        if len(self._written) > 10_000:
            self._written.clear()
        self._written[key_id] = now
        if self._usage_writer is None:
            self._usage_writer = ThreadPoolExecutor(1, thread_name_prefix="api-key-usage")
        self._usage_writer.submit(self._write_last_used, key_id, _now())

    def _write_last_used(self, key_id: int, when: datetime) -> None:
        # On the writer thread: a request never waits for this commit (an fsync with SQLite).
        try:
            with self._sessions.begin() as s:
                s.execute(update(ApiKeyRow).where(ApiKeyRow.id == key_id).values(last_used_at=when))
        except Exception:
            log.exception("could not record the last use of API key %d", key_id)


def _roles(text: str) -> tuple[str, ...]:
    return tuple(r for r in text.split(",") if r)


def _to_record(row: ApiKeyRow) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row.id,
        tenant=row.tenant_id,
        user=row.user,
        roles=_roles(row.roles),
        created_at=_aware(row.created_at),
        last_used_at=_aware(row.last_used_at) if row.last_used_at else None,
        revoked_at=_aware(row.revoked_at) if row.revoked_at else None,
        attributes=dict(row.attributes or {}),
    )


def _issue(
    s: Session,
    tenant: str,
    user: str,
    roles: tuple[str, ...],
    attributes: dict[str, Any] | None = None,
) -> IssuedKey:
    secret = "lh_" + secrets.token_urlsafe(32)
    row = ApiKeyRow(
        tenant_id=tenant,
        key_hash=hash_key(secret),
        user=user,
        roles=",".join(roles),
        created_at=_now(),
        attributes=dict(attributes) if attributes else None,
    )
    s.add(row)
    s.flush()
    return IssuedKey(_to_record(row), secret)


def _key_for_change(s: Session, tenant: str, key_id: int) -> ApiKeyRow:
    # Raising the generation first takes the write lock (SQLite) or the tenant row's lock
    # (PostgreSQL): changes to one tenant's keys run one after the other, so two admins cannot
    # each revoke the other's "not last" admin key at the same time.
    s.execute(
        update(TenantRow)
        .where(TenantRow.id == tenant)
        .values(key_generation=TenantRow.key_generation + 1)
    )
    row = None
    if 0 < key_id < 2**63:  # a larger id overflows the database's 64-bit INTEGER
        row = s.scalar(
            select(ApiKeyRow).where(ApiKeyRow.id == key_id, ApiKeyRow.tenant_id == tenant)
        )
    if row is None:  # another tenant's key is "not found" as well: ids reveal nothing
        raise NotFound(
            f"no API key {key_id} in tenant {tenant!r}",
            hint="List the tenant's keys with `ledgerhouse keys list` or GET /v1/keys.",
            key_id=key_id,
        )
    return row


def _refuse_last_admin(s: Session, row: ApiKeyRow) -> None:
    if "admin" not in _roles(row.roles):
        return
    others = s.scalars(
        select(ApiKeyRow.roles).where(
            ApiKeyRow.tenant_id == row.tenant_id,
            ApiKeyRow.revoked_at.is_(None),
            ApiKeyRow.id != row.id,
        )
    )
    if not any("admin" in _roles(r) for r in others):
        raise ApiKeyConflict(
            f"API key {row.id} is the last admin key of tenant {row.tenant_id!r}: revoking it "
            "would leave no key that can manage the tenant's keys",
            hint="Create another admin key first or rotate this one; to revoke it anyway use "
            "`ledgerhouse keys revoke --force` or ?force=true.",
            key_id=row.id,
            reason="last_admin_key",
        )
