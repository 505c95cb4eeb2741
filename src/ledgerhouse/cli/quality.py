"""`ledgerhouse quality checks|add|remove|results|scores|run`: the tenant's data-quality
checks, their results and scores (docs/governance/quality.md).

The CLI works on the warehouse directory as the tenant's admin. With ``--json`` each prints
the API's records (GET/POST /v1/quality/...). `run` exits 1 when a check failed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ledgerhouse.api.schemas.quality import (
    QualityCheckRecord,
    QualityResultRecord,
    QualityScoreRecord,
)
from ledgerhouse.cli.common import Cli, bad, command

quality_app = typer.Typer(help="Data-quality checks, results and scores.", no_args_is_help=True)


def _params(check: QualityCheckRecord) -> str:
    return ", ".join(f"{k}={v}" for k, v in check.params.items() if k != "reads")


def _results_table(cli: Cli, records: list[QualityResultRecord]) -> None:
    cli.out.table(
        ["at", "commit", "check", "status", "failing", "checked", "message"],
        [
            [
                (r.recorded_at or "")[:19],
                r.commit_id if r.commit_id is not None else f"rejected {r.batch_id or ''}",
                r.check,
                r.status,
                r.failing,
                r.rows_checked,
                r.message,
            ]
            for r in records
        ],
        whole=("at", "check", "status"),
    )


@command(quality_app, "checks")
def quality_checks(cli: Cli) -> None:
    """List every check of the tenant: built-in, beside the cubes, and its own."""
    with cli.warehouse() as wh:
        records = [QualityCheckRecord.model_validate(c) for c in cli.me(wh).quality_checks()]
    if cli.out.as_json:
        cli.out.json(records)
        return
    cli.out.table(
        ["relation", "name", "kind", "severity", "origin", "parameters"],
        [[c.relation, c.name, c.kind, c.severity, c.origin, _params(c)] for c in records],
        whole=("name",),
    )


@command(quality_app, "add")
def quality_add(
    cli: Cli,
    file: Annotated[Path, typer.Argument(help="A YAML file of checks (checks: [...]).")],
) -> None:
    """Validate the checks of a YAML file and add them as the tenant's (a check named like an
    existing one replaces it)."""
    if not file.is_file():
        raise bad(f"no file at {file}", "Check the path.")
    with cli.warehouse() as wh:
        added = cli.me(wh).add_quality_checks(file.read_text())
    records = [QualityCheckRecord.model_validate(c) for c in added]
    cli.out.data(
        records,
        "\n".join(f"added {c.name} ({c.kind} on {c.relation}, {c.severity})" for c in records),
    )


@command(quality_app, "remove")
def quality_remove(
    cli: Cli, name: Annotated[str, typer.Argument(help="The name of a check of the tenant.")]
) -> None:
    """Remove one of the tenant's own checks."""
    with cli.warehouse() as wh:
        gone = QualityCheckRecord.model_validate(cli.me(wh).remove_quality_check(name))
    cli.out.data(gone, f"removed {gone.name}")


@command(quality_app, "results")
def quality_results(
    cli: Cli,
    relation: Annotated[
        str | None, typer.Option("--relation", help="Only this relation's results.")
    ] = None,
    check: Annotated[str | None, typer.Option("--check", help="Only this check.")] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="pass, warn, fail, error or skipped.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="At most.")] = 50,
) -> None:
    """List check results, newest first (per commit, rejected batch, on-demand run)."""
    with cli.warehouse() as wh:
        found = cli.me(wh).quality_results(relation, check=check, status=status, limit=limit)
    records = [QualityResultRecord.model_validate(r) for r in found]
    if cli.out.as_json:
        cli.out.json(records)
        return
    _results_table(cli, records)


@command(quality_app, "scores")
def quality_scores(cli: Cli) -> None:
    """The quality score (0-100) of each checked relation, from its newest results."""
    with cli.warehouse() as wh:
        records = [QualityScoreRecord.model_validate(s) for s in cli.me(wh).quality_scores()]
    if cli.out.as_json:
        cli.out.json(records)
        return
    cli.out.table(
        ["relation", "score", "checks", "passing", "failing", "last commit"],
        [
            [
                s.relation,
                "-" if s.score is None else f"{s.score:.1f}",
                s.checks,
                s.passing,
                ", ".join(s.failing),
                s.last_commit,
            ]
            for s in records
        ],
        whole=("relation", "score"),
    )


@command(quality_app, "run")
def quality_run(
    cli: Cli,
    relation: Annotated[
        str | None, typer.Option("--relation", help="Only this relation's checks.")
    ] = None,
) -> int:
    """Run the checks over the whole latest commit now and record the results; exit 1 when
    a check did not pass."""
    with cli.warehouse() as wh:
        found = cli.me(wh).run_quality(relation)
    records = [QualityResultRecord.model_validate(r) for r in found]
    if cli.out.as_json:
        cli.out.json(records)
    else:
        _results_table(cli, records)
    return 1 if any(r.status in ("warn", "fail", "error") for r in records) else 0
