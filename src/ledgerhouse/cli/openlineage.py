"""`ledgerhouse lineage-events`: the tenant's OpenLineage run events, newest first.

With ``--json`` it prints the API's answer (GET /v1/lineage/events): the events as emitted.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ledgerhouse.api.schemas.openlineage import OpenLineageEvent
from ledgerhouse.cli.common import Cli, command


def lineage_events(
    cli: Cli,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=10_000, help="Most events, newest first.")
    ] = 20,
    job: Annotated[
        str | None,
        typer.Option("--job", help="Only this job's, e.g. ingest.trades."),
    ] = None,
) -> None:
    """Show the OpenLineage run events of the jobs that wrote (START, COMPLETE, FAIL of each
    ingestion, mart and rollup refresh, ML scoring), newest first."""
    with cli.warehouse() as wh:
        found = cli.me(wh).lineage_events(limit=limit, job=job)
    if cli.out.as_json:
        cli.out.json([OpenLineageEvent.model_validate(e).model_dump() for e in found])
        return
    cli.out.table(
        ["time", "event", "job", "run", "parent run", "inputs", "outputs"],
        [_row(e) for e in found],
        whole=("job", "run"),
    )


def _row(event: dict[str, Any]) -> list[Any]:
    run = event.get("run") or {}
    parent = ((run.get("facets") or {}).get("parent") or {}).get("run") or {}
    error = ((run.get("facets") or {}).get("errorMessage") or {}).get("message")
    outputs = ", ".join(d["name"] for d in event.get("outputs") or [])
    return [
        str(event.get("eventTime", ""))[:19],
        event.get("eventType"),
        (event.get("job") or {}).get("name"),
        run.get("runId"),
        parent.get("runId") or "",
        ", ".join(d["name"] for d in event.get("inputs") or []),
        outputs if not error else f"error: {error[:120]}",
    ]


def register(app: typer.Typer) -> None:
    """Add `lineage-events` to ``app``."""
    command(app, "lineage-events")(lineage_events)
