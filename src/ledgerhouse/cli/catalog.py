"""`ledgerhouse catalog search "counterparty exposure"`: ranked search of the tenant's
tables, columns, cubes, measures, dimensions and glossary terms, with facets
(docs/governance/catalog.md). ``--json`` prints the API's answer (GET /v1/catalog/search)."""

from __future__ import annotations

from typing import Annotated

import typer

from ledgerhouse.api.schemas.metadata import SearchResponse
from ledgerhouse.cli.common import Cli, command

catalog_app = typer.Typer(help="Search the data catalog.", no_args_is_help=True)

Facet = Annotated[list[str] | None, typer.Option(help="Keep only this value (repeatable).")]


@command(catalog_app, "search")
def catalog_search(
    cli: Cli,
    text: Annotated[str, typer.Argument(help="Words to search for.")] = "",
    kind: Annotated[
        list[str] | None,
        typer.Option("--kind", help="table, column, cube, measure, dimension or term (repeat)."),
    ] = None,
    layer: Annotated[
        list[str] | None, typer.Option("--layer", help="core, mart, raw, semantic... (repeat).")
    ] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="A tag (repeat).")] = None,
    owner: Annotated[list[str] | None, typer.Option("--owner", help="An owner (repeat).")] = None,
    classification: Annotated[
        list[str] | None, typer.Option("--classification", help="A classification (repeat).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=200, help="Hits to show.")] = 10,
    no_samples: Annotated[
        bool, typer.Option("--no-samples", help="Do not read sample values.")
    ] = False,
) -> None:
    """Search the catalog: ranked hits with their lineage, freshness, quality, rows, samples."""
    with cli.warehouse() as wh:
        found = cli.me(wh).catalog_search(
            text, kind=kind, layer=layer, tag=tag, owner=owner, classification=classification,
            limit=limit, samples=not no_samples,
        )  # fmt: skip
    answer = SearchResponse.model_validate(found)
    if cli.out.as_json:
        cli.out.json(answer.model_dump(mode="json"))
        return
    say = cli.out.console.print
    say(f"{answer.total} matches for {text!r}", markup=False)
    for i, h in enumerate(answer.hits, 1):
        say(f"{i:>2}. {h.object}  [{h.kind}, {h.layer}]  score {h.score:.2f}", markup=False)
        if h.description:
            say(f"    {_cut(h.description, 100)}", markup=False)
        facts = [f"rows {h.rows}" if h.rows is not None else "",
                 f"quality {h.quality_score}" if h.quality_score is not None else "",
                 f"changed in commit {h.freshness['commit_id']} at {h.freshness['at']}"
                 if h.freshness else "",
                 "classified " + ", ".join(h.classifications) if h.classifications else "",
                 "owner " + h.owner if h.owner else ""]  # fmt: skip
        if any(facts):
            say("    " + "; ".join(f for f in facts if f), markup=False)
        for way in ("upstream", "downstream"):
            if h.lineage.get(way):
                say(f"    {way}: {', '.join(h.lineage[way])}", markup=False)
        if h.samples and h.samples.get("rows"):
            rows, columns = h.samples["rows"], h.samples["columns"]
            if len(columns) == 1:
                shown = ", ".join(str(r[0]) for r in rows)
            else:  # a table: its first row
                shown = ", ".join(f"{c}={v}" for c, v in zip(columns, rows[0], strict=True))
            say(f"    samples: {_cut(shown, 100)}", markup=False)
    for facet, counts in answer.facets.items():
        if counts:
            shown = ", ".join(f"{v} ({n})" for v, n in list(counts.items())[:8])
            say(f"{facet}: {shown}", markup=False)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
