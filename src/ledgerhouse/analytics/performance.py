"""Performance and risk of every portfolio at once, vectorized (Polars over all portfolios,
numpy for the money-weighted return): no Python loop over portfolios or days.

Inputs are plain frames so the formulas can be checked against independent references:
``perf`` has portfolio_code, performance_date, begin_nav, end_nav, net_flow and
benchmark_code (nullable); ``bench`` has benchmark_code, performance_date, benchmark_return.
docs/analytics.md states every formula and convention.

NAVs and flows may be exact decimals (the warehouse's) or floats (a frame built by hand): the
returns are floats computed from them, and every float reduction is single-order
(``ordered_sums``, cumulative products over sorted rows), so the same inputs give the same
bits on every run and any number of threads.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import polars as pl

from ledgerhouse.analytics.models import Conventions

P = "portfolio_code"
D = "performance_date"
_EPS = 1e-12


def daily_returns(perf: pl.DataFrame) -> pl.DataFrame:
    """Per-day simple return with external flows at the start of the day:
    r = end_nav / (begin_nav + net_flow) - 1; null where begin_nav + net_flow <= 0. With
    decimal NAVs the gain end_nav - (begin_nav + net_flow) is exact and the return is one
    float division of it: the cancellation of end / base - 1 is avoided."""
    base = pl.col("begin_nav") + pl.col("net_flow")
    gain = (pl.col("end_nav") - base).cast(pl.Float64)
    return perf.sort(P, D).with_columns(
        r=pl.when(base > 0).then(gain / base.cast(pl.Float64)),
        bad_nav=(base <= 0) | base.is_null() | pl.col("end_nav").is_null(),
    )


def ordered_sums(frame: pl.DataFrame, by: list[str], terms: dict[str, pl.Expr]) -> pl.DataFrame:
    """Per group of ``by``, the sum of each float term (nulls count as 0), added in the
    frame's row order within the group by numpy on one thread. Polars' and DuckDB's grouped
    float sums split rows among threads, so their last bits can change between runs; this
    order is fixed by the data. Sorts stably by ``by`` (sort the frame by a unique key first
    when its row order is not itself deterministic)."""
    s = frame.sort(by, maintain_order=True).select(
        *by, **{k: e.cast(pl.Float64).fill_null(0.0) for k, e in terms.items()}
    )
    starts = np.flatnonzero(s.select(pl.struct(by).is_first_distinct()).to_series().to_numpy())
    keys = s.select(by)[starts.tolist()]
    sums = {
        k: np.add.reduceat(s[k].to_numpy(), starts) if len(starts) else np.zeros(0) for k in terms
    }
    return keys.hstack(pl.DataFrame(sums, schema=dict.fromkeys(terms, pl.Float64)))


def _means(frame: pl.DataFrame, by: list[str], terms: dict[str, pl.Expr]) -> pl.DataFrame:
    """Per group, each term's count of non-null values (``n_<term>``) and ordered mean."""
    sums = ordered_sums(frame, by, terms)
    counts = frame.group_by(by).agg(**{f"n_{k}": e.count() for k, e in terms.items()})
    return sums.join(counts, on=by, how="left", maintain_order="left").with_columns(
        **{k: pl.when(pl.col(f"n_{k}") > 0).then(pl.col(k) / pl.col(f"n_{k}")) for k in terms}
    )


def _sample_std(ss: str, n: str) -> pl.Expr:
    """Sample standard deviation (ddof 1) from a sum of squared deviations."""
    return pl.when(pl.col(n) > 1).then((pl.col(ss) / (pl.col(n) - 1)).sqrt())


