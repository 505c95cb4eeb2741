"""`ledgerhouse tenants ...`: the platform admin's tenant lifecycle (create, list, show,
suspend, resume, delete, purge) and the platform key.

Like ``init``, these work on the warehouse directory directly: whoever runs the CLI on the
machine holds the warehouse's files, and so the platform's root (``Warehouse.platform``). With
``--json`` each prints the API's record (GET /v1/tenants and the others).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from ledgerhouse.api.schemas.tenants import (
    TenantCreated,
    TenantDeletedRecord,
    TenantPurgedRecord,
    TenantRecord,
)
from ledgerhouse.cli.common import Cli, command

tenants_app = typer.Typer(help="Manage tenants (platform admin).", no_args_is_help=True)

_OPTS = ("root", "json")
NameArg = Annotated[str, typer.Argument(help="The tenant's name.")]
UserOpt = Annotated[str, typer.Option("--user", help="Who acts (recorded in the audit trail).")]
ReasonOpt = Annotated[
    str | None, typer.Option("--reason", help="Why (the refusals and the audit trail name it).")
]


def _when(ts: datetime | None) -> str:
    return ts.isoformat(timespec="seconds") if ts else ""


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _line(t: TenantRecord) -> str:
    state = t.status
    if t.status == "suspended":
        state += f" since {_when(t.suspended_at)}"
    elif t.status == "deleted":
        state += f" at {_when(t.deleted_at)}, purge after {_when(t.purge_after)}"
    why = f" ({t.reason})" if t.reason and t.status != "active" else ""
    return f"tenant {t.name}: {state}{why}"


@command(tenants_app, "list", options=_OPTS)
def tenants_list(cli: Cli, user: UserOpt = "local") -> None:
    """List the tenants: status, created, suspended/deleted times, purge date, latest commit,
    storage bytes."""
    with cli.warehouse() as wh:
        found = [TenantRecord.of(t) for t in wh.platform(user).tenants()]
    if cli.out.as_json:
        cli.out.json(found)
        return
    cli.out.table(
        ["tenant", "status", "created", "suspended", "deleted", "purge after", "commit", "size"],
        [
            [
                t.name,
                t.status,
                _when(t.created_at),
                _when(t.suspended_at),
                _when(t.deleted_at),
                _when(t.purge_after),
                "" if t.latest_commit is None else t.latest_commit,
                _size(t.storage_bytes),
            ]
            for t in found
        ],
    )


@command(tenants_app, "show", options=_OPTS)
def tenants_show(cli: Cli, name: NameArg, user: UserOpt = "local") -> None:
    """Show one tenant."""
    with cli.warehouse() as wh:
        t = TenantRecord.of(wh.platform(user).tenant(name))
    cli.out.data(t, _line(t))


@command(tenants_app, "create", options=_OPTS)
def tenants_create(cli: Cli, name: NameArg, user: UserOpt = "local") -> None:
    """Create a tenant and print its first admin API key once."""
    with cli.warehouse() as wh:
        me = wh.platform(user)
        created = me.create_tenant(name)
        record = TenantCreated.of(created, me.tenant(name))
    cli.out.data(
        record, f"tenant {name} created\nadmin API key (shown once): {record.admin_api_key}"
    )


@command(tenants_app, "suspend", options=_OPTS)
def tenants_suspend(
    cli: Cli, name: NameArg, reason: ReasonOpt = None, user: UserOpt = "local"
) -> None:
    """Suspend a tenant: every key and token of it is refused (403 tenant_suspended), its
    data is kept; its engine and cached results are released."""
    with cli.warehouse() as wh:
        t = TenantRecord.of(wh.platform(user).suspend_tenant(name, reason=reason))
    cli.out.data(t, _line(t))


@command(tenants_app, "resume", options=_OPTS)
def tenants_resume(cli: Cli, name: NameArg, user: UserOpt = "local") -> None:
    """Resume a suspended tenant, or a deleted one not purged yet."""
    with cli.warehouse() as wh:
        t = TenantRecord.of(wh.platform(user).resume_tenant(name))
    cli.out.data(t, _line(t))


@command(tenants_app, "delete", options=_OPTS)
def tenants_delete(
    cli: Cli,
    name: NameArg,
    export_to: Annotated[
        Path | None,
        typer.Option(
            "--export-to",
            help="New or empty directory for the export [default <root>/_exports/<tenant>-<time>].",
        ),
    ] = None,
    retention_days: Annotated[
        int | None,
        typer.Option(
            "--retention-days",
            min=0,
            max=36_500,
            help="Days before it may be purged [default: tenant_retention_days]; 0: at once.",
        ),
    ] = None,
    reason: ReasonOpt = None,
    user: UserOpt = "local",
) -> None:
    """Export every table of a tenant (Parquet and a manifest), then mark it deleted: refused
    like a suspended tenant, purged once the retention has passed."""
    with cli.warehouse() as wh:
        me = wh.platform(user)
        deleted = me.delete_tenant(
            name, export_to=export_to, retention_days=retention_days, reason=reason
        )
        record = TenantDeletedRecord.of(deleted, me.tenant(name))
    rows = sum(r["rows"] for r in record.export.relations.values())
    cli.out.data(
        record,
        f"{_line(record.tenant)}\nexported {len(record.export.relations)} tables "
        f"({rows:,} rows) at commit {record.export.commit_id} to {record.export.directory}",
    )


@command(tenants_app, "purge", options=_OPTS)
def tenants_purge(cli: Cli, name: NameArg, user: UserOpt = "local") -> None:
    """Remove a deleted tenant's files and metadata once its retention has passed (its
    export stays)."""
    with cli.warehouse() as wh:
        p = TenantPurgedRecord.of(wh.platform(user).purge_tenant(name))
    cli.out.data(
        p,
        f"tenant {name} purged: {p.files_removed:,} files ({_size(p.bytes_removed)}), "
        f"{sum(p.metadata_rows.values()):,} metadata rows",
    )


@command(tenants_app, "platform-key", options=_OPTS)
def tenants_platform_key(
    cli: Cli, user: Annotated[str, typer.Option("--user", help="Who the key is for.")] = "platform"
) -> None:
    """Issue a platform-admin API key (manages tenants over the API; reads no tenant's data)
    and print it once."""
    with cli.warehouse() as wh:
        key = wh.tenants_admin.issue_platform_key(user)
    cli.out.data(
        {"user": user, "roles": ["platform_admin"], "api_key": key},
        f"platform API key for {user} (shown once): {key}",
    )
