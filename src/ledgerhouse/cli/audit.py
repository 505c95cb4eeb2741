"""`ledgerhouse audit list|verify`: read the tenant's hash-chained audit trail and check it.

The CLI works on the warehouse directory as the tenant's admin (who may read the trail).
`verify` exits 1 when the chain is broken (an edited, deleted or moved entry, a cut tail, an
anchor not found), so a scheduled job can alert on it. With ``--json`` each prints the API's
record (GET /v1/audit, GET /v1/audit/verify).
"""

from __future__ import annotations

from typing import Annotated

import typer

from ledgerhouse.api.schemas.audit import AuditEntryRecord, AuditVerifyReport
from ledgerhouse.cli.common import Cli, command

audit_app = typer.Typer(help="Read and verify the audit trail.", no_args_is_help=True)


def _read_set(entry: AuditEntryRecord) -> str:
    """relation(col, col) per relation read or written, as one cell."""
    parts = []
    for relation in entry.relations or {}:
        columns = (entry.columns or {}).get(relation)
        parts.append(f"{relation}({', '.join(columns)})" if columns else relation)
    return "; ".join(parts)


@command(audit_app, "list")
def audit_list(
    cli: Cli,
    user: Annotated[str | None, typer.Option("--user", help="Only this user's entries.")] = None,
    action: Annotated[
        str | None, typer.Option("--action", help="query, cube, analytics, export, ingest, ...")
    ] = None,
    relation: Annotated[
        str | None, typer.Option("--relation", help="Entries that read or wrote this relation.")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="ISO date or time (inclusive).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="ISO date (the whole day) or time (exclusive).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="At most.")] = 100,
) -> None:
    """List the tenant's audit entries, newest first: who did what, on which relations and
    columns, how many rows, which query or batch."""
    with cli.warehouse() as wh:
        found = cli.me(wh).audit_entries(
            user=user, action=action, relation=relation, since=since, until=until, limit=limit
        )
    records = [AuditEntryRecord.model_validate(e) for e in found]
    if cli.out.as_json:
        cli.out.json(records)
        return
    cli.out.table(
        ["seq", "at", "user", "action", "status", "read / wrote", "rows", "query / batch"],
        [
            [
                e.seq,
                e.at[:19] + "Z",
                e.user,
                e.action,
                e.status,
                _read_set(e),
                e.rows,
                e.query_id or e.batch_id or "",
            ]
            for e in records
        ],
        whole=("seq", "at", "query / batch"),
    )


@command(audit_app, "verify")
def audit_verify(
    cli: Cli,
    expect_head: Annotated[
        str | None,
        typer.Option("--expect-head", help="A head hash kept outside the database earlier."),
    ] = None,
) -> int:
    """Recompute the tenant's audit hash chain; exit 1 when it is broken."""
    with cli.warehouse() as wh:
        report = AuditVerifyReport.model_validate(cli.me(wh).verify_audit(expect_head=expect_head))
    if cli.out.as_json:
        cli.out.json(report)
    else:
        state = "ok" if report.ok else f"BROKEN: {len(report.problems)} problem(s)"
        lines = [
            f"audit trail of {report.tenant}: {state}",
            f"entries checked: {report.entries_checked}",
            f"head: seq {report.head_seq} hash {report.head_hash}",
        ]
        if report.anchor is not None:
            at = report.anchor.get("seq")
            lines.append(f"anchor: {'found at seq ' + str(at) if at else 'NOT FOUND'}")
        for p in report.problems:
            lines.append(f"  seq {p.seq if p.seq is not None else '-'} {p.kind}: {p.message}")
            for name, change in p.fields.items():
                lines.append(
                    f"      {name}: recorded {change.get('recorded')!r}, "
                    f"stored {change.get('stored')!r}"
                )
        cli.out.console.print("\n".join(lines), markup=False)
    return 0 if report.ok else 1
