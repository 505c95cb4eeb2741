"""Realistic mistakes that used to load: each, injected into an otherwise good batch, is
quarantined with a reason naming the value, the expectation and the fix (or, for a notional
outlier, warned about); values right at the edge of each band pass; the settings change the
outcome. The rules live in ``ingest/plausibility.py``."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ledgerhouse.config import Settings
from ledgerhouse.ingest.errors import BatchRejected
from ledgerhouse.ingest.models import BatchReport
from ledgerhouse.ingest.plausibility import DEFAULT_RULES, IngestRules
from ledgerhouse.session import Session
from tests.conftest import TRADE_HEADER, copy_warehouse, trade_row

#: the ingestor's clock in these tests: the load date is Wednesday 2024-01-31
NOW = datetime(2024, 1, 31, 12, 0, tzinfo=UTC)
#: business days of January 2024 (the 1st is a Monday: a business day in dim_date)
JANUARY = [f"2024-01-{d:02d}" for d in range(1, 32) if d not in (6, 7, 13, 14, 20, 21, 27, 28)]
CLOSES = "price_date,instrument_code,close_price\n2024-01-02,AAPL,64\n2024-01-02,SAP,100\n"


@pytest.fixture(scope="module")
def market_template(tmp_path_factory: pytest.TempPathFactory, ref_template: Path) -> Path:
    """REF plus the close of AAPL (64 USD) and SAP (100 EUR) on 2024-01-02, loaded on NOW;
    built once, each test gets a copy (`market`)."""
    root = tmp_path_factory.mktemp("market") / "wh"
    me = copy_warehouse(ref_template, root)
    try:
        me.warehouse.ingestor.clock = lambda: NOW
        assert me.ingest("prices", CLOSES.encode(), fmt="csv").status == "committed"
    finally:
        me.warehouse.close()
    return root


@pytest.fixture
def market(tmp_path: Path, market_template: Path) -> Iterator[Session]:
    """A copy of `market_template`, its ingestor's clock at NOW."""
    me = copy_warehouse(market_template, tmp_path / "wh")
    me.warehouse.ingestor.clock = lambda: NOW
    yield me
    me.warehouse.close()


def _rules(me: Session, **changes: Any) -> Session:
    """Change the rules' settings of ``me``'s ingestor (what the settings of the same names
    do at start-up: test_settings_reach_the_rules)."""
    limits = me.warehouse.ingestor.limits
    limits.rules = dataclasses.replace(limits.rules, **changes)
    return me


def _trade(tid: str, day: str, **fields: str) -> str:
    """One AAPL trade of 100 at 64 (the close) on ``day``, booked that afternoon."""
    return trade_row(tid, **{"ts": f"{day}T15:00:00Z", "date": day, "price": "64", **fields})


def _good(n: int = 25, prefix: str = "G", qty: str = "100", days: int = 20) -> str:
    """``n`` plausible AAPL trades over the first ``days`` business days from 2024-01-02."""
    return "".join(_trade(f"{prefix}{i}", JANUARY[1 + i % days], qty=qty) for i in range(n))


def _send(me: Session, rows: str, batch_id: str | None = None) -> BatchReport:
    report = me.ingest("trades", (TRADE_HEADER + rows).encode(), fmt="csv", batch_id=batch_id)
    assert report.status == "committed", report.reason
    return report


def _reasons(report: BatchReport) -> dict[int, str]:
    return {r["_row_number"]: r["_reason"] for r in report.quarantine_sample}


def _live(me: Session, tid: str) -> bool:
    sql = "SELECT count(*) FROM fact_trade WHERE trade_id = ?"
    return me.query(sql, params=[tid], use_cache=False).rows() == [[1]]


