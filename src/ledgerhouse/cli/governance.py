"""`ledgerhouse governance report`: the report of a period (docs/governance/report.md)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from ledgerhouse.cli.common import Cli, bad, command

governance_app = typer.Typer(help="Governance reports.", no_args_is_help=True)


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise bad(f"{option} {text!r} is not a date", "Give the day as YYYY-MM-DD.") from None


@command(governance_app, "report", json_format="fmt")
def governance_report(
    cli: Cli,
    start: Annotated[str, typer.Option("--from", help="First day (YYYY-MM-DD, UTC).")],
    end: Annotated[str, typer.Option("--to", help="Last day, inclusive (YYYY-MM-DD).")],
    fmt: Annotated[str, typer.Option("--format", help="md (default), html or json.")] = "md",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout.")
    ] = None,
) -> None:
    """Quality scores and trend, failing checks, quarantine by reason, freshness, lineage
    coverage, access to classified columns and metadata changes for a period."""
    first, last = _day(start, "--from"), _day(end, "--to")
    if fmt not in ("md", "html", "json"):
        raise bad(f"unknown format {fmt!r}", "Use --format md, html or json.")
    with cli.warehouse() as wh:
        text = str(cli.me(wh).governance_report(first, last, format=fmt))
    if output is not None:
        output.write_text(text)
        cli.out.err.print(f"governance report written to {output}")
        return
    typer.echo(text, nl=False)
