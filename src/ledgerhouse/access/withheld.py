"""What a caller under a row or column policy (or narrowed by read grants) is not shown of
the records no policy filters: batch reports, quality results, cell-lineage batches,
OpenLineage statistics, model metrics. Their sample rows are data, and their whole-table
counts tell how many rows others have; everything else of them stays.

Pure functions of the records; the session applies them (``Session._restricted``).
"""

from __future__ import annotations

from typing import Any

#: a batch report's counts of the whole batch (every member's rows)
_BATCH_COUNTS = ("rows_received", "rows_accepted", "rows_quarantined", "rows_duplicate")
#: a quality result's counts over the whole relation
_RESULT_COUNTS = ("rows_checked", "failing", "observed", "expected")
#: OpenLineage facets that count a dataset's rows
_STATISTICS = frozenset({"inputStatistics", "outputStatistics", "dataQualityMetrics"})
#: a model's counts of the trades it trained on and scored
_MODEL_COUNTS = ("training_rows", "fitted_rows", "scored_rows", "flagged")


def batch_report(report: dict[str, Any]) -> dict[str, Any]:
    out = dict(report)
    if out.get("quarantine_sample"):
        out["quarantine_sample"] = []
    for key in _BATCH_COUNTS:
        if key in out:
            out[key] = None
    if isinstance(out.get("quality"), list):
        out["quality"] = [quality_result(c) if isinstance(c, dict) else c for c in out["quality"]]
    out["withheld"] = True
    return out


def quality_result(row: dict[str, Any]) -> dict[str, Any]:
    out = {**row, "sample": [], "sample_withheld": bool(row.get("sample")) or bool(
        row.get("sample_withheld")
    )}  # fmt: skip
    for key in _RESULT_COUNTS:
        if key in out:
            out[key] = None
    return out


def cell(explained: dict[str, Any]) -> dict[str, Any]:
    for batch in explained.get("batches", []):
        batch["report"] = None
        if isinstance(batch.get("raw"), dict):
            batch["raw"] = {**batch["raw"], "rows": None, "row_numbers": None}
    return explained


def lineage_event(event: Any) -> Any:
    """The event without its row-count facets (anywhere in it)."""
    if isinstance(event, dict):
        return {k: lineage_event(v) for k, v in event.items() if k not in _STATISTICS}
    if isinstance(event, list):
        return [lineage_event(v) for v in event]
    return event


def model(record: dict[str, Any]) -> dict[str, Any]:
    out = dict(record)
    for nested in ("metrics", "info"):
        if isinstance(out.get(nested), dict):
            out[nested] = dict(out[nested])
    for holder in (out, out.get("metrics"), out.get("info")):
        if isinstance(holder, dict):
            for key in _MODEL_COUNTS:
                if key in holder:
                    holder[key] = None
    return out