# -- currency ---------------------------------------------------------------------------------
def test_a_trade_in_another_currency_than_its_instrument_is_quarantined(market: Session) -> None:
    bad = _trade("X1", "2024-01-03", ccy="EUR")
    report = _send(market, _good() + bad)
    assert report.rows_quarantined == 1 and report.rows_accepted == 25
    assert _reasons(report)[26] == (
        "currency 'EUR' differs from the currency 'USD' of instrument 'AAPL' on 2024-01-03; "
        "send the trade in the currency of the instrument (or correct its reference data)"
    )
    assert report.quarantine_reasons == {
        "currency … differs from the currency … of instrument … on …; send the trade in the "
        "currency of the instrument (or correct its reference data)": 1
    }
    assert not _live(market, "X1")


def test_the_instrument_version_valid_on_the_trade_date_decides(market: Session) -> None:
    # AAPL is re-listed in EUR from 2024-01-15: a EUR trade is wrong before, right after
    market.ingest(
        "instruments",
        b"instrument_code,name,asset_class,currency,sector,effective_date\n"
        b"AAPL,Apple,EQUITY,EUR,Technology,2024-01-15\n",
        fmt="csv",
    )
    before = _trade("B1", "2024-01-12", ccy="EUR")
    after = _trade("A1", "2024-01-16", ccy="EUR")
    report = _send(market, _good(20, days=9) + before + after)  # 1/22 refused
    assert list(_reasons(report).values()) == [
        "currency 'EUR' differs from the currency 'USD' of instrument 'AAPL' on 2024-01-12; "
        "send the trade in the currency of the instrument (or correct its reference data)"
    ]
    assert _live(market, "A1") and not _live(market, "B1")


# -- trade date -------------------------------------------------------------------------------
def test_a_trade_dated_beyond_the_horizon_is_quarantined_and_the_edge_passes(
    market: Session,
) -> None:
    edge = _trade("E1", "2024-02-05")  # NOW + 5 days
    late = _trade("L1", "2024-02-06")
    report = _send(market, _good() + edge + late)
    assert _reasons(report) == {
        27: "trade_date 2024-02-06 is more than 5 days after the load date 2024-01-31 (latest "
        "accepted 2024-02-05); correct the date, or raise max_future_days"
    }
    assert _live(market, "E1") and not _live(market, "L1")


def test_max_future_days_moves_the_horizon(market: Session) -> None:
    late = _trade("L1", "2024-02-06")
    assert _send(_rules(market, max_future_days=6), _good() + late).rows_quarantined == 0
    assert _live(market, "L1")


def test_prices_positions_and_performance_dated_in_the_future_are_quarantined(
    market: Session,
) -> None:
    prices = "price_date,instrument_code,close_price\n" + "".join(
        f"{d},AAPL,64\n" for d in JANUARY[2:22]
    )
    report = market.ingest("prices", (prices + "2024-02-09,AAPL,64\n").encode(), fmt="csv")
    assert report.rows_quarantined == 1
    assert (
        "price_date 2024-02-09 is more than 5 days after the load date 2024-01-31"
        in (report.quarantine_sample[0]["_reason"])
    )
    positions = "position_date,portfolio_code,instrument_code,quantity,market_value\n"
    positions += "".join(f"{d},P1,AAPL,10,640\n" for d in JANUARY[:20])
    report = market.ingest(
        "positions", (positions + "2025-01-31,P1,AAPL,10,640\n").encode(), fmt="csv"
    )
    assert report.rows_quarantined == 1
    assert report.quarantine_sample[0]["_reason"].startswith("position_date 2025-01-31 is more")
    perf = "performance_date,portfolio_code,begin_nav,end_nav\n"
    perf += "".join(f"{d},P1,100,101\n" for d in JANUARY[:20])
    report = market.ingest("performance", (perf + "2024-03-01,P1,100,101\n").encode(), fmt="csv")
    assert report.rows_quarantined == 1
    assert report.quarantine_sample[0]["_reason"].startswith("performance_date 2024-03-01 is")


