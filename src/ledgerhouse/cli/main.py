"""The `ledgerhouse` command line: a thin adapter over Warehouse."""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from ledgerhouse.cli.analytics import analytics_app, models
from ledgerhouse.cli.common import (
    AsOfOpt,
    JsonOpt,
    RootOpt,
    TenantOpt,
    _bad,
    _progress,
    _run,
    _warehouse,
)
from ledgerhouse.cli.keys import keys_app
from ledgerhouse.cli.output import Output
from ledgerhouse.config import load_settings
from ledgerhouse.services import Warehouse

app = typer.Typer(
    help="Ledgerhouse: a financial data warehouse on Delta Lake and DuckDB.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def init(root: RootOpt = None, tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """Create a warehouse (or add a tenant) and print its admin API key once."""

    def go(out: Output) -> None:
        wh, key = Warehouse.init(load_settings(root=root), tenant=tenant)
        info = {
            "root": str(wh.root),
            "tenant": tenant or wh.settings.default_tenant,
            "admin_api_key": key,
        }
        wh.close()
        text = f"warehouse ready at {info['root']} (tenant {info['tenant']})\n" + (
            f"admin API key (shown once): {key}" if key else "tenant existed: no new key"
        )
        out.data(info, text)

    _run(as_json, go)


@app.command()
def generate(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the Parquet files.")],
    scale: Annotated[
        float, typer.Option("--scale", min=0.0001, help="FinBench scale factor.")
    ] = 0.01,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 42,
    days: Annotated[int, typer.Option("--days", min=5, max=5000, help="Business days.")] = 750,
    as_json: JsonOpt = False,
) -> None:
    """Generate the FinBench datasets (one Parquet file per dataset)."""
    from ledgerhouse.finbench.generate import generate as gen

    def go(out: Output) -> None:
        t = time.perf_counter()
        with _progress(out, "generating") as say:
            counts = gen(out_dir, scale, seed=seed, days=days, progress=say)
        secs = time.perf_counter() - t
        text = "\n".join(f"{k:15s} {v:>12,} rows" for k, v in counts.items())
        out.data(
            {"out": str(out_dir), "rows": counts, "seconds": round(secs, 2)},
            f"{text}\nwritten to {out_dir} in {secs:.1f}s",
        )

    _run(as_json, go)


@app.command()
def ingest(
    dataset: Annotated[str, typer.Argument(help="Dataset name, e.g. trades.")],
    file: Annotated[Path, typer.Argument(help="CSV, JSON, NDJSON, Parquet or Arrow file.")],
    root: RootOpt = None,
    batch_id: Annotated[str | None, typer.Option("--batch-id", help="Idempotency key.")] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="Override the file format.")] = None,
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Ingest one batch, exactly once. Exit 0 when stored, 2 when rejected."""

    def go(out: Output) -> None:
        with _warehouse(root) as wh, _progress(out, f"ingesting {dataset}") as say:
            r = wh.ingest(
                dataset,
                file,
                fmt=fmt,
                batch_id=batch_id,
                principal=wh.local_principal(tenant),
                progress=say,
            )
        d = r.to_dict()
        text = (
            f"{r.status}: batch {r.batch_id} ({dataset}) — {r.rows_received:,} received, "
            f"{r.rows_accepted:,} accepted, {r.rows_quarantined:,} quarantined; commit "
            f"{r.commit_id}; {r.duration_s:.2f}s ({r.rows_per_s:,.0f} rows/s)"
        )
        if r.quarantine_reasons:
            text += "\nquarantine reasons: " + ", ".join(
                f"{k} ×{v}" for k, v in r.quarantine_reasons.items()
            )
        for w in r.warnings:
            text += f"\nwarning: {w}"
        out.data(d, text)

    _run(as_json, go)


@app.command()
def load(
    directory: Annotated[
        Path, typer.Argument(help="Directory of <dataset>.<ext> files or <dataset>/ folders.")
    ],
    root: RootOpt = None,
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Ingest every dataset file of a directory, in load order (reference data first)."""
    from ledgerhouse.ingest import LOAD_ORDER

    def go(out: Output) -> None:
        reports = []
        todo = []
        for ds in LOAD_ORDER:  # <dataset>.<ext>, or a folder <dataset>/ of parts (one batch each)
            files = sorted(directory.glob(f"{ds}.*"))
            if files:
                todo.append((ds, files[0]))
            elif (directory / ds).is_dir():
                todo += [(ds, f) for f in sorted((directory / ds).iterdir()) if f.is_file()]
        if not todo:
            raise _bad(
                f"no dataset files in {directory}",
                "Expect files named <dataset>.<csv|json|ndjson|parquet|arrow>.",
            )
        show = not out.as_json and sys.stderr.isatty()
        with (
            _warehouse(root) as wh,
            Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=out.err,
                transient=True,
                disable=not show,
            ) as bar,
        ):
            task = bar.add_task("loading", total=len(todo))
            for ds, path in todo:

                def stage(s: str, ds: str = ds) -> None:
                    bar.update(task, description=f"{ds}: {s}")

                r = wh.ingest(ds, path, principal=wh.local_principal(tenant), progress=stage)
                bar.advance(task)
                reports.append(r.to_dict())
                if not out.as_json:
                    out.info(
                        f"{ds:15s} {r.status:10s} {r.rows_accepted:>12,} rows "
                        f"{r.duration_s:7.2f}s {r.rows_per_s:>12,.0f} rows/s"
                    )
        if out.as_json:
            out.json(reports)

    _run(as_json, go)


@app.command()
def query(
    sql: Annotated[str, typer.Argument(help="One SELECT over the warehouse tables.")],
    root: RootOpt = None,
    as_of: AsOfOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv, json or parquet.")] = "table",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to a file.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Most rows.")] = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", min=0.001, help="Time limit in seconds.")
    ] = None,
    explain: Annotated[
        str | None, typer.Option("--explain", help="Show the plan: 'plan' or 'analyze'.")
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Bypass the result cache.")] = False,
    tenant: TenantOpt = None,
) -> None:
    """Run a read-only SQL query (optionally as of a past commit or time)."""
    if explain not in (None, "plan", "analyze"):
        Output().error(_bad(f"unknown --explain {explain!r}", "Use --explain plan or analyze."))
        raise typer.Exit(2)
    if fmt not in {"table", "csv", "json", "parquet"}:
        Output().error(_bad(f"unknown format {fmt!r}", "Use --format table, csv, json or parquet."))
        raise typer.Exit(2)

    def go(out: Output) -> None:
        with _warehouse(root) as wh:
            res = wh.query(
                sql,
                as_of=as_of,
                limit=limit,
                timeout_s=timeout,
                explain=explain,  # type: ignore[arg-type]
                use_cache=not no_cache,
                principal=wh.local_principal(tenant),
            )
        if explain is not None and fmt == "table" and output is None:
            for _kind, plan in res.rows():
                out.console.print(plan)
            return
        _write_result(out, res, fmt, output)
        if res.truncated:
            out.info(f"note: result truncated to {res.table.num_rows} rows (use --limit)")

    _run(fmt == "json", go)


def _write_result(out: Output, res: Any, fmt: str, output: Path | None) -> None:
    import polars as pl

    df = pl.from_arrow(res.table)
    assert isinstance(df, pl.DataFrame)
    commit = res.commit if isinstance(res.commit, int) else res.commit.id
    if fmt == "table" and output is None:
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
        payload = {
            "columns": res.columns,
            "rows": res.rows(),
            "commit": commit,
            "route": res.route,
            "truncated": res.truncated,
        }
        if output is None:
            out.json(payload)
        else:
            import json

            from ledgerhouse.cli.output import _default

            output.write_text(json.dumps(payload, default=_default))
        return
    text = df.write_csv() if fmt in {"csv", "table"} else ""
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)


@app.command()
def cube(
    query_file: Annotated[
        str, typer.Argument(help="A JSON cube query file (docs/cubes.md), or - for stdin.")
    ],
    cube_name: Annotated[
        str | None,
        typer.Option("--cube", help='The cube (default: the file\'s "cube" key).'),
    ] = None,
    root: RootOpt = None,
    as_of: AsOfOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv, json or parquet.")] = "table",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to a file.")] = None,
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
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Bypass the result cache.")] = False,
    tenant: TenantOpt = None,
) -> None:
    """Run a cube query from a JSON file (measures, dimensions, time, filters, pivot...)."""
    import json

    if fmt not in {"table", "csv", "json", "parquet"}:
        Output().error(_bad(f"unknown format {fmt!r}", "Use --format table, csv, json or parquet."))
        raise typer.Exit(2)

    def go(out: Output) -> None:
        try:
            text = sys.stdin.read() if query_file == "-" else Path(query_file).read_text()
            spec = json.loads(text)
        except OSError as exc:
            raise _bad(f"cannot read {query_file}: {exc.strerror}", "Check the path.") from None
        except json.JSONDecodeError as exc:
            raise _bad(f"{query_file} is not valid JSON: {exc}", "See docs/cubes.md.") from None
        if not isinstance(spec, dict):
            raise _bad(f"{query_file} must hold a JSON object", "See docs/cubes.md.")
        name = cube_name or spec.pop("cube", None)
        spec.pop("cube", None)
        if not name:
            raise _bad("which cube?", 'Pass --cube trades, or put "cube": "trades" in the file.')
        if as_of is not None:
            spec["as_of"] = as_of
        if raw:
            spec["route"] = "raw"
        if no_cache:
            spec["cache"] = False
        with _warehouse(root) as wh:
            principal = wh.local_principal(tenant)
            query: Any = spec
            if drill_down is not None:
                hierarchy, _, value = drill_down.partition("=")
                query = wh.cube_drill(name, query, hierarchy, value=value or None)
            if roll_up is not None:
                query = wh.cube_drill(name, query, roll_up, up=True)
            res = wh.cube(name, query, dry_run=dry_run, principal=principal)
        if dry_run:
            info = res.to_dict()
            if out.as_json or fmt == "json":
                out.json(info)
            else:
                out.console.print(res.plan.sql)
                out.info(f"params {res.plan.params} · route {res.route} · commit {res.commit}")
                for rollup, why in res.plan.considered.items():
                    out.info(f"  rollup {rollup}: {why}")
            return
        _write_result(out, res, fmt, output)
        if res.truncated:
            out.info("note: result truncated to the server's row limit (add a limit)")

    _run(fmt == "json", go)


@app.command()
def cubes(
    root: RootOpt = None, as_of: AsOfOpt = None, tenant: TenantOpt = None, as_json: JsonOpt = False
) -> None:
    """List the cubes with their measures, dimensions, hierarchies and rollups."""

    def go(out: Output) -> None:
        with _warehouse(root) as wh:
            info = wh.cubes(as_of=as_of, principal=wh.local_principal(tenant))
        if out.as_json:
            out.json(info)
            return
        for c in info:
            out.console.print(f"[bold]{c['name']}[/] ({c['fact']}): {c['description']}")
            out.console.print("  measures:   " + ", ".join(m["name"] for m in c["measures"]))
            out.console.print("  dimensions: " + ", ".join(d["name"] for d in c["dimensions"]))
            for h, levels in c["hierarchies"].items():
                out.console.print(f"  hierarchy {h}: {' > '.join(levels)}")
            if c["segments"]:
                out.console.print("  segments:   " + ", ".join(s["name"] for s in c["segments"]))
            for r in c["rollups"]:
                grain = r["granularity"] or "all time"
                out.console.print(
                    f"  rollup {r['name']}: {', '.join(r['dimensions'])} × {grain} "
                    f"({r['rows']:,} rows)"
                )

    _run(as_json, go)


@app.command()
def tables(
    root: RootOpt = None, as_of: AsOfOpt = None, tenant: TenantOpt = None, as_json: JsonOpt = False
) -> None:
    """List the queryable tables with their pinned versions and row counts."""

    def go(out: Output) -> None:
        with _warehouse(root) as wh:
            info = wh.tables(as_of=as_of, principal=wh.local_principal(tenant))
        if out.as_json:
            out.json(info)
        else:
            out.table(
                ["table", "layer", "rows", "version", "description"],
                [
                    [t["name"], t["layer"], f"{t['rows']:,}", t["version"], t["description"]]
                    for t in info
                ],
            )

    _run(as_json, go)


@app.command()
def commits(
    root: RootOpt = None, tenant: TenantOpt = None, limit: int = 20, as_json: JsonOpt = False
) -> None:
    """List warehouse commits, newest first (ids usable with --as-of)."""

    def go(out: Output) -> None:
        with _warehouse(root) as wh:
            cs = wh.commits(principal=wh.local_principal(tenant), limit=limit)
        rows = [
            [
                c.id,
                c.created_at.isoformat(timespec="seconds"),
                c.operation,
                c.batch_id or "",
                ", ".join(c.changed_tables),
            ]
            for c in cs
        ]
        if out.as_json:
            out.json(
                [
                    dict(
                        zip(
                            ["id", "created_at", "operation", "batch_id", "changed"], r, strict=True
                        )
                    )
                    for r in rows
                ]
            )
        else:
            out.table(["id", "created_at", "operation", "batch", "tables changed"], rows)

    _run(as_json, go)


@app.command()
def batch(batch_id: str, root: RootOpt = None, tenant: TenantOpt = None) -> None:
    """Show the report of one ingested (or rejected) batch."""

    def go(out: Output) -> None:
        with _warehouse(root) as wh:
            out.json(wh.batch(batch_id, principal=wh.local_principal(tenant)))

    _run(True, go)


@app.command()
def batches(
    root: RootOpt = None, tenant: TenantOpt = None, limit: int = 20, as_json: JsonOpt = False
) -> None:
    """List recent batches (committed and rejected), newest first."""

    def go(out: Output) -> None:
        with _warehouse(root) as wh:
            reports = wh.batches(principal=wh.local_principal(tenant), limit=limit)
        if out.as_json:
            out.json(reports)
            return
        out.table(
            ["batch", "dataset", "status", "received", "accepted", "quarantined", "commit"],
            [
                [
                    r["batch_id"],
                    r["dataset"],
                    r["status"],
                    r["rows_received"],
                    r["rows_accepted"],
                    r["rows_quarantined"],
                    r.get("commit_id"),
                ]
                for r in reports
            ],
        )

    _run(as_json, go)


@app.command()
def queries(
    query_id: Annotated[str | None, typer.Argument(help="Show one query in full.")] = None,
    slowest: Annotated[bool, typer.Option("--slowest", help="Slowest first.")] = False,
    status: Annotated[
        str | None, typer.Option("--status", help="ok, error, rejected or timeout.")
    ] = None,
    plan: Annotated[bool, typer.Option("--plan", help="With QUERY_ID: add the plan.")] = False,
    limit: int = 20,
    root: RootOpt = None,
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The query log: recent (or --slowest) queries, or one query with its plan."""

    def go(out: Output) -> None:
        with _warehouse(root) as wh:
            who = wh.local_principal(tenant)
            if query_id:
                out.json(wh.query_log_entry(query_id, plan=plan, principal=who))
                return
            rows = wh.query_log_entries(status=status, slowest=slowest, limit=limit, principal=who)
        if out.as_json:
            out.json(rows)
            return
        out.table(
            ["id", "started", "ms", "rows", "status", "user", "text"],
            [
                [
                    r["id"],
                    r["started_at"][:19],
                    f"{r['duration_ms']:.1f}",
                    r["rows"],
                    r["status"],
                    r["user"],
                    " ".join(r["text"].split())[:60],
                ]
                for r in rows
            ],
        )

    _run(as_json, go)


app.add_typer(keys_app, name="keys")


@app.command()
def bench(
    scale: Annotated[float, typer.Option("--scale", min=0.0001, help="FinBench scale.")] = 1.0,
    runs: Annotated[int, typer.Option("--runs", min=1, help="Timed runs per query.")] = 15,
    paths: Annotated[
        str,
        typer.Option(
            "--paths",
            help="Comma-separated: service, service_cached, library, library_raw (rollups "
            "off), duckdb, polars, pandas.",
        ),
    ] = "service,service_cached,library,library_raw,duckdb,polars,pandas",
    out_dir: Annotated[Path, typer.Option("--out", help="Results (and data) folder.")] = Path(
        "bench-results"
    ),
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the data.")] = 42,
    days: Annotated[int, typer.Option("--days", min=5, help="Business days of data.")] = 750,
    amendments: Annotated[
        int, typer.Option("--amendments", min=1, help="Trades amended in the merge test.")
    ] = 100_000,
    reuse: Annotated[
        bool,
        typer.Option("--reuse-warehouse", help="Skip ingestion if DIR holds a loaded warehouse."),
    ] = False,
) -> None:
    """Run FinBench: ingestion, then every query on every path; writes results.json/.md/.png."""
    from ledgerhouse.finbench.bench import BenchConfig, run_bench

    def go(out: Output) -> None:
        cfg = BenchConfig(
            scale=scale,
            runs=runs,
            out=out_dir,
            paths=tuple(p.strip() for p in paths.split(",") if p.strip()),
            seed=seed,
            days=days,
            amendments=amendments,
            reuse_warehouse=reuse,
        )
        results = run_bench(cfg, say=out.info)
        out.console.print((out_dir / "results.md").read_text())
        s = results["summary"]
        if "median_ratio_service_to_duckdb" in s:
            out.info(f"median service/raw DuckDB: {s['median_ratio_service_to_duckdb']:.2f}×")

    _run(False, go)


app.add_typer(analytics_app, name="analytics")
app.command()(models)


@app.command()
def serve(
    root: RootOpt = None,
    host: Annotated[str | None, typer.Option("--host", help="Bind address.")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port.")] = None,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs)."""

    def go(out: Output) -> None:
        import uvicorn

        from ledgerhouse.api.app import create_app
        from ledgerhouse.api.bodies import server_options

        settings = load_settings(root=root, host=host, port=port)
        with Warehouse.open(settings) as wh:
            out.info(f"serving {wh.root} on http://{settings.host}:{settings.port} (docs: /docs)")
            uvicorn.run(create_app(wh), **server_options(settings))

    _run(False, go)


@app.command()
def demo(
    root: RootOpt = None,
    scale: Annotated[
        float, typer.Option("--scale", help="FinBench scale of the demo data.")
    ] = 0.05,
    host: Annotated[str | None, typer.Option("--host")] = None,
    port: Annotated[int | None, typer.Option("--port")] = None,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Load only, do not serve.")] = False,
) -> None:
    """`make run`: create a warehouse, load generated demo data through ingestion, serve it."""
    from ledgerhouse.cli.demo import run_demo

    def go(out: Output) -> None:
        run_demo(out, root, scale, host, port, serve=not no_serve)

    _run(False, go)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
