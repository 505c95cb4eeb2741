"""`ledgerhouse resources show|set|reset` (a tenant's limits, as the platform admin) and
`ledgerhouse usage` (metered usage). The CLI works on the warehouse's files directly, so it
acts as a local platform principal (docs/tenancy/resources.md). With ``--json`` each prints
the API's record (GET /v1/tenants/{tenant}/resources, GET /v1/tenants/{tenant}/usage)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ledgerhouse.access import PLATFORM_ROLE, PLATFORM_TENANT, Principal
from ledgerhouse.cli.common import Cli, command

resources_app = typer.Typer(help="Resource limits and quotas per tenant.", no_args_is_help=True)

#: the local caller of these commands: the platform admin (it holds the warehouse's files)
LOCAL_PLATFORM = Principal(tenant=PLATFORM_TENANT, user="local", roles=(PLATFORM_ROLE,),
                           via="local")  # fmt: skip


def _tenant(cli: Cli) -> str:
    return cli.tenant or cli.settings().default_tenant


def _print(cli: Cli, record: dict[str, Any]) -> None:
    from ledgerhouse.api.schemas.resources import TenantResourcesRecord

    if cli.out.as_json:
        cli.out.json(TenantResourcesRecord(**record))
        return
    own = record["overrides"]
    rows = [
        [name, "" if value is None else value, "override" if name in own else "default"]
        for name, value in record["effective"].items()
    ]
    cli.out.table(["setting", "value", "from"], rows, title=f"resources of {record['tenant']}")


@command(resources_app, "show")
def resources_show(cli: Cli) -> None:
    """Show a tenant's limits in force: its overrides and the server's defaults."""
    with cli.warehouse() as wh:
        _print(cli, wh.resources.show(LOCAL_PLATFORM, _tenant(cli)))


@command(resources_app, "set")
def resources_set(
    cli: Cli,
    memory: Annotated[
        str | None, typer.Option("--memory", help="duckdb_memory_limit, e.g. 2GB.")
    ] = None,
    threads: Annotated[int | None, typer.Option("--threads", help="duckdb_threads.")] = None,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", help="query_concurrency.")
    ] = None,
    queue: Annotated[int | None, typer.Option("--queue", help="query_queue.")] = None,
    row_limit: Annotated[int | None, typer.Option("--row-limit", help="query_row_limit.")] = None,
    storage_quota: Annotated[
        int | None, typer.Option("--storage-quota-bytes", help="storage_quota_bytes.")
    ] = None,
    rate: Annotated[
        float | None, typer.Option("--rate", help="rate_limit_per_s (requests per second).")
    ] = None,
    burst: Annotated[int | None, typer.Option("--burst", help="rate_limit_burst.")] = None,
    cache_bytes: Annotated[
        int | None, typer.Option("--cache-bytes", help="result_cache_bytes (the budget).")
    ] = None,
) -> None:
    """Set overrides of a tenant's limits (the others keep their value); applies at once."""
    given = {
        "duckdb_memory_limit": memory, "duckdb_threads": threads,
        "query_concurrency": concurrency, "query_queue": queue, "query_row_limit": row_limit,
        "storage_quota_bytes": storage_quota, "rate_limit_per_s": rate,
        "rate_limit_burst": burst, "result_cache_bytes": cache_bytes,
    }  # fmt: skip
    values = {k: v for k, v in given.items() if v is not None}
    with cli.warehouse() as wh:
        _print(cli, wh.resources.set(LOCAL_PLATFORM, _tenant(cli), values))


@command(resources_app, "reset")
def resources_reset(
    cli: Cli,
    field: Annotated[
        list[str] | None,
        typer.Option("--field", help="A setting to reset (repeat it); all when none."),
    ] = None,
) -> None:
    """Drop a tenant's overrides (the named ones, or all): back to the server's settings."""
    with cli.warehouse() as wh:
        _print(cli, wh.resources.reset(LOCAL_PLATFORM, _tenant(cli), field or None))


def usage(
    cli: Cli,
    since: Annotated[
        str | None, typer.Option("--since", help="An ISO time, or a duration back: 24h, 7d.")
    ] = None,
    hours: Annotated[bool, typer.Option("--hours", help="One line per hour.")] = False,
) -> None:
    """Metered usage per tenant (every tenant when --tenant is not given): queries, rows,
    bytes scanned, CPU seconds, ingested rows, storage."""
    from ledgerhouse.api.schemas.resources import UsageRecord

    with cli.warehouse() as wh:
        found = wh.usage.usage(LOCAL_PLATFORM, cli.tenant, since=since)
    if cli.out.as_json:
        cli.out.json(UsageRecord(**found))
        return
    names = ["queries", "query_errors", "throttled", "rows_returned", "bytes_scanned",
             "cpu_seconds", "ingest_batches", "ingested_rows"]  # fmt: skip
    if hours:
        rows = [
            [t["tenant"], h["hour"].isoformat(timespec="minutes"), *(_n(h[n]) for n in names)]
            for t in found["tenants"]
            for h in t["hours"]
        ]
        cli.out.table(["tenant", "hour", *names], rows, whole=("hour",))
        return
    rows = [
        [t["tenant"], *(_n(t["totals"][n]) for n in names), t["storage_bytes"]]
        for t in found["tenants"]
    ]
    cli.out.table(["tenant", *names, "storage_bytes"], rows)


def _n(value: float) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def register(app: typer.Typer) -> None:
    """Add ``resources`` and ``usage`` to the CLI."""
    app.add_typer(resources_app, name="resources")
    command(app, "usage")(usage)
