"""Facts keyed by a natural key are upserted: a later batch for the same key replaces it."""

from __future__ import annotations

from ledgerhouse.session import Session


def test_prices_upsert_replaces_and_inserts(ref_wh: Session) -> None:
    ref_wh.ingest(
        "prices",
        b"price_date,instrument_code,close_price\n"
        b"2024-01-02,AAPL,100\n2024-01-02,SAP,50\n2024-02-01,AAPL,110\n",
        fmt="csv",
    )
    ref_wh.ingest(
        "prices",
        b"price_date,instrument_code,close_price\n2024-01-02,AAPL,101.5\n2024-01-03,AAPL,102\n",
        fmt="csv",
    )
    rows = ref_wh.query(
        "SELECT instrument_code, price_date::VARCHAR, close_price, currency, "
        "price_month FROM fact_price ORDER BY 1, 2"
    ).rows()
    assert rows == [
        ["AAPL", "2024-01-02", 101.5, "USD", "2024-01"],
        ["AAPL", "2024-01-03", 102.0, "USD", "2024-01"],
        ["AAPL", "2024-02-01", 110.0, "USD", "2024-02"],
        ["SAP", "2024-01-02", 50.0, "EUR", "2024-01"],
    ]


def test_positions_in_base_currency_and_restatement(ref_wh: Session) -> None:
    csv = (
        b"position_date,portfolio_code,instrument_code,quantity,market_value,cost_basis\n"
        b"2024-01-02,P1,SAP,10,500,450\n2024-01-02,P2,SAP,10,500,450\n"
    )
    ref_wh.ingest("positions", csv, fmt="csv")
    ref_wh.ingest("positions", csv.replace(b"P1,SAP,10,500,450", b"P1,SAP,12,600,540"), fmt="csv")
    rows = ref_wh.query(
        "SELECT portfolio_code, quantity, market_value_base, "
        "unrealized_pnl_base, base_currency FROM fact_position ORDER BY 1"
    ).rows()
    # P1 is USD-based: EUR 600 at 1.10 = 660; P2 is EUR-based: rate 1
    assert rows == [["P1", 12.0, 660.0, 66.0, "USD"], ["P2", 10.0, 500.0, 50.0, "EUR"]]


def test_counterparty_update_keeps_its_key(ref_wh: Session) -> None:
    key = ref_wh.query(
        "SELECT counterparty_key FROM dim_counterparty WHERE counterparty_code = 'GS'"
    ).rows()
    ref_wh.ingest(
        "counterparties",
        b"counterparty_code,name,counterparty_type\nGS,Goldman Sachs,DEALER\n",
        fmt="csv",
    )
    rows = ref_wh.query(
        "SELECT counterparty_key, name, counterparty_type FROM dim_counterparty "
        "WHERE counterparty_code = 'GS'"
    ).rows()
    assert rows == [[key[0][0], "Goldman Sachs", "DEALER"]]
    assert ref_wh.query("SELECT count(*) FROM dim_counterparty").rows() == [[2]]


def test_performance_return_derived_when_absent(ref_wh: Session) -> None:
    ref_wh.ingest(
        "performance",
        b"performance_date,portfolio_code,begin_nav,end_nav,net_flow\n"
        b"2024-01-02,P1,1000,1100,50\n2024-01-03,P1,1100,1089,\n",
        fmt="csv",
    )
    rows = ref_wh.query(
        "SELECT daily_return, net_flow FROM fact_performance ORDER BY performance_date"
    ).rows()
    # the day's exact gain over the exact base, one float division (docs/analytics.md)
    assert rows[0][0] == (1100 - 1000 - 50) / 1050 and rows[0][1] == 50
    assert rows[1] == [(1089 - 1100) / 1100, 0]
