"""The tenant lifecycle, managed by platform admins: create, list, suspend, resume, delete
(after an export, with a retention period) and purge tenants (docs/tenancy/lifecycle.md).

A tenant is ``active``, ``suspended`` (every key and token refused with ``tenant_suspended``,
data kept) or ``deleted`` (exported, refused with ``tenant_deleted``, purged once its
retention has passed; ``resume`` restores it until then). Every change is audited, in the
tenant's trail and in the platform's (which outlives a purge). A suspended or deleted
tenant's engine, bindings and cached results are released at once in this process, and by
every other process at the first request it refuses.

The platform's credentials are API keys of the pseudo-tenant ``access.PLATFORM_TENANT`` with
the role ``platform_admin``: ``access.may`` lets them manage tenants, resources and read usage,
and read no tenant's data. The delete's export is an operator action: it reads the Delta
tables straight from the store, not through the query service.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from ledgerhouse.access import PLATFORM_ROLE, PLATFORM_TENANT, Principal, Resource, authorize
from ledgerhouse.errors import InvalidRequest, NotFound
from ledgerhouse.model.schema import TableDef
from ledgerhouse.storage.delta import DeltaStore
from ledgerhouse.storage.metadata import MetadataStore
from ledgerhouse.storage.tenants import TenantRecord, TenantStatus
from ledgerhouse.tenancy.auth import validate_tenant_name
from ledgerhouse.tenancy.errors import (
    PurgeNotDue,
    TenantDeleted,
    TenantExists,
    TenantStateConflict,
    TenantSuspended,
)

#: The most a suspension's or deletion's reason may hold.
MAX_REASON_CHARS = 500


def _iso(ts: datetime | None) -> str | None:
    return ts.isoformat(timespec="seconds") if ts is not None else None


@dataclass(frozen=True)
class TenantInfo:
    """A tenant as ``list`` shows it: its record, its latest commit and its storage bytes."""

    record: TenantRecord
    latest_commit: int | None
    latest_commit_at: datetime | None
    storage_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.record.to_dict(),
            "latest_commit": self.latest_commit,
            "latest_commit_at": self.latest_commit_at,
            "storage_bytes": self.storage_bytes,
        }


@dataclass(frozen=True)
class CreatedTenant:
    """A new tenant and its first admin key (shown once)."""

    record: TenantRecord
    admin_key: str = field(repr=False)


@dataclass(frozen=True)
class TenantExport:
    """The export a delete writes first: one Parquet file per table at the latest commit,
    and ``manifest.json`` (commit, relations, row counts, SHA-256 of each file)."""

    directory: Path
    manifest: dict[str, Any]

    @property
    def manifest_path(self) -> Path:
        return self.directory / "manifest.json"


@dataclass(frozen=True)
class DeletedTenant:
    record: TenantRecord
    export: TenantExport


@dataclass(frozen=True)
class PurgedTenant:
    name: str
    purged_at: datetime
    files_removed: int
    bytes_removed: int
    metadata_rows: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "purged_at": self.purged_at,
            "files_removed": self.files_removed,
            "bytes_removed": self.bytes_removed,
            "metadata_rows": dict(self.metadata_rows),
        }


@dataclass(frozen=True)
class LifecyclePorts:
    """What the service needs of the rest of the warehouse (wired in services.py).

    ``create(tenant)`` creates the tenant's tables and returns its first admin key;
    ``release(tenant)`` frees its engine, bindings and cached results; ``tenant_dirs(tenant)``
    are the folders a purge removes (the tenant's tables, its OpenLineage events)."""

    meta: MetadataStore
    store: DeltaStore
    tables: tuple[TableDef, ...]
    create: Callable[[str], str | None]
    release: Callable[[str], None]
    tenant_dirs: Callable[[str], list[Path]]
    exports_root: Path
    retention_days: int
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


class TenantService:
    """The platform admin's operations on tenants; each takes the caller's Principal first
    and asks ``authorize(principal, "manage_tenants", ...)``."""

    def __init__(self, ports: LifecyclePorts) -> None:
        self.ports = ports
        self.meta = ports.meta
        # (status, suspended_at, deleted_at) of the tenants this process released already
        self._released: dict[str, tuple[Any, ...]] = {}

    # -- the check on every request ----------------------------------------------------------
    def check(self, principal: Principal) -> None:
        """Refuse a principal of a suspended or deleted tenant (the platform's pass)."""
        if principal.tenant != PLATFORM_TENANT:
            self.check_tenant(principal.tenant)

    def check_tenant(self, tenant: str) -> None:
        """Raise TenantSuspended or TenantDeleted unless ``tenant`` is active (or unknown: a
        tenant not created yet has no data to protect). One primary-key read."""
        status = self.meta.tenants_store.status_of(tenant)
        if status is None or status.status == "active":
            return
        self._release_once(tenant, status)
        raise _refusal(tenant, status)

    def _release_once(self, tenant: str, status: TenantStatus) -> None:
        # another process suspended it: this one frees the engine at the first refusal
        mark = (status.status, status.suspended_at, status.deleted_at)
        if self._released.get(tenant) != mark:
            self.ports.release(tenant)
            self._released[tenant] = mark

    def refuse_deleted(self, tenant: str) -> None:
        """Refuse to create (``init``) a tenant whose deleted namesake is not purged yet."""
        found = self.meta.tenants_store.record(tenant)
        if found is not None and found.status == "deleted":
            raise _exists(found)

    # -- platform keys -----------------------------------------------------------------------
    def platform_key_exists(self) -> bool:
        return any(
            PLATFORM_ROLE in k.roles for k in self.meta.keys.records(PLATFORM_TENANT, active=True)
        )

    def issue_platform_key(self, user: str = "platform") -> str:
        """A new platform-admin API key (shown once). Local only (the CLI, the library):
        whoever holds the warehouse's files holds the root; no API route issues one."""
        user = _user(user)
        self.meta.tenants_store.ensure_platform()
        issued = self.meta.keys.issue(PLATFORM_TENANT, user, (PLATFORM_ROLE,))
        self.meta.audit.append(
            PLATFORM_TENANT, user, (PLATFORM_ROLE,), "platform_key_create",
            detail={"key_id": issued.key.id, "key_user": user},
        )  # fmt: skip
        return issued.secret

    # -- operations --------------------------------------------------------------------------
    def _authorize(self, principal: Principal, tenant: str | None = None) -> None:
        authorize(principal, "manage_tenants", Resource(tenant or PLATFORM_TENANT, "tenants"))

    def list(self, principal: Principal) -> list[TenantInfo]:
        """Every tenant (active, suspended, deleted and not yet purged) with its latest commit
        and the bytes of its files."""
        self._authorize(principal)
        return [self._info(r) for r in self.meta.tenants_store.records()]

    def get(self, principal: Principal, tenant: str) -> TenantInfo:
        self._authorize(principal, tenant)
        return self._info(self._record(tenant))

    def create(self, principal: Principal, tenant: str) -> CreatedTenant:
        """Create a tenant (its tables, its first admin key, shown once)."""
        self._authorize(principal, tenant)
        validate_tenant_name(tenant)
        found = self.meta.tenants_store.record(tenant)
        if found is not None:
            raise _exists(found)
        key = self.ports.create(tenant)
        if key is None:  # created by someone else meanwhile
            raise _exists(self._record(tenant))
        record = self._record(tenant)
        self._audit(principal, tenant, "tenant_create", {})
        return CreatedTenant(record, key)

    def suspend(
        self, principal: Principal, tenant: str, *, reason: str | None = None
    ) -> TenantInfo:
        """Refuse every key and token of the tenant from the next request on (data kept);
        suspending a suspended tenant changes nothing."""
        self._authorize(principal, tenant)
        reason = _reason(reason)
        before, after = self._set(principal, tenant, "suspended", reason=reason, expect=("active",))
        if before.status == "deleted":
            raise TenantStateConflict(
                f"tenant {tenant!r} is deleted (purge after {_iso(before.purge_after)}): "
                "it cannot be suspended",
                hint=f"Resume it first (`ledgerhouse tenants resume {tenant}`) or purge it.",
                tenant=tenant,
                status=before.status,
            )
        if before.status == "active":
            self.ports.release(tenant)
            self._audit(principal, tenant, "tenant_suspend", {"reason": reason})
        return self._info(after)

    def resume(self, principal: Principal, tenant: str) -> TenantInfo:
        """Restore a suspended tenant, or a deleted one not yet purged; an active tenant
        changes nothing."""
        self._authorize(principal, tenant)
        before, after = self._set(principal, tenant, "active", expect=("suspended", "deleted"))
        if before.status != "active":
            self._released.pop(tenant, None)
            self._audit(
                principal, tenant, "tenant_resume",
                {"from": before.status, "suspended_at": _iso(before.suspended_at),
                 "deleted_at": _iso(before.deleted_at)},
            )  # fmt: skip
        return self._info(after)

    def delete(
        self,
        principal: Principal,
        tenant: str,
        *,
        export_to: Path | str | None = None,
        retention_days: int | None = None,
        reason: str | None = None,
    ) -> DeletedTenant:
        """Refuse the tenant's keys at once, export every table at its latest commit, and
        mark it deleted until ``now + retention_days`` (the ``tenant_retention_days``
        setting when None), after which ``purge`` removes it. When the export fails the
        tenant gets its former status back."""
        self._authorize(principal, tenant)
        reason = _reason(reason)
        days = self.ports.retention_days if retention_days is None else retention_days
        if not isinstance(days, int) or days < 0 or days > 36_500:
            raise InvalidRequest(
                f"retention_days {days!r} is not valid",
                hint="Give a whole number of days from 0 (purge at once) to 36500.",
            )
        now = self.ports.clock()
        directory = self._export_dir(tenant, export_to, now)
        before, after = self._set(
            principal, tenant, "deleted", reason=reason, at=now,
            purge_after=now + timedelta(days=days), expect=("active", "suspended"),
        )  # fmt: skip
        if before.status == "deleted":
            raise TenantStateConflict(
                f"tenant {tenant!r} is already deleted (purge after {_iso(before.purge_after)})",
                hint=f"Purge it with `ledgerhouse tenants purge {tenant}` once its retention "
                "has passed, or resume it.",
                tenant=tenant,
                status=before.status,
            )
        self.ports.release(tenant)
        try:
            export = self._export(principal, tenant, directory, now)
        except BaseException:
            self._restore(tenant, before)
            raise
        self._audit(
            principal, tenant, "tenant_delete",
            {"reason": reason, "retention_days": days, "purge_after": _iso(after.purge_after),
             "export": str(export.directory), "commit_id": export.manifest["commit_id"],
             "manifest_sha256": export.manifest["manifest_sha256"]},
        )  # fmt: skip
        return DeletedTenant(after, export)

    def purge(self, principal: Principal, tenant: str) -> PurgedTenant:
        """Remove a deleted tenant's files and metadata rows once its retention has passed
        (the export stays). Refused before, naming the date."""
        self._authorize(principal, tenant)
        record = self._record(tenant)
        now = self.ports.clock()
        if record.status != "deleted":
            raise TenantStateConflict(
                f"tenant {tenant!r} is {record.status}: only a deleted tenant can be purged",
                hint=f"Delete it first (`ledgerhouse tenants delete {tenant}`), which exports "
                "its tables.",
                tenant=tenant,
                status=record.status,
            )
        if record.purge_after is not None and now < record.purge_after:
            raise PurgeNotDue(
                f"tenant {tenant!r} is retained until {_iso(record.purge_after)}: it cannot be "
                "purged before",
                hint="Wait until then; to purge at once, resume it and delete it again with "
                "--retention-days 0 (retention_days=0).",
                tenant=tenant,
                purge_after=record.purge_after,
            )
        self.ports.release(tenant)
        files = size = 0
        for folder in self.ports.tenant_dirs(tenant):
            n, b = _remove_tree(folder)
            files, size = files + n, size + b
        rows = self.meta.tenants_store.remove(tenant)
        self._released.pop(tenant, None)
        purged = PurgedTenant(tenant, now, files, size, rows)
        # the tenant's own trail went with it: the platform's keeps the purge
        self.meta.audit.append(
            PLATFORM_TENANT, principal.user, principal.roles, "tenant_purge",
            detail={"tenant": tenant, "files_removed": files, "bytes_removed": size,
                    "metadata_rows": rows, "deleted_at": _iso(record.deleted_at)},
        )  # fmt: skip
        return purged

    # -- helpers -----------------------------------------------------------------------------
    def _record(self, tenant: str) -> TenantRecord:
        record = self.meta.tenants_store.record(tenant)
        if record is None:
            raise NotFound(
                f"no tenant {tenant!r}",
                hint="List the tenants with `ledgerhouse tenants list` or GET /v1/tenants.",
                tenant=tenant,
            )
        return record

    def _set(
        self, principal: Principal, tenant: str, status: str, **kw: Any
    ) -> tuple[TenantRecord, TenantRecord]:
        kw.setdefault("at", self.ports.clock())
        changed = self.meta.tenants_store.set_status(tenant, status, by=principal.user, **kw)
        if changed is None:
            self._record(tenant)  # raises NotFound
            raise AssertionError("unreachable")
        return changed

    def _restore(self, tenant: str, before: TenantRecord) -> None:
        store = self.meta.tenants_store
        at = before.suspended_at if before.status == "suspended" else None
        store.set_status(
            tenant, before.status, by=before.changed_by or "", reason=before.reason, at=at
        )

    def _info(self, record: TenantRecord) -> TenantInfo:
        latest = self.meta.commit_log.latest_commit(record.name)
        return TenantInfo(
            record,
            latest.id if latest else None,
            latest.created_at if latest else None,
            _tree_bytes(self.ports.store.tenant_root(record.name)),
        )

    def _audit(
        self, principal: Principal, tenant: str, action: str, detail: dict[str, Any]
    ) -> None:
        """In the tenant's trail (its admins and auditors see it) and the platform's."""
        detail = {"tenant": tenant, **{k: v for k, v in detail.items() if v is not None}}
        for trail in (tenant, PLATFORM_TENANT):
            self.meta.audit.append(trail, principal.user, principal.roles, action, detail=detail)

    def _export_dir(self, tenant: str, export_to: Path | str | None, now: datetime) -> Path:
        if export_to is None:
            stamp = now.strftime("%Y%m%dT%H%M%SZ")
            base = self.ports.exports_root / f"{tenant}-{stamp}"
            found, n = base, 1
            while found.exists():  # deleted, resumed and deleted again within a second
                n += 1
                found = base.with_name(f"{base.name}-{n}")
            return found
        directory = Path(export_to).expanduser().resolve()
        if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
            raise InvalidRequest(
                f"the export directory {directory} exists and is not empty",
                hint="Name a new or empty directory with --export-to (export_to).",
                path=str(directory),
            )
        return directory

    def _export(
        self, principal: Principal, tenant: str, directory: Path, now: datetime
    ) -> TenantExport:
        """Every table at the latest commit as Parquet, then the manifest (written last: a
        directory without one is an export that did not finish). Reads stop when no commit
        landed meanwhile (a writer that started before the refusal may still commit)."""
        for _attempt in range(3):
            latest = self.meta.commit_log.latest_commit(tenant)
            manifest = self._write_tables(tenant, directory, latest)
            again = self.meta.commit_log.latest_commit(tenant)
            if (again.id if again else None) == (latest.id if latest else None):
                break
        manifest.update(
            tenant=tenant, exported_at=_iso(now), exported_by=principal.user,
            format="parquet", commit_id=latest.id if latest else None,
            committed_at=_iso(latest.created_at) if latest else None,
        )  # fmt: skip
        text = json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n"
        manifest["manifest_sha256"] = hashlib.sha256(text.encode()).hexdigest()  # the file's
        tmp = directory / "manifest.json.tmp"
        tmp.write_text(text)
        os.replace(tmp, directory / "manifest.json")
        return TenantExport(directory, manifest)

    def _write_tables(self, tenant: str, directory: Path, latest: Any) -> dict[str, Any]:
        directory.mkdir(parents=True, exist_ok=True)
        versions: dict[str, int] = dict(latest.table_versions) if latest else {}
        relations: dict[str, Any] = {}
        for table in self.ports.tables:
            version = versions.get(table.relation)
            if version is None:
                continue
            path = directory / f"{table.relation}.parquet"
            # streamed, one row group at a time: a large table never sits in memory whole
            self.ports.store.scan(tenant, table, version).sink_parquet(path)
            relations[table.relation] = {
                "file": path.name,
                "rows": pq.read_metadata(path).num_rows,
                "version": version,
                "bytes": path.stat().st_size,
                "sha256": _sha256(path),
            }
        return {"relations": relations}


def _refusal(tenant: str, status: TenantStatus) -> TenantSuspended | TenantDeleted:
    why = f" ({status.reason})" if status.reason else " (no reason given)"
    if status.status == "suspended":
        return TenantSuspended(
            f"tenant {tenant!r} is suspended since {_iso(status.suspended_at)}{why}: its keys "
            "and tokens are refused; its data is kept",
            hint="A platform admin resumes it (`ledgerhouse tenants resume "
            f"{tenant}` or POST /v1/tenants/{tenant}/resume).",
            tenant=tenant,
            suspended_at=status.suspended_at,
            reason=status.reason,
        )
    return TenantDeleted(
        f"tenant {tenant!r} was deleted at {_iso(status.deleted_at)}{why}; it is purged after "
        f"{_iso(status.purge_after)}",
        hint="A platform admin can resume it until it is purged (`ledgerhouse tenants resume "
        f"{tenant}`).",
        tenant=tenant,
        deleted_at=status.deleted_at,
        purge_after=status.purge_after,
        reason=status.reason,
    )


def _exists(record: TenantRecord) -> TenantExists:
    if record.status == "deleted":
        return TenantExists(
            f"tenant {record.name!r} was deleted at {_iso(record.deleted_at)} and is retained "
            f"until {_iso(record.purge_after)}: its name is not free yet",
            hint=f"Resume it (`ledgerhouse tenants resume {record.name}`), or purge it once "
            "its retention has passed, or choose another name.",
            tenant=record.name,
            status=record.status,
        )
    return TenantExists(
        f"tenant {record.name!r} exists ({record.status})",
        hint="Choose another name, or list the tenants with `ledgerhouse tenants list`.",
        tenant=record.name,
        status=record.status,
    )


def _reason(reason: str | None) -> str | None:
    if reason is None or not reason.strip():
        return None
    if len(reason) > MAX_REASON_CHARS:
        raise InvalidRequest(
            f"the reason has {len(reason)} characters; the limit is {MAX_REASON_CHARS}",
            hint="Say why in a sentence; put details in the ticket it refers to.",
        )
    return reason.strip()


def _user(user: str) -> str:
    if not isinstance(user, str) or not user.strip() or len(user) > 128:
        raise InvalidRequest("user must be 1-128 characters", hint="Name the key's owner.")
    return user.strip()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _files(root: Path) -> Iterable[Path]:
    for folder, _dirs, names in os.walk(root):
        for name in names:
            yield Path(folder) / name


def _tree_bytes(root: Path) -> int:
    total = 0
    for path in _files(root):
        try:
            total += path.stat().st_size
        except OSError:  # removed meanwhile (a vacuum, a rollback)
            continue
    return total


def _remove_tree(root: Path) -> tuple[int, int]:
    """Remove ``root`` and everything under it; (files, bytes) removed."""
    import shutil

    if not root.exists():
        return 0, 0
    files = size = 0
    for path in _files(root):
        files += 1
        try:
            size += path.stat().st_size
        except OSError:
            continue
    shutil.rmtree(root)
    return files, size


class PlatformSession:
    """A platform admin's session (``Warehouse.platform(user=...)`` locally, or an
    authenticated platform key): the tenant operations, as that principal. The HTTP client
    has the same calls with the same names."""

    def __init__(self, service: TenantService, principal: Principal) -> None:
        self.service = service
        self.principal = principal

    def __repr__(self) -> str:
        return f"<PlatformSession {self.principal.user!r}>"

    def tenants(self) -> list[TenantInfo]:
        return self.service.list(self.principal)

    def tenant(self, name: str) -> TenantInfo:
        return self.service.get(self.principal, name)

    def create_tenant(self, name: str) -> CreatedTenant:
        return self.service.create(self.principal, name)

    def suspend_tenant(self, name: str, *, reason: str | None = None) -> TenantInfo:
        return self.service.suspend(self.principal, name, reason=reason)

    def resume_tenant(self, name: str) -> TenantInfo:
        return self.service.resume(self.principal, name)

    def delete_tenant(
        self,
        name: str,
        *,
        export_to: Path | str | None = None,
        retention_days: int | None = None,
        reason: str | None = None,
    ) -> DeletedTenant:
        return self.service.delete(
            self.principal, name, export_to=export_to, retention_days=retention_days,
            reason=reason,
        )  # fmt: skip

    def purge_tenant(self, name: str) -> PurgedTenant:
        return self.service.purge(self.principal, name)
