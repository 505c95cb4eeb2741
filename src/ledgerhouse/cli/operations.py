"""Operations (docs/operations.md): `ledgerhouse backup --to DIR`, `backup list|verify --from
DIR`, `restore --from DIR --root NEW [--as-of COMMIT]` (backups of a warehouse root, consistent
while the server runs, incremental, verifiable) and `ledgerhouse check` (the tables against
what the commits name). Whoever holds the root's files runs them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ledgerhouse.cli.common import Cli, Defaults, JsonOpt, RootOpt, bad, command, progress
from ledgerhouse.cli.output import Output

backup_app = typer.Typer(
    help="Back up the warehouse (--to DIR), list and verify backups (docs/operations.md).",
    invoke_without_command=True,
)
FromOpt = Annotated[Path, typer.Option("--from", help="The backup folder (a --to of backup).")]
BackupOpt = Annotated[
    str | None, typer.Option("--backup", help="Which backup (its id): default the newest.")
]


@backup_app.callback()
def backup_main(
    ctx: typer.Context,
    to: Annotated[
        Path | None, typer.Option("--to", help="The backup folder: a new backup goes inside.")
    ] = None,
    root: RootOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Back up the warehouse into --to DIR while it serves: the metadata (SQLite's online
    backup) and every file its commits reference; a second backup into the same folder copies
    only new files."""
    if ctx.invoked_subcommand is not None:
        return
    before = ctx.find_object(Defaults) or Defaults()
    cli = Cli(root=root or before.root, out=Output(as_json or before.as_json))

    def run(cli: Cli) -> None:
        if to is None:
            raise bad("say where the backup goes: --to DIR",
                      "e.g. ledgerhouse backup --to /backups/ledgerhouse")  # fmt: skip
        with cli.warehouse() as wh, progress(cli.out, "backup") as say:
            report = wh.backups.backup(to, progress=say)
        cli.out.data(
            report.to_dict(),
            f"backup {report.id} in {report.path}: {report.files:,} files, "
            f"{report.bytes:,} bytes ({report.copied_bytes:,} copied, {report.linked_files:,} "
            f"files linked from {report.previous or 'no earlier backup'}) in "
            f"{report.seconds:.1f} s; latest commits {report.tenants}",
        )

    cli.run(run)


@command(backup_app, "list", options=("root", "json"))
def backup_list(cli: Cli, source: FromOpt) -> None:
    """The backups in a folder, oldest first."""
    found = _offline(cli).list(source)
    if cli.out.as_json:
        cli.out.json(found)
        return
    cli.out.table(
        ["id", "created", "previous", "latest commits", "files", "bytes"],
        [[b["id"], b["created_at"], b["previous"] or "", b["tenants"], b["files"], b["bytes"]]
         for b in found],
        whole=("id",),
    )  # fmt: skip


@command(backup_app, "verify", options=("root", "json"))
def backup_verify(cli: Cli, source: FromOpt, backup: BackupOpt = None) -> int:
    """Re-read every file of a backup against its manifest (size, SHA-256) and open every
    table version its commits name; exit 1 on a problem."""
    report = _offline(cli).verify(source, backup)
    if cli.out.as_json:
        cli.out.json(report.to_dict())
    elif report.problems:
        for problem in report.problems[:50]:
            cli.out.err.print(problem, markup=False)
        cli.out.err.print(f"backup {report.id}: {len(report.problems)} problems")
    else:
        cli.out.console.print(f"backup {report.id} verified: {report.files:,} files, "
                              f"{report.bytes:,} bytes, in {report.seconds:.1f} s")  # fmt: skip
    return 1 if report.problems else 0


