"""Pinned versions are bound once per (relation, version): small serving tables as in-memory
copies, facts as views; old versions are dropped and bound again when a query asks for them."""

from __future__ import annotations

import pytest

from ledgerhouse.errors import QueryRejected
from ledgerhouse.session import Session
from tests.conftest import TRADE_HEADER, trade_row


def _send(wh: Session, tid: str, qty: str) -> None:
    wh.ingest("trades", (TRADE_HEADER + trade_row(tid, qty=qty)).encode(), fmt="csv")


def test_versions_are_bound_once_and_old_ones_come_back(ref_wh: Session) -> None:
    commits = []
    for i in range(6):
        _send(ref_wh, f"T{i}", str(i + 1))
        commits.append(ref_wh.commits()[0])
        assert ref_wh.query("SELECT sum(quantity) FROM fact_trade").rows() == [
            [sum(range(1, i + 2))]
        ]
    ref_wh.query(
        "SELECT count(*) FROM dim_portfolio JOIN mart_trading_activity USING (portfolio_key)"
    )
    b = ref_wh.warehouse.queries.bindings
    latest = commits[-1].table_versions
    assert b.native("default", "dim_portfolio", latest["dim_portfolio"])
    assert b.native("default", "mart_trading_activity", latest["mart_trading_activity"])
    assert not b.native("default", "fact_trade", latest["fact_trade"])  # a view on Parquet
    bound = [k for k in b._bound if k[1] == "fact_trade"]
    assert len(bound) == b.keep_versions  # older versions were dropped
    # the first commit's version was dropped; asking for it binds it again
    for i, c in enumerate(commits):
        got = ref_wh.query("SELECT sum(quantity) FROM fact_trade", as_of=c.id, use_cache=False)
        assert got.rows() == [[sum(range(1, i + 2))]]


def test_bound_object_names_cannot_be_queried_directly(ref_wh: Session) -> None:
    _send(ref_wh, "T1", "5")
    version = ref_wh.commits()[0].table_versions["fact_trade"]
    with pytest.raises(QueryRejected, match="unknown relation"):
        ref_wh.query(f'SELECT * FROM "fact_trade@{version}"')


def test_text_that_looks_like_a_placeholder_is_left_alone(ref_wh: Session) -> None:
    _send(ref_wh, "T1", "5")
    text = '"__lh_0000_fact_trade" fact_trade'
    res = ref_wh.query(f"SELECT '{text}' AS t, count(*) AS n FROM fact_trade")
    assert res.rows() == [[text, 1]]
