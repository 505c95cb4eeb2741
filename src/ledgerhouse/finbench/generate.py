"""FinBench data generator: deterministic for a given seed and scale factor.

Writes one Parquet file per dataset (the ingestion contracts' columns). Reference data has
SCD2 changes during the period (instruments change sector, portfolios move desk); trades have
amendments and cancellations; positions are the cumulative final trade quantities valued at
the close, with their average-cost basis, and performance is the NAV of cash plus positions,
so both reconcile with trades.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from ledgerhouse.ingest.datasets import LOAD_ORDER

START = date(2023, 1, 2)
CURRENCIES = {  # currency: (USD per unit at start, country)
    "USD": (1.0, "US"),
    "EUR": (1.09, "DE"),
    "GBP": (1.27, "GB"),
    "JPY": (0.0068, "JP"),
    "CHF": (1.12, "CH"),
    "CAD": (0.74, "CA"),
    "AUD": (0.67, "AU"),
    "HKD": (0.128, "HK"),
    "SEK": (0.095, "SE"),
    "NOK": (0.094, "NO"),
}
CCY_WEIGHTS = [0.5, 0.2, 0.1, 0.06, 0.04, 0.03, 0.03, 0.02, 0.01, 0.01]
SECTORS = {
    "Technology": ["Software", "Semiconductors", "Hardware"],
    "Financials": ["Banks", "Insurance", "Asset Management"],
    "Health Care": ["Pharmaceuticals", "Biotechnology", "Medical Devices"],
    "Energy": ["Oil & Gas", "Renewables"],
    "Industrials": ["Aerospace", "Machinery", "Transportation"],
    "Consumer": ["Retail", "Food & Beverage", "Automobiles"],
    "Utilities": ["Electric", "Water"],
    "Materials": ["Chemicals", "Metals & Mining"],
    "Real Estate": ["REITs"],
    "Communication": ["Media", "Telecom"],
    "Government": ["Sovereign"],
}
ASSET_CLASSES = ["EQUITY", "BOND", "FUTURE", "FX"]
ASSET_WEIGHTS = [0.6, 0.25, 0.1, 0.05]
BENCHMARKS = ["BM_GLOBAL", "BM_US", "BM_EUROPE", "BM_TECH"]
N_COUNTERPARTIES = 48
DATASETS = LOAD_ORDER  # one file per ingestible dataset, in the order they must be loaded


@dataclass(frozen=True)
class Scale:
    sf: float
    days: int = 750

    @property
    def portfolios(self) -> int:
        return max(3, round(200 * self.sf))

    @property
    def instruments(self) -> int:
        return max(30, round(5000 * self.sf))

    @property
    def universe(self) -> int:
        return min(100, self.instruments)

    @property
    def trades(self) -> int:
        return max(200, round(10_000_000 * self.sf / 1.03))


def business_days(n: int, start: date = START) -> list[date]:
    out: list[date] = []
    d = start
    while len(out) < n:
        if d.weekday() < 5:
            out.append(d)
        d += timedelta(days=1)
    return out


#: Portfolios generated at once. Above this, trades, positions and performance are written as
#: one file per group of portfolios (``trades/part-0000.parquet`` ...), each of which fits in
#: memory; reference data, prices and benchmarks stay single files.
CHUNK_PORTFOLIOS = 250
#: Datasets that are split into parts when the portfolios are generated in groups.
PER_PORTFOLIO = ("trades", "positions", "performance")


def generate(
    out: Path,
    scale: float,
    seed: int = 42,
    days: int = 750,
    progress: Callable[[str], None] | None = None,
    chunk_portfolios: int = CHUNK_PORTFOLIOS,
) -> dict[str, int]:
    """Write every FinBench dataset to ``out``; return the row count of each."""
    say = progress or (lambda _s: None)
    t0 = time.perf_counter()
    sc = Scale(scale, days)
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    cal = business_days(sc.days)
    frames: dict[str, pl.DataFrame] = {}
    say("reference data")
    frames["fx_rates"] = _fx_rates(rng, cal)
    instruments = _instruments(rng, sc, cal)
    frames["instruments"] = instruments
    frames["portfolios"] = _portfolios(rng, sc, cal)
    frames["counterparties"] = _counterparties()
    say("prices")
    prices = _prices(rng, instruments, cal)
    frames["prices"] = prices
    frames["benchmarks"] = _benchmarks(rng, instruments, prices)
    closes = prices.sort("instrument_code", "price_date")["close_price"].to_numpy()
    n_port = sc.portfolios
    groups = [(p, min(p + chunk_portfolios, n_port)) for p in range(0, n_port, chunk_portfolios)]
    counts = dict.fromkeys(DATASETS, 0)
    trade_ids = 0
    for k, (p0, p1) in enumerate(groups):
        # one group: the same random stream as ever; several: one stream per group
        g_rng = rng if len(groups) == 1 else np.random.default_rng([seed, k + 1])
        where = f" (portfolios {p0 + 1}-{p1} of {n_port})" if len(groups) > 1 else ""
        say("trades" + where)
        n = sc.trades if len(groups) == 1 else round(sc.trades * (p1 - p0) / n_port)
        events, final = _trades(g_rng, sc, cal, instruments, closes, (p0, p1), n, trade_ids)
        trade_ids += n
        say("positions" + where)
        positions = _positions(final, prices, cal)
        say("performance" + where)
        group = frames["portfolios"].filter(
            pl.col("portfolio_code").is_in([f"P{i:04d}" for i in range(p0 + 1, p1 + 1)])
        )
        part = {
            "trades": events,
            "positions": positions.drop("currency"),
            "performance": _performance(g_rng, group, final, positions, frames["fx_rates"], cal),
        }
        for name, frame in part.items():
            if len(groups) == 1:
                frames[name] = frame
            else:
                (out / name).mkdir(exist_ok=True)
                frame.write_parquet(out / name / f"part-{k:04d}.parquet", compression="zstd")
                counts[name] += frame.height
        del events, final, positions, part
    for name in DATASETS:
        if name in frames:
            say(f"writing {name}")
            frames[name].write_parquet(out / f"{name}.parquet", compression="zstd")
            counts[name] = frames[name].height
    say(f"done in {time.perf_counter() - t0:.1f}s")
    return counts


def _fx_rates(rng: np.random.Generator, cal: list[date]) -> pl.DataFrame:
    parts = []
    for ccy, (start, _country) in CURRENCIES.items():
        if ccy == "USD":
            continue
        steps = rng.normal(0, 0.004, len(cal))
        steps[0] = 0
        rates = np.round(start * np.exp(np.cumsum(steps)), 8)
        parts.append(pl.DataFrame({"rate_date": cal, "currency": ccy, "rate_to_usd": rates}))
    return pl.concat(parts)


def _instruments(rng: np.random.Generator, sc: Scale, cal: list[date]) -> pl.DataFrame:
    n = sc.instruments
    codes = [f"I{i:06d}" for i in range(1, n + 1)]
    ccys = rng.choice(list(CURRENCIES), n, p=CCY_WEIGHTS)
    sectors = list(SECTORS)
    sector = rng.choice(sectors, n)
    industry = [SECTORS[s][int(rng.integers(len(SECTORS[s])))] for s in sector]
    asset = rng.choice(ASSET_CLASSES, n, p=ASSET_WEIGHTS)
    country = [CURRENCIES[c][1] for c in ccys]
    isin = [f"{country[i]}{i:09d}{i % 10}" for i in range(n)]
    base = pl.DataFrame(
        {
            "instrument_code": codes,
            "name": [f"Instrument {i}" for i in range(1, n + 1)],
            "asset_class": asset,
            "currency": ccys,
            "sector": sector,
            "industry": industry,
            "country": country,
            "issuer": [f"Issuer {i % max(1, n // 3)}" for i in range(n)],
            "isin": isin,
            "effective_date": date(2020, 1, 1),
        }
    )
    # SCD2: 2% of instruments are reclassified to another sector during the period
    movers = rng.choice(n, max(1, n // 50), replace=False)
    when = [cal[int(rng.integers(len(cal) // 4, len(cal) * 3 // 4))] for _ in movers]
    changed = (
        base[movers.tolist()]
        .with_columns(
            sector=pl.Series(
                [
                    sectors[(sectors.index(s) + 1) % len(sectors)]
                    for s in base["sector"].gather(movers.tolist())
                ]
            ),
            effective_date=pl.Series(when),
        )
        .with_columns(
            industry=pl.col("sector").map_elements(lambda s: SECTORS[s][0], return_dtype=pl.String)
        )
    )
    return pl.concat([base, changed])


def _portfolios(rng: np.random.Generator, sc: Scale, cal: list[date]) -> pl.DataFrame:
    n = sc.portfolios
    firms = ["Northwind Capital", "Blue Harbor Partners"]
    desks = [
        f"{f.split()[0]} {d}"
        for f in firms
        for d in ("Equities", "Credit", "Macro", "Multi-Asset", "Quant")
    ]
    desk_idx = rng.integers(0, len(desks), n)
    base_ccy = rng.choice(["USD", "EUR", "GBP"], n, p=[0.7, 0.2, 0.1])
    df = pl.DataFrame(
        {
            "portfolio_code": [f"P{i:04d}" for i in range(1, n + 1)],
            "name": [f"Portfolio {i}" for i in range(1, n + 1)],
            "firm": [firms[0] if desks[d].startswith("Northwind") else firms[1] for d in desk_idx],
            "desk": [desks[d] for d in desk_idx],
            "manager": [f"Manager {i % 37}" for i in range(n)],
            "strategy": rng.choice(["Growth", "Value", "Income", "Absolute Return"], n),
            "base_currency": base_ccy,
            "benchmark_code": rng.choice(BENCHMARKS, n),
            "effective_date": date(2020, 1, 1),
        }
    )
    movers = rng.choice(n, max(1, n * 3 // 100), replace=False).tolist()
    moved = df[movers].with_columns(
        desk=pl.Series(
            [
                desks[(desks.index(d) + 1) % 5 + (0 if d.startswith("Northwind") else 5)]
                for d in df["desk"].gather(movers)
            ]
        ),
        effective_date=pl.Series(
            [cal[int(rng.integers(len(cal) // 3, len(cal) * 2 // 3))] for _ in movers]
        ),
    )
    return pl.concat([df, moved])


def _counterparties() -> pl.DataFrame:
    types = ["BANK", "BROKER", "DEALER", "EXCHANGE"]
    return pl.DataFrame(
        {
            "counterparty_code": [f"CP{i:03d}" for i in range(1, N_COUNTERPARTIES + 1)],
            "name": [f"Counterparty {i}" for i in range(1, N_COUNTERPARTIES + 1)],
            "counterparty_type": [types[i % 4] for i in range(N_COUNTERPARTIES)],
            "country": [list(CURRENCIES.values())[i % 10][1] for i in range(N_COUNTERPARTIES)],
            "rating": [["AA", "A", "BBB"][i % 3] for i in range(N_COUNTERPARTIES)],
        }
    )


def _prices(rng: np.random.Generator, instruments: pl.DataFrame, cal: list[date]) -> pl.DataFrame:
    inst = instruments.unique("instrument_code", keep="first").sort("instrument_code")
    n, d = inst.height, len(cal)
    is_bond = (inst["asset_class"] == "BOND").to_numpy()
    start = np.where(is_bond, rng.uniform(90, 110, n), rng.uniform(10, 500, n))
    vol = np.where(is_bond, rng.uniform(0.001, 0.004, n), rng.uniform(0.008, 0.03, n))
    steps = rng.normal(0, 1, (n, d)) * vol[:, None]
    steps[:, 0] = 0
    paths = np.round(start[:, None] * np.exp(np.cumsum(steps, axis=1)), 4)
    return pl.DataFrame(
        {
            "price_date": np.tile(np.array(cal, dtype="datetime64[D]"), n),
            "instrument_code": np.repeat(inst["instrument_code"].to_numpy(), d),
            "close_price": paths.reshape(-1),
        }
    ).with_columns(pl.col("price_date").cast(pl.Date))


def _benchmarks(
    rng: np.random.Generator, instruments: pl.DataFrame, prices: pl.DataFrame
) -> pl.DataFrame:
    codes = instruments["instrument_code"].unique().sort()
    k = min(100, codes.len())
    rets = prices.sort("instrument_code", "price_date").with_columns(
        daily_return=(pl.col("close_price") / pl.col("close_price").shift(1) - 1)
        .over("instrument_code")
        .fill_null(0.0)
    )
    parts = []
    for bm in BENCHMARKS:
        members = rng.choice(codes.to_numpy(), k, replace=False)
        w = rng.uniform(0.2, 1.0, k)
        w = np.round(w / w.sum(), 10)
        weights = pl.DataFrame({"instrument_code": members, "weight": w})
        parts.append(
            rets.join(weights, on="instrument_code").select(
                pl.lit(bm).alias("benchmark_code"),
                pl.col("price_date").alias("as_of_date"),
                "instrument_code",
                "weight",
                pl.col("daily_return").round(12),
            )
        )
    return pl.concat(parts)


def _trades(
    rng: np.random.Generator,
    sc: Scale,
    cal: list[date],
    instruments: pl.DataFrame,
    closes: np.ndarray,
    ports: tuple[int, int],
    n: int,
    id_offset: int,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``n`` trades of portfolios ``ports`` (0-based, end excluded), with trade ids after
    ``id_offset``; ``closes`` are the close prices sorted by instrument, then date."""
    inst = instruments.unique("instrument_code", keep="first").sort("instrument_code")
    n_inst = inst.height
    p0, p1 = ports
    universe = np.stack([rng.choice(n_inst, sc.universe, replace=False) for _ in range(p1 - p0)])
    port = rng.integers(p0, p1, n)
    inst_idx = universe[port - p0, rng.integers(0, sc.universe, n)]
    day = rng.integers(0, len(cal), n)
    cal_np = np.array(cal, dtype="datetime64[D]")
    trade_date = cal_np[day]
    seconds = rng.integers(13 * 3600 + 1800, 21 * 3600, n)  # 13:30-21:00 UTC
    trade_ts = trade_date.astype("datetime64[us]") + seconds.astype("timedelta64[s]")
    side = np.where(rng.random(n) < 0.55, "BUY", "SELL")
    qty = np.maximum(1, np.round(rng.lognormal(4.0, 1.0, n))).astype(float)
    n_days = len(cal)
    close = closes[inst_idx * n_days + day]
    price = np.round(close * (1 + rng.normal(0, 0.001, n)), 4)
    codes = inst["instrument_code"].to_numpy()
    ccy = inst["currency"].to_numpy()
    new = pl.DataFrame(
        {
            "trade_id": np.char.add(
                "T", np.char.zfill(np.arange(id_offset + 1, id_offset + n + 1).astype(str), 9)
            ),
            "event": "NEW",
            "event_ts": trade_ts,
            "trade_ts": trade_ts,
            "trade_date": trade_date,
            "settle_date": trade_date + np.timedelta64(2, "D"),
            "portfolio_code": np.char.add("P", np.char.zfill((port + 1).astype(str), 4)),
            "instrument_code": codes[inst_idx],
            "counterparty_code": np.char.add(
                "CP", np.char.zfill(rng.integers(1, N_COUNTERPARTIES + 1, n).astype(str), 3)
            ),
            "side": side,
            "quantity": qty,
            "price": price,
            "currency": ccy[inst_idx],
            "fees": np.round(qty * price * 0.0001, 2),
        }
    ).with_columns(
        pl.col("event_ts").dt.replace_time_zone("UTC"),
        pl.col("trade_ts").dt.replace_time_zone("UTC"),
        pl.col("trade_date").cast(pl.Date),
        pl.col("settle_date").cast(pl.Date),
    )
    pick = rng.permutation(n)
    n_amend, n_cancel = n * 2 // 100, n // 100
    amend_idx, cancel_idx = np.sort(pick[:n_amend]), np.sort(pick[n_amend : n_amend + n_cancel])
    amends = (
        new[amend_idx.tolist()]
        .with_columns(
            event=pl.lit("AMEND"),
            event_ts=pl.col("event_ts")
            + pl.duration(minutes=pl.lit(30))
            + pl.duration(seconds=pl.lit(pl.Series(rng.integers(0, 2 * 86400, n_amend)))),
            quantity=(pl.col("quantity") * pl.Series(rng.uniform(0.5, 1.5, n_amend)))
            .round(0)
            .clip(lower_bound=1.0),
        )
        .with_columns(fees=(pl.col("quantity") * pl.col("price") * 0.0001).round(2))
    )
    cancels = new[cancel_idx.tolist()].with_columns(
        event=pl.lit("CANCEL"),
        event_ts=pl.col("event_ts")
        + pl.duration(minutes=pl.lit(45))
        + pl.duration(seconds=pl.lit(pl.Series(rng.integers(0, 86400, n_cancel)))),
    )
    events = pl.concat([new, amends, cancels]).sort("event_ts", "trade_id")
    final = (
        pl.concat([new, amends])
        .join(cancels.select("trade_id"), on="trade_id", how="anti")
        .sort("event_ts")
        .unique("trade_id", keep="last")
        .sort("trade_id")
    )
    return events, final


