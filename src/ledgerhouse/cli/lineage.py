"""`ledgerhouse lineage TABLE[.COLUMN]` and `ledgerhouse explain-cell QUERY_ID ROW`.

The CLI works on the warehouse directory as the tenant's admin. With ``--json`` each prints
the API's answer (GET /v1/lineage/..., GET /v1/queries/{id}/cells/{row}).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ledgerhouse.api.schemas.lineage import CellExplanation, LineageResponse
from ledgerhouse.cli.common import AsOfOpt, Cli, bad, command


def lineage(
    cli: Cli,
    target: Annotated[
        str, typer.Argument(help="A relation (fact_trade, cube:trades) or relation.column.")
    ],
    upstream: Annotated[
        bool, typer.Option("--upstream", help="Where it comes from (the default).")
    ] = False,
    downstream: Annotated[bool, typer.Option("--downstream", help="What is made from it.")] = False,
    depth: Annotated[
        int | None, typer.Option("--depth", min=1, help="Levels to follow (default: all).")
    ] = None,
    as_of: AsOfOpt = None,
) -> None:
    """Show where a table or column comes from (or, with --downstream, what uses it): each
    edge with its job (ingest:<dataset>, refresh:<mart>, cube <name>) and how it was found
    (sql: SQLGlot over the job's SQL; declared: ingestion's Polars steps; cube)."""
    if upstream and downstream:
        raise bad("--upstream and --downstream are exclusive", "Give one of them.")
    relation, _, column = target.partition(".")
    direction = "downstream" if downstream else "upstream"
    found = _run_lineage(cli, relation, column or None, direction, depth, as_of)
    if cli.out.as_json:
        cli.out.json(LineageResponse.model_validate(found).model_dump(by_alias=True))
        return
    what = f"{relation}.{column}" if column else relation
    cli.out.info(
        f"{found['direction']} lineage of {what} ({found['layer']}) at commit "
        f"{found['commit_id']}, graph {found['digest'][:12]}"
        + ("" if found["recorded"] else " (not recorded at that commit: the current graph)")
    )
    # one edge a line: column paths are long, and a table of them is cut on a narrow terminal
    edges = found["edges"]
    wide = max((len(e["from"]) for e in edges), default=0)
    for e in edges:
        cli.out.console.print(
            f"{e['depth']:>2}  {e['from']:<{wide}}  →  {e['to']}   {e['job']} ({e['kind']})",
            markup=False,
            soft_wrap=True,
        )
    if not edges:
        cli.out.console.print(f"no {direction} lineage: {what} is an origin", markup=False)


def explain_cell(
    cli: Cli,
    query_id: Annotated[str, typer.Argument(help="A query id from `ledgerhouse queries`.")],
    row: Annotated[int, typer.Argument(min=0, help="The answer's row, counted from 0.")],
) -> None:
    """Explain one row of a logged answer: the source batches that made it (with their raw
    records and files) and the column paths from the raw columns, at the answer's commit."""
    with cli.warehouse() as wh:
        found = cli.me(wh).explain_cell(query_id, row)
    if cli.out.as_json:
        cli.out.json(CellExplanation.model_validate(found).model_dump())
        return
    cli.out.info(
        f"row {row} of query {query_id} at commit {found['commit_id']}: precision "
        f"{found['precision']} ({found['scope']})"
    )
    cli.out.fields({"values": found["values"], "filters": found["filters"]})
    # one block a batch: ids, times and file paths are pasted back, never cut to a width
    say = cli.out.console.print
    say(f"batches ({len(found['batches'])}):", markup=False)
    for b in found["batches"]:
        for line in _batch_lines(b):
            say(line, markup=False, soft_wrap=True)
    say("column paths:", markup=False)
    for col, paths in found["columns"].items():
        for p in paths:
            say(f"  {col}: {' → '.join(p['path'])}", markup=False, soft_wrap=True)


def _batch_lines(b: dict[str, Any]) -> list[str]:
    raw = b.get("raw") or {}
    rows = ", ".join(f"{n:,} rows of {rel}" for rel, n in b["rows_in_answer"].items())
    span = raw.get("row_numbers")
    report = b.get("report") or {}
    lines = [
        f"  {b['batch_id']} ({b['dataset']}, received {b['received_at'] or '?'}, commit "
        f"{b.get('commit_id')}): {rows} in this row",
        f"    batch: {report.get('rows_received')} received, {report.get('rows_accepted')} "
        f"accepted, {report.get('rows_quarantined')} quarantined",
    ]
    if span:
        lines.append(
            f"    raw records: {raw.get('relation')} version {raw.get('version')}, "
            f"_row_number {span[0]}–{span[1]}"
        )
    lines += [f"    file: {f}" for f in raw.get("files") or []]
    return lines


def _run_lineage(
    cli: Cli, relation: str, column: str | None, direction: str, depth: int | None, as_of: Any
) -> dict[str, Any]:
    with cli.warehouse() as wh:
        return cli.me(wh).lineage(relation, column, direction=direction, depth=depth, as_of=as_of)


def register(app: typer.Typer) -> None:
    """Add `lineage` and `explain-cell` to ``app``."""
    command(app, "lineage")(lineage)
    command(app, "explain-cell")(explain_cell)