def test_a_weekend_trade_is_quarantined_unless_allowed(market: Session) -> None:
    weekend = _trade("W1", "2024-01-06")
    report = _send(market, _good() + weekend)
    assert _reasons(report) == {
        26: "trade_date 2024-01-06 is a Saturday, not a business day; correct the date, or set "
        "allow_non_business_days for a tenant that trades every day"
    }
    crypto = _rules(market, allow_non_business_days=True)
    assert _send(crypto, _good(prefix="C") + weekend).rows_quarantined == 0
    assert _live(crypto, "W1")


# -- price band -------------------------------------------------------------------------------
def test_the_issues_1e9_price_is_quarantined_and_the_firm_notional_stays_right(
    market: Session,
) -> None:
    # a firm trading 1.46 bn; then one trade at 1e9 against a close of 64 (it made 101.46 bn)
    qty = 1_140_625  # x 64 = 73 M, 20 trades: 1.46 bn
    good = _good(20, qty=str(qty))
    fat_finger = _trade("F1", "2024-01-03", price="1e9")
    report = _send(market, good + fat_finger)
    assert _reasons(report) == {
        21: "price 1000000000 is outside ±50% of the prevailing close 64 of instrument 'AAPL' "
        "(close of 2024-01-02): expected 32 to 96; correct the price (its unit or decimal "
        "point), load the close of the trade date first, or widen price_band"
    }
    direct = sum(Decimal(qty) * Decimal(64) for _ in range(20))
    assert direct == Decimal("1460000000")
    cube = market.cube("trades", {"measures": ["notional"], "dimensions": ["firm"]})
    assert cube.rows() == [["ACME", direct]]
    sql = "SELECT sum(quantity * price) FROM fact_trade"
    assert market.query(sql, use_cache=False).rows() == [[direct]]


def test_prices_at_the_edges_of_the_band_pass_and_beyond_them_do_not(market: Session) -> None:
    def at(tid: str, price: str) -> str:
        return _trade(tid, "2024-01-03", price=price)

    edges = at("HI", "96") + at("LO", "32")
    beyond = at("H2", "96.000001") + at("L2", "31.999999")
    report = _send(market, _good(40) + edges + beyond)
    assert sorted(_reasons(report)) == [43, 44]
    assert "price 96.000001 is outside ±50%" in _reasons(report)[43]
    assert "price 31.999999 is outside ±50%" in _reasons(report)[44]
    assert _live(market, "HI") and _live(market, "LO")


def test_the_latest_close_on_or_before_the_trade_date_is_the_prevailing_one(
    market: Session,
) -> None:
    _prices(market, "2024-01-10,AAPL,80\n")
    # 100 is within 50% of 80 (the close of 2024-01-10), not of 64 (the close of 2024-01-02)
    early = _trade("E1", "2024-01-09", price="100")
    later = _trade("L1", "2024-01-11", price="100")
    report = _send(market, _good() + early + later)
    assert list(_reasons(report)) == [26]
    assert (
        "the prevailing close 64 of instrument 'AAPL' (close of 2024-01-02)"
        in (_reasons(report)[26])
    )
    assert _live(market, "L1")


def test_without_a_prevailing_close_the_band_does_not_apply(market: Session) -> None:
    # BUND has no close at all, AAPL none before 2024-01-02
    bund = _trade("B1", "2024-01-03", inst="BUND", ccy="EUR", price="1e6")
    early = _trade("E1", "2024-01-01", price="1e6")
    assert _send(market, _good() + bund + early).rows_quarantined == 0


