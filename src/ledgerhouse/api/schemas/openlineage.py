"""An OpenLineage run event as stored and emitted (GET /v1/lineage/events,
`ledgerhouse lineage-events --json`): the event's JSON unchanged, its top level typed."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class OpenLineageEvent(BaseModel):
    """One run event (OpenLineage 2-0-2 ``RunEvent``); facets are free-form objects, each
    with ``_producer`` and ``_schemaURL`` (docs/governance/openlineage.md)."""

    model_config = ConfigDict(extra="allow")

    eventType: str = Field(description="START, COMPLETE or FAIL.")
    eventTime: str = Field(description="ISO 8601 with the UTC offset.")
    run: dict[str, Any] = Field(description="runId (a UUID) and the run facets.")
    job: dict[str, Any] = Field(
        description="namespace (ledgerhouse://<tenant>), name (ingest.trades, "
        "refresh.<relation>, ml_score, init, upgrade) and the job facets."
    )
    inputs: list[dict[str, Any]] = Field(default_factory=list)
    outputs: list[dict[str, Any]] = Field(default_factory=list)
    producer: str
    schemaURL: str
