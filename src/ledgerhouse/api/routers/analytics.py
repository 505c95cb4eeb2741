"""Portfolio analytics (docs/analytics.md): each answer is a table at one commit, as JSON or
in the format ``Accept`` asks for; and the anomaly model, trained and listed."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from ledgerhouse.api.deps import AcceptHeader, Me
from ledgerhouse.api.respond import effective_conventions, frame
from ledgerhouse.api.schemas import (
    ERRORS,
    AnalyticsRequest,
    AnomaliesRequest,
    AttributionRequest,
    AttributionResponse,
    CorrelationRequest,
    ExposuresRequest,
    FrameResponse,
    ModelRecord,
    PerformanceResponse,
    PnlRequest,
    PnlResponse,
    ReconcileRequest,
    ReconcileResponse,
    ReturnsRequest,
    ReturnsResponse,
    TradingRequest,
    with_formats,
)

router = APIRouter(prefix="/v1", tags=["analytics"], responses=ERRORS)
FORMATS = with_formats("JSON by default; CSV, Parquet or an Arrow IPC stream by Accept.")


@router.post("/analytics/performance", response_model=PerformanceResponse, responses=FORMATS)
def analytics_performance(body: AnalyticsRequest, me: Me, accept: AcceptHeader = None) -> Response:
    """Performance and risk per portfolio (every portfolio when none is named): twr,
    annualized_return, mwr, volatility, sharpe, sortino, calmar, max_drawdown (with peak,
    trough and recovery dates), var / expected_shortfall (and at 99%), beta, alpha,
    tracking_error, information_ratio, and errors naming what is undefined and why."""
    report, commit = me.performance(
        body.portfolios,
        start=body.start,
        end=body.end,
        conventions=body.conventions,
        as_of=body.as_of,
    )
    return frame(
        report,
        commit,
        accept,
        policy=me.policies_in_force(),
        conventions=effective_conventions(body.conventions),
    )


@router.post("/analytics/returns", response_model=ReturnsResponse, responses=FORMATS)
def analytics_returns(body: ReturnsRequest, me: Me, accept: AcceptHeader = None) -> Response:
    """Modified Dietz returns per month, quarter or year, chain-linked into the cumulative
    return (flows weighted by the days they were invested)."""
    returns, commit = me.period_returns(
        body.portfolios,
        every=body.every,
        start=body.start,
        end=body.end,
        as_of=body.as_of,
    )
    return frame(
        returns,
        commit,
        accept,
        policy=me.policies_in_force(),
        method="modified_dietz",
        every=body.every,
    )


@router.post("/analytics/exposures", response_model=FrameResponse, responses=FORMATS)
def analytics_exposures(body: ExposuresRequest, me: Me, accept: AcceptHeader = None) -> Response:
    """Long, short, gross and net exposure on a date by hierarchy level and breakdowns."""
    exposures, commit = me.analytics().exposures(body.date, list(body.by), body.level, body.as_of)
    return frame(exposures, commit, accept, policy=me.policies_in_force())


@router.post("/analytics/reconcile_positions", response_model=ReconcileResponse, responses=FORMATS)
def analytics_reconcile(body: ReconcileRequest, me: Me, accept: AcceptHeader = None) -> Response:
    """Positions rebuilt from cumulative trades up to a date, beside the stored snapshot."""
    rebuilt, commit = me.analytics().reconcile_positions(body.date, body.as_of)
    mismatches = int((~rebuilt["matches"]).sum()) if rebuilt.height else 0
    return frame(rebuilt, commit, accept, policy=me.policies_in_force(), mismatches=mismatches)


@router.post("/analytics/pnl", response_model=PnlResponse, responses=FORMATS)
def analytics_pnl(body: PnlRequest, me: Me, accept: AcceptHeader = None) -> Response:
    """Realized (average cost) and unrealized P&L by portfolio and instrument."""
    pnl, commit = me.analytics().pnl(body.date, body.portfolios, body.as_of)
    return frame(pnl, commit, accept, policy=me.policies_in_force(), cost_method="average_cost")


@router.post("/analytics/correlation", response_model=FrameResponse, responses=FORMATS)
def analytics_correlation(
    body: CorrelationRequest, me: Me, accept: AcceptHeader = None
) -> Response:
    """Correlation matrix of the portfolios' daily returns (pairwise complete)."""
    matrix, commit = me.analytics().correlation(
        body.portfolios, body.start, body.end, body.min_periods, body.as_of
    )
    return frame(matrix, commit, accept, policy=me.policies_in_force())


@router.post("/analytics/attribution", response_model=AttributionResponse, responses=FORMATS)
def analytics_attribution(
    body: AttributionRequest, me: Me, accept: AcceptHeader = None
) -> Response:
    """Brinson-Fachler allocation, selection and interaction by sector against each
    portfolio's benchmark, linked over the period (Carino) or per day."""
    effects, commit = me.analytics().attribution(
        body.portfolios, body.start, body.end, body.daily, body.as_of
    )
    return frame(
        effects,
        commit,
        accept,
        policy=me.policies_in_force(),
        linking="none" if body.daily else "carino",
    )


@router.post("/analytics/anomalies", status_code=201, response_model_exclude_unset=True)
def analytics_anomalies(body: AnomaliesRequest, me: Me) -> ModelRecord:
    """Train the trading-activity anomaly model on one window and score another; the
    scores land in `ml_trade_anomaly` (a new commit). Writers and admins only."""
    record = me.detect_anomalies(
        body.train_start,
        body.train_end,
        body.score_start,
        body.score_end,
        contamination=body.contamination,
        seed=body.seed,
        timeout_s=body.timeout_s,
    )
    return ModelRecord.model_validate(record)


@router.get("/models", response_model_exclude_unset=True)
def models(me: Me) -> list[ModelRecord]:
    """Trained models: features, training and scoring commits, parameters, results."""
    return [ModelRecord.model_validate(m) for m in me.models()]


@router.post("/analytics/vwap", response_model=FrameResponse, responses=FORMATS)
def analytics_vwap(body: TradingRequest, me: Me, accept: AcceptHeader = None) -> Response:
    """VWAP and TWAP per instrument and day."""
    vwap, commit = me.analytics().vwap(body.start, body.end, body.instrument, body.as_of)
    return frame(vwap, commit, accept, policy=me.policies_in_force())


@router.post("/analytics/slippage", response_model=FrameResponse, responses=FORMATS)
def analytics_slippage(body: TradingRequest, me: Me, accept: AcceptHeader = None) -> Response:
    """Each trade against the prevailing close (as-of join), slippage in basis points."""
    slippage, commit = me.analytics().slippage(body.start, body.end, body.instrument, body.as_of)
    return frame(slippage, commit, accept, policy=me.policies_in_force())