def performance_report(
    perf: pl.DataFrame, bench: pl.DataFrame | None, conv: Conventions
) -> pl.DataFrame:
    """One row per portfolio: returns (TWR, annualized, MWR), risk (volatility, drawdown, VaR,
    expected shortfall), risk-adjusted ratios and, against the benchmark, beta, alpha,
    tracking error and information ratio. Problems are in ``errors`` (never a silent NaN)."""
    ppy, rf = conv.periods_per_year, conv.risk_free_per_period
    df = daily_returns(perf)
    broken = df.group_by(P).agg(
        first_bad=pl.col(D).filter(pl.col("bad_nav")).min(),
    )
    df = df.join(broken, on=P, maintain_order="left").with_columns(
        r=pl.when(pl.col("first_bad").is_null()).then(pl.col("r"))
    )
    x = pl.col("r").log1p() if conv.return_type == "log" else pl.col("r")
    df = df.with_columns(
        x=x,
        wealth=(1 + pl.col("r")).cum_prod().over(P),
    ).with_columns(peak=pl.max_horizontal(pl.col("wealth").cum_max().over(P), pl.lit(1.0)))
    df = df.with_columns(dd=pl.col("wealth") / pl.col("peak") - 1)
    h = conv.horizon_days
    horizon = ((1 + pl.col("r")).log().rolling_sum(h).exp() - 1).over(P) if h > 1 else pl.col("r")
    df = df.with_columns(rh=horizon)
    stats = df.group_by(P, maintain_order=True).agg(
        start_date=pl.col(D).min(),
        end_date=pl.col(D).max(),
        observations=pl.col("r").count(),
        first_bad=pl.col("first_bad").first(),
        benchmark_code=pl.col("benchmark_code").drop_nulls().last(),
        # the cumulative product (one pass over the sorted days) at the last day
        twr=pl.col("wealth").drop_nulls().last() - 1,
        max_drawdown=pl.col("dd").min(),
        trough=pl.col(D).filter(pl.col("dd") == pl.col("dd").min()).first(),
        peak_value=pl.col("peak").filter(pl.col("dd") == pl.col("dd").min()).first(),
        **_quantile(conv.confidence, ""),
        **_quantile(0.99, "_99"),
    )
    stats = stats.join(_moments(df, stats, rf), on=P, how="left", maintain_order="left")
    dates = (
        df.join(stats.select(P, "trough", "peak_value"), on=P)
        .group_by(P)
        .agg(
            drawdown_peak_date=pl.col(D)
            .filter(
                (pl.col(D) <= pl.col("trough")) & (pl.col("wealth") >= pl.col("peak_value") - _EPS)
            )
            .max(),
            drawdown_recovery_date=pl.col(D)
            .filter(
                (pl.col(D) > pl.col("trough")) & (pl.col("wealth") >= pl.col("peak_value") - _EPS)
            )
            .min(),
        )
    )
    out = stats.join(dates, on=P, how="left")
    n = pl.col("observations")
    ann = pl.when(n > 0).then((1 + pl.col("twr")) ** (ppy / n) - 1)
    out = out.with_columns(annualized_return=ann).with_columns(
        volatility=pl.col("std") * math.sqrt(ppy),
        sharpe=pl.when(pl.col("std") > 0).then(
            (pl.col("mean") - rf) / pl.col("std") * math.sqrt(ppy)
        ),
        sortino=pl.when(pl.col("downside") > 0).then(
            (pl.col("mean") - rf) / pl.col("downside") * math.sqrt(ppy)
        ),
        calmar=pl.when(pl.col("max_drawdown") < 0).then(
            pl.col("annualized_return") / pl.col("max_drawdown").abs()
        ),
        drawdown_trough_date=pl.when(pl.col("max_drawdown") < 0).then(pl.col("trough")),
    )
    if conv.var_method == "parametric":
        out = out.with_columns(**_parametric(conv.confidence, "", h), **_parametric(0.99, "_99", h))
    out = out.with_columns(
        drawdown_peak_date=pl.when(pl.col("max_drawdown") < 0).then(
            pl.col("drawdown_peak_date").fill_null(pl.col("start_date"))
        ),
        drawdown_recovery_date=pl.when(pl.col("max_drawdown") < 0).then(
            pl.col("drawdown_recovery_date")
        ),
    )
    out = out.join(_relative(df, bench, conv), on=P, how="left")
    out = out.join(money_weighted_returns(perf), on=P, how="left")
    errors = pl.concat_list(
        pl.when(pl.col("first_bad").is_not_null())
        .then(
            pl.format(
                "begin_nav + net_flow is zero or negative on {}: returns are undefined",
                pl.col("first_bad"),
            )
        )
        .otherwise(None),
        pl.when(pl.col("first_bad").is_null() & (n < 2))
        .then(pl.lit("fewer than 2 observations: volatility and ratios are undefined"))
        .otherwise(None),
        pl.when(pl.col("benchmark_code").is_null())
        .then(pl.lit("the portfolio has no benchmark: beta, alpha, tracking error undefined"))
        .when(pl.col("benchmark_observations").fill_null(0) < 2)
        .then(pl.format("benchmark {} has fewer than 2 common dates", pl.col("benchmark_code")))
        .otherwise(None),
        pl.col("mwr_error"),
    ).list.drop_nulls()
    out = out.with_columns(errors=errors)
    undefined = [c for c in _METRICS if c in out.columns]  # a broken NAV spoils them all
    out = out.with_columns(
        [pl.when(pl.col("first_bad").is_null()).then(pl.col(c)).alias(c) for c in undefined]
    )
    return out.select(
        P, "start_date", "end_date", "observations", "twr", "annualized_return", "mwr",
        "volatility", "sharpe", "sortino", "calmar", "max_drawdown", "drawdown_peak_date",
        "drawdown_trough_date", "drawdown_recovery_date", "var", "expected_shortfall", "var_99",
        "expected_shortfall_99", "benchmark_code", "benchmark_twr", "beta", "alpha",
        "tracking_error", "information_ratio", "errors",
    ).sort(P)  # fmt: skip


