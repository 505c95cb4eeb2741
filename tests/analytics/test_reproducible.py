"""Every analytics answer is reproducible bit for bit: the same call on the same commit, ten
times, gives identical frames (floats compared by their bits, decimals exactly), and the pure
computations give the same bits with one Polars thread as with several."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import polars as pl
import pytest

from ledgerhouse.session import Session
from tests.conftest import examples

#: runs of each call: ten in CI, four in the default tier (a difference shows in the second run
#: as often as in the tenth: DuckDB's thread scheduling changes on every run)
RUNS = examples(ci=10, dev=4)


def bits(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame with each float replaced by its 64 bits: ``equals`` is then bit equality."""
    return frame.with_columns(pl.col(pl.Float64).reinterpret(signed=True))


def _calls(wh: Session) -> dict[str, Callable[[], Any]]:
    day = wh.query("SELECT max(position_date) FROM fact_position").rows()[0][0]
    first = wh.query("SELECT min(position_date) FROM fact_position").rows()[0][0]
    start, end = first + timedelta(days=7), day
    a = wh.analytics()
    return {
        "performance": lambda: wh.performance(),
        "period_returns": lambda: wh.period_returns(every="month"),
        "exposures": lambda: a.exposures(day, ["sector", "currency"], "firm"),
        "reconcile_positions": lambda: a.reconcile_positions(day),
        "correlation": lambda: a.correlation(min_periods=2),
        "attribution": lambda: a.attribution(start=start, end=end),
        "attribution_daily": lambda: a.attribution(start=start, end=end, daily=True),
        "pnl": lambda: a.pnl(day),
        "vwap": lambda: a.vwap(start, end),
        "slippage": lambda: a.slippage(start, end),
    }


CALLS = ["performance", "period_returns", "exposures", "reconcile_positions", "correlation",
         "attribution", "attribution_daily", "pnl", "vwap", "slippage"]  # fmt: skip


@pytest.mark.parametrize("name", CALLS)
def test_the_same_call_gives_the_same_bits_ten_times(loaded: Session, name: str) -> None:
    call = _calls(loaded)[name]
    frame, commit = call()
    assert frame.height > 0
    for _ in range(RUNS - 1):
        again, again_commit = call()
        assert again_commit == commit
        assert again.schema == frame.schema
        assert bits(again).equals(bits(frame)), name


_PURE = r"""
import json, sys
from datetime import date, timedelta
import numpy as np, polars as pl
from ledgerhouse.analytics import Conventions, performance_report
from ledgerhouse.analytics.attribution import daily_effects, linked
from ledgerhouse.analytics.trading import average_cost_path

rng = np.random.default_rng(5)
n, codes = 400, [f"P{i}" for i in range(30)]
days = [date(2020, 1, 1) + timedelta(days=i) for i in range(n)]
rows = []
for c in codes:
    nav = 1e6
    for d in days:
        flow = round(float(rng.normal(0, 1e4)), 2) if rng.random() < 0.1 else 0.0
        end = round((nav + flow) * (1 + rng.normal(0.0003, 0.01)), 2)
        rows.append((c, d, f"{nav:.2f}", f"{end:.2f}", f"{flow:.2f}", "B"))
        nav = end
dec = pl.Decimal(24, 6)
perf = pl.DataFrame(rows, schema=["portfolio_code", "performance_date", "begin_nav", "end_nav",
                                  "net_flow", "benchmark_code"], orient="row").with_columns(
    pl.col("begin_nav", "end_nav", "net_flow").str.to_decimal(scale=6).cast(dec))
bench = pl.DataFrame({"benchmark_code": "B", "performance_date": days,
                      "benchmark_return": rng.normal(0.0002, 0.009, n)})
report = performance_report(perf, bench, Conventions(risk_free=0.02))
sectors = ["A", "B", "C", "D"]
hold = pl.DataFrame([(c, d, s, f"{rng.uniform(1e4, 1e6):.6f}", f"{rng.normal(0, 1e3):.6f}")
                     for c in codes for d in days[:60] for s in sectors],
                    schema=["portfolio_code", "day", "sector", "mv", "mv_return"], orient="row"
                    ).with_columns(pl.col("mv", "mv_return").str.to_decimal(scale=6))
bw = pl.DataFrame([("B", d, s, float(rng.uniform(0.1, 0.4)), float(rng.normal(0, 0.003)))
                   for d in days[:60] for s in sectors],
                  schema=["benchmark_code", "day", "sector", "w", "w_return"], orient="row")
owners = pl.DataFrame({"portfolio_code": codes, "benchmark_code": "B"})
effects = linked(daily_effects(hold, bw, owners))
m = 20000
trades = pl.DataFrame({
    "portfolio_code": rng.choice(codes, m), "instrument_code": rng.choice(sectors, m),
    "trade_ts": np.arange(m), "trade_id": [str(i) for i in range(m)],
    "q": [f"{v:.3f}" for v in rng.normal(0, 100, m)],
    "price": [f"{v:.4f}" for v in rng.uniform(10, 200, m)],
}).with_columns(pl.col("q", "price").str.to_decimal(scale=6)).sort(
    "portfolio_code", "instrument_code", "trade_ts")
path = average_cost_path(trades)
out = {}
for name, f in (("report", report), ("effects", effects), ("path", path)):
    f = f.with_columns(pl.col(pl.Float64).reinterpret(signed=True))
    out[name] = f.drop("errors", strict=False).select(pl.all().cast(pl.String)).rows()
json.dump(out, sys.stdout, default=str)
"""


def _pure_in_subprocess(threads: int) -> dict[str, Any]:
    env = {**os.environ, "POLARS_MAX_THREADS": str(threads)}
    done = subprocess.run(
        [sys.executable, "-c", _PURE], env=env, capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_the_pure_computations_do_not_depend_on_the_number_of_threads() -> None:
    one, four = _pure_in_subprocess(1), _pure_in_subprocess(4)
    assert one.keys() == four.keys() == {"report", "effects", "path"}
    for name in one:
        assert len(one[name]) > 10
        assert one[name] == four[name], name
