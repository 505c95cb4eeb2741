"""Loading trade lifecycle events.

Every accepted event is appended to ``fact_trade_event``. ``fact_trade`` holds the state of each
live trade: its latest NEW or AMEND (an AMEND carries the whole new state); a CANCEL deletes the
row. Inserts-only batches (the bulk case) are appended; batches that amend or cancel stored
trades are applied with one MERGE restricted to the months they touch.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import polars as pl

from ledgerhouse.ingest.conform import (
    fx_to,
    fx_to_reporting,
    lookup_version,
    month_of,
    with_products,
)
from ledgerhouse.ingest.context import LoadContext, LoadPlan, accepted, keep, unchecked
from ledgerhouse.ingest.plausibility import (
    currency_matches_instrument,
    notional_outliers,
    on_business_day,
    price_in_band,
    within_horizon,
)
from ledgerhouse.ingest.validate import REASON
from ledgerhouse.model.calendar import days_before
from ledgerhouse.model.schema import (
    DIM_COUNTERPARTY,
    DIM_DATE,
    FACT_FX_RATE,
    FACT_PRICE,
    FACT_TRADE,
    FACT_TRADE_EVENT,
    MONEY_SCALE,
    OPEN_END,
    RATE_SCALE,
)

# Columns a CANCEL inherits from the trade's previous state.
_STATE = [
    "trade_month",
    "trade_ts",
    "trade_date",
    "settle_date",
    "portfolio_key",
    "instrument_key",
    "counterparty_key",
    "portfolio_code",
    "instrument_code",
    "counterparty_code",
    "side",
    "quantity",
    "signed_quantity",
    "price",
    "currency",
    "notional_local",
    "fees_local",
    "base_currency",
    "fx_rate",
    "notional_base",
    "fees_base",
    "reporting_currency",
    "reporting_fx_rate",
    "notional_reporting",
    "fees_reporting",
]


def _conform(ctx: LoadContext, ev: pl.DataFrame, plan: LoadPlan) -> pl.DataFrame:
    has_cancel = bool(ev.select((pl.col("event") == "CANCEL").any()).item())
    live = ev.filter(pl.col("event") != "CANCEL") if has_cancel else ev
    cancels = ev.filter(pl.col("event") == "CANCEL") if has_cancel else ev.clear()
    live = ctx.portfolio_version(live, "trade_date", ["base_currency"])
    live = ctx.instrument_version(
        live, "trade_date", ["instrument_currency"], rename={"currency": "instrument_currency"}
    )
    cps = ctx.read(DIM_COUNTERPARTY).with_columns(
        valid_from=pl.lit("1900-01-01").str.to_date(), valid_to=pl.lit(OPEN_END)
    )
    live = lookup_version(
        live,
        cps,
        code="counterparty_code",
        on="trade_date",
        key="counterparty_key",
        take=[],
    )
    # the plausibility rules (ingest/plausibility.py), after the reference-data lookups: an
    # unknown code is the first thing to fix
    rules = ctx.rules
    live = within_horizon(live, "trade_date", ctx.today, rules.max_future_days)
    if not rules.allow_non_business_days:
        calendar = ctx.scan(DIM_DATE).select("date", "is_business_day").collect()
        live = on_business_day(live, "trade_date", calendar)
    live = currency_matches_instrument(live).drop("instrument_currency")
    if rules.price_band > 0 and not live.is_empty():
        closes = ctx.stored(
            FACT_PRICE, ["instrument_code", "price_date", "close_price"], live["instrument_code"]
        )
        live = price_in_band(live, closes, rules.price_band)
    rates = ctx.read(FACT_FX_RATE)
    live = fx_to(live, rates, on="trade_date", from_ccy="currency", to_ccy="base_currency")
    live = fx_to_reporting(live, rates, on="trade_date", reporting_currency=ctx.reporting_currency)
    live = live.with_columns(
        trade_month=month_of("trade_date"),
        signed_quantity=pl.when(pl.col("side") == "BUY")
        .then(pl.col("quantity"))
        .otherwise(-pl.col("quantity")),
        fees_local=pl.col("fees").fill_null(Decimal(0)),
    )
    # exact, each rounded once to MONEY_SCALE places; reporting amounts convert the base ones
    live = with_products(
        live,
        [
            ("notional_local", "quantity", "price", MONEY_SCALE),
            ("notional_base", "notional_local", "fx_rate", RATE_SCALE),
            ("fees_base", "fees_local", "fx_rate", RATE_SCALE),
            ("notional_reporting", "notional_base", "reporting_fx_rate", RATE_SCALE),
            ("fees_reporting", "fees_base", "reporting_fx_rate", RATE_SCALE),
        ],
    )
    judged = rules.notional_outlier_action != "off" and rules.notional_outlier_factor > 0
    if judged and not live.is_empty():
        # the reference: the instrument's stored trades from 12 months before the batch's
        # first trade date on (recent sizes; older partitions are not read)
        first = live["trade_date"].min()
        since = days_before(first, 366).strftime("%Y-%m") if isinstance(first, date) else "0"
        codes = live["instrument_code"]
        cols = ["instrument_code", "notional_local"]
        stored = ctx.stored(FACT_TRADE, cols, codes, pl.col("trade_month") >= since)
        live, warnings = notional_outliers(live, stored, rules)
        plan.warnings += warnings
    return pl.concat([live, cancels], how="diagonal_relaxed") if has_cancel else live


def _prior_state(ctx: LoadContext, ids: pl.DataFrame) -> pl.DataFrame:
    """The latest stored event of each trade in the batch, with the number of events."""
    if ctx.is_empty(FACT_TRADE_EVENT):
        return pl.DataFrame()
    hist = ctx.scan(FACT_TRADE_EVENT).join(ids.lazy(), on="trade_id", how="semi").collect()
    if hist.is_empty():
        return pl.DataFrame()
    return (
        hist.sort("event_ts")
        .group_by("trade_id")
        .agg(pl.all().last(), pl.len().cast(pl.Int32).alias("_prior_n"))
    )


def plan_trades(ctx: LoadContext, good: pl.DataFrame) -> LoadPlan:
    plan = LoadPlan()
    ev = _conform(ctx, unchecked(good), plan)
    plan.refuse(ev)
    ev = accepted(ev)
    prior = _prior_state(ctx, ev.select("trade_id").unique())
    if prior.is_empty():
        ev = ev.with_columns(
            _prior_event=pl.lit(None, pl.String),
            _prior_ts=pl.lit(None, pl.Datetime("us", "UTC")),
            _prior_month=pl.lit(None, pl.String),
            _prior_n=pl.lit(0, pl.Int32),
        )
    else:
        ev = ev.join(
            prior.select(
                "trade_id",
                pl.col("event").alias("_prior_event"),
                pl.col("event_ts").alias("_prior_ts"),
                pl.col("trade_month").alias("_prior_month"),
                "_prior_n",
            ),
            on="trade_id",
            how="left",
        ).with_columns(pl.col("_prior_n").fill_null(0))
    ev = _group_events(ev)
    ev = _lifecycle_rules(ev)
    plan.refuse(ev)
    ev = accepted(ev)
    if ev.is_empty():
        return plan
    ev = _inherit_for_cancels(ev, prior)
    events = ev.with_columns(ctx.audit()).select(FACT_TRADE_EVENT.column_names)
    plan.writes.append(
        (FACT_TRADE_EVENT, lambda: ctx.store.append(ctx.tenant, FACT_TRADE_EVENT, events))
    )
    _plan_current_state(ctx, plan, ev)
    return plan


def _group_events(ev: pl.DataFrame) -> pl.DataFrame:
    """Order events so that each trade's events are adjacent and in time order.

    Only trades with several events in the batch need sorting (a few percent of a bulk load);
    the others are left where they are, each next to a different trade id, which is all that
    ``_runs`` needs. Sorting all 10M rows of an SF 1 load cost about 5 s.
    """
    repeated = ev["trade_id"].is_duplicated()
    if not repeated.any():
        return ev
    if repeated.all():
        return ev.sort(["trade_id", "event_ts"])
    return pl.concat([ev.filter(~repeated), ev.filter(repeated).sort(["trade_id", "event_ts"])])


def _before(flag: pl.Expr) -> pl.Expr:
    """How many earlier events of the same trade have ``flag`` (events grouped by trade and in
    time order): running sums and shifts instead of per-group windows, which cost more than
    the whole load when a batch holds millions of trades of one event each."""
    first = (pl.col("trade_id") != pl.col("trade_id").shift(1)).fill_null(True)
    f = flag.cast(pl.Int32)
    running = f.cum_sum()
    base = pl.when(first).then(running - f).forward_fill()
    return running - f - base


def _runs(ev: pl.DataFrame) -> pl.DataFrame:
    """Position of each event within its trade (events grouped by trade, in time order)."""
    first = (pl.col("trade_id") != pl.col("trade_id").shift(1)).fill_null(True)
    last = (pl.col("trade_id") != pl.col("trade_id").shift(-1)).fill_null(True)
    idx = pl.int_range(pl.len())
    start = pl.when(first).then(idx).forward_fill()
    return ev.with_columns(_pos=(idx - start).cast(pl.Int32), _is_last=last)


def _lifecycle_rules(ev: pl.DataFrame) -> pl.DataFrame:
    """Refuse events that the trade's state does not allow. Only accepted events change the
    state: a refused CANCEL (say, one before the NEW) does not cancel the trade."""
    prior_exists = pl.col("_prior_event").is_not_null()
    prior_cancelled = (pl.col("_prior_event") == "CANCEL").fill_null(False)
    stale = prior_exists & (pl.col("event_ts") <= pl.col("_prior_ts")).fill_null(False)
    ev = ev.with_columns(_exists=prior_exists | (_before(pl.col("event") == "NEW") > 0))
    ev = ev.with_columns(
        _cancel_ok=(pl.col("event") == "CANCEL") & pl.col("_exists") & ~prior_cancelled & ~stale
    )
    cancelled = prior_cancelled | (_before(pl.col("_cancel_ok")) > 0)
    exists = pl.col("_exists")
    tid = pl.format("'{}'", pl.col("trade_id"))
    reason = (
        pl.when((pl.col("event") == "NEW") & exists)
        .then(pl.format("trade_id {} already exists (duplicate NEW)", tid))
        .when((pl.col("event") != "NEW") & ~exists)
        .then(pl.format("unknown trade_id {}: {} before any NEW", tid, pl.col("event")))
        .when(cancelled)
        .then(pl.format("trade_id {} is cancelled; no event may follow a CANCEL", tid))
        .when(stale)
        .then(
            pl.format(
                "event of trade_id {} at {} is not later than its stored event at {}",
                tid,
                pl.col("event_ts").cast(pl.String),
                pl.col("_prior_ts").cast(pl.String),
            )
        )
    )
    return ev.with_columns(reason.alias(REASON)).drop("_exists", "_cancel_ok")


def _inherit_for_cancels(ev: pl.DataFrame, prior: pl.DataFrame) -> pl.DataFrame:
    """A CANCEL carries the trade's last state: from the previous event of the same trade in
    this batch (events are sorted by trade and time), else from the stored prior state."""
    is_cancel = pl.col("event") == "CANCEL"
    if not ev.select(is_cancel.any()).item():
        return ev
    same_trade = (pl.col("trade_id") == pl.col("trade_id").shift(1)).fill_null(False)
    use_prior = not prior.is_empty()
    if use_prior:
        ev = ev.join(
            prior.select("trade_id", *[pl.col(c).alias(f"_p_{c}") for c in _STATE]),
            on="trade_id",
            how="left",
            maintain_order="left",
        )
    fills = []
    for c in _STATE:
        fallback = pl.col(f"_p_{c}") if use_prior else pl.lit(None)
        source = pl.when(same_trade).then(pl.col(c).shift(1)).otherwise(fallback)
        fills.append(
            pl.when(is_cancel & pl.col(c).is_null()).then(source).otherwise(pl.col(c)).alias(c)
        )
    ev = ev.with_columns(fills)
    return ev.drop([f"_p_{c}" for c in _STATE]) if use_prior else ev


def _plan_current_state(ctx: LoadContext, plan: LoadPlan, ev: pl.DataFrame) -> None:
    ev = _runs(ev)  # still grouped by trade and in time order (_group_events)
    last = keep(ev, pl.col("_is_last")).with_columns(_n=pl.col("_pos") + 1)
    last = last.with_columns(
        event_count=pl.col("_prior_n") + pl.col("_n"),
        _live_before=pl.col("_prior_event").is_not_null() & (pl.col("_prior_event") != "CANCEL"),
    ).with_columns(ctx.audit())
    cols = FACT_TRADE.column_names
    is_cancel = pl.col("event") == "CANCEL"
    inserts = keep(last, ~is_cancel & ~pl.col("_live_before"))
    if not last["_live_before"].any():
        rows = inserts.select(cols)
        plan.writes.append((FACT_TRADE, lambda: ctx.store.append(ctx.tenant, FACT_TRADE, rows)))
        return
    changed = last.filter(pl.col("_live_before"))
    same_month = ~is_cancel & (pl.col("trade_month") == pl.col("_prior_month"))
    source = pl.concat(
        [
            inserts.with_columns(_target=pl.col("trade_month"), _action=pl.lit("insert")),
            changed.filter(same_month).with_columns(
                _target=pl.col("trade_month"), _action=pl.lit("update")
            ),
            changed.filter(~same_month).with_columns(
                _target=pl.col("_prior_month"), _action=pl.lit("delete")
            ),
            changed.filter(~is_cancel & ~same_month).with_columns(
                _target=pl.col("trade_month"), _action=pl.lit("insert")
            ),
        ]
    ).select(*cols, "_target", "_action")

    def _merge() -> int:
        ctx.store.merge(
            ctx.tenant,
            FACT_TRADE,
            source,
            "t.trade_month = s._target AND t.trade_id = s.trade_id",
            delete_when="s._action = 'delete'",
            update_when="s._action = 'update'",
            insert_when="s._action = 'insert'",
        )
        return ctx.store.version(ctx.tenant, FACT_TRADE)

    plan.writes.append((FACT_TRADE, _merge))


__all__ = ["plan_trades"]
