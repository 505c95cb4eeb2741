"""`ledgerhouse schema list|add|add-cube|drop`: the tenant's own extensions of the shared
dimensions, cubes and marts (docs/tenancy/schemas.md).

The CLI works on the warehouse directory as the tenant's admin. With ``--json`` each prints
the API's records (GET/POST/DELETE /v1/schema, POST/DELETE /v1/cubes). An extension is
loaded like any dataset: ``ledgerhouse ingest ext_instrument_esg esg.csv``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ledgerhouse.api.schemas.tenant_schema import SchemaObjectRecord
from ledgerhouse.cli.common import Cli, bad, command

schema_app = typer.Typer(
    help="The tenant's own extensions of dimensions, cubes and marts.", no_args_is_help=True
)


def _read(file: Path) -> str:
    if not file.is_file():
        raise bad(f"no file at {file}", "Check the path.")
    return file.read_text()


def _summary(o: SchemaObjectRecord) -> str:
    if o.kind == "extension":
        attrs = ", ".join(f"{a['name']} {a['type']}" for a in o.attributes or [])
        return f"{o.dimension}: {attrs}"
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
        typer.Argument(help="A YAML file: an extension (extension:), a mart (mart:) or a cube."),
    ],
) -> None:
    """Add an extension of a dimension, a mart or a cube from a YAML file; an extension's and
    a mart's table is created (and a mart built) in a commit of its own."""
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
    kind: Annotated[str, typer.Argument(help="extension, cube or mart.")],
    name: Annotated[str, typer.Argument(help="Its name (as `schema list` shows it).")],
) -> None:
    """Drop an extension, cube or mart (refused while a cube or mart reads it); an
    extension's or mart's data is kept and its name stays taken."""
    with cli.warehouse() as wh:
        gone = SchemaObjectRecord.model_validate(cli.me(wh).drop_schema(kind, name))
    cli.out.data(gone, f"dropped {gone.kind} {gone.name}")
