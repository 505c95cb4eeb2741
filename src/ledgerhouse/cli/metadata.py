"""`ledgerhouse metadata show|set|history` and `ledgerhouse glossary list|define|link`: the
owners, descriptions, tags, classifications and glossary terms of a tenant's objects, every
change versioned (docs/governance/metadata.md). With ``--json`` each prints the API's record.

The CLI works on the warehouse directory as the tenant's admin (cli/common.py), so its edits
are recorded as the user ``local``.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ledgerhouse.api.schemas.metadata import ChangeRecord, ObjectRecord
from ledgerhouse.cli.common import Cli, command

metadata_app = typer.Typer(
    help="Owners, descriptions, tags and classifications of tables, columns, cubes, measures.",
    no_args_is_help=True,
)
glossary_app = typer.Typer(help="The tenant's business glossary.", no_args_is_help=True)

ObjectArg = Annotated[
    str,
    typer.Argument(
        help="fact_trade, fact_trade.price, cube:trades, cube:trades.notional, term:Exposure"
    ),
]
ReasonOpt = Annotated[str | None, typer.Option("--reason", help="Why (kept in the history).")]
LimitOpt = Annotated[int, typer.Option("--limit", min=1, max=1000, help="At most this many.")]


def _show(cli: Cli, record: dict[str, Any]) -> None:
    rec = ObjectRecord.model_validate(record)
    if cli.out.as_json:
        cli.out.json(rec.dump())
        return
    shown = rec.dump()
    members = shown.pop("members", None)
    change = shown.pop("change", None)
    cli.out.fields({k: v for k, v in shown.items() if v not in (None, [], "")})
    if members:
        cli.out.table(
            ["member", "kind", "type", "owner", "classifications", "description"],
            [
                [
                    m["name"],
                    m["kind"],
                    m["type"],
                    m["owner"],
                    ",".join(m["classifications"]),
                    m["description"],
                ]
                for m in members
            ],
        )
    if change is not None:
        cli.out.info(f"change {change['id']}: version {change['version']} of {change['object']}")


@command(metadata_app, "show")
def metadata_show(cli: Cli, name: ObjectArg) -> None:
    """Show an object's metadata (built-in and annotated), its columns or members."""
    with cli.warehouse() as wh:
        record = cli.me(wh).describe_object(name)
    _show(cli, record)


@command(metadata_app, "set")
def metadata_set(
    cli: Cli,
    name: ObjectArg,
    owner: Annotated[str | None, typer.Option("--owner", help='Owner ("" for nobody).')] = None,
    description: Annotated[str | None, typer.Option("--description", help="Description.")] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="A tag (repeat; replaces the tags).")
    ] = None,
    classification: Annotated[
        list[str] | None,
        typer.Option(
            "--classification",
            help="public, internal, confidential, pii or restricted (repeat; replaces them).",
        ),
    ] = None,
    term: Annotated[
        list[str] | None, typer.Option("--term", help="A glossary term (repeat; replaces them).")
    ] = None,
    reset: Annotated[
        list[str] | None,
        typer.Option("--reset", help="A field to return to its built-in value (repeat)."),
    ] = None,
    reason: ReasonOpt = None,
) -> None:
    """Set an object's owner, description, tags, classifications or glossary terms."""
    with cli.warehouse() as wh:
        record = cli.me(wh).annotate(
            name, owner=owner, description=description, tags=tag,
            classifications=classification, terms=term, reset=reset, reason=reason,
        )  # fmt: skip
    _show(cli, record)


@command(metadata_app, "history")
def metadata_history(
    cli: Cli,
    name: Annotated[
        str | None, typer.Argument(help="One object (every object if left out).")
    ] = None,
    limit: LimitOpt = 100,
) -> None:
    """The changes of an object (or of every object), newest first: who, when, before, after."""
    with cli.warehouse() as wh:
        changes = [
            ChangeRecord.model_validate(c) for c in cli.me(wh).metadata_history(name, limit=limit)
        ]
    if cli.out.as_json:
        cli.out.json([c.model_dump(mode="json") for c in changes])
        return
    if not changes:
        cli.out.info("no metadata changes")
    for c in changes:
        why = f" ({c.reason})" if c.reason else ""
        head = f"#{c.id} {c.changed_at} {c.user}: {c.object} version {c.version}{why}"
        cli.out.console.print(head, markup=False)
        for f in sorted(set(c.before) | set(c.after)):
            line = f"  {f}: {_short(c.before.get(f))!r} -> {_short(c.after.get(f))!r}"
            cli.out.console.print(line, markup=False)


@command(glossary_app, "list")
def glossary_list(cli: Cli) -> None:
    """The glossary: each term's definition, owner, synonyms and linked objects."""
    with cli.warehouse() as wh:
        terms = [ObjectRecord.model_validate(t) for t in cli.me(wh).glossary()]
    if cli.out.as_json:
        cli.out.json([t.dump() for t in terms])
        return
    for t in terms:
        synonyms = f" (also: {', '.join(t.synonyms)})" if t.synonyms else ""
        owner = f"; owner {t.owner}" if t.owner else ""
        cli.out.console.print(f"{t.name}{synonyms}{owner}", markup=False)
        cli.out.console.print(f"  {t.definition}", markup=False)
        if t.links:
            cli.out.console.print(f"  linked: {', '.join(t.links)}", markup=False)


@command(glossary_app, "define")
def glossary_define(
    cli: Cli,
    name: Annotated[str, typer.Argument(help="The term, e.g. Exposure.")],
    definition: Annotated[
        str | None, typer.Option("--definition", help="What it means (needed for a new term).")
    ] = None,
    owner: Annotated[str | None, typer.Option("--owner", help="Who answers for it.")] = None,
    synonym: Annotated[
        list[str] | None, typer.Option("--synonym", help="Another word for it (repeat).")
    ] = None,
    reason: ReasonOpt = None,
) -> None:
    """Add a glossary term, or change one's definition, owner or synonyms."""
    with cli.warehouse() as wh:
        record = cli.me(wh).define_term(
            name, definition=definition, owner=owner, synonyms=synonym, reason=reason
        )
    _show(cli, record)


@command(glossary_app, "link")
def glossary_link(
    cli: Cli,
    term: Annotated[str, typer.Argument(help="The glossary term.")],
    objects: Annotated[list[str], typer.Argument(help="Columns, measures or other objects.")],
    unlink: Annotated[bool, typer.Option("--unlink", help="Remove the links instead.")] = False,
    reason: ReasonOpt = None,
) -> None:
    """Link a glossary term to columns, measures or other objects."""
    with cli.warehouse() as wh:
        done = [
            ObjectRecord.model_validate(o)
            for o in cli.me(wh).link_term(term, objects, unlink=unlink, reason=reason)
        ]
    if cli.out.as_json:
        cli.out.json([o.dump() for o in done])
        return
    for o in done:
        cli.out.console.print(f"{o.object}: terms {', '.join(o.terms) or '(none)'}", markup=False)


def _short(value: Any, width: int = 60) -> str:
    if value is None:
        text = ""
    elif isinstance(value, list):
        text = ", ".join(str(v) for v in value)
    else:
        text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"