_METRICS = (
    "twr", "annualized_return", "mwr", "volatility", "sharpe", "sortino", "calmar",
    "max_drawdown", "drawdown_peak_date", "drawdown_trough_date", "drawdown_recovery_date",
    "var", "expected_shortfall", "var_99", "expected_shortfall_99", "benchmark_twr", "beta",
    "alpha", "tracking_error", "information_ratio",
)  # fmt: skip


def _quantile(confidence: float, suffix: str) -> dict[str, pl.Expr]:
    """Historical VaR: the loss at the (1 - confidence) empirical quantile (linear
    interpolation) of the horizon's returns (a sort: order-independent)."""
    q = pl.col("rh").quantile(1 - confidence, interpolation="linear")
    return {f"var{suffix}": -q}


def _moments(df: pl.DataFrame, stats: pl.DataFrame, rf: float) -> pl.DataFrame:
    """The sums behind the means, deviations and the expected shortfall, each in one fixed
    order (``ordered_sums``): the mean first, then the squared deviations from it (two
    passes, as numpy's std)."""
    first = _means(df, [P], {"mean": pl.col("x"), "r_mean": pl.col("r")})
    tails = stats.select(P, "var", "var_99")
    dev = df.join(first, on=P, how="left", maintain_order="left").join(
        tails, on=P, how="left", maintain_order="left"
    )
    second = ordered_sums(
        dev,
        [P],
        {
            "ss": (pl.col("x") - pl.col("mean")) ** 2,
            "ss_r": (pl.col("r") - pl.col("r_mean")) ** 2,
            "down": (pl.col("x") - rf).clip(upper_bound=0) ** 2,
            "tail": pl.when(pl.col("rh") <= -pl.col("var")).then(pl.col("rh")),
            "tail_99": pl.when(pl.col("rh") <= -pl.col("var_99")).then(pl.col("rh")),
        },
    )
    counts = dev.group_by(P).agg(
        n_tail=(pl.col("rh") <= -pl.col("var")).sum(),
        n_tail_99=(pl.col("rh") <= -pl.col("var_99")).sum(),
    )
    n = pl.col("n_mean")
    return (
        first.join(second, on=P, how="left")
        .join(counts, on=P, how="left")
        .select(
            P,
            "mean",
            "r_mean",
            std=_sample_std("ss", "n_mean"),
            r_std=_sample_std("ss_r", "n_r_mean"),
            downside=pl.when(n > 0).then((pl.col("down") / n).sqrt()),
            expected_shortfall=pl.when(pl.col("n_tail") > 0).then(
                -pl.col("tail") / pl.col("n_tail")
            ),
            expected_shortfall_99=pl.when(pl.col("n_tail_99") > 0).then(
                -pl.col("tail_99") / pl.col("n_tail_99")
            ),
        )
    )


def _parametric(confidence: float, suffix: str, horizon: int) -> dict[str, pl.Expr]:
    """Normal VaR and ES of the horizon: mean * h and sd * √h of the daily simple returns."""
    # the standard library's normal (Wichura's AS241 quantile, ~1e-16): scipy.stats would add
    # a second to every start of the library for two numbers
    norm = NormalDist()
    z = norm.inv_cdf(1 - confidence)
    pdf = norm.pdf(z)
    mu = pl.col("r_mean") * horizon
    sd = pl.col("r_std") * math.sqrt(horizon)
    return {
        f"var{suffix}": -(mu + z * sd),
        f"expected_shortfall{suffix}": -(mu - sd * pdf / (1 - confidence)),
    }


