"""The HTTP client mirrors the library, errors included."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ledgerhouse.api import create_app
from ledgerhouse.client import Client
from ledgerhouse.errors import Forbidden, QueryRejected
from ledgerhouse.ingest.errors import BatchRejected
from tests.conftest import REF, TRADE_HEADER, InitCopy, trade_row


def test_client_round_trip_and_errors(init_copy: InitCopy, tmp_path: Path) -> None:
    wh, key = init_copy(tmp_path / "wh")
    assert key is not None
    with TestClient(create_app(wh)) as http:
        lh = Client("http://testserver", key, http=http)
        for ds, text in REF.items():
            assert lh.ingest(ds, text.encode(), fmt="csv")["status"] == "committed"
        f = tmp_path / "trades.csv"
        f.write_text(TRADE_HEADER + trade_row("T1"))
        first = lh.ingest("trades", f, batch_id="t-1")
        assert lh.ingest("trades", f, batch_id="t-1")["status"] == "duplicate"
        df = lh.query("SELECT trade_id, quantity FROM fact_trade").to_polars()
        assert df.to_dicts() == [{"trade_id": "T1", "quantity": 100.0}]
        before = lh.query("SELECT count(*) FROM fact_trade", as_of=first["commit_id"] - 1)
        assert before.rows() == [[0]] and before.commit.id == first["commit_id"] - 1
        assert lh.batch("t-1")["rows_accepted"] == 1
        assert lh.batches()[0]["batch_id"] == "t-1"
        log = lh.query_log_entries(slowest=True)
        assert log and {e["status"] for e in log} == {"ok"}
        assert "plan" in lh.query_log_entry(log[0]["id"], plan=True)
        assert lh.commits()[0].batch_id == "t-1"
        with pytest.raises(QueryRejected, match="only queries"):
            lh.query("DELETE FROM fact_trade")
        with pytest.raises(BatchRejected) as info:
            lh.ingest("trades", (TRADE_HEADER + trade_row("T9", pf="NOPE")).encode(), fmt="csv")
        assert info.value.details["report"]["rows_quarantined"] == 1
        reader = Client("http://testserver", lh.create_api_key("ana", ["reader"]), http=http)
        with pytest.raises(Forbidden, match="may not ingest"):
            reader.ingest("fx_rates", REF["fx_rates"].encode(), fmt="csv")
    wh.close()
