"""Loading trade lifecycle events.

Every accepted event is appended to ``fact_trade_event``. ``fact_trade`` holds the state of each
live trade: its latest NEW or AMEND (an AMEND carries the whole new state); a CANCEL deletes the
row. Inserts-only batches (the bulk case) are appended; batches that amend or cancel stored
trades are applied with one MERGE restricted to the months they touch.
"""

from __future__ import annotations

import polars as pl

from ledgerhouse.ingest.conform import fx_to, lookup_version, money, month_of
from ledgerhouse.ingest.context import LoadContext, LoadPlan, accepted, keep
from ledgerhouse.ingest.validate import REASON
from ledgerhouse.model.schema import (
    DIM_COUNTERPARTY,
    DIM_INSTRUMENT,
    DIM_PORTFOLIO,
    FACT_FX_RATE,
    FACT_TRADE,
    FACT_TRADE_EVENT,
    OPEN_END,
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
]


def _conform(ctx: LoadContext, ev: pl.DataFrame) -> pl.DataFrame:
    has_cancel = bool(ev.select((pl.col("event") == "CANCEL").any()).item())
    live = ev.filter(pl.col("event") != "CANCEL") if has_cancel else ev
    cancels = ev.filter(pl.col("event") == "CANCEL") if has_cancel else ev.clear()
    live = lookup_version(
        live,
        ctx.read(DIM_PORTFOLIO),
        code="portfolio_code",
        on="trade_date",
        key="portfolio_key",
        take=["base_currency"],
        label="portfolio_code",
    )
    live = lookup_version(
        live,
        ctx.read(DIM_INSTRUMENT),
        code="instrument_code",
        on="trade_date",
        key="instrument_key",
        take=[],
        label="instrument_code",
    )
    cps = ctx.read(DIM_COUNTERPARTY).with_columns(
        valid_from=pl.lit("1900-01-01").str.to_date(), valid_to=pl.lit(OPEN_END).str.to_date()
    )
    live = lookup_version(
        live,
        cps,
        code="counterparty_code",
        on="trade_date",
        key="counterparty_key",
        take=[],
        label="counterparty_code",
    )
    live = fx_to(
        live, ctx.read(FACT_FX_RATE), on="trade_date", from_ccy="currency", to_ccy="base_currency"
    )
    live = live.with_columns(
        trade_month=month_of("trade_date"),
        signed_quantity=pl.when(pl.col("side") == "BUY")
        .then(pl.col("quantity"))
        .otherwise(-pl.col("quantity")),
        notional_local=money(pl.col("quantity") * pl.col("price")),
        fees_local=pl.col("fees").fill_null(0.0),
    ).with_columns(
        notional_base=money(pl.col("notional_local") * pl.col("fx_rate")),
        fees_base=money(pl.col("fees_local") * pl.col("fx_rate")),
    )
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
    ev = _conform(ctx, good.with_columns(pl.lit(None, pl.String).alias(REASON)))
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
    ev = ev.sort(["trade_id", "event_ts"])
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


def _runs(ev: pl.DataFrame) -> pl.DataFrame:
    """Position of each event within its trade, for events sorted by (trade_id, event_ts).

    Computed with shifts and running sums instead of per-group windows: a bulk batch has
    millions of trades of one event each, where grouping costs more than the whole load.
    """
    first = pl.col("trade_id") != pl.col("trade_id").shift(1)
    last = pl.col("trade_id") != pl.col("trade_id").shift(-1)
    idx = pl.int_range(pl.len())
    start = pl.when(first.fill_null(True)).then(idx).forward_fill()
    new_cs = (pl.col("event") == "NEW").cast(pl.Int32).cum_sum()
    cancel_cs = (pl.col("event") == "CANCEL").cast(pl.Int32).cum_sum()
    is_new = (pl.col("event") == "NEW").cast(pl.Int32)
    is_cancel = (pl.col("event") == "CANCEL").cast(pl.Int32)
    new_base = pl.when(first.fill_null(True)).then(new_cs - is_new).forward_fill()
    cancel_base = pl.when(first.fill_null(True)).then(cancel_cs - is_cancel).forward_fill()
    return ev.with_columns(
        _pos=(idx - start).cast(pl.Int32),
        _is_last=last.fill_null(True),
        _new_before=new_cs - is_new - new_base,
        _cancel_before=cancel_cs - is_cancel - cancel_base,
    )


def _lifecycle_rules(ev: pl.DataFrame) -> pl.DataFrame:
    ev = _runs(ev)
    prior_exists = pl.col("_prior_event").is_not_null()
    exists = prior_exists | (pl.col("_new_before") > 0)
    cancelled = (pl.col("_prior_event") == "CANCEL").fill_null(False) | (
        pl.col("_cancel_before") > 0
    )
    tid = pl.format("'{}'", pl.col("trade_id"))
    reason = (
        pl.when((pl.col("event") == "NEW") & exists)
        .then(pl.format("trade_id {} already exists (duplicate NEW)", tid))
        .when((pl.col("event") != "NEW") & ~exists)
        .then(pl.format("unknown trade_id {}: {} before any NEW", tid, pl.col("event")))
        .when(cancelled)
        .then(pl.format("trade_id {} is cancelled; no event may follow a CANCEL", tid))
        .when(prior_exists & (pl.col("event_ts") <= pl.col("_prior_ts")))
        .then(
            pl.format(
                "event of trade_id {} at {} is not later than its stored event at {}",
                tid,
                pl.col("event_ts").cast(pl.String),
                pl.col("_prior_ts").cast(pl.String),
            )
        )
    )
    return ev.with_columns(reason.alias(REASON)).drop(
        "_pos", "_is_last", "_new_before", "_cancel_before"
    )


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
    ev = _runs(ev)  # still sorted by (trade_id, event_ts)
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
