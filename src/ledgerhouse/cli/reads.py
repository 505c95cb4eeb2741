"""The commands that read: query, cube, cubes, tables, commits, batch, batches, queries.

With ``--json`` (or ``--format json``) each prints the record or result the API answers with,
in the same schema (api/schemas/)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ledgerhouse.api.schemas.records import (
    BatchRecord,
    CommitRecord,
    CubeRecord,
    QueryRecord,
    TableRecord,
)
from ledgerhouse.api.schemas.results import cube_answer, sql_answer
from ledgerhouse.cli.common import AsOfOpt, Cli, bad, command
from ledgerhouse.cli.output import Output, to_json

FormatOpt = Annotated[str, typer.Option("--format", help="table, csv, json or parquet.")]
QueryFormatOpt = Annotated[
    str,
    typer.Option(
        "--format",
        help="table or json (capped at query_row_limit), or csv, parquet or arrow: every row, "
        "streamed (to --output, or stdout).",
    ),
]
OutputOpt = Annotated[Path | None, typer.Option("--output", "-o", help="Write to a file.")]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Bypass the result cache.")]
FORMATS = ("table", "csv", "json", "parquet")
#: The formats ``query`` streams every row in (docs/cli.md); table and json are capped.
EXPORT_FORMATS = ("csv", "parquet", "arrow")


def register(app: typer.Typer) -> None:
    """Add the read commands to ``app`` (in this order in ``ledgerhouse --help``)."""
    command(app, options=("root", "tenant"), json_format="fmt")(query)
    command(app, options=("root", "tenant"), json_format="fmt")(cube)
    command(app)(cubes)
    command(app)(tables)
    command(app)(commits)
    command(app)(batch)
    command(app)(batches)
    command(app)(queries)


def query(
    cli: Cli,
    sql: Annotated[str, typer.Argument(help="One SELECT over the warehouse tables.")],
    as_of: AsOfOpt = None,
    fmt: QueryFormatOpt = "table",
    output: OutputOpt = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", min=1, help="Most rows (table and json: at most query_row_limit)."),
    ] = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", min=0.001, help="Time limit in seconds.")
    ] = None,
    explain: Annotated[
        str | None, typer.Option("--explain", help="Show the plan: 'plan' or 'analyze'.")
    ] = None,
    no_cache: NoCacheOpt = False,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            help="A value for the next ? (or $n) placeholder, repeated in order: a JSON "
            "scalar (5, 0.5, true, null) or else text; quote text that looks like a number "
            "('\"00123\"').",
        ),
    ] = None,
) -> None:
    """Run a read-only SQL query (optionally as of a past commit or time)."""
    if explain not in (None, "plan", "analyze"):
        raise bad(f"unknown --explain {explain!r}", "Use --explain plan or analyze.")
    if fmt in EXPORT_FORMATS and explain is None:
        _export(cli, sql, fmt, output, as_of=as_of, limit=limit, params=_params(param or []),
                timeout_s=timeout)  # fmt: skip
        return
    _check_format(fmt)
    with cli.warehouse() as wh:
        res = cli.me(wh).query(
            sql,
            as_of=as_of,
            limit=limit,
            params=_params(param or []),
            timeout_s=timeout,
            explain=explain,  # type: ignore[arg-type]
            use_cache=not no_cache,
        )
    if explain is not None and fmt == "table" and output is None:
        for _kind, plan in res.rows():
            cli.out.console.print(plan)
        return
    _write_result(cli.out, res, fmt, output, lambda: sql_answer(res))
    if res.policy:
        cli.out.info(f"note: computed under the policies {', '.join(res.policy['policies'])}")
    if res.truncated:
        cli.out.info(
            f"note: result truncated to the first {res.table.num_rows:,} rows "
            "(query_row_limit); for every row, export it: --format parquet --output FILE "
            "(or --format csv / arrow)"
        )


def _export(cli: Cli, sql: str, fmt: str, output: Path | None, **options: Any) -> None:
    """Every row (or ``--limit``) streamed to ``output`` (written whole or not at all) or to
    stdout, through the query service's export entry."""
    with cli.warehouse() as wh:
        done = cli.me(wh).export(sql, output or sys.stdout.buffer, format=fmt, **options)
    if output is not None:
        cli.out.info(f"{done.rows:,} rows · {done.bytes:,} bytes · commit {done.commit.id}")


