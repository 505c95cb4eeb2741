"""`ledgerhouse upgrade`: rewrite the tables an older Ledgerhouse wrote (storage/upgrade.py)."""

from __future__ import annotations

from typing import Annotated

import typer

from ledgerhouse.cli.common import Cli


def upgrade(
    cli: Cli,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would be rewritten; write nothing.")
    ] = False,
) -> None:
    """Upgrade the tables of --tenant (every tenant when none is named) to this release's
    layout: one new commit per tenant; older commits still read as they did."""
    from ledgerhouse.services import Warehouse

    out = cli.out

    def say(tenant: str, relation: str, what: str) -> None:
        if not out.as_json:
            out.info(f"{tenant}: {relation}: {what}")

    reports = Warehouse.upgrade(cli.settings(), tenant=cli.tenant, dry_run=dry_run, progress=say)
    lines = []
    for r in reports:
        if r.up_to_date:
            lines.append(f"{r.tenant}: up to date, nothing to upgrade (no commit)")
            continue
        verb = "would rewrite" if r.dry_run else "rewrote"
        lines.append(
            f"{r.tenant}: {verb} {len(r.tables)} tables, {r.rows:,} rows, {r.rounded:,} values "
            "rounded to their column's scale; "
            + ("dry run: nothing written" if r.dry_run else f"commit {r.commit_id}")
            + (
                f" (commit {r.previous_commit_id} and older still read the old layout)"
                if r.previous_commit_id is not None and not r.dry_run
                else ""
            )
        )
        for t in r.tables:
            for e in t.examples:
                lines.append(
                    f"  rounded in {t.relation}.{e['column']}: {e['stored']} -> {e['upgraded']}"
                )
    out.data([r.to_dict() for r in reports], "\n".join(lines))