def test_price_band_setting_widens_or_turns_off_the_rule(market: Session) -> None:
    wide = _rules(market, price_band=2)
    assert _send(wide, _good() + _trade("T1", "2024-01-03", price="150")).rows_quarantined == 0
    off = _rules(market, price_band=0)
    huge = _trade("T2", "2024-01-03", price="1e9")
    assert _send(off, _good(prefix="B") + huge).rows_quarantined == 0 and _live(off, "T2")
    narrow = _rules(market, price_band=0.1)  # 64 ± 6.4
    edge = _trade("T3", "2024-01-03", price="70.4") + _trade("T4", "2024-01-03", price="57.6")
    beyond = _trade("T5", "2024-01-03", price="70.41")
    report = _send(narrow, _good(prefix="C") + edge + beyond)
    assert list(_reasons(report).values()) == [
        "price 70.41 is outside ±10% of the prevailing close 64 of instrument 'AAPL' (close of "
        "2024-01-02): expected 57.6 to 70.4; correct the price (its unit or decimal point), "
        "load the close of the trade date first, or widen price_band"
    ]


# -- close jumps ------------------------------------------------------------------------------
def _prices(me: Session, rows: str, batch_id: str | None = None) -> BatchReport:
    return me.ingest(
        "prices",
        ("price_date,instrument_code,close_price\n" + rows).encode(),
        fmt="csv",
        batch_id=batch_id,
    )


def test_a_close_far_from_the_previous_one_is_quarantined(market: Session) -> None:
    days = [f"{d},AAPL,64\n" for d in JANUARY[2:22]]
    days[5] = f"{JANUARY[7]},AAPL,6400\n"  # a spike, between two ordinary closes
    report = _prices(market, "".join(days))
    assert report.rows_quarantined == 1
    assert report.quarantine_sample[0]["_reason"] == (
        "close_price 6400 of instrument 'AAPL' on 2024-01-10 is 100× the previous close 64 of "
        "2024-01-09, beyond price_jump_factor 10; correct the price (its unit or decimal "
        "point); a real jump passes when the next close confirms it, or raise "
        "price_jump_factor"
    )
    sql = "SELECT max(close_price) FROM fact_price WHERE instrument_code = 'AAPL'"
    stored = market.query(sql, use_cache=False).rows()
    assert stored == [[Decimal(64)]]


def test_a_jump_the_next_close_confirms_passes_and_the_edge_factor_passes(
    market: Session,
) -> None:
    # a 1-for-20 split on 01-04 (confirmed by 01-05); SAP exactly 10x on 01-04
    split = "2024-01-03,AAPL,64\n2024-01-04,AAPL,3.2\n2024-01-05,AAPL,3.3\n"
    edge = "2024-01-03,SAP,100\n2024-01-04,SAP,1000\n"
    assert _prices(market, split + edge).rows_quarantined == 0


def test_a_daily_close_is_compared_with_the_stored_one(market: Session) -> None:
    rows = "".join(f"{d},SAP,100\n" for d in JANUARY[2:22]) + "2024-01-31,AAPL,640.01\n"
    report = _prices(market, rows)  # the stored close of AAPL is 64 (2024-01-02)
    assert report.rows_quarantined == 1
    assert (
        "is 10.0002× the previous close 64 of 2024-01-02"
        in (report.quarantine_sample[0]["_reason"])
    )
    again = _prices(_rules(market, price_jump_factor=11), rows, batch_id="again")
    assert again.rows_quarantined == 0


# -- notional outliers ------------------------------------------------------------------------
def _history(me: Session) -> None:
    """60 stored AAPL trades of 100 x 64: the 99th percentile of the notionals is 6400."""
    _send(me, _good(60, prefix="H"), batch_id="history")


def test_a_notional_outlier_is_loaded_with_a_warning(market: Session) -> None:
    _history(market)
    edge = _trade("E1", "2024-01-04", qty="1000")  # 10x
    big = _trade("O1", "2024-01-04", qty="10000")
    report = _send(market, _good(20) + edge + big)
    assert report.rows_quarantined == 0 and _live(market, "O1")
    assert report.warnings == [
        "notional outliers: 1 trade(s) above 10 × the 99th percentile of their instrument's "
        "stored notionals (notional_outlier_factor): O1 (instrument AAPL, notional "
        "640000.000000, above 10 × its 99th percentile 6400.00). They were loaded: check their "
        "quantity and price, and amend them if they are wrong"
    ]


