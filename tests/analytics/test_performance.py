"""Performance and risk metrics against independent references: hand-computed cases and
straightforward numpy / scipy implementations written here, on generated series and on the
edge cases (a flow on the first day, a zero NAV, missing days, one observation, no
benchmark)."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from scipy import optimize, stats

from ledgerhouse.analytics import Conventions, modified_dietz, performance_report, period_returns

D0 = date(2024, 1, 1)


def _perf(code: str, navs: list[tuple[float, float, float]], bench: str | None = "BM",
          start: date = D0, dates: list[date] | None = None) -> pl.DataFrame:  # fmt: skip
    days = dates or [start + timedelta(days=i) for i in range(len(navs))]
    return pl.DataFrame(
        {
            "portfolio_code": code,
            "performance_date": days,
            "begin_nav": [float(b) for b, _, _ in navs],
            "end_nav": [float(e) for _, e, _ in navs],
            "net_flow": [float(f) for _, _, f in navs],
            "benchmark_code": bench,
        },
        schema_overrides={"benchmark_code": pl.String},
    )


def _row(report: pl.DataFrame, code: str) -> dict:  # type: ignore[type-arg]
    return report.filter(pl.col("portfolio_code") == code).to_dicts()[0]


def test_hand_computed_three_days() -> None:
    # day 1: 100 -> 110 (+10%); day 2: 10 in at the start, 120 -> 126 (+5%); day 3: -10%
    perf = _perf("P1", [(100, 110, 0), (110, 126, 10), (126, 113.4, 0)], bench=None)
    r = _row(performance_report(perf, None, Conventions()), "P1")
    assert r["twr"] == pytest.approx(1.1 * 1.05 * 0.9 - 1)
    assert r["annualized_return"] == pytest.approx((1.1 * 1.05 * 0.9) ** (252 / 3) - 1)
    assert r["max_drawdown"] == pytest.approx(0.9 * 1.155 / 1.155 - 1)  # -10%
    assert r["drawdown_peak_date"] == D0 + timedelta(days=1)
    assert r["drawdown_trough_date"] == D0 + timedelta(days=2)
    assert r["drawdown_recovery_date"] is None
    assert r["observations"] == 3
    assert any("no benchmark" in e for e in r["errors"]) and r["beta"] is None


def _series(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Daily returns and flows (at the start of the day) of a random portfolio."""
    returns = rng.normal(0.0004, 0.01, n)
    flows = np.where(rng.random(n) < 0.1, rng.normal(0, 5_000, n).round(2), 0.0)
    return returns, flows


def _navs(
    returns: np.ndarray, flows: np.ndarray, start: float = 1e5
) -> list[tuple[float, float, float]]:
    out, nav = [], start
    for r, f in zip(returns, flows, strict=True):
        end = (nav + f) * (1 + r)
        out.append((nav, end, f))
        nav = end
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_generated_series_against_numpy_and_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 300
    rp, flows = _series(rng, n)
    rb = rng.normal(0.0003, 0.009, n)
    navs = _navs(rp, flows)
    perf = _perf("P1", navs)
    days = perf["performance_date"].to_list()
    bench = pl.DataFrame({"benchmark_code": "BM", "performance_date": days, "benchmark_return": rb})
    conv = Conventions(risk_free=0.03, periods_per_year=252)
    r = _row(performance_report(perf, bench, conv), "P1")

    rf = (1.03) ** (1 / 252) - 1
    twr = np.prod(1 + rp) - 1
    assert r["twr"] == pytest.approx(twr, rel=1e-9)
    assert r["annualized_return"] == pytest.approx((1 + twr) ** (252 / n) - 1, rel=1e-9)
    assert r["volatility"] == pytest.approx(np.std(rp, ddof=1) * math.sqrt(252), rel=1e-9)
    assert r["sharpe"] == pytest.approx((rp.mean() - rf) / rp.std(ddof=1) * math.sqrt(252))
    downside = math.sqrt(np.mean(np.minimum(rp - rf, 0) ** 2))
    assert r["sortino"] == pytest.approx((rp.mean() - rf) / downside * math.sqrt(252))
    wealth = np.cumprod(1 + rp)
    peak = np.maximum.accumulate(np.maximum(wealth, 1.0))
    dd = wealth / peak - 1
    assert r["max_drawdown"] == pytest.approx(dd.min())
    assert r["drawdown_trough_date"] == days[int(dd.argmin())]
    assert r["calmar"] == pytest.approx(r["annualized_return"] / abs(dd.min()))
    q = np.quantile(rp, 0.01)  # numpy's default: linear interpolation
    assert r["var_99"] == pytest.approx(-q) and r["var"] == pytest.approx(-q)
    assert r["expected_shortfall_99"] == pytest.approx(-rp[rp <= q].mean())
    beta = np.cov(rp, rb, ddof=1)[0, 1] / np.var(rb, ddof=1)
    assert r["beta"] == pytest.approx(beta, rel=1e-9)
    assert r["alpha"] == pytest.approx((rp.mean() - rf - beta * (rb.mean() - rf)) * 252)
    te = np.std(rp - rb, ddof=1) * math.sqrt(252)
    assert r["tracking_error"] == pytest.approx(te)
    assert r["information_ratio"] == pytest.approx((rp - rb).mean() * 252 / te)
    assert r["benchmark_twr"] == pytest.approx(np.prod(1 + rb) - 1)
    # money-weighted return: scipy's root of the NPV of the investor's cash flows
    t = [0.0] + [float(i) for i in range(n) if flows[i]] + [float(n)]
    cf = [-navs[0][0]] + [-flows[i] for i in range(n) if flows[i]] + [navs[-1][1]]

    def npv(rate: float) -> float:
        return sum(c / (1 + rate) ** (ti / 365) for ti, c in zip(t, cf, strict=True))

    assert r["mwr"] == pytest.approx(optimize.brentq(npv, -0.99, 10), abs=1e-8)
    assert r["errors"] == []