def _params(values: list[str]) -> list[Any] | None:
    """``--param`` values: a JSON scalar as that value, anything else as text."""
    out: list[Any] = []
    for i, value in enumerate(values, 1):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        if isinstance(parsed, list | dict):
            raise bad(
                f"--param #{i} {value!r} is a JSON {type(parsed).__name__}, not a scalar",
                "Give one value per placeholder; for IN (...) write one ? per value.",
            )
        out.append(parsed)
    return out or None


def cube(
    cli: Cli,
    query_file: Annotated[
        str, typer.Argument(help="A JSON cube query file (docs/cubes.md), or - for stdin.")
    ],
    cube_name: Annotated[
        str | None,
        typer.Option("--cube", help='The cube (default: the file\'s "cube" key).'),
    ] = None,
    as_of: AsOfOpt = None,
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the SQL and the route; run nothing.")
    ] = False,
    drill_down: Annotated[
        str | None,
        typer.Option("--drill-down", help="HIERARCHY or HIERARCHY=VALUE: one level finer."),
    ] = None,
    roll_up: Annotated[
        str | None, typer.Option("--roll-up", help="HIERARCHY: one level coarser.")
    ] = None,
    raw: Annotated[bool, typer.Option("--raw", help="Skip the rollups (raw route).")] = False,
    no_cache: NoCacheOpt = False,
) -> None:
    """Run a cube query from a JSON file (measures, dimensions, time, filters, pivot...)."""
    from ledgerhouse.semantic import parse_query

    _check_format(fmt)
    out = cli.out
    name, spec = _cube_file(query_file, cube_name)
    if as_of is not None:
        spec["as_of"] = as_of
    if raw:
        spec["route"] = "raw"
    if no_cache:
        spec["cache"] = False
    with cli.warehouse() as wh:
        asked = parse_query(spec)
        if drill_down is not None:
            hierarchy, _, value = drill_down.partition("=")
            asked = cli.me(wh).cube_drill(name, asked, hierarchy, value=value or None)
        if roll_up is not None:
            asked = cli.me(wh).cube_drill(name, asked, roll_up, up=True)
        res = cli.me(wh).cube(name, asked, dry_run=dry_run)
    if dry_run:
        if out.as_json:
            out.json(cube_answer(res, asked))
        else:
            out.console.print(res.plan.sql)
            out.info(f"params {res.plan.params} · route {res.route} · commit {res.commit}")
            for rollup, why in res.plan.considered.items():
                out.info(f"  rollup {rollup}: {why}")
        return
    _write_result(out, res, fmt, output, lambda: cube_answer(res, asked))
    if res.truncated:
        out.info("note: result truncated to the server's row limit (add a limit)")


def _cube_file(query_file: str, cube_name: str | None) -> tuple[str, dict[str, Any]]:
    """The cube's name and the query of a JSON file (``-``: stdin)."""
    try:
        text = sys.stdin.read() if query_file == "-" else Path(query_file).read_text()
        spec = json.loads(text)
    except OSError as exc:
        raise bad(f"cannot read {query_file}: {exc.strerror}", "Check the path.") from None
    except json.JSONDecodeError as exc:
        raise bad(f"{query_file} is not valid JSON: {exc}", "See docs/cubes.md.") from None
    if not isinstance(spec, dict):
        raise bad(f"{query_file} must hold a JSON object", "See docs/cubes.md.")
    name = cube_name or spec.pop("cube", None)
    spec.pop("cube", None)
    if not name:
        raise bad("which cube?", 'Pass --cube trades, or put "cube": "trades" in the file.')
    return name, spec


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise bad(f"unknown format {fmt!r}", "Use --format table, csv, json or parquet.")


def _write_result(out: Output, res: Any, fmt: str, output: Path | None, answer: Any) -> None:
    """A query or cube result as a table, CSV, Parquet, or JSON (``answer()``: the API's)."""
    import polars as pl

    df = pl.from_arrow(res.table)
    assert isinstance(df, pl.DataFrame)
    if fmt == "table" and output is None:
        commit = res.commit if isinstance(res.commit, int) else res.commit.id
        out.table(df.columns, res.rows(), title=None)
        out.info(f"{df.height} rows · commit {commit} · {res.route} · {res.elapsed_ms:.1f} ms")
        return
    if fmt == "parquet":
        if output is None:
            buf = io.BytesIO()
            df.write_parquet(buf)
            sys.stdout.buffer.write(buf.getvalue())
        else:
            df.write_parquet(output)
        return
    if fmt == "json":
        if output is None:
            out.json(answer())
        else:
            output.write_text(to_json(answer(), indent=None))
        return
    text = df.write_csv()
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)


