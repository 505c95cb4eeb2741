"""NEW / AMEND / CANCEL: the current view follows the latest event; history stays queryable."""

from __future__ import annotations

from decimal import Decimal

from ledgerhouse.session import Session
from tests.conftest import TRADE_HEADER, trade_row


def _send(wh: Session, *rows: str) -> None:
    wh.ingest("trades", (TRADE_HEADER + "".join(rows)).encode(), fmt="csv")


def test_amend_replaces_cancel_removes_history_kept(ref_wh: Session) -> None:
    _send(ref_wh, trade_row("T1"), trade_row("T2"), trade_row("T3"))
    _send(
        ref_wh,
        trade_row("T1", "AMEND", ts="2024-01-02T11:00:00Z", qty="150"),
        trade_row("T2", "CANCEL", ts="2024-01-02T11:00:00Z"),
    )
    current = ref_wh.query(
        "SELECT trade_id, event, quantity, notional_local, event_count FROM fact_trade ORDER BY 1"
    ).rows()
    assert current == [["T1", "AMEND", 150.0, 1500.0, 2], ["T3", "NEW", 100.0, 1000.0, 1]]
    history = ref_wh.query(
        "SELECT trade_id, event, portfolio_code, trade_month FROM fact_trade_event "
        "ORDER BY trade_id, event_ts"
    ).rows()
    assert history == [
        ["T1", "NEW", "P1", "2024-01"],
        ["T1", "AMEND", "P1", "2024-01"],
        ["T2", "NEW", "P1", "2024-01"],
        ["T2", "CANCEL", "P1", "2024-01"],  # inherited fields
        ["T3", "NEW", "P1", "2024-01"],
    ]


def test_amend_that_moves_the_trade_to_another_month(ref_wh: Session) -> None:
    _send(ref_wh, trade_row("T1", date="2024-01-31", ts="2024-01-31T10:00:00Z"))
    _send(
        ref_wh,
        trade_row(
            "T1", "AMEND", date="2024-02-01", ts="2024-02-01T09:00:00Z", inst="SAP", ccy="EUR"
        ),
    )
    rows = ref_wh.query(
        "SELECT trade_id, trade_month, instrument_code, fx_rate, notional_base FROM fact_trade"
    ).rows()
    # EUR->USD on 2024-02-01 is 1.20 (the rate of that date), 100 x 10 EUR = 1200 USD
    assert rows == [["T1", "2024-02", "SAP", Decimal("1.2"), Decimal("1200")]]


def test_all_events_in_one_batch_and_after_cancel(ref_wh: Session) -> None:
    _send(
        ref_wh,
        trade_row("T1"),
        trade_row("T1", "AMEND", ts="2024-01-02T10:05:00Z", price="11"),
        trade_row("T2"),
        trade_row("T2", "CANCEL", ts="2024-01-02T10:06:00Z"),
    )
    assert ref_wh.query("SELECT trade_id, price FROM fact_trade").rows() == [["T1", 11.0]]
    report = ref_wh.warehouse.ingestor.limits
    report.max_error_rate = 1.0  # keep the batch to look at its quarantine
    try:
        r = ref_wh.ingest(
            "trades",
            (
                TRADE_HEADER
                + trade_row("T2", "AMEND", ts="2024-01-02T12:00:00Z")
                + trade_row("T1", "AMEND", ts="2024-01-02T10:01:00Z")
            ).encode(),
            fmt="csv",
        )
    finally:
        report.max_error_rate = 0.05
    reasons = " | ".join(r.quarantine_reasons)
    assert "is cancelled" in reasons and "not later than its stored event" in reasons
    assert ref_wh.query("SELECT trade_id, price FROM fact_trade").rows() == [["T1", 11.0]]


def test_sell_is_negative_and_fees_converted(ref_wh: Session) -> None:
    _send(ref_wh, trade_row("T1", side="SELL", inst="SAP", ccy="EUR", pf="P1"))
    rows = ref_wh.query(
        "SELECT signed_quantity, fx_rate, notional_base, base_currency FROM fact_trade"
    ).rows()
    assert rows == [[Decimal(-100), Decimal("1.1"), Decimal(1100), "USD"]]