def _relative(df: pl.DataFrame, bench: pl.DataFrame | None, conv: Conventions) -> pl.DataFrame:
    ppy, rf = conv.periods_per_year, conv.risk_free_per_period
    if bench is None or bench.is_empty():
        return pl.DataFrame(
            schema={
                P: pl.String,
                "benchmark_observations": pl.UInt32,
                "benchmark_twr": pl.Float64,
                "beta": pl.Float64,
                "alpha": pl.Float64,
                "tracking_error": pl.Float64,
                "information_ratio": pl.Float64,
            }
        )
    b = pl.col("benchmark_return")
    xb = b.log1p() if conv.return_type == "log" else b
    joined = (
        df.filter(pl.col("r").is_not_null())
        .join(bench, on=["benchmark_code", D])
        .sort(P, D)  # one row per portfolio and day: a fixed order for the sums
        .with_columns(xb=xb, active=pl.col("x") - xb)
        .with_columns(bench_wealth=(1 + b).cum_prod().over(P))
    )
    first = _means(joined, [P], {"mean_x": pl.col("x"), "mean_b": pl.col("xb"),
                                 "active_mean": pl.col("active")})  # fmt: skip
    dev = joined.join(first, on=P, how="left", maintain_order="left")
    second = ordered_sums(
        dev,
        [P],
        {
            "sxb": (pl.col("x") - pl.col("mean_x")) * (pl.col("xb") - pl.col("mean_b")),
            "sbb": (pl.col("xb") - pl.col("mean_b")) ** 2,
            "saa": (pl.col("active") - pl.col("active_mean")) ** 2,
        },
    )
    rel = (
        joined.group_by(P, maintain_order=True)
        .agg(
            benchmark_observations=pl.len(),
            benchmark_twr=pl.col("bench_wealth").last() - 1,
        )
        .join(first, on=P, how="left")
        .join(second, on=P, how="left")
    )
    n = pl.col("benchmark_observations")
    rel = rel.with_columns(
        cov=pl.when(n > 1).then(pl.col("sxb") / (n - 1)),
        var_b=pl.when(n > 1).then(pl.col("sbb") / (n - 1)),
        active_std=_sample_std("saa", "benchmark_observations"),
    )
    beta = pl.when(pl.col("var_b") > 0).then(pl.col("cov") / pl.col("var_b"))
    te = pl.col("active_std") * math.sqrt(ppy)
    return rel.with_columns(beta=beta, tracking_error=te).select(
        P,
        "benchmark_observations",
        "benchmark_twr",
        "beta",
        alpha=(pl.col("mean_x") - rf - pl.col("beta") * (pl.col("mean_b") - rf)) * ppy,
        tracking_error="tracking_error",
        information_ratio=pl.when(pl.col("tracking_error") > 0).then(
            pl.col("active_mean") * ppy / pl.col("tracking_error")
        ),
    )