def _positions(final: pl.DataFrame, prices: pl.DataFrame, cal: list[date]) -> pl.DataFrame:
    """Each day's open positions: the cumulative final trade quantities, valued at the close,
    with their average-cost basis (the open quantity times the average price paid: what
    ``ledgerhouse analytics pnl`` computes), gross of fees, in the instrument's currency."""
    from ledgerhouse.analytics.trading import average_cost_path

    keys = ["portfolio_code", "instrument_code"]
    signed = (
        pl.when(pl.col("side") == "BUY").then(pl.col("quantity")).otherwise(-pl.col("quantity"))
    )
    path = average_cost_path(
        final.select(
            *keys, "trade_ts", "trade_id", "trade_date", "currency", "price", q=signed
        ).sort(*keys, "trade_ts", "trade_id")
    )
    daily = (
        path.group_by(*keys, "trade_date")
        .agg(
            pl.col("position").last().alias("quantity"),
            pl.col("cost_basis").last(),
            pl.col("currency").first(),
        )
        .rename({"trade_date": "position_date"})
    )
    first = daily.group_by(keys).agg(
        pl.col("position_date").min().alias("first"), pl.col("currency").first()
    )
    days = pl.DataFrame({"position_date": cal})
    grid = first.join(days, how="cross").filter(pl.col("position_date") >= pl.col("first"))
    pos = (
        grid.join(daily.drop("currency"), on=[*keys, "position_date"], how="left")
        .sort(*keys, "position_date")
        .with_columns(pl.col("quantity", "cost_basis").forward_fill().over(keys))
        .filter(pl.col("quantity").abs() > 1e-9)
        .join(
            prices,
            left_on=["instrument_code", "position_date"],
            right_on=["instrument_code", "price_date"],
            how="left",
        )
    )
    return pos.select(
        "position_date",
        *keys,
        "quantity",
        (pl.col("quantity") * pl.col("close_price")).round(6).alias("market_value"),
        pl.col("cost_basis").round(6),
        "currency",
    )


