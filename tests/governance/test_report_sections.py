"""The governance report's sections from given sources: what each aggregates, the formats,
and who may read it (the end-to-end report over a real warehouse: test_report.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from ledgerhouse.access import Principal
from ledgerhouse.errors import Forbidden, InvalidRequest
from ledgerhouse.governance.report import GovernanceReports, ReportSources, render

T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)

RESULTS = [
    {"relation": "fact_trade", "check": "trade_id_unique", "severity": "error",
     "status": "fail", "failing": 3, "recorded_at": "2026-11-02T09:30:00+00:00"},
    {"relation": "fact_trade", "check": "trade_id_unique", "severity": "error",
     "status": "fail", "failing": 2, "recorded_at": "2026-11-03T09:30:00+00:00"},
    {"relation": "fact_trade", "check": "price_positive", "severity": "warn",
     "status": "pass", "failing": 0, "recorded_at": "2026-11-03T09:30:00+00:00"},
    {"relation": "fact_price", "check": "close_in_range", "severity": "warn",
     "status": "warn", "failing": 7, "recorded_at": "2026-11-02T10:00:00+00:00"},
]  # fmt: skip
BATCHES = [
    {"dataset": "trades", "status": "committed",
     "report": {"rows_received": 100, "rows_accepted": 97, "rows_quarantined": 3,
                "quarantine_reasons": {"column price: … must be > 0": 2, "unknown portfolio": 1}}},
    {"dataset": "trades", "status": "rejected_by_quality",
     "report": {"rows_received": 50, "rows_accepted": 0, "rows_quarantined": 0}},
    {"dataset": "prices", "status": "committed",
     "report": {"rows_received": 10, "rows_accepted": 9, "rows_quarantined": 1,
                "quarantine_reasons": {"column price: … must be > 0": 1}}},
]  # fmt: skip
ACCESSES = [
    {"user": "ann", "roles": ["reader"], "at": "2026-11-02T11:00:00+00:00", "rows": 5,
     "columns": {"dim_counterparty": ["name", "counterparty_key"], "fact_trade": ["price"]}},
    {"user": "ann", "roles": ["reader"], "at": "2026-11-03T11:00:00+00:00", "rows": 2,
     "columns": {"dim_counterparty": ["name"]}},
    {"user": "bob", "roles": ["reader"], "at": "2026-11-02T12:00:00+00:00", "rows": 1,
     "columns": {"fact_trade": ["price"]}},
]  # fmt: skip


def _sources(**over: Any) -> ReportSources:
    calls: dict[str, Any] = {
        "quality_results": lambda t, a, b: RESULTS,
        "quality_scores": lambda t: {"fact_trade": 50.0, "fact_price": 80.0},
        "quality_trend": lambda t, a, b: [
            {"relation": "fact_trade", "day": "2026-11-02", "score": 40.0},
            {"relation": "fact_trade", "day": "2026-11-03", "score": 50.0},
        ],
        "batches": lambda t, a, b: BATCHES,
        "freshness": lambda t: [
            {
                "relation": "fact_price",
                "expected": "1d",
                "max_age_s": 86400,
                "last_loaded_at": "2026-11-01T00:00:00+00:00",
                "age_s": 200_000,
                "fresh": False,
            }
        ],
        "lineage_coverage": lambda t: {
            "columns": 10,
            "with_lineage": 9,
            "layers": {"core": {"columns": 10, "with_lineage": 9}},
        },
        "classifications": lambda t: {("dim_counterparty", "name"): ["confidential"]},
        "accesses": lambda t, a, b: ACCESSES,
        "metadata_changes": lambda t, a, b: [
            {
                "at": "2026-11-02T08:00:00+00:00",
                "user": "sue",
                "object": "fact_trade.price",
                "field": "description",
                "before": None,
                "after": "Execution price | per unit",
            }
        ],
    }
    calls.update(over)
    return ReportSources(**calls)


AUDITOR = Principal("acme", "carol", ("auditor",))


def test_sections_aggregate_what_the_sources_hold() -> None:
    r = GovernanceReports(_sources(), clock=lambda: T0).report(
        AUDITOR, date(2026, 11, 1), date(2026, 11, 30)
    )
    failing = {(f["relation"], f["check"]): f for f in r["quality"]["failing_checks"]}
    assert set(failing) == {("fact_trade", "trade_id_unique"), ("fact_price", "close_in_range")}
    unique = failing["fact_trade", "trade_id_unique"]
    assert (unique["failures"], unique["failing_rows"]) == (2, 5)
    assert unique["last_failed_at"] == "2026-11-03T09:30:00+00:00"
    assert r["quality"]["failing_checks"][0]["severity"] == "error"  # errors first
    runs = {t["relation"]: t["runs_in_period"] for t in r["quality"]["tables"]}
    assert runs == {"fact_trade": 3, "fact_price": 1}

    ing = r["ingestion"]
    assert ing["batches"] == 3
    assert ing["by_dataset"]["trades"] == {"committed": 1, "rejected_by_quality": 1}
    assert ing["rows"] == {"received": 160, "accepted": 106, "quarantined": 4}
    assert ing["quarantine_by_reason"][0] == {"reason": "column price: … must be > 0", "rows": 3}

    (access,) = r["classified_access"]  # only the classified column, only its reader
    assert (access["user"], access["relation"], access["column"]) == (
        "ann", "dim_counterparty", "name",
    )  # fmt: skip
    assert (access["reads"], access["rows_returned"]) == (2, 7)
    assert access["last_read_at"] == "2026-11-03T11:00:00+00:00"


def test_the_period_reaches_the_sources_as_whole_utc_days() -> None:
    asked: list[tuple[datetime, datetime]] = []

    def results(t: str, a: datetime, b: datetime) -> list[dict[str, Any]]:
        asked.append((a, b))
        return []

    GovernanceReports(_sources(quality_results=results)).report(
        AUDITOR, date(2026, 11, 1), date(2026, 11, 1)
    )
    assert asked == [(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC))]


@pytest.mark.parametrize("roles", [("reader",), ("writer",), ("steward",)])
def test_only_auditors_and_admins_get_it(roles: tuple[str, ...]) -> None:
    with pytest.raises(Forbidden):
        GovernanceReports(_sources()).report(
            Principal("acme", "x", roles), date(2026, 11, 1), date(2026, 11, 2)
        )
    GovernanceReports(_sources()).report(
        Principal("acme", "a", ("admin",)), date(2026, 11, 1), date(2026, 11, 2)
    )


def test_a_period_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="before it starts"):
        GovernanceReports(_sources()).report(AUDITOR, date(2026, 11, 2), date(2026, 11, 1))


def test_markdown_and_html_carry_every_section_and_escape_values() -> None:
    hostile = [{"at": "x", "user": "<script>alert(1)</script>", "object": "t.c",
                "field": "description", "before": None, "after": "a | b"}]  # fmt: skip
    r = GovernanceReports(_sources(metadata_changes=lambda t, a, b: hostile)).report(
        AUDITOR, date(2026, 11, 1), date(2026, 11, 30)
    )
    md = render(r, "md")
    for title in ("Quality score per table", "Failing checks", "Quarantine by reason",
                  "Freshness", "Lineage coverage", "Access to classified columns",
                  "Metadata changes"):  # fmt: skip
        assert f"## {title}" in md
    assert "a \\| b" in md  # a pipe in a value does not break the table
    assert "| fact_price | 1d |" in md and "| NO |" in md
    page = render(r, "html")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert '"tenant": "acme"' in render(r, "json")
    with pytest.raises(InvalidRequest, match="format"):
        render(r, "pdf")


def test_empty_sources_say_so_rather_than_print_empty_tables() -> None:
    empty = _sources(
        quality_results=lambda t, a, b: [], quality_scores=lambda t: {},
        quality_trend=lambda t, a, b: [], batches=lambda t, a, b: [], freshness=lambda t: [],
        lineage_coverage=lambda t: {}, accesses=lambda t, a, b: [],
        metadata_changes=lambda t, a, b: [],
    )  # fmt: skip
    md = render(
        GovernanceReports(empty).report(AUDITOR, date(2026, 11, 1), date(2026, 11, 2)), "md"
    )
    assert "No quality checks ran." in md and "No batch was received" in md
    assert "Nobody read a classified column" in md
