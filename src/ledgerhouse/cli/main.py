"""The `ledgerhouse` command line: a thin adapter over Warehouse.

The commands that write (init, generate, ingest, load), serve and benchmark are here; the
commands that read are in reads.py, analytics in analytics.py, API keys in keys.py, the
upgrade of an older warehouse in upgrade.py. Every
command is registered with ``command`` (common.py), which adds the shared options.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from ledgerhouse.api.schemas.records import BatchRecord
from ledgerhouse.cli import reads
from ledgerhouse.cli.access import register as register_access
from ledgerhouse.cli.analytics import analytics_app, models
from ledgerhouse.cli.audit import audit_app
from ledgerhouse.cli.catalog import catalog_app
from ledgerhouse.cli.common import Cli, bad, command, defaults, progress
from ledgerhouse.cli.governance import governance_app
from ledgerhouse.cli.keys import keys_app
from ledgerhouse.cli.lineage import register as register_lineage
from ledgerhouse.cli.metadata import glossary_app, metadata_app
from ledgerhouse.cli.openlineage import register as register_openlineage
from ledgerhouse.cli.operations import backup_app, check, maintain, restore
from ledgerhouse.cli.output import reason_counts, refused_rows
from ledgerhouse.cli.quality import quality_app
from ledgerhouse.cli.resources import register as register_resources
from ledgerhouse.cli.schema import optimize_app, schema_app
from ledgerhouse.cli.tenants import tenants_app
from ledgerhouse.cli.upgrade import upgrade

app = typer.Typer(
    help="Ledgerhouse: a financial data warehouse on Delta Lake and DuckDB.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.callback()(defaults)


@command(app)
def init(cli: Cli) -> None:
    """Create a warehouse (or add a tenant) and print its admin API key once."""
    from ledgerhouse.services import Warehouse

    wh, key = Warehouse.init(cli.settings(), tenant=cli.tenant)
    # the first init also makes the platform admin's key (docs/tenancy/lifecycle.md)
    lifecycle = wh.tenants_admin
    platform_key = None if lifecycle.platform_key_exists() else lifecycle.issue_platform_key()
    info = {
        "root": str(wh.root),
        "tenant": cli.tenant or wh.settings.default_tenant,
        "admin_api_key": key,
        "platform_api_key": platform_key,
    }
    wh.close()
    text = f"warehouse ready at {info['root']} (tenant {info['tenant']})\n" + (
        f"admin API key (shown once): {key}" if key else "tenant existed: no new key"
    )
    if platform_key:
        text += f"\nplatform admin API key (shown once): {platform_key}"
    cli.out.data(info, text)


@command(app, options=("json",))
def generate(
    cli: Cli,
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the Parquet files.")],
    scale: Annotated[
        float, typer.Option("--scale", min=0.0001, help="FinBench scale factor.")
    ] = 0.01,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 42,
    days: Annotated[int, typer.Option("--days", min=5, max=5000, help="Business days.")] = 750,
) -> None:
    """Generate the FinBench datasets (one Parquet file per dataset)."""
    from ledgerhouse.finbench.generate import generate as gen

    t = time.perf_counter()
    with progress(cli.out, "generating") as say:
        counts = gen(out_dir, scale, seed=seed, days=days, progress=say)
    secs = time.perf_counter() - t
    text = "\n".join(f"{k:15s} {v:>12,} rows" for k, v in counts.items())
    cli.out.data(
        {"out": str(out_dir), "rows": counts, "seconds": round(secs, 2)},
        f"{text}\nwritten to {out_dir} in {secs:.1f}s",
    )


@command(app)
def ingest(
    cli: Cli,
    dataset: Annotated[str, typer.Argument(help="Dataset name, e.g. trades.")],
    file: Annotated[Path, typer.Argument(help="CSV, JSON, NDJSON, Parquet or Arrow file.")],
    batch_id: Annotated[str | None, typer.Option("--batch-id", help="Idempotency key.")] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="Override the file format.")] = None,
) -> None:
    """Ingest one batch, exactly once. Exit 0 when stored, 2 when rejected."""
    with cli.warehouse() as wh, progress(cli.out, f"ingesting {dataset}") as say:
        r = cli.me(wh).ingest(dataset, file, fmt=fmt, batch_id=batch_id, progress=say)
    text = (
        f"{r.status}: batch {r.batch_id} ({dataset}) — {r.rows_received:,} received, "
        f"{r.rows_accepted:,} accepted, {r.rows_quarantined:,} quarantined; commit "
        f"{r.commit_id}; {r.duration_s:.2f}s ({r.rows_per_s:,.0f} rows/s)"
    )
    if r.quarantine_reasons:
        text += "\n" + "\n".join(refused_rows(r.to_dict()))
        text += "\nquarantine reasons: " + reason_counts(r.quarantine_reasons)
    for w in r.warnings:
        text += f"\nwarning: {w}"
    cli.out.data(BatchRecord.model_validate(r.to_dict()), text)


@command(app)
def load(
    cli: Cli,
    directory: Annotated[
        Path, typer.Argument(help="Directory of <dataset>.<ext> files or <dataset>/ folders.")
    ],
) -> None:
    """Ingest every dataset file of a directory, in load order (reference data first)."""
    from ledgerhouse.ingest import LOAD_ORDER

    out = cli.out
    todo = []
    for ds in LOAD_ORDER:  # <dataset>.<ext>, or a folder <dataset>/ of parts (one batch each)
        files = sorted(directory.glob(f"{ds}.*"))
        if files:
            todo.append((ds, files[0]))
        elif (directory / ds).is_dir():
            todo += [(ds, f) for f in sorted((directory / ds).iterdir()) if f.is_file()]
    if not todo:
        raise bad(
            f"no dataset files in {directory}",
            "Expect files named <dataset>.<csv|json|ndjson|parquet|arrow>.",
        )
    reports = []
    show = not out.as_json and sys.stderr.isatty()
    with (
        cli.warehouse() as wh,
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

            r = cli.me(wh).ingest(ds, path, progress=stage)
            bar.advance(task)
            reports.append(BatchRecord.model_validate(r.to_dict()))
            if not out.as_json:
                out.info(
                    f"{ds:15s} {r.status:10s} {r.rows_accepted:>12,} rows "
                    f"{r.duration_s:7.2f}s {r.rows_per_s:>12,.0f} rows/s"
                )
    if out.as_json:
        out.json(reports)


reads.register(app)
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(metadata_app, name="metadata")
app.add_typer(glossary_app, name="glossary")
app.add_typer(catalog_app, name="catalog")
app.add_typer(quality_app, name="quality")
app.add_typer(schema_app, name="schema")  # docs/tenancy/schemas.md
app.add_typer(optimize_app, name="optimize")  # docs/tenancy/rollups.md
app.add_typer(backup_app, name="backup")  # docs/operations.md
command(app, "restore", options=("json",))(restore)
command(app, "check", options=("root", "tenant", "json"))(check)
command(app, "maintain", options=("root", "tenant", "json"))(maintain)
app.add_typer(governance_app, name="governance")
app.add_typer(tenants_app, name="tenants")  # platform admin (docs/tenancy/lifecycle.md)
register_lineage(app)  # lineage, explain-cell
register_access(app)  # access, roles, grants, policies (docs/tenancy/access.md)
register_openlineage(app)  # lineage-events
register_resources(app)  # resources show|set|reset, usage
command(app, "upgrade")(upgrade)


@command(app, options=())
def bench(
    cli: Cli,
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
    from ledgerhouse.finbench.harness import load_bench

    harness = load_bench()  # benchmarks/ of a source checkout, or a hint where to run
    cfg = harness.BenchConfig(
        scale=scale,
        runs=runs,
        out=out_dir,
        paths=tuple(p.strip() for p in paths.split(",") if p.strip()),
        seed=seed,
        days=days,
        amendments=amendments,
        reuse_warehouse=reuse,
    )
    results = harness.run_bench(cfg, say=cli.out.info)
    cli.out.console.print((out_dir / "results.md").read_text())
    s = results["summary"]
    if "median_ratio_service_to_duckdb" in s:
        cli.out.info(f"median service/raw DuckDB: {s['median_ratio_service_to_duckdb']:.2f}×")


app.add_typer(analytics_app, name="analytics")
command(app, "models")(models)


@command(app, options=("root",))
def serve(
    cli: Cli,
    host: Annotated[str | None, typer.Option("--host", help="Bind address.")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port.")] = None,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs)."""
    import uvicorn

    from ledgerhouse.api.app import create_app
    from ledgerhouse.api.bodies import server_options
    from ledgerhouse.services import Warehouse

    settings = cli.settings(host=host, port=port)
    with Warehouse.open(settings) as wh:
        cli.out.info(f"serving {wh.root} on http://{settings.host}:{settings.port} (docs: /docs)")
        uvicorn.run(create_app(wh), **server_options(settings))


@command(app, options=("root",))
def demo(
    cli: Cli,
    scale: Annotated[
        float, typer.Option("--scale", help="FinBench scale of the demo data.")
    ] = 0.05,
    host: Annotated[str | None, typer.Option("--host")] = None,
    port: Annotated[int | None, typer.Option("--port")] = None,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Load only, do not serve.")] = False,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Delete the demo warehouse and load it again.")
    ] = False,
) -> None:
    """`make run`: create a warehouse, load generated demo data through ingestion, serve it.
    Run again, it serves the demo already loaded (same --scale) without generating it again."""
    from ledgerhouse.cli.demo import run_demo

    settings = cli.settings(host=host, port=port)
    run_demo(cli.out, settings, scale, serve=not no_serve, fresh=fresh)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
