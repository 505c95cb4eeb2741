"""`ledgerhouse schema list|add|add-cube|drop`: the tenant's own extensions of the shared
dimensions, cubes, marts and rollups (docs/tenancy/schemas.md); `ledgerhouse optimize advise`:
the rollups proposed from the tenant's query log (docs/tenancy/rollups.md).

The CLI works on the warehouse directory as the tenant's admin. With ``--json`` each prints
the API's records (GET/POST/DELETE /v1/schema, POST/DELETE /v1/cubes). An extension is
loaded like any dataset: ``ledgerhouse ingest ext_instrument_esg esg.csv``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ledgerhouse.api.schemas.tenant_schema import RollupProposal, SchemaObjectRecord
from ledgerhouse.cli.common import Cli, bad, command

schema_app = typer.Typer(
    help="The tenant's own extensions of dimensions, cubes, marts and rollups.",
    no_args_is_help=True,
)
optimize_app = typer.Typer(
    help="Rollups proposed from the tenant's query log (docs/tenancy/rollups.md).",
    no_args_is_help=True,
)


def _read(file: Path) -> str:
    if not file.is_file():
        raise bad(f"no file at {file}", "Check the path.")
    return file.read_text()


def _summary(o: SchemaObjectRecord) -> str:
    if o.kind == "extension":
        attrs = ", ".join(f"{a['name']} {a['type']}" for a in o.attributes or [])
        return f"{o.dimension}: {attrs}"
    if o.kind == "rollup" and o.rollup:
        grain = f" by {o.rollup.get('granularity')}" if o.rollup.get("granularity") else ""
        return f"{o.cube}: {', '.join(o.rollup.get('dimensions', []))}{grain}"
    return ", ".join(o.reads)


@command(schema_app, "list")
def schema_list(cli: Cli) -> None:
    """List the tenant's extensions, cubes and marts (active and dropped)."""
    with cli.warehouse() as wh:
        records = [SchemaObjectRecord.model_validate(o) for o in cli.me(wh).schema()]
    if cli.out.as_json:
        cli.out.json(records)
        return
    cli.out.table(
        ["kind", "name", "relation", "status", "reads / attributes", "by"],
        [[o.kind, o.name, o.relation or "", o.status, _summary(o), o.created_by] for o in records],
        whole=("kind", "name", "relation", "status"),
    )


@command(schema_app, "add")
def schema_add(
    cli: Cli,
    file: Annotated[
        Path,
        typer.Argument(
            help="A YAML file: an extension (extension:), a mart (mart:), a rollup (rollup:) "
            "or a cube."
        ),
    ],
) -> None:
    """Add an extension of a dimension, a mart, a rollup or a cube from a YAML file; an
    extension's, a mart's and a rollup's table is created (a mart or rollup built from the
    stored facts) in a commit of its own."""
    text = _read(file)
    with cli.warehouse() as wh:
        added = SchemaObjectRecord.model_validate(cli.me(wh).add_schema(text))
    how = f" ({added.relation})" if added.relation else ""
    cli.out.data(added, f"added {added.kind} {added.name}{how}")


@command(schema_app, "add-cube")
def schema_add_cube(
    cli: Cli, file: Annotated[Path, typer.Argument(help="A cube YAML file (docs/cubes.md).")]
) -> None:
    """Add (or replace) one of the tenant's own cubes."""
    text = _read(file)
    with cli.warehouse() as wh:
        added = SchemaObjectRecord.model_validate(cli.me(wh).add_cube(text))
    cli.out.data(added, f"added cube {added.name} (reads {', '.join(added.reads)})")


@command(schema_app, "drop")
def schema_drop(
    cli: Cli,
    kind: Annotated[str, typer.Argument(help="extension, cube, mart or rollup.")],
    name: Annotated[str, typer.Argument(help="Its name (as `schema list` shows it).")],
) -> None:
    """Drop an extension, cube or mart (refused while a cube or mart reads it); an
    extension's or mart's data is kept and its name stays taken."""
    with cli.warehouse() as wh:
        gone = SchemaObjectRecord.model_validate(cli.me(wh).drop_schema(kind, name))
    cli.out.data(gone, f"dropped {gone.kind} {gone.name}")


@command(optimize_app, "advise")
def optimize_advise(
    cli: Cli,
    days: Annotated[float, typer.Option(help="Read the query log of the last DAYS days.")] = 30.0,
    min_queries: Annotated[
        int, typer.Option(help="Propose a rollup that answers at least this many queries.")
    ] = 2,
    limit: Annotated[int, typer.Option(help="At most this many proposals.")] = 10,
    apply: Annotated[
        bool, typer.Option("--apply", help="Add the proposals as the tenant's own rollups.")
    ] = False,
    name: Annotated[
        list[str] | None, typer.Option("--name", help="With --apply: only this proposal.")
    ] = None,
) -> None:
    """Propose rollups for the tenant's cube queries the star answered (each with its
    measured cost, size and estimated benefit); --apply adds them, built in a commit."""
    if days <= 0 or min_queries < 1 or limit < 1:
        raise bad("--days must be positive, --min-queries and --limit at least 1",
                  "e.g. --days 30 --min-queries 2")  # fmt: skip
    with cli.warehouse() as wh:
        found = cli.me(wh).advise_rollups(
            days=days, min_queries=min_queries, limit=limit, apply=apply, names=name or None
        )
    proposals = [RollupProposal.model_validate(p) for p in found]
    if cli.out.as_json:
        cli.out.json(proposals)
        return
    if not proposals:
        cli.out.console.print(
            f"no proposal: no cube query of the last {days:g} days that the star answered "
            f"{min_queries} times or more is left without a rollup"
        )
        return
    cli.out.table(
        ["name", "cube", "dimensions", "grain", "queries", "star ms", "est. ms", "rows",
         "× fewer", "est. bytes", "applied"],
        [[p.rollup, p.cube, ", ".join(p.dimensions), p.granularity or "", p.queries,
          f"{p.star_ms:.1f}", f"{p.estimated_ms:.1f}", p.rows, f"{p.reduction:.1f}",
          p.estimated_bytes, p.applied or ""] for p in proposals],
        whole=("name", "cube", "applied"),
    )  # fmt: skip