def money_weighted_returns(perf: pl.DataFrame) -> pl.DataFrame:
    """Annualized money-weighted return (IRR, ACT/365) of every portfolio at once: the
    investor pays the first begin NAV at the start, each net flow at the start of its day,
    and receives the last end NAV at the end of the last day. Solved by bisection on all
    portfolios together (the NPV falls as the rate rises for this sign pattern); the amounts
    enter as floats (a rate is a float), each NPV added in date order by numpy."""
    s = perf.sort(P, D)
    first = s.group_by(P, maintain_order=True).agg(
        t0=pl.col(D).min(),
        begin=pl.col("begin_nav").first(),
        end=pl.col("end_nav").last(),
        t_end=pl.col(D).max(),
    )
    flows = (
        s.filter(pl.col("net_flow") != 0)
        .join(first.select(P, "t0"), on=P, maintain_order="left")
        .select(
            P,
            t=(pl.col(D) - pl.col("t0")).dt.total_days(),
            cf=-pl.col("net_flow").cast(pl.Float64),
        )
    )
    edges = first.select(
        P,
        pl.struct(t=pl.lit(0, dtype=pl.Int64), cf=-pl.col("begin").cast(pl.Float64)).alias("start"),
        pl.struct(
            t=(pl.col("t_end") - pl.col("t0")).dt.total_days() + 1,
            cf=pl.col("end").cast(pl.Float64),
        ).alias("stop"),
    )
    cash = pl.concat(
        [
            edges.select(P, pl.col("start").struct.unnest(), o=pl.lit(0)),
            flows.with_columns(pl.col("t").cast(pl.Int64), o=pl.lit(1)),
            edges.select(P, pl.col("stop").struct.unnest(), o=pl.lit(2)),
        ],
        how="vertical_relaxed",
    ).sort(P, "t", "o")  # the NPV adds the flows in this fixed order
    grouped = cash.group_by(P, maintain_order=True).agg("t", "cf")
    codes = grouped[P].to_list()
    width = max((len(t) for t in grouped["t"].to_list()), default=0)
    T = np.zeros((len(codes), width))
    C = np.zeros((len(codes), width))
    for i, (t, cf) in enumerate(zip(grouped["t"].to_list(), grouped["cf"].to_list(), strict=True)):
        T[i, : len(t)], C[i, : len(cf)] = t, cf  # padding: zero cash flows
    years = T / 365.0

    def npv(rate: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            return (C * np.power(1 + rate[:, None], -years)).sum(axis=1)

    lo, hi = np.full(len(codes), -0.9999), np.full(len(codes), 1e4)
    f_lo, f_hi = npv(lo), npv(hi)
    ok = np.isfinite(f_lo) & np.isfinite(f_hi) & (np.sign(f_lo) != np.sign(f_hi))
    for _ in range(200):
        mid = (lo + hi) / 2
        f_mid = npv(mid)
        left = np.sign(f_mid) == np.sign(f_lo)
        lo, f_lo = np.where(left, mid, lo), np.where(left, f_mid, f_lo)
        hi = np.where(left, hi, mid)
    mwr = np.where(ok, (lo + hi) / 2, np.nan)
    return pl.DataFrame(
        {
            P: codes,
            "mwr": [float(v) if np.isfinite(v) else None for v in mwr],
            "mwr_error": [
                None
                if good
                else "the money-weighted return is undefined for these flows, or outside "
                "-99.99% to +1,000,000% a year (a short period annualizes extreme rates)"
                for good in ok
            ],
        },
        schema={P: pl.String, "mwr": pl.Float64, "mwr_error": pl.String},
    )


def modified_dietz(bmv: float, emv: float, flows: list[tuple[float, float]]) -> float:
    """Modified Dietz return of one sub-period: (EMV - BMV - ΣF) / (BMV + Σ wᵢFᵢ), where wᵢ
    is the fraction of the period a flow was invested (flows as (weight, amount))."""
    total = sum(f for _, f in flows)
    denominator = bmv + sum(w * f for w, f in flows)
    if denominator <= 0:
        raise ValueError("the Modified Dietz denominator is not positive")
    return (emv - bmv - total) / denominator


def period_returns(perf: pl.DataFrame, every: str = "1mo") -> pl.DataFrame:
    """Sub-period returns of every portfolio by Modified Dietz (valuations only at sub-period
    ends; flows weighted by the days they were invested, flows at the start of their day),
    chain-linked into the cumulative return. ``every`` is a Polars interval (1mo, 1q, 1y).

    With decimal NAVs ``bmv``, ``emv`` and ``flows`` are exact, and so are the return's
    numerator and denominator multiplied by the sub-period's days (Σ days_invested * flow is
    an exact sum): the return is one float division of two exact amounts."""
    s = perf.sort(P, D).with_columns(period=pl.col(D).dt.truncate(every))
    bounds = s.group_by(P, "period", maintain_order=True).agg(
        start=pl.col(D).min(),
        stop=pl.col(D).max(),
        bmv=pl.col("begin_nav").first(),
        emv=pl.col("end_nav").last(),
    )
    days = (pl.col("stop") - pl.col("start")).dt.total_days() + 1
    invested = (pl.col("stop") - pl.col(D)).dt.total_days() + 1
    weighted = (
        s.join(bounds.select(P, "period", "start", "stop"), on=[P, "period"])
        .group_by(P, "period")
        .agg(
            flows=pl.col("net_flow").sum(),
            day_flows=(_times(pl.col("net_flow"), invested)).sum(),
        )
    )
    numerator = _times(pl.col("emv") - pl.col("bmv") - pl.col("flows"), days)
    denominator = _times(pl.col("bmv"), days) + pl.col("day_flows")
    out = bounds.join(weighted, on=[P, "period"]).with_columns(
        period_return=pl.when(denominator > 0).then(
            numerator.cast(pl.Float64) / denominator.cast(pl.Float64)
        )
    )
    return (
        out.sort(P, "period")
        .with_columns(cumulative_return=(1 + pl.col("period_return")).cum_prod().over(P) - 1)
        .select(
            P,
            "period",
            "start",
            "stop",
            "bmv",
            "emv",
            "flows",
            "period_return",
            "cumulative_return",
        )
    )


def _times(amount: pl.Expr, days: pl.Expr) -> pl.Expr:
    """An amount times a whole number of days: exact for a decimal amount."""
    return amount * days.cast(pl.Decimal(38, 0))