def cubes(cli: Cli, as_of: AsOfOpt = None) -> None:
    """List the cubes with their measures, dimensions, hierarchies and rollups."""
    with cli.warehouse() as wh:
        found = [CubeRecord.model_validate(c) for c in cli.me(wh).cubes(as_of=as_of)]
    out = cli.out
    if out.as_json:
        out.json(found)
        return
    for c in found:
        out.console.print(f"[bold]{c.name}[/] ({c.fact}): {c.description}")
        out.console.print("  measures:   " + ", ".join(m.name for m in c.measures))
        out.console.print("  dimensions: " + ", ".join(d.name for d in c.dimensions))
        for h, levels in c.hierarchies.items():
            out.console.print(f"  hierarchy {h}: {' > '.join(levels)}")
        if c.segments:
            out.console.print("  segments:   " + ", ".join(s.name for s in c.segments))
        for r in c.rollups:
            grain = r.granularity or "all time"
            out.console.print(
                f"  rollup {r.name}: {', '.join(r.dimensions)} × {grain} ({r.rows or 0:,} rows)"
            )


def tables(cli: Cli, as_of: AsOfOpt = None) -> None:
    """List the queryable tables with their pinned versions and row counts."""
    with cli.warehouse() as wh:
        found = [TableRecord.model_validate(t) for t in cli.me(wh).tables(as_of=as_of)]
    if cli.out.as_json:
        cli.out.json(found)
        return
    cli.out.table(
        ["table", "layer", "rows", "version", "description"],
        [[t.name, t.layer, f"{t.rows:,}", t.version, t.description] for t in found],
    )


def commits(cli: Cli, limit: int = 20) -> None:
    """List warehouse commits, newest first (ids usable with --as-of)."""
    with cli.warehouse() as wh:
        found = [CommitRecord.of(c) for c in cli.me(wh).commits(limit=limit)]
    if cli.out.as_json:
        cli.out.json(found)
        return
    cli.out.table(
        ["id", "created_at", "operation", "batch", "tables changed"],
        [
            [
                c.id,
                c.created_at,  # in full: pasted into --as-of it pins this commit
                c.operation,
                c.batch_id or "",
                ", ".join(c.changed_tables),
            ]
            for c in found
        ],
        whole=("id", "created_at"),
    )


def batch(cli: Cli, batch_id: str) -> None:
    """Show the report of one ingested (or rejected) batch."""
    with cli.warehouse() as wh:
        found = BatchRecord.model_validate(cli.me(wh).batch(batch_id))
    if cli.out.as_json:
        cli.out.json(found)
    else:
        cli.out.fields(found.model_dump())


def batches(cli: Cli, limit: int = 20) -> None:
    """List recent batches (committed and rejected), newest first."""
    with cli.warehouse() as wh:
        found = [BatchRecord.model_validate(b) for b in cli.me(wh).batches(limit=limit)]
    if cli.out.as_json:
        cli.out.json(found)
        return
    cli.out.table(
        ["batch", "dataset", "status", "received", "accepted", "quarantined", "commit"],
        [
            [
                b.batch_id,
                b.dataset,
                b.status,
                b.rows_received,
                b.rows_accepted,
                b.rows_quarantined,
                b.commit_id,
            ]
            for b in found
        ],
    )


def queries(
    cli: Cli,
    query_id: Annotated[str | None, typer.Argument(help="Show one query in full.")] = None,
    slowest: Annotated[bool, typer.Option("--slowest", help="Slowest first.")] = False,
    status: Annotated[
        str | None, typer.Option("--status", help="ok, error, rejected or timeout.")
    ] = None,
    plan: Annotated[bool, typer.Option("--plan", help="With QUERY_ID: add the plan.")] = False,
    limit: int = 20,
) -> None:
    """The query log: recent (or --slowest) queries, or one query with its plan."""
    with cli.warehouse() as wh:
        if query_id:
            entry = QueryRecord.model_validate(cli.me(wh).query_log_entry(query_id, plan=plan))
            if cli.out.as_json:
                cli.out.json(entry)
            else:
                cli.out.fields(entry.model_dump(exclude_unset=True))
            return
        entries = cli.me(wh).query_log_entries(status=status, slowest=slowest, limit=limit)
    found = [QueryRecord.model_validate(e) for e in entries]
    if cli.out.as_json:
        cli.out.json(found)
        return
    cli.out.table(
        ["id", "started", "ms", "rows", "status", "user", "text"],
        [
            [
                q.id,
                q.started_at[:19],
                f"{q.duration_ms:.1f}",
                q.rows,
                q.status,
                q.user,
                " ".join(q.text.split())[:60],
            ]
            for q in found
        ],
    )
