"""Slow tier: a full 750-day FinBench period at a small scale, loaded through the CLI path, with
the reconciliation, time-travel and exactly-once checks of the fast tier at a larger size."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.ingest_bench import amendment_batch
from ledgerhouse import Warehouse
from ledgerhouse.finbench.generate import generate
from ledgerhouse.ingest import LOAD_ORDER
from tests.conftest import admin

pytestmark = pytest.mark.slow


def test_full_period_loads_reconciles_and_amends(tmp_path: Path) -> None:
    data = tmp_path / "data"
    generate(data, 0.02, seed=11)
    wh, _ = Warehouse.init(root=tmp_path / "wh")
    try:
        for ds in LOAD_ORDER:
            assert admin(wh).ingest(ds, data / f"{ds}.parquet").rows_quarantined == 0
        loaded = admin(wh).commits()[0].id
        # positions reconcile with cumulative live trades on month ends
        sql = """
        WITH days AS (
            SELECT DISTINCT position_date AS d FROM fact_position
            WHERE day(position_date + 1) = 1
               OR position_date = (SELECT max(position_date) FROM fact_position)),
        cum AS (SELECT d, portfolio_code, instrument_code, sum(signed_quantity) AS q
                FROM days JOIN fact_trade ON trade_date <= d GROUP BY ALL),
        pos AS (SELECT * FROM fact_position WHERE position_date IN (SELECT d FROM days))
        SELECT count(*),
               count(*) FILTER (WHERE abs(coalesce(c.q, 0) - coalesce(p.quantity, 0)) > 1e-6)
        FROM cum c FULL OUTER JOIN pos p
          ON p.position_date = c.d AND p.portfolio_code = c.portfolio_code
         AND p.instrument_code = c.instrument_code
        WHERE coalesce(c.q, 0) <> 0 OR p.quantity IS NOT NULL
        """
        compared, bad = admin(wh).query(sql).rows()[0]
        assert compared > 10_000 and bad == 0
        # SCD2: instruments that changed sector during the period have two versions
        assert (
            admin(wh)
            .query(
                "SELECT count(*) FROM (SELECT instrument_code FROM dim_instrument "
                "GROUP BY 1 HAVING count(*) > 1)"
            )
            .rows()[0][0]
            > 0
        )
        # 5,000 scattered amendments: applied once, resend is a no-op, as_of shows the past
        amend = tmp_path / "amend.parquet"
        amendment_batch(data / "trades.parquet", 5_000).write_parquet(amend)
        before = admin(wh).query("SELECT sum(quantity) FROM fact_trade").rows()[0][0]
        assert admin(wh).ingest("trades", amend, batch_id="amend-1").rows_accepted == 5_000
        assert admin(wh).ingest("trades", amend, batch_id="amend-1").status == "duplicate"
        after = admin(wh).query("SELECT sum(quantity) FROM fact_trade").rows()[0][0]
        assert after == pytest.approx(before + 5_000)
        assert (
            admin(wh).query("SELECT sum(quantity) FROM fact_trade", as_of=loaded).rows()[0][0]
            == before
        )
    finally:
        wh.close()
