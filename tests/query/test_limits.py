"""Time limits, cancellation and EXPLAIN."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient

from ledgerhouse.api import create_app
from ledgerhouse.errors import QueryTimeout
from ledgerhouse.query import CancelToken
from ledgerhouse.session import Session
from tests.conftest import InitCopy

# 25,933 calendar days cubed: runs for hours unless interrupted
ENDLESS = "SELECT count(*) FROM dim_date a, dim_date b, dim_date c WHERE a.day + b.day > c.day"


def test_timeout_interrupts_the_query(wh: Session) -> None:
    with pytest.raises(QueryTimeout, match=r"ran past its 0\.3 s limit"):
        wh.query(ENDLESS, timeout_s=0.3)
    assert wh.query("SELECT count(*) FROM dim_date").rows() == [[25933]]  # engine still fine


def test_cancel_token_interrupts_from_another_thread(wh: Session) -> None:
    token = CancelToken()
    threading.Timer(0.3, token.cancel).start()
    with pytest.raises(QueryTimeout, match="cancelled"):
        wh.query(ENDLESS, cancel=token)


def test_server_limit_caps_the_request(init_copy: InitCopy, tmp_path) -> None:  # type: ignore[no-untyped-def]
    w, key = init_copy(tmp_path / "wh", query_timeout_s=0.3)
    with TestClient(create_app(w)) as c:
        r = c.post(
            "/v1/query/sql",
            headers={"Authorization": f"Bearer {key}"},
            json={"sql": ENDLESS, "timeout_s": 1000},
        )
        assert r.status_code == 408 and r.json()["error"]["code"] == "query_timeout"
        plan = c.post(
            "/v1/query/sql",
            headers={"Authorization": f"Bearer {key}"},
            json={"sql": "SELECT count(*) FROM dim_date", "explain": "plan"},
        ).json()
        assert "dim_date" in plan["rows"][0][1].lower() or "scan" in plan["rows"][0][1].lower()
    w.close()


def test_explain_analyze_reports_timings(wh: Session) -> None:
    res = wh.query("SELECT year, count(*) FROM dim_date GROUP BY year", explain="analyze")
    text = "\n".join(str(v) for row in res.rows() for v in row)
    assert "Total Time" in text or "Query Profiling" in text
