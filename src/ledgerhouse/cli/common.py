"""What every CLI command shares, declared once: the ``--root``, ``--tenant`` and ``--json``
options, the settings and the output mode resolved once per invocation, opening the
warehouse, and the error handler (exit 2 for a refused input, 1 for an internal error).

A command is a function of the invocation (``Cli``) and its own options, registered with
``@command(group)``: the shared options are added to its signature, so they work after the
command as they always did (``ledgerhouse tables --root DIR --json``), and also before it
(``ledgerhouse --root DIR tables``), where the root callback (``defaults``) reads them.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ledgerhouse.cli.output import Output
from ledgerhouse.config import Settings, load_settings
from ledgerhouse.errors import InvalidRequest, LedgerhouseError

if TYPE_CHECKING:  # imported by the commands that open a warehouse, not at start-up
    from ledgerhouse.services import Warehouse
    from ledgerhouse.session import Session

RootOpt = Annotated[
    Path | None,
    typer.Option("--root", help="Warehouse directory [env LEDGERHOUSE_ROOT; default ./warehouse]"),
]
TenantOpt = Annotated[str | None, typer.Option("--tenant", help="Tenant (default: default).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
AsOfOpt = Annotated[
    str | None, typer.Option("--as-of", help="Commit id or ISO timestamp to read as of.")
]

_KW = inspect.Parameter.KEYWORD_ONLY
#: The shared options a command may take, by the name ``command(options=...)`` uses.
SHARED = {
    "root": inspect.Parameter("root", _KW, default=None, annotation=RootOpt),
    "tenant": inspect.Parameter("tenant", _KW, default=None, annotation=TenantOpt),
    "json": inspect.Parameter("as_json", _KW, default=False, annotation=JsonOpt),
}
#: typer passes the click context to a parameter of this type (the root callback's defaults).
_CONTEXT = inspect.Parameter(
    "ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context
)


@dataclass
class Defaults:
    """The shared options given before the command (``ledgerhouse --root DIR ...``)."""

    root: Path | None = None
    tenant: str | None = None
    as_json: bool = False


@dataclass
class Cli:
    """One invocation: where the warehouse is, as which tenant, and how to print."""

    root: Path | None = None
    tenant: str | None = None
    out: Output = field(default_factory=Output)
    _settings: Settings | None = None

    def settings(self, **overrides: Any) -> Settings:
        """The settings, loaded once (``overrides``, e.g. host and port, on the first call)."""
        if self._settings is None:
            self._settings = load_settings(root=self.root, **overrides)
        return self._settings

    @contextmanager
    def warehouse(self) -> Iterator[Warehouse]:
        from ledgerhouse.services import Warehouse

        wh = Warehouse.open(self.settings())
        try:
            yield wh
        finally:
            wh.close()

    def me(self, wh: Warehouse) -> Session:
        """The session of the local caller: admin of ``--tenant``, named explicitly (whoever
        runs the CLI holds the warehouse's files, and works on them as their owner)."""
        return wh.local(self.tenant, roles=("admin",), user="local")

    def run(self, fn: Callable[..., int | None], *args: Any, **kwargs: Any) -> None:
        """Run a command; a LedgerhouseError is printed (text or JSON) and sets the exit code."""
        try:
            code = fn(self, *args, **kwargs)
        except LedgerhouseError as exc:
            self.out.error(exc)
            raise typer.Exit(2 if exc.status < 500 else 1) from None
        raise typer.Exit(code or 0)


def _print_version(asked: bool) -> None:
    if asked:
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("ledgerhouse")
        except PackageNotFoundError:  # a source tree on sys.path, not installed
            from ledgerhouse import __version__ as found
        typer.echo(f"ledgerhouse {found}")
        raise typer.Exit()


VersionOpt = Annotated[
    bool,
    typer.Option(
        "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
]


def defaults(
    ctx: typer.Context,
    root: RootOpt = None,
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
    version: VersionOpt = False,
) -> None:
    """Ledgerhouse: a financial data warehouse on Delta Lake and DuckDB."""
    ctx.obj = Defaults(root, tenant, as_json)


def command(
    group: typer.Typer,
    name: str | None = None,
    *,
    options: tuple[str, ...] = ("root", "tenant", "json"),
    json_format: str | None = None,
    **kw: Any,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``fn(cli, **own_options)`` as a command of ``group`` with the shared
    ``options``. ``json_format`` names an option (``--format``) whose value ``json`` also
    makes the output (errors included) JSON."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        own = list(inspect.signature(fn, eval_str=True).parameters.values())[1:]  # not `cli`
        params = [_CONTEXT, *own, *(SHARED[o] for o in options)]

        @functools.wraps(fn)
        def invoke(ctx: typer.Context, **kwargs: Any) -> None:
            given = Defaults(kwargs.pop("root", None), kwargs.pop("tenant", None))
            as_json = kwargs.pop("as_json", False)
            if json_format is not None:
                as_json = as_json or kwargs[json_format] == "json"
            before = ctx.find_object(Defaults) or Defaults()
            cli = Cli(
                root=given.root or before.root,
                tenant=given.tenant or before.tenant,
                out=Output(as_json or before.as_json),
            )
            cli.run(fn, **kwargs)

        invoke.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        invoke.__annotations__ = {p.name: p.annotation for p in params}
        group.command(name, **kw)(invoke)
        return fn

    return register


@contextmanager
def progress(out: Output, label: str) -> Iterator[Callable[[str], None]]:
    """A spinner with the current stage on a terminal's stderr; nothing otherwise."""
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


def bad(message: str, hint: str) -> LedgerhouseError:
    return InvalidRequest(message, hint=hint)
