"""The generator is deterministic, and its data loads and reconciles through ingestion."""

from __future__ import annotations

import io
import json
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from ledgerhouse.finbench.generate import DATASETS, generate
from ledgerhouse.ingest.datasets import contract
from ledgerhouse.ingest.decimals import DecimalType, to_decimal
from ledgerhouse.session import Session


def test_same_seed_same_data(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(a, 0.001, seed=3, days=20)
    generate(b, 0.001, seed=3, days=20)
    generate(c, 0.001, seed=4, days=20)
    for ds in DATASETS:
        assert_frame_equal(
            pl.read_parquet(a / f"{ds}.parquet"), pl.read_parquet(b / f"{ds}.parquet")
        )
    assert not pl.read_parquet(a / "trades.parquet").equals(pl.read_parquet(c / "trades.parquet"))


def test_generated_data_has_lifecycle_and_scd2(finbench_dir: Path) -> None:
    trades = pl.read_parquet(finbench_dir / "trades.parquet")
    assert set(trades["event"].unique()) == {"NEW", "AMEND", "CANCEL"}
    inst = pl.read_parquet(finbench_dir / "instruments.parquet")
    assert inst["instrument_code"].n_unique() < inst.height  # some have a second version
    pf = pl.read_parquet(finbench_dir / "portfolios.parquet")
    assert pf["portfolio_code"].n_unique() < pf.height


def test_generated_amounts_fit_their_declared_scales_as_parquet_and_as_csv(
    finbench_dir: Path,
) -> None:
    """Every decimal column of every contract (amounts, quantities and prices: 6 places; FX
    rates: 12) is read by ingestion's own reader without a refusal, from the Parquet files the
    generator writes (doubles) and from the same data written as CSV (text)."""
    checked: set[tuple[str, str]] = set()
    for ds in DATASETS:
        frame = pl.read_parquet(finbench_dir / f"{ds}.parquet")
        buf = io.BytesIO()
        frame.write_csv(buf)
        text = pl.read_csv(buf.getvalue(), infer_schema=False)
        for col in contract(ds).columns:
            if col.kind != "decimal" or col.name not in frame.columns:
                continue
            for form, values in (("parquet", frame[col.name]), ("csv", text[col.name])):
                typed, why = to_decimal(values, DecimalType(col.precision, col.scale))
                refused = why.drop_nulls()
                assert refused.len() == 0, (ds, col.name, form, refused.head(3).to_list())
                assert typed.null_count() == values.null_count()
            checked.add((ds, col.name))
    assert {("fx_rates", "rate_to_usd"), ("trades", "price"), ("positions", "market_value")} <= (
        checked
    )
    assert len(checked) >= 12


def test_everything_loads_without_quarantine(loaded: Session) -> None:
    assert all(b["rows_quarantined"] == 0 for b in loaded.batches())
    assert loaded.query("SELECT count(*) FROM quarantine").rows() == [[0]]


def test_positions_reconcile_with_cumulative_trades(loaded: Session) -> None:
    """On every date, each position's quantity equals the sum of the signed quantities of the
    live trades up to that date (amended state, cancellations excluded)."""
    sql = """
    WITH days AS (SELECT DISTINCT position_date AS d FROM fact_position),
    cum AS (
        SELECT d, portfolio_code, instrument_code, sum(signed_quantity) AS q
        FROM days JOIN fact_trade ON trade_date <= d GROUP BY ALL
    )
    SELECT count(*) AS compared,
           count(*) FILTER (WHERE abs(coalesce(c.q, 0) - coalesce(p.quantity, 0)) > 1e-6) AS bad
    FROM cum c FULL OUTER JOIN fact_position p
      ON p.position_date = c.d AND p.portfolio_code = c.portfolio_code
     AND p.instrument_code = c.instrument_code
    WHERE coalesce(c.q, 0) <> 0 OR p.quantity IS NOT NULL
    """
    compared, bad = loaded.query(sql).rows()[0]
    assert compared > 1000 and bad == 0


def test_nav_reconciles_with_positions_and_returns(loaded: Session) -> None:
    # daily_return is consistent with the NAVs and flows, and begin NAV chains to end NAV
    sql = """
    SELECT count(*) FILTER (WHERE abs(daily_return - (end_nav / (begin_nav + net_flow) - 1))
                                  > 1e-9) AS bad_return,
           count(*) FILTER (WHERE prev IS NOT NULL AND abs(prev - begin_nav) > 1e-6) AS bad_chain
    FROM (SELECT *, lag(end_nav) OVER (PARTITION BY portfolio_code ORDER BY performance_date)
          AS prev FROM fact_performance)
    """
    assert loaded.query(sql).rows() == [[0, 0]]


def test_base_currency_uses_the_rate_of_the_date(loaded: Session) -> None:
    sql = """
    SELECT count(*) FILTER (WHERE abs(t.fx_rate - f.rate_to_usd / b.rate_to_usd) > 1e-12)
    FROM fact_trade t
    JOIN (SELECT currency_code, rate_date, rate_to_usd FROM fact_fx_rate
          UNION ALL SELECT 'USD', rate_date, 1.0 FROM (SELECT DISTINCT rate_date FROM fact_fx_rate))
         f ON f.currency_code = t.currency AND f.rate_date = t.trade_date
    JOIN (SELECT currency_code, rate_date, rate_to_usd FROM fact_fx_rate
          UNION ALL SELECT 'USD', rate_date, 1.0 FROM (SELECT DISTINCT rate_date FROM fact_fx_rate))
         b ON b.currency_code = t.base_currency AND b.rate_date = t.trade_date
    """
    assert loaded.query(sql).rows() == [[0]]


@pytest.mark.slow  # SF 0.02 generated in parts, then loaded through the CLI: ~12 s
def test_large_scales_are_written_in_portfolio_groups_and_load_as_batches(tmp_path: Path) -> None:
    """Above CHUNK_PORTFOLIOS, per-portfolio datasets are written as parts (each fits in
    memory) and `ledgerhouse load` ingests each part as one batch."""
    from typer.testing import CliRunner

    from ledgerhouse.cli.main import app

    data = tmp_path / "data"
    counts = generate(data, 0.02, seed=3, days=30, chunk_portfolios=2)  # 4 portfolios
    parts = sorted((data / "trades").glob("*.parquet"))
    assert len(parts) == 2 and not (data / "trades.parquet").exists()
    trades = pl.concat([pl.read_parquet(p) for p in parts])
    assert trades.height == counts["trades"]
    assert (
        trades.filter(pl.col("event") == "NEW")["trade_id"].n_unique()
        == trades.filter(pl.col("event") == "NEW").height
    )
    perf = pl.concat([pl.read_parquet(p) for p in sorted((data / "performance").iterdir())])
    assert perf["portfolio_code"].n_unique() == 4
    root = str(tmp_path / "wh")
    runner = CliRunner()
    assert runner.invoke(app, ["init", "--root", root]).exit_code == 0
    r = runner.invoke(app, ["load", str(data), "--root", root, "--json"])
    assert r.exit_code == 0, r.output
    reports = json.loads(r.stdout)
    assert [x["dataset"] for x in reports].count("trades") == 2
    assert all(x["status"] == "committed" and x["rows_quarantined"] == 0 for x in reports)