def _performance(
    rng: np.random.Generator,
    portfolios: pl.DataFrame,
    final: pl.DataFrame,
    positions: pl.DataFrame,
    fx: pl.DataFrame,
    cal: list[date],
) -> pl.DataFrame:
    pf = portfolios.unique("portfolio_code", keep="first").select("portfolio_code", "base_currency")
    usd = pl.concat(
        [
            fx.rename({"currency": "ccy", "rate_date": "d"}),
            pl.DataFrame({"d": cal, "ccy": "USD", "rate_to_usd": 1.0}),
        ]
    )

    def to_base(amount: str) -> pl.Expr:
        return pl.col(amount) * pl.col("_from") / pl.col("_to")

    def with_fx(df: pl.DataFrame, date_col: str, ccy_col: str) -> pl.DataFrame:
        return (
            df.join(pf, on="portfolio_code")
            .join(
                usd.rename({"rate_to_usd": "_from"}),
                left_on=[date_col, ccy_col],
                right_on=["d", "ccy"],
            )
            .join(
                usd.rename({"rate_to_usd": "_to"}),
                left_on=[date_col, "base_currency"],
                right_on=["d", "ccy"],
            )
        )

    mv = (
        with_fx(positions, "position_date", "currency")
        .group_by("portfolio_code", "position_date")
        .agg(to_base("market_value").sum().alias("mv"))
    )
    signed = (
        pl.when(pl.col("side") == "BUY").then(pl.col("quantity")).otherwise(-pl.col("quantity"))
    )
    cash_out = (
        with_fx(
            final.with_columns(spent=signed * pl.col("price") + pl.col("fees")),
            "trade_date",
            "currency",
        )
        .group_by("portfolio_code", "trade_date")
        .agg(to_base("spent").sum().alias("spent"))
    )
    codes = pf["portfolio_code"].sort()
    grid = pl.DataFrame({"portfolio_code": codes}).join(pl.DataFrame({"d": cal}), how="cross")
    n = grid.height
    capital = 2.5e8
    flows = np.where(rng.random(n) < 0.01, np.round(rng.normal(0, 0.01 * capital, n), 2), 0.0)
    perf = (
        grid.with_columns(net_flow=pl.Series(flows))
        .join(mv.rename({"position_date": "d"}), on=["portfolio_code", "d"], how="left")
        .join(cash_out.rename({"trade_date": "d"}), on=["portfolio_code", "d"], how="left")
        .sort("portfolio_code", "d")
        .with_columns(
            pl.col("mv").fill_null(0.0),
            cash=(
                capital + pl.col("net_flow").cum_sum() - pl.col("spent").fill_null(0.0).cum_sum()
            ).over("portfolio_code"),
        )
        .with_columns(end_nav=(pl.col("cash") + pl.col("mv")).round(2))
        .with_columns(
            begin_nav=pl.col("end_nav").shift(1).over("portfolio_code").fill_null(capital)
        )
    )
    # the first day's NAV includes no flow: it starts from the capital
    return perf.select(
        pl.col("d").alias("performance_date"),
        "portfolio_code",
        "begin_nav",
        "end_nav",
        "net_flow",
        pl.lit(0.0).alias("income"),
        (pl.col("end_nav") / (pl.col("begin_nav") + pl.col("net_flow")) - 1)
        .round(12)
        .alias("daily_return"),
    )


def generated_at() -> str:
    return datetime.now(UTC).isoformat()
