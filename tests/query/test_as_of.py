"""Time travel: as_of (a commit id or a time) reads the warehouse exactly as it was."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from ledgerhouse.errors import InvalidRequest, NotFound
from ledgerhouse.session import Session
from tests.conftest import TRADE_HEADER, trade_row


def test_as_of_commit_and_timestamp_return_the_earlier_state(ref_wh: Session) -> None:
    ref_wh.ingest("trades", (TRADE_HEADER + trade_row("T1")).encode(), fmt="csv")
    first = ref_wh.commits()[0]
    time.sleep(0.01)
    between = datetime.now(UTC)
    time.sleep(0.01)
    ref_wh.ingest(
        "trades",
        (
            TRADE_HEADER
            + trade_row("T2")
            + trade_row("T1", "AMEND", ts="2024-01-02T12:00:00Z", qty="5")
        ).encode(),
        fmt="csv",
    )
    sql = "SELECT trade_id, quantity FROM fact_trade ORDER BY 1"
    assert ref_wh.query(sql).rows() == [["T1", 5.0], ["T2", 100.0]]
    assert ref_wh.query(sql, as_of=first.id).rows() == [["T1", 100.0]]
    assert ref_wh.query(sql, as_of=str(first.id)).rows() == [["T1", 100.0]]
    assert ref_wh.query(sql, as_of=between.isoformat()).rows() == [["T1", 100.0]]
    assert ref_wh.query(sql, as_of=between).commit.id == first.id
    # before any trade was loaded: the table existed and was empty
    assert ref_wh.query("SELECT count(*) FROM fact_trade", as_of=first.id - 1).rows() == [[0]]
    # tables() is pinned the same way
    counts = {t["name"]: t["rows"] for t in ref_wh.tables(as_of=first.id)}
    assert counts["fact_trade"] == 1


def test_bad_as_of_values(ref_wh: Session) -> None:
    with pytest.raises(NotFound, match="commit 9999 does not exist"):
        ref_wh.query("SELECT 1", as_of=9999)
    with pytest.raises(InvalidRequest, match="neither a commit id nor an ISO timestamp"):
        ref_wh.query("SELECT 1", as_of="yesterday")
    with pytest.raises(NotFound, match="did not exist yet"):
        ref_wh.query("SELECT 1", as_of="2000-01-01T00:00:00Z")


def test_one_query_sees_one_consistent_commit(ref_wh: Session) -> None:
    ref_wh.ingest("trades", (TRADE_HEADER + trade_row("T1")).encode(), fmt="csv")
    res = ref_wh.query("SELECT count(*) FROM fact_trade t JOIN fact_trade_event e USING (trade_id)")
    assert res.rows() == [[1]] and res.commit.id == ref_wh.commits()[0].id