def restore(
    cli: Cli,
    source: FromOpt,
    new_root: Annotated[
        Path, typer.Option("--root", help="The new warehouse root (new or empty).")
    ],
    backup: BackupOpt = None,
    as_of: Annotated[
        int | None,
        typer.Option("--as-of", help="Keep the commits up to this commit id only."),
    ] = None,
) -> None:
    """Restore a backup into a new root (verified first); --as-of keeps the commits up to one
    commit (the batches after it can be sent again)."""
    from ledgerhouse.services import Warehouse

    with progress(cli.out, "restore") as say:
        report = Warehouse.restore(source, new_root, backup=backup, as_of=as_of, progress=say)
    cli.out.data(
        report.to_dict(),
        f"restored backup {report.id} into {new_root}: {report.files:,} files, "
        f"{report.bytes:,} bytes in {report.seconds:.1f} s; latest commits {report.tenants}. "
        f"Serve it with `ledgerhouse serve --root {new_root}`.",
    )


def _offline(cli: Cli) -> Any:
    from ledgerhouse.services import offline_backups

    return offline_backups(cli.settings())


def check(
    cli: Cli,
    all_commits: Annotated[
        bool, typer.Option("--all-commits", help="Every commit's versions, not the latest's.")
    ] = False,
    deep: Annotated[
        bool, typer.Option("--deep", help="Read every data file's Parquet footer too.")
    ] = False,
) -> int:
    """Check that every file the latest commit (--all-commits: every commit) references
    exists, has its logged size (--deep: reads as Parquet), and that each table's log reaches
    the version its commit names; exit 1 naming each problem."""
    with cli.warehouse() as wh, progress(cli.out, "check"):
        problems = wh.check(cli.tenant, every_commit=all_commits, deep=deep)
    if cli.out.as_json:
        cli.out.json({"problems": [p.to_dict() for p in problems]})
    elif problems:
        for p in problems:
            cli.out.console.print(str(p), markup=False)
        cli.out.err.print(f"{len(problems)} problems. Repair: restore from a backup "
                          "(docs/operations.md).")  # fmt: skip
    else:
        cli.out.console.print("the storage holds every file the commits reference")
    return 1 if problems else 0


def maintain(
    cli: Cli,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be removed; remove nothing.")
    ] = False,
    older_than: Annotated[
        float,
        typer.Option("--older-than", help="Remove orphan files older than this many hours."),
    ] = 1.0,
    compact: Annotated[
        bool, typer.Option("--compact", help="First compact small files (one commit).")
    ] = False,
    table: Annotated[
        list[str] | None, typer.Option("--table", help="With --compact: only this table.")
    ] = None,
    target_mb: Annotated[
        float, typer.Option("--target-mb", help="With --compact: the files' target size.")
    ] = 128.0,
    sort_by: Annotated[
        str | None,
        typer.Option("--sort-by", help="With --compact: Z-order by these columns (a,b)."),
    ] = None,
) -> None:
    """Vacuum: remove the data files no commit references (a crashed batch's leftovers),
    older than --older-than hours; every file a commit can read is kept. --compact first
    rewrites small files into --target-mb files (the same rows) in one commit."""
    if older_than < 0:
        raise bad("--older-than must be 0 or more hours", "e.g. --older-than 1")
    compacted: list[dict[str, Any]] = []
    with cli.warehouse() as wh, progress(cli.out, "maintain"):
        if compact and not dry_run:
            sort = [c.strip() for c in sort_by.split(",") if c.strip()] if sort_by else []
            compacted = wh.compact(cli.tenant, tables=table, target_mb=target_mb, sort_by=sort)
        reports = wh.vacuum(cli.tenant, older_than_s=older_than * 3600, dry_run=dry_run)
    if cli.out.as_json:
        cli.out.json({"compacted": compacted, "vacuum": [r.to_dict() for r in reports]})
        return
    for c in compacted:
        cli.out.console.print(
            f"{c['tenant']}: compacted {c['table']}: {c['files_before']} files -> "
            f"{c['files_after']} (version {c['version']})",
            markup=False,
        )
    verb = "would remove" if dry_run else "removed"
    for r in reports:
        cli.out.console.print(
            f"{r.tenant}: {verb} {r.orphans:,} files no commit references ({r.bytes:,} bytes) "
            f"in {r.tables} tables; {r.kept_young:,} younger than {older_than:g} h kept",
            markup=False,
        )
