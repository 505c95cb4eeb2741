"""The governance features attacked the way a curious role or a hostile upload would: data
values only for callers who may read the relation, YAML that explodes when expanded, reports
that smuggle markup, inputs that used to surface as a 500 or as a silent empty answer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from ledgerhouse.errors import InvalidRequest, LedgerhouseError, NotFound
from ledgerhouse.governance.errors import InvalidQualityCheck
from ledgerhouse.governance.report import render
from ledgerhouse.session import Session
from tests.conftest import TRADE_HEADER, copy_warehouse, trade_row

PRICE_CAP = """checks:
  - name: price_cap
    relation: fact_trade
    kind: range
    severity: error
    column: price
    max: 100
"""


@pytest.fixture
def me(tmp_path: Path, ref_template: Path) -> Iterator[Session]:
    session = copy_warehouse(ref_template, tmp_path / "wh")
    yield session
    session.warehouse.close()


def _as(me: Session, *roles: str) -> Session:
    return me.warehouse.local(None, roles=roles)


def _reject_a_trade(me: Session) -> None:
    me.add_quality_checks(PRICE_CAP)
    with pytest.raises(LedgerhouseError):
        me.ingest("trades", (TRADE_HEADER + trade_row("T9", price="500")).encode(), fmt="csv")


# -- data values leave only to a caller who may read the relation ------------------------------
def test_an_auditor_sees_a_failed_check_but_not_the_rows_that_failed(me: Session) -> None:
    _reject_a_trade(me)
    mine = [r for r in me.quality_results(check="price_cap") if r["status"] == "fail"]
    assert mine and mine[0]["sample"][0]["trade_id"] == "T9"  # an admin reads fact_trade
    audited = [r for r in _as(me, "auditor").quality_results(check="price_cap")]
    assert audited and audited[0]["status"] == "fail" and audited[0]["failing"] == 1
    assert audited[0]["sample"] == []
    assert audited[0]["sample_withheld"] is True
    assert "T9" not in repr(audited) and "500.0" not in repr(audited)


def test_a_reader_still_sees_the_sample_rows(me: Session) -> None:
    _reject_a_trade(me)
    (row,) = [r for r in _as(me, "reader").quality_results(check="price_cap")]
    assert row["sample"][0]["trade_id"] == "T9" and row["sample_withheld"] is False


# -- YAML uploads ------------------------------------------------------------------------------
def _laughs(levels: int = 8) -> str:
    parts = ["&a0 [x,x,x,x,x,x,x,x,x,x]"]
    parts += [f"&a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, levels + 1)]
    return "[" + ", ".join(parts) + "]"


@pytest.mark.parametrize("field", ["description", "name", "severity", "values"])
def test_a_billion_laughs_upload_is_refused_at_once(me: Session, field: str) -> None:
    text = (
        "checks:\n  - relation: fact_trade\n    kind: accepted_values\n    column: side\n"
        f"    values: [BUY, SELL]\n    {field}: {_laughs()}\n"
    )
    started = time.perf_counter()
    with pytest.raises(InvalidQualityCheck, match="alias"):
        me.add_quality_checks(text)
    assert time.perf_counter() - started < 2


def test_accepted_values_are_scalars(me: Session) -> None:
    text = (
        "checks:\n  - relation: fact_trade\n    kind: accepted_values\n    column: side\n"
        "    values: [BUY, [SELL, x], {a: 1}]\n"
    )
    with pytest.raises(InvalidQualityCheck, match="values"):
        me.add_quality_checks(text)


def test_deeply_nested_yaml_is_a_clear_refusal(me: Session) -> None:
    depth = 100_000
    text = "checks:\n  - relation: fact_trade\n    description: " + "[" * depth + "]" * depth
    with pytest.raises(InvalidQualityCheck):
        me.add_quality_checks(text)


# -- the governance report ---------------------------------------------------------------------
def test_the_markdown_report_carries_no_markup_from_metadata(me: Session) -> None:
    evil = "<img src=x onerror=alert(1)> <script>x()</script>\r\n# heading\x1b[2J"
    _as(me, "steward").annotate("fact_trade.price", description=evil, reason="<b>why</b>")
    today = datetime.now(UTC).date()
    text = _as(me, "auditor").governance_report(today, today, format="md")
    assert isinstance(text, str)
    assert "<img" not in text and "<script" not in text and "\x1b" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text or "&lt;img" in text
    changes = text.split("## Metadata changes", 1)[1]
    assert "\r" not in changes and "\n# heading" not in changes


def test_the_report_header_is_escaped_too() -> None:
    report = {
        "tenant": "t",
        "period": {"from": "2024-01-01", "to": "2024-01-02"},
        "generated_at": "now",
        "generated_by": "<script>x()</script>",
        "quality": {"tables": [], "failing_checks": []},
        "ingestion": {"by_dataset": {}, "quarantine_by_reason": []},
        "freshness": [],
        "lineage_coverage": {},
        "classified_access": [],
        "metadata_changes": [],
    }
    assert "<script" not in render(report, "md")
    assert "<script" not in render(report, "html")


@pytest.mark.parametrize(
    ("start", "end"),
    [(date(1, 1, 1), date(9999, 12, 31)), (date(9999, 12, 31), date(9999, 12, 31))],
)
def test_a_report_period_at_the_calendar_edge_is_a_clear_refusal(
    me: Session, start: date, end: date
) -> None:
    with pytest.raises(InvalidRequest, match="period"):
        _as(me, "auditor").governance_report(start, end)


# -- quality trend: an unknown relation or date is an error, not an empty answer --------------
def test_the_trend_of_an_unknown_relation_is_not_found(me: Session) -> None:
    with pytest.raises(NotFound, match="fact_trad"):
        me.quality_trend(relation="fact_trad")


def test_the_trend_since_a_non_date_is_refused(me: Session) -> None:
    with pytest.raises(InvalidRequest, match="since"):
        me.quality_trend(since="notadate")


# -- a check that never ends does not hold the tenant's commits --------------------------------
def test_a_runaway_custom_check_stops_at_the_query_time_limit(
    tmp_path: Path, ref_template: Path
) -> None:
    me = copy_warehouse(ref_template, tmp_path / "wh", query_timeout_s=1.0)
    try:
        me.add_quality_checks(
            "checks:\n  - name: forever\n    relation: fact_trade\n    kind: sql\n"
            "    severity: error\n    sql: SELECT a.range FROM range(1000000000000000) AS a "
            "WHERE a.range < 0\n"
        )
        # a scan of 10^15 rows: it can only end because the time limit interrupted it
        (result,) = [r for r in me.run_quality("fact_trade") if r["check"] == "forever"]
        assert result["status"] == "error" and "1 s limit" in result["message"]
    finally:
        me.warehouse.close()
