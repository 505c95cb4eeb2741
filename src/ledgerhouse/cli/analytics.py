"""`ledgerhouse analytics ...` and `ledgerhouse models`: portfolio analytics from the CLI."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from ledgerhouse.api.schemas.records import ModelRecord
from ledgerhouse.cli.common import AsOfOpt, Cli, bad, command, progress
from ledgerhouse.cli.output import Output

analytics_app = typer.Typer(
    help="Portfolio analytics: performance, risk, attribution, trading, anomalies.",
    no_args_is_help=True,
)

PortfolioOpt = Annotated[
    list[str] | None,
    typer.Option("--portfolio", "-p", help="Portfolio code (repeat); default: every portfolio."),
]
StartOpt = Annotated[str | None, typer.Option("--start", help="First day, YYYY-MM-DD.")]
EndOpt = Annotated[str | None, typer.Option("--end", help="Last day, YYYY-MM-DD.")]
FormatOpt = Annotated[str, typer.Option("--format", help="table, csv or json.")]


def _day(value: str | None, name: str) -> Any:
    from datetime import date

    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise bad(f"{name} {value!r} is not a date", f"Give {name} as YYYY-MM-DD.") from None


#: The columns ``analytics performance`` shows as a table unless ``--columns`` says otherwise
#: (CSV has every column by default, JSON always).
PERFORMANCE_COLUMNS = (
    "portfolio_code", "twr", "volatility", "sharpe", "max_drawdown", "var",
)  # fmt: skip
ColumnsOpt = Annotated[
    str | None,
    typer.Option(
        "--columns",
        help="Columns of the table or CSV: a,b,c or all (JSON has every column). Default "
        "table: " + ",".join(PERFORMANCE_COLUMNS) + ".",
    ),
]


def _pick_columns(frame: Any, columns: str | None, fmt: str, default: tuple[str, ...]) -> Any:
    """``frame`` with the asked columns (``all``: every one); JSON keeps every column."""
    if fmt == "json" or columns == "all" or (columns is None and fmt == "csv"):
        return frame
    if columns is None:
        return frame.select([c for c in default if c in frame.columns])
    asked = [c.strip() for c in columns.split(",") if c.strip()]
    unknown = [c for c in asked if c not in frame.columns]
    if unknown:
        import difflib

        close = {c: difflib.get_close_matches(c, frame.columns, n=1) for c in unknown}
        guesses = [f"{c!r} (did you mean {m[0]!r}?)" if m else repr(c) for c, m in close.items()]
        raise bad(
            f"unknown column {', '.join(guesses)}",
            f"Choose from {', '.join(frame.columns)}, or --columns all.",
        )
    return frame.select(asked)


def _print_frame(out: Output, frame: Any, commit: int, fmt: str, digits: int = 6) -> None:
    """``frame`` as a table (floats to ``digits`` significant digits), CSV or JSON."""
    if fmt == "json":
        out.json({"commit": commit, "rows": frame.to_dicts()})
    elif fmt == "csv":
        flat = frame.with_columns(
            [
                frame[c].list.join("; ")
                for c in frame.columns
                if str(frame[c].dtype).startswith("List")
            ]
        )
        sys.stdout.write(flat.write_csv())
    else:
        rows = [[_short(v, digits) for v in r] for r in frame.rows()]
        out.table(frame.columns, rows)
        out.info(f"{frame.height} rows · commit {commit}")


def _analytics_call(cli: Cli, fmt: str, call: Any) -> None:
    """Run ``call(analytics_service)`` as the local admin and print the frame."""
    with cli.warehouse() as wh:
        frame, commit = call(cli.me(wh).analytics())
    _print_frame(cli.out, frame, commit, fmt)


def _framed(name: str, **kw: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register an analytics command that prints a frame (``--format json``: JSON output)."""
    return command(analytics_app, name, options=("root", "tenant"), json_format="fmt", **kw)


def _short(v: Any, digits: int = 6) -> Any:
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    if isinstance(v, list):
        return "; ".join(map(str, v))
    return v