def test_parametric_var_and_horizon() -> None:
    rng = np.random.default_rng(9)
    rp, _ = _series(rng, 500)
    perf = _perf("P1", _navs(rp, np.zeros(500)), bench=None)
    conv = Conventions(var_method="parametric", confidence=0.95, horizon_days=10)
    r = _row(performance_report(perf, None, conv), "P1")
    mu, sd, z = rp.mean() * 10, rp.std(ddof=1) * math.sqrt(10), stats.norm.ppf(0.05)
    assert r["var"] == pytest.approx(-(mu + z * sd))
    assert r["expected_shortfall"] == pytest.approx(-(mu - sd * stats.norm.pdf(z) / 0.05))
    z99 = stats.norm.ppf(0.01)
    assert r["var_99"] == pytest.approx(-(mu + z99 * sd))
    hist = _row(performance_report(perf, None, Conventions(horizon_days=10)), "P1")
    ten_day = np.array([np.prod(1 + rp[i - 9 : i + 1]) - 1 for i in range(9, 500)])
    assert hist["var_99"] == pytest.approx(-np.quantile(ten_day, 0.01))


def test_log_returns_and_per_period_risk_free() -> None:
    rng = np.random.default_rng(4)
    rp, _ = _series(rng, 100)
    perf = _perf("P1", _navs(rp, np.zeros(100)), bench=None)
    conv = Conventions(return_type="log", risk_free=0.0001, risk_free_unit="period")
    r = _row(performance_report(perf, None, conv), "P1")
    lr = np.log1p(rp)
    assert r["volatility"] == pytest.approx(lr.std(ddof=1) * math.sqrt(252))
    assert r["sharpe"] == pytest.approx((lr.mean() - 0.0001) / lr.std(ddof=1) * math.sqrt(252))
    assert r["twr"] == pytest.approx(np.prod(1 + rp) - 1)  # TWR is always compounded


def test_flow_on_the_first_day() -> None:
    # 100 at the start and 50 more before the first day's trading; +1% that day, then flat
    navs = [(100.0, 151.5, 50.0)] + [(151.5, 151.5, 0.0)] * 249
    r = _row(performance_report(_perf("P1", navs, bench=None), None, Conventions()), "P1")
    assert r["twr"] == pytest.approx(151.5 / 150 - 1)
    # the investor pays 150 at t=0 and receives 151.5 after 250 days
    expected = optimize.brentq(lambda x: -150 + 151.5 / (1 + x) ** (250 / 365), -0.9, 10)
    assert r["mwr"] == pytest.approx(expected, rel=1e-6)


def test_zero_or_negative_nav_is_an_error_not_a_nan() -> None:
    perf = pl.concat(
        [
            _perf("BAD", [(100, 90, 0), (90, 10, -90), (10, 11, 0)], bench=None),
            _perf("OK", [(100, 101, 0), (101, 102, 0)], bench=None),
        ]
    )
    report = performance_report(perf, None, Conventions())
    bad, ok = _row(report, "BAD"), _row(report, "OK")
    assert any("zero or negative on 2024-01-02" in e for e in bad["errors"])
    assert bad["twr"] is None and bad["volatility"] is None
    assert ok["twr"] == pytest.approx(0.02)  # one bad portfolio does not spoil the others


def test_missing_days_and_a_single_observation() -> None:
    days = [D0, D0 + timedelta(days=1), D0 + timedelta(days=7)]  # a gap of five days
    gap = _row(
        performance_report(
            _perf("G", [(100, 101, 0), (101, 100, 0), (100, 103, 0)], bench=None, dates=days),
            None,
            Conventions(),
        ),
        "G",
    )
    assert gap["observations"] == 3
    assert gap["twr"] == pytest.approx(1.03 - 1)
    one = _row(
        performance_report(_perf("S", [(100, 102, 0)], bench=None), None, Conventions()), "S"
    )
    assert one["twr"] == pytest.approx(0.02) and one["volatility"] is None
    assert one["sharpe"] is None
    assert any("fewer than 2 observations" in e for e in one["errors"])


def test_modified_dietz_by_hand() -> None:
    # BMV 100, a flow of 10 invested for 20 of 30 days, EMV 115: (115-100-10) / (100+10*2/3)
    assert modified_dietz(100, 115, [(20 / 30, 10)]) == pytest.approx(5 / (100 + 20 / 3))
    with pytest.raises(ValueError, match="not positive"):
        modified_dietz(0, 10, [])
    # period_returns: one month with a flow on day 11 of 30 (invested 20 days)
    navs = [(100.0, 100.0, 0.0)] * 30
    navs[10] = (100.0, 110.0, 10.0)  # the flow, no gain that day
    navs = (
        [(b, e, f) for b, e, f in navs[:10]]
        + [(100, 110, 10)]
        + [(110, 110, 0)] * 18
        + [(110, 115, 0)]
    )
    start = date(2024, 4, 1)
    months = period_returns(_perf("P1", navs, start=start), "1mo")
    row = months.to_dicts()[0]
    assert row["period_return"] == pytest.approx((115 - 100 - 10) / (100 + 10 * 20 / 30))
    assert row["cumulative_return"] == pytest.approx(row["period_return"])
