"""The metadata Ledgerhouse ships: what every tenant's catalog says before a steward edits it.

Table descriptions come from the TableDefs (model/schema.py, model/marts.py) and the cube
YAML; this module adds what those do not carry: column descriptions, tags, the default
classifications of the obvious columns, and a small glossary. A steward can change every one
of them per tenant (``annotate``, ``define_term``); the annotation overrides the value here.
"""

from __future__ import annotations

#: The classification vocabulary, least to most sensitive (``pii`` names personal data).
#: Column policies (issue 15) key on these.
CLASSIFICATIONS: tuple[str, ...] = ("public", "internal", "confidential", "pii", "restricted")

#: Default classifications: (relation, column) -> labels.
CLASSIFIED: dict[tuple[str, str], tuple[str, ...]] = {
    ("dim_counterparty", "name"): ("confidential",),
    ("dim_counterparty", "counterparty_code"): ("confidential",),
    ("dim_counterparty", "rating"): ("confidential",),
    ("raw_counterparties", "name"): ("confidential",),
    ("raw_counterparties", "counterparty_code"): ("confidential",),
    ("raw_counterparties", "rating"): ("confidential",),
    ("fact_trade", "counterparty_code"): ("confidential",),
    ("fact_trade_event", "counterparty_code"): ("confidential",),
    ("raw_trades", "counterparty_code"): ("confidential",),
    ("dim_portfolio", "manager"): ("pii",),
    ("raw_portfolios", "manager"): ("pii",),
    # a refused row as received: it may hold anything the sender put in it
    ("quarantine", "record"): ("restricted",),
}

#: Default tags of tables (relation -> tags).
TABLE_TAGS: dict[str, tuple[str, ...]] = {
    "dim_date": ("reference",),
    "dim_instrument": ("reference",),
    "dim_portfolio": ("reference",),
    "dim_counterparty": ("reference", "risk"),
    "dim_currency": ("reference",),
    "fact_trade": ("trading",),
    "fact_trade_event": ("trading",),
    "mart_trading_activity": ("trading",),
    "fact_position": ("positions", "risk"),
    "mart_exposure_daily": ("positions", "risk"),
    "fact_performance": ("performance",),
    "mart_portfolio_daily_pnl": ("performance",),
    "fact_benchmark_constituent": ("performance",),
    "fact_price": ("market-data",),
    "fact_fx_rate": ("market-data",),
    "quarantine": ("data-quality",),
    "ml_trade_anomaly": ("ml",),
}

#: Column descriptions by column name (any table), then by (relation, column).
COLUMN_TEXT: dict[str, str] = {
    "batch_id": "The ingestion batch that loaded the row (its Idempotency-Key).",
    "loaded_at": "When the row was loaded (UTC).",
    "_batch_id": "The batch the row came in.",
    "_row_number": "The row's position in its batch (1-based).",
    "_loaded_at": "When the batch was received (UTC).",
    "_reason": "Why the row was quarantined; null for an accepted row.",
    "valid_from": "First day this version is valid (SCD2).",
    "valid_to": "Day this version stops being valid, exclusive (9999-12-31 while current).",
    "is_current": "Whether this is the current version (SCD2).",
    "refreshed_at": "When the mart's month was last rebuilt.",
    "portfolio_code": "The portfolio's code as upstream systems send it.",
    "instrument_code": "The instrument's code as upstream systems send it.",
    "counterparty_code": "The counterparty's code as upstream systems send it.",
    "base_currency": "The portfolio's accounting (base) currency.",
    "reporting_currency": "The tenant's reporting currency when the row was loaded.",
    "notional_local": "Trade notional (quantity × price) in the trade's currency.",
    "notional_base": "Notional in the portfolio's base currency.",
    "notional_reporting": "Notional in the tenant's reporting currency.",
    "market_value_base": "Market value in the portfolio's base currency.",
    "unrealized_pnl_base": "Unrealized P&L (market value − cost basis), base currency.",
    "long_base": "Long exposure: the sum of positive market values (base currency).",
    "short_base": "Short exposure: the sum of negative market values (base currency).",
    "gross_base": "Gross exposure: the sum of absolute market values (base currency).",
    "net_base": "Net exposure: long + short (base currency).",
    "asset_class": "The instrument's asset class (EQUITY, BOND, ...).",
    "sector": "The instrument's sector.",
}
COLUMN_TEXT_BY_TABLE: dict[tuple[str, str], str] = {
    ("dim_counterparty", "name"): "The counterparty's legal name.",
    ("dim_counterparty", "counterparty_type"): "Kind of counterparty (BANK, BROKER, FUND...).",
    ("dim_counterparty", "rating"): "The counterparty's credit rating.",
    ("dim_portfolio", "manager"): "The portfolio manager: a person's name.",
    ("quarantine", "record"): "The refused row as received, as JSON.",
    ("quarantine", "reason"): "Why the row was refused.",
}


def column_text(relation: str, column: str) -> str:
    """The built-in description of a column ('' when there is none)."""
    text = COLUMN_TEXT_BY_TABLE.get((relation, column)) or COLUMN_TEXT.get(column)
    if text:
        return text
    if column.endswith("_key"):
        return f"Surrogate key of the {column[: -len('_key')]} dimension version."
    return ""


#: The glossary every tenant starts with: name -> (definition, synonyms, linked objects).
TERMS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "Exposure": (
        "What a portfolio stands to lose or gain from its positions: long (positive market "
        "values), short (negative), gross (their absolute sum) and net (long + short).",
        ("risk exposure", "market exposure"),
        (
            "mart_exposure_daily",
            "mart_exposure_daily.gross_base",
            "mart_exposure_daily.net_base",
            "cube:positions.gross_exposure",
            "cube:positions.long_exposure",
            "cube:positions.short_exposure",
        ),
    ),
    "Counterparty": (
        "The other party of a trade (a bank, broker or fund); the firm's exposure to its "
        "default is counterparty risk.",
        ("trading partner", "broker", "dealer"),
        (
            "dim_counterparty",
            "fact_trade.counterparty_code",
            "cube:trades.counterparty",
            "cube:trades.counterparties",
        ),
    ),
    "Notional": (
        "The face amount of a trade: quantity × price, in the trade's, the portfolio's base or "
        "the reporting currency.",
        ("traded amount", "trade value"),
        ("fact_trade.notional_base", "fact_trade.notional_reporting", "cube:trades.notional"),
    ),
    "Net asset value": (
        "The value of a portfolio's holdings less its liabilities, at the start or end of a day.",
        ("NAV",),
        ("fact_performance.begin_nav", "fact_performance.end_nav"),
    ),
    "Unrealized P&L": (
        "Market value minus the average-cost basis of the open quantity: the gain or loss not "
        "yet locked in by a sale.",
        ("unrealised pnl", "mark-to-market gain"),
        ("fact_position.unrealized_pnl_base", "cube:positions.unrealized_pnl"),
    ),
}