@_framed("performance")
def analytics_performance(
    cli: Cli,
    portfolio: PortfolioOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    as_of: AsOfOpt = None,
    periods_per_year: Annotated[int, typer.Option(help="Return periods per year.")] = 252,
    risk_free: Annotated[float, typer.Option(help="Risk-free rate.")] = 0.0,
    risk_free_unit: Annotated[str, typer.Option(help="annual or period.")] = "annual",
    var_method: Annotated[str, typer.Option(help="historical or parametric.")] = "historical",
    confidence: Annotated[float, typer.Option(help="VaR / ES confidence.")] = 0.99,
    horizon: Annotated[int, typer.Option("--horizon", help="VaR horizon in periods.")] = 1,
    return_type: Annotated[str, typer.Option(help="simple or log.")] = "simple",
    fmt: FormatOpt = "table",
    columns: ColumnsOpt = None,
) -> None:
    """Performance and risk per portfolio (TWR, MWR, volatility, Sharpe, drawdown, VaR...)."""
    conventions = {
        "periods_per_year": periods_per_year,
        "risk_free": risk_free,
        "risk_free_unit": risk_free_unit,
        "var_method": var_method,
        "confidence": confidence,
        "horizon_days": horizon,
        "return_type": return_type,
    }
    with cli.warehouse() as wh:
        report, commit = cli.me(wh).performance(
            portfolio or None,
            start=_day(start, "--start"),
            end=_day(end, "--end"),
            conventions=conventions,
            as_of=as_of,
        )
    shown = _pick_columns(report, columns, fmt, PERFORMANCE_COLUMNS)
    _print_frame(cli.out, shown, commit, fmt, digits=4)  # ratios: 4 digits read well
    if fmt == "table" and columns is None:
        cli.out.info(
            f"{report.width - shown.width} more columns: --columns a,b,c or --columns all "
            "(--format json has every column)"
        )


@_framed("returns")
def analytics_returns(
    cli: Cli,
    portfolio: PortfolioOpt = None,
    every: Annotated[str, typer.Option("--every", help="month, quarter or year.")] = "month",
    start: StartOpt = None,
    end: EndOpt = None,
    as_of: AsOfOpt = None,
    fmt: FormatOpt = "table",
) -> None:
    """Modified Dietz returns per month, quarter or year, chain-linked."""
    with cli.warehouse() as wh:
        frame, commit = cli.me(wh).period_returns(
            portfolio or None,
            every=every,
            start=_day(start, "--start"),
            end=_day(end, "--end"),
            as_of=as_of,
        )
    _print_frame(cli.out, frame, commit, fmt)


@_framed("exposures")
def analytics_exposures(
    cli: Cli,
    on: Annotated[str, typer.Option("--date", help="Day of the positions, YYYY-MM-DD.")],
    by: Annotated[
        list[str] | None,
        typer.Option("--by", help="asset_class, sector, currency or country (repeat)."),
    ] = None,
    level: Annotated[str, typer.Option("--level", help="firm, desk or portfolio.")] = "portfolio",
    as_of: AsOfOpt = None,
    fmt: FormatOpt = "table",
) -> None:
    """Long, short, gross and net exposure on a date by hierarchy level and breakdowns."""
    _analytics_call(cli, fmt, lambda a: a.exposures(_day(on, "--date"), by, level, as_of))


@_framed("reconcile")
def analytics_reconcile(
    cli: Cli,
    on: Annotated[str, typer.Option("--date", help="Rebuild positions up to this day.")],
    as_of: AsOfOpt = None,
    fmt: FormatOpt = "table",
) -> None:
    """Positions rebuilt from cumulative trades, beside the stored snapshot of the day."""
    _analytics_call(cli, fmt, lambda a: a.reconcile_positions(_day(on, "--date"), as_of))


@_framed("pnl")
def analytics_pnl(
    cli: Cli,
    on: Annotated[str, typer.Option("--date", help="Trades up to this day, YYYY-MM-DD.")],
    portfolio: PortfolioOpt = None,
    as_of: AsOfOpt = None,
    fmt: FormatOpt = "table",
) -> None:
    """Realized (average cost) and unrealized P&L by portfolio and instrument."""
    _analytics_call(cli, fmt, lambda a: a.pnl(_day(on, "--date"), portfolio or None, as_of))


@_framed("correlation")
def analytics_correlation(
    cli: Cli,
    portfolio: PortfolioOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    min_periods: Annotated[int, typer.Option(help="Fewest shared days for a value.")] = 20,
    as_of: AsOfOpt = None,
    fmt: FormatOpt = "table",
) -> None:
    """Correlation matrix of the portfolios' daily returns."""
    _analytics_call(
        cli,
        fmt,
        lambda a: a.correlation(
            portfolio or None, _day(start, "--start"), _day(end, "--end"), min_periods, as_of
        ),
    )


