"""Data marts: refreshed in the same commit as their sources, for the changed months only, and
always equal to a full recomputation over the core tables."""

from __future__ import annotations

from ledgerhouse.model.marts import MART_TRADING_ACTIVITY, MARTS
from ledgerhouse.session import Session
from tests.conftest import TRADE_HEADER, trade_row

ALL_MONTHS = "SELECT DISTINCT {col} FROM {src}"


def _full(wh: Session, mart) -> list[list[object]]:  # type: ignore[no-untyped-def]
    """The mart's SQL over every month, run as a user query (no refresh logic involved)."""
    ((src, col),) = mart.sources.items()
    months = [r[0] for r in wh.query(ALL_MONTHS.format(col=col, src=src)).rows()]
    if not months:
        return []
    sql = mart.sql.format(months=", ".join(f"'{m}'" for m in months))
    cols = [c for c in mart.table.column_names if c != "refreshed_at"]
    return sorted(wh.query(f"SELECT {', '.join(cols)} FROM ({sql})").rows(), key=str)


def _stored(wh: Session, mart, as_of=None) -> list[list[object]]:  # type: ignore[no-untyped-def]
    cols = [c for c in mart.table.column_names if c != "refreshed_at"]
    return sorted(
        wh.query(f"SELECT {', '.join(cols)} FROM {mart.table.name}", as_of=as_of).rows(), key=str
    )


def _send(wh: Session, *rows: str) -> None:
    wh.ingest("trades", (TRADE_HEADER + "".join(rows)).encode(), fmt="csv")


def test_incremental_refresh_equals_full_recompute(ref_wh: Session) -> None:
    batches = [
        [
            trade_row("T1", date="2024-01-10", ts="2024-01-10T10:00:00Z"),
            trade_row("T2", date="2024-02-09", ts="2024-02-09T10:00:00Z", inst="SAP", ccy="EUR"),
            trade_row("T3", date="2024-02-12", ts="2024-02-12T10:00:00Z", side="SELL"),
        ],
        [trade_row("T2", "AMEND", date="2024-03-01", ts="2024-03-01T09:00:00Z", qty="7")],
        [trade_row("T3", "CANCEL", ts="2024-03-02T09:00:00Z")],
        [trade_row("T4", date="2024-01-11", ts="2024-03-03T09:00:00Z", qty="1")],
    ]
    for batch in batches:
        _send(ref_wh, *batch)
        assert _stored(ref_wh, MART_TRADING_ACTIVITY) == _full(ref_wh, MART_TRADING_ACTIVITY)
    months = ref_wh.query(
        "SELECT activity_month, sum(trades) FROM mart_trading_activity GROUP BY 1 ORDER BY 1"
    ).rows()
    assert months == [["2024-01", 2], ["2024-03", 1]]  # February emptied by the move and cancel


def test_only_changed_months_are_rewritten(ref_wh: Session) -> None:
    _send(
        ref_wh,
        trade_row("T1", date="2024-01-10", ts="2024-01-10T10:00:00Z"),
        trade_row("T2", date="2024-02-09", ts="2024-02-09T10:00:00Z"),
    )
    before = ref_wh.query(
        "SELECT activity_month, refreshed_at FROM mart_trading_activity ORDER BY 1"
    ).rows()
    report = ref_wh.ingest(
        "trades",
        (
            TRADE_HEADER
            + trade_row("T2", "AMEND", date="2024-02-09", ts="2024-02-12T10:00:00Z", qty="3")
        ).encode(),
        fmt="csv",
    )
    assert "mart_trading_activity" in report.tables_written
    assert "mart_exposure_daily" not in report.tables_written  # its sources did not change
    after = ref_wh.query(
        "SELECT activity_month, refreshed_at FROM mart_trading_activity ORDER BY 1"
    ).rows()
    assert after[0] == before[0]  # January untouched
    assert after[1][1] > before[1][1]  # February rebuilt


def test_marts_travel_in_time_and_cover_every_source(loaded: Session) -> None:
    for mart in MARTS:
        assert _stored(loaded, mart) == _full(loaded, mart), mart.table.name
    first = loaded.commits()[-1].id  # init: all marts empty
    assert loaded.query("SELECT count(*) FROM mart_trading_activity", as_of=first).rows() == [[0]]


def test_a_dimension_correction_rebuilds_the_mart(ref_wh: Session) -> None:
    _send(ref_wh, trade_row("T1", date="2024-01-10", ts="2024-01-10T10:00:00Z"))
    # correct AAPL's asset class in place (same effective date: same version, same key)
    ref_wh.ingest(
        "instruments",
        b"instrument_code,name,asset_class,currency,sector,"
        b"effective_date\nAAPL,Apple,FUND,USD,Technology,2020-01-01\n",
        fmt="csv",
    )
    assert ref_wh.query("SELECT asset_class FROM mart_trading_activity").rows() == [["FUND"]]
    assert _stored(ref_wh, MART_TRADING_ACTIVITY) == _full(ref_wh, MART_TRADING_ACTIVITY)


def test_a_new_instrument_does_not_rebuild_the_marts(ref_wh: Session) -> None:
    _send(ref_wh, trade_row("T1", date="2024-01-10", ts="2024-01-10T10:00:00Z"))
    report = ref_wh.ingest(
        "instruments",
        b"instrument_code,name,asset_class,currency,sector,"
        b"effective_date\nMSFT,Microsoft,EQUITY,USD,Technology,2020-01-01\n",
        fmt="csv",
    )
    assert "dim_instrument" in report.tables_written
    assert not any(t.startswith("mart_") for t in report.tables_written)


def test_a_new_version_keeps_old_facts_in_the_old_sector(ref_wh: Session) -> None:
    _send(ref_wh, trade_row("T1", date="2024-01-10", ts="2024-01-10T10:00:00Z"))
    report = ref_wh.ingest(
        "instruments",
        b"instrument_code,name,asset_class,currency,sector,"
        b"effective_date\nAAPL,Apple,FUND,USD,Technology,2024-06-01\n",
        fmt="csv",
    )
    assert not any(t.startswith("mart_") for t in report.tables_written)
    assert ref_wh.query("SELECT asset_class FROM mart_trading_activity").rows() == [["EQUITY"]]
    assert _stored(ref_wh, MART_TRADING_ACTIVITY) == _full(ref_wh, MART_TRADING_ACTIVITY)


def test_a_mart_whose_sql_fails_is_an_internal_error_not_the_callers(ref_wh: Session) -> None:
    import dataclasses

    import pytest

    from ledgerhouse.errors import LedgerhouseError
    from ledgerhouse.query.marts import MartRefresher

    ref_wh.ingest("trades", (TRADE_HEADER + trade_row("T1")).encode(), fmt="csv")
    broken = dataclasses.replace(
        MART_TRADING_ACTIVITY,
        sql="SELECT no_such_column FROM fact_trade WHERE trade_month IN ({months})",
    )
    versions = ref_wh.commits()[0].table_versions
    with pytest.raises(RuntimeError, match="refreshing mart_trading_activity failed: the query "
                       "failed: Binder Error") as info:  # fmt: skip
        MartRefresher(ref_wh.warehouse.queries, (broken,)).refresh("default", {}, versions)
    assert not isinstance(info.value, LedgerhouseError)  # a 500, not "fix your SQL" (400)