def test_notional_outliers_can_be_quarantined(market: Session) -> None:
    me = _rules(market, notional_outlier_action="quarantine")
    _history(me)
    big = _trade("O1", "2024-01-04", qty="10000")
    report = _send(me, _good(20) + big)
    assert report.warnings == []
    assert _reasons(report) == {
        21: "notional_local 640000 (quantity 10000 × price 64) is above 10 × the 99th "
        "percentile 6400.0 of the 60 notionals of instrument 'AAPL'; correct the quantity or "
        "price, or raise notional_outlier_factor if the trade is real"
    }


def test_the_outlier_rule_needs_history_and_follows_its_factor(market: Session) -> None:
    _history(market)
    # 640000 is exactly 100 x 6400: not above the limit
    lenient = _rules(market, notional_outlier_factor=100)
    assert _send(lenient, _good(20, "A") + _trade("O1", "2024-01-04", qty="10000")).warnings == []
    # now 81 stored notionals (O1 among them): 99th percentile 6400 + 0.2 x (640000 - 6400)
    huge = _trade("O2", "2024-01-04", qty="100000")  # 6.4 M, above 10 x 133120
    short = _rules(market, notional_outlier_factor=10, notional_outlier_min_history=82)
    assert _send(short, _good(20, "B") + huge).warnings == []  # 81 < 82: not judged
    off = _rules(market, notional_outlier_min_history=50, notional_outlier_action="off")
    assert _send(off, _good(20, "C") + huge.replace("O2", "O3")).warnings == []
    # 123 stored, O1-O3 among them: the 99th percentile is now 640000 + 0.78 x 5760000
    warn = _rules(market, notional_outlier_action="warn")
    giant = _trade("O4", "2024-01-04", qty="10000000")  # 640 M, above 10 x 5132800
    (warning,) = _send(warn, _good(20, "D") + giant).warnings
    assert "O4 (instrument AAPL, notional 640000000.000000, above 10 × its 99th percentile " in (
        warning
    )
    assert "O2" not in warning and "O3" not in warning  # stored trades are not judged again


def test_settings_reach_the_rules(ref_template: Path, tmp_path: Path) -> None:
    settings = {
        "max_future_days": 9,
        "allow_non_business_days": True,
        "price_band": 2.0,
        "price_jump_factor": 11.0,
        "notional_outlier_factor": 20.0,
        "notional_outlier_min_history": 10,
        "notional_outlier_action": "quarantine",
    }
    me = copy_warehouse(ref_template, tmp_path / "wh", **settings)
    try:
        assert me.warehouse.ingestor.limits.rules == IngestRules(**settings)
    finally:
        me.warehouse.close()
    # the settings' defaults are the rules' defaults
    defaults = {name: Settings.model_fields[name].default for name in settings}
    assert IngestRules(**defaults) == DEFAULT_RULES


def test_a_bad_rule_setting_is_refused_at_start_up(ref_template: Path, tmp_path: Path) -> None:
    from ledgerhouse.errors import ConfigError

    for i, bad in enumerate(({"price_jump_factor": 0.5}, {"notional_outlier_action": "ignore"})):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            copy_warehouse(ref_template, tmp_path / f"wh{i}", **bad)


def test_too_many_mistakes_reject_the_batch_whole(market: Session) -> None:
    bad = "".join(_trade(f"X{i}", "2024-01-03", ccy="EUR") for i in range(3))
    with pytest.raises(BatchRejected) as info:
        market.ingest("trades", (TRADE_HEADER + _good(20) + bad).encode(), fmt="csv")
    assert info.value.details["report"]["rows_quarantined"] == 3
    assert market.query("SELECT count(*) FROM fact_trade", use_cache=False).rows() == [[0]]