@_framed("attribution")
def analytics_attribution(
    cli: Cli,
    start: Annotated[str, typer.Option("--start", help="First day, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option("--end", help="Last day, YYYY-MM-DD.")],
    portfolio: PortfolioOpt = None,
    daily: Annotated[bool, typer.Option("--daily", help="Per-day effects, not linked.")] = False,
    as_of: AsOfOpt = None,
    fmt: FormatOpt = "table",
) -> None:
    """Brinson-Fachler attribution by sector against the benchmark (Carino-linked)."""
    _analytics_call(
        cli,
        fmt,
        lambda a: a.attribution(
            portfolio or None, _day(start, "--start"), _day(end, "--end"), daily, as_of
        ),
    )


@command(analytics_app, "anomalies")
def analytics_anomalies(
    cli: Cli,
    train_start: Annotated[str, typer.Option("--train-start", help="YYYY-MM-DD")],
    train_end: Annotated[str, typer.Option("--train-end", help="YYYY-MM-DD")],
    score_start: Annotated[str, typer.Option("--score-start", help="YYYY-MM-DD")],
    score_end: Annotated[str, typer.Option("--score-end", help="YYYY-MM-DD")],
    contamination: Annotated[float, typer.Option(help="Expected share of anomalies.")] = 0.01,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            min=0.001,
            help="Seconds each read may take [default: query_timeout_s, 60]; a window of "
            "years may need minutes.",
        ),
    ] = None,
) -> None:
    """Train the trade anomaly model and write scores to ml_trade_anomaly."""
    from ledgerhouse.errors import QueryTimeout

    # the local owner's limit: --timeout raises the warehouse's query_timeout_s for this run
    limit = cli.settings(query_timeout_s=timeout).query_timeout_s
    try:
        with cli.warehouse() as wh, progress(cli.out, "anomalies") as say:
            found = cli.me(wh).detect_anomalies(
                _day(train_start, "--train-start"),
                _day(train_end, "--train-end"),
                _day(score_start, "--score-start"),
                _day(score_end, "--score-end"),
                contamination=contamination,
                timeout_s=timeout,
                progress=say,
            )
    except QueryTimeout as exc:
        exc.hint = (
            f"Narrow the windows (fewer months), or give each read more than {limit:g} s "
            "with --timeout SECONDS."
        )
        raise
    record = ModelRecord.model_validate(found)
    m = record.metrics or {}
    cli.out.data(
        record,
        f"model {record.id}: {m.get('flagged', 0):,} of {m.get('scored_rows', 0):,} trades "
        f"flagged (commit {record.scoring_commit}); query them with\n  ledgerhouse query "
        f"\"SELECT * FROM ml_trade_anomaly WHERE model_id = '{record.id}' AND "
        f'is_anomaly ORDER BY score DESC LIMIT 20"',
    )


def models(cli: Cli) -> None:
    """List trained models with their features, commits and results."""
    with cli.warehouse() as wh:
        found = [ModelRecord.model_validate(m) for m in cli.me(wh).models()]
    if cli.out.as_json:
        cli.out.json(found)
        return
    cli.out.table(
        ["id", "name", "created", "training commit", "scoring commit", "flagged"],
        [
            [
                m.id,
                m.name,
                m.created_at,
                m.training_commit,
                m.scoring_commit,
                (m.metrics or {}).get("flagged"),
            ]
            for m in found
        ],
    )


def _trading_command(kind: str) -> Callable[..., None]:
    def trading(
        cli: Cli,
        start: Annotated[str, typer.Option("--start", help="First day, YYYY-MM-DD.")],
        end: Annotated[str, typer.Option("--end", help="Last day, YYYY-MM-DD.")],
        instrument: Annotated[
            str | None, typer.Option("--instrument", help="One instrument code.")
        ] = None,
        as_of: AsOfOpt = None,
        fmt: FormatOpt = "table",
    ) -> None:
        _analytics_call(
            cli,
            fmt,
            lambda a: getattr(a, kind)(
                _day(start, "--start"), _day(end, "--end"), instrument, as_of
            ),
        )

    trading.__name__ = kind
    return trading


_framed("vwap", help="VWAP and TWAP per instrument and day.")(_trading_command("vwap"))
_framed("slippage", help="Each trade against the prevailing close, in bp.")(
    _trading_command("slippage")
)
