"""What every CLI command shares: option types, opening the warehouse, the error handler."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ledgerhouse.cli.output import Output
from ledgerhouse.config import load_settings
from ledgerhouse.errors import LedgerhouseError
from ledgerhouse.services import Warehouse

RootOpt = Annotated[
    Path | None,
    typer.Option("--root", help="Warehouse directory [env LEDGERHOUSE_ROOT; default ./warehouse]"),
]
TenantOpt = Annotated[str | None, typer.Option("--tenant", help="Tenant (default: default).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
AsOfOpt = Annotated[
    str | None, typer.Option("--as-of", help="Commit id or ISO timestamp to read as of.")
]


@contextmanager
def _warehouse(root: Path | None) -> Iterator[Warehouse]:
    wh = Warehouse.open(load_settings(root=root))
    try:
        yield wh
    finally:
        wh.close()


@contextmanager
def _progress(out: Output, label: str) -> Iterator[Callable[[str], None]]:
    if out.as_json or not sys.stderr.isatty():
        yield lambda stage: None
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=out.err,
        transient=True,
    ) as bar:
        task = bar.add_task(label)
        yield lambda stage: bar.update(task, description=f"{label}: {stage}")


def _run(as_json: bool, fn: Callable[[Output], int | None]) -> None:
    out = Output(as_json)
    try:
        code = fn(out)
    except LedgerhouseError as exc:
        out.error(exc)
        raise typer.Exit(2 if exc.status < 500 else 1) from None
    raise typer.Exit(code or 0)


def _bad(message: str, hint: str) -> LedgerhouseError:
    from ledgerhouse.errors import InvalidRequest

    return InvalidRequest(message, hint=hint)
