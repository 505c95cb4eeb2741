"""The result cache never serves stale data: it is keyed by the versions of the tables read."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledgerhouse.api import create_app
from ledgerhouse.query.cache import CachedResult, ResultCache, cache_key
from ledgerhouse.session import Session
from tests.conftest import TRADE_HEADER, InitCopy, copy_warehouse, examples, trade_row

COUNT = "SELECT count(*) AS n, sum(quantity) AS q FROM fact_trade"


def _trade(wh: Session, tid: str, qty: int = 100) -> None:
    wh.ingest("trades", (TRADE_HEADER + trade_row(tid, qty=str(qty))).encode(), fmt="csv")


def test_hit_then_miss_after_an_ingestion_then_as_of(ref_wh: Session) -> None:
    _trade(ref_wh, "T1")
    first = ref_wh.query(COUNT)
    again = ref_wh.query(COUNT)
    assert (first.route, again.route) == ("raw", "cache") and again.cache_hit
    assert again.rows() == first.rows() == [[1, 100.0]]
    _trade(ref_wh, "T2", 5)
    after = ref_wh.query(COUNT)
    assert after.route == "raw" and after.rows() == [[2, 105.0]]
    old = ref_wh.query(COUNT, as_of=first.commit.id)
    assert old.rows() == [[1, 100.0]] and old.route == "cache"  # asked for the past: allowed
    assert ref_wh.query(COUNT, use_cache=False).route == "raw"


def test_unrelated_ingestion_keeps_the_entry(ref_wh: Session) -> None:
    _trade(ref_wh, "T1")
    ref_wh.query(COUNT)
    ref_wh.ingest(
        "prices", b"price_date,instrument_code,close_price\n2024-01-02,AAPL,1\n", fmt="csv"
    )
    res = ref_wh.query(COUNT)
    assert res.route == "cache" and res.commit.id == ref_wh.commits()[0].id


def test_params_and_limits_are_part_of_the_key(ref_wh: Session) -> None:
    sql = "SELECT instrument_code FROM dim_instrument WHERE currency = ? ORDER BY 1"
    assert ref_wh.query(sql, params=["USD"]).rows() == [["AAPL"]]
    assert ref_wh.query(sql, params=["EUR"]).rows() == [["BUND"], ["SAP"]]
    assert ref_wh.query(sql, params=["EUR"], limit=1).rows() == [["BUND"]]


def test_lru_is_bounded_by_bytes() -> None:
    cache = ResultCache(max_bytes=4000)
    tables = [pa.table({"x": list(range(100))}) for _ in range(10)]  # 800 bytes each
    keys = [cache_key("t", f"q{i}", None, 10, None, {"a": 1}) for i in range(10)]
    for k, t in zip(keys, tables, strict=True):
        cache.put(k, CachedResult(t, False))
    assert cache.size_bytes <= 4000 and len(cache) == 5
    assert cache.get(keys[0]) is None and cache.get(keys[9]) is not None


def test_tenants_do_not_share_entries(init_copy: InitCopy, tmp_path: Path) -> None:
    wh, key = init_copy(tmp_path / "wh")
    other = wh.create_tenant("acme")
    with TestClient(create_app(wh)) as c:
        sql = {"sql": "SELECT count(*) FROM fact_fx_rate"}
        c.post(
            "/v1/ingest/fx_rates",
            content="rate_date,currency,rate_to_usd\n2024-01-01,EUR,1.1\n",
            headers={"Authorization": f"Bearer {key}", "Content-Type": "text/csv"},
        )
        mine = c.post("/v1/query/sql", json=sql, headers={"Authorization": f"Bearer {key}"})
        theirs = c.post("/v1/query/sql", json=sql, headers={"Authorization": f"Bearer {other}"})
        again = c.post("/v1/query/sql", json=sql, headers={"Authorization": f"Bearer {other}"})
        assert mine.json()["rows"] == [[1]] and theirs.json()["rows"] == [[0]]
        assert (theirs.json()["cache_hit"], again.json()["cache_hit"]) == (False, True)
        assert again.json()["rows"] == [[0]]
        assert 'ledgerhouse_result_cache_total{outcome="hit"} 1.0' in c.get("/metrics").text
    wh.close()


ops = st.lists(
    st.one_of(
        st.tuples(st.just("trade"), st.integers(1, 9)),
        st.tuples(st.just("query"), st.integers(0, 3)),
    ),
    min_size=1,
    max_size=12,
)


@given(ops)
@settings(
    max_examples=examples(ci=15, dev=2),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_every_cached_answer_equals_a_fresh_one(tmp_path_factory, ref_template, sequence) -> None:  # type: ignore[no-untyped-def]
    wh = copy_warehouse(ref_template, tmp_path_factory.mktemp("cache") / "wh")  # with REF
    try:
        queries = [
            COUNT,
            "SELECT max(quantity) FROM fact_trade",
            "SELECT count(*) FROM fact_trade_event",
            "SELECT count(*) FROM dim_date",
        ]
        n = 0
        for op, arg in sequence:
            if op == "trade":
                n += 1
                _trade(wh, f"T{n}", arg)
            else:
                cached = wh.query(queries[arg])
                assert cached.rows() == wh.query(queries[arg], use_cache=False).rows()
    finally:
        wh.warehouse.close()


def test_queries_that_read_no_table_or_call_volatile_functions_are_not_cached(
    ref_wh: Session,
) -> None:
    for sql in ("SELECT now()", "SELECT random()", "SELECT 1 AS one",
                "SELECT count(*), current_date FROM fact_trade",
                "SELECT gen_random_uuid() FROM dim_date LIMIT 1"):  # fmt: skip
        first, again = ref_wh.query(sql), ref_wh.query(sql)
        assert (first.route, again.route) == ("raw", "raw"), sql
    assert ref_wh.query(COUNT).route == "raw" and ref_wh.query(COUNT).route == "cache"
