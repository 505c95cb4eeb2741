"""Money is exact and every answer is reproducible bit for bit (issue 13, decision 0014).

Amounts are decimals: SQL, a cube on its raw route and on a rollup, and a hand-written Python
``Decimal`` computation give the same totals, and the same query gives the same bits however
often it runs. Statistics over floats (returns) are summed order-independently, so they repeat
bit for bit too, and a rollup gives the raw route's bits."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledgerhouse.errors import BatchRejected
from ledgerhouse.model.currencies import largest_minor_unit, minor_unit
from ledgerhouse.model.schema import MONEY_SCALE
from ledgerhouse.session import Session
from tests.conftest import TRADE_HEADER, copy_warehouse, examples, trade_row

Q6 = Decimal("0.000001")
RUNS = 20


def _same_every_time(run: Any, times: int = RUNS) -> Any:
    first = run()
    for _ in range(times - 1):
        assert run() == first
    return first


def _bits(table: pa.Table) -> list[Any]:
    """The values of a table, floats as their IEEE bits (``==`` on floats would accept -0.0
    for 0.0): two answers with equal bits are the same answer."""
    out = []
    for column in table.columns:
        values = column.to_pylist()
        if pa.types.is_floating(column.type):
            values = [None if v is None else math.copysign(1, v) * abs(v) for v in values]
            values = [None if v is None else v.hex() for v in values]
        out.append(values)
    return out


def test_the_four_run_example_returns_one_value(loaded: Session) -> None:
    """The issue's example: on one commit, cache off, the same totals every run, equal to the
    exact sum of the stored amounts."""
    sql = "SELECT sum(notional_base), sum(quantity * price) FROM fact_trade"
    rows = _same_every_time(lambda: loaded.query(sql, use_cache=False).rows())
    stored = loaded.query("SELECT notional_base, quantity, price FROM fact_trade").rows()
    assert len(stored) > 1000
    assert rows == [
        [sum(n for n, _, _ in stored), sum(q * p for _, q, p in stored)]
    ]  # Python Decimals, added one by one in any order
    assert all(isinstance(v, Decimal) for v in rows[0])


def test_a_cube_total_is_the_same_on_both_routes_every_run(loaded: Session) -> None:
    q = {"measures": ["notional", "fees", "quantity"], "dimensions": ["firm"], "cache": False}
    raw = _same_every_time(lambda: loaded.cube("trades", {**q, "route": "raw"}).rows())
    auto = loaded.cube("trades", q)
    assert auto.route.startswith("rollup:")
    assert auto.rows() == raw
    by_firm: dict[str, list[Decimal]] = {}
    for firm, notional, fees, qty in loaded.query(
        "SELECT p.firm, t.notional_reporting, t.fees_reporting, t.quantity FROM fact_trade t "
        "JOIN dim_portfolio p ON t.portfolio_key = p.portfolio_key"
    ).rows():
        total = by_firm.setdefault(firm, [Decimal(0)] * 3)
        by_firm[firm] = [total[0] + notional, total[1] + fees, total[2] + qty]
    assert raw == [[f, *by_firm[f]] for f in sorted(by_firm)]


def test_float_statistics_repeat_bit_for_bit_and_rollups_give_the_raw_bits(
    loaded: Session,
) -> None:
    q = {
        "measures": ["avg_return", "return_stddev", "nav_weighted_return", "pnl", "avg_nav"],
        "dimensions": ["desk"],
        "time_dimension": {"granularity": "month"},
        "cache": False,
    }
    raw = _same_every_time(lambda: _bits(loaded.cube("performance", {**q, "route": "raw"}).table))
    q_rollup = {**q, "measures": ["avg_return", "nav_weighted_return", "pnl", "avg_nav"]}
    auto = loaded.cube("performance", q_rollup)
    assert auto.route.startswith("rollup:")
    raw_rollup_measures = _bits(loaded.cube("performance", {**q_rollup, "route": "raw"}).table)
    assert _bits(auto.table) == raw_rollup_measures
    assert raw  # desks × months


def test_another_engine_reading_the_delta_tables_gets_the_same_totals(loaded: Session) -> None:
    """Polars reading the Delta table itself (as Spark or any Delta reader would) adds the
    same decimals to the same total as the SQL engine."""
    import polars as pl
    from deltalake import DeltaTable

    from ledgerhouse.model.schema import FACT_TRADE

    wh = loaded.warehouse
    version = loaded.commits()[0].table_versions["fact_trade"]
    path = str(wh.store.path("default", FACT_TRADE))
    frame = pl.from_arrow(DeltaTable(path, version=version).to_pyarrow_table())
    assert isinstance(frame, pl.DataFrame)
    assert frame.schema["notional_base"] == pl.Decimal(24, 6)
    polars_total = frame.select(pl.col("notional_base").sum()).item()
    sql = loaded.query("SELECT sum(notional_base) FROM fact_trade").rows()
    assert sql == [[polars_total]]


def test_mart_totals_equal_the_facts_exactly(loaded: Session) -> None:
    mart = loaded.query("SELECT sum(notional_base), sum(fees_base) FROM mart_trading_activity")
    fact = loaded.query("SELECT sum(notional_base), sum(fees_base) FROM fact_trade")
    assert mart.rows() == fact.rows()


def test_the_money_scale_holds_every_currency_minor_unit() -> None:
    assert MONEY_SCALE >= largest_minor_unit() == 4
    assert (minor_unit("JPY"), minor_unit("USD"), minor_unit("KWD")) == (0, 2, 3)
    assert minor_unit("XAU") is None


def test_dim_currency_says_each_minor_unit(ref_wh: Session) -> None:
    rows = ref_wh.query("SELECT currency_code, minor_unit FROM dim_currency ORDER BY 1").rows()
    assert rows == [["EUR", 2], ["GBP", 2], ["USD", 2]]


# -- ingestion refuses what does not fit, and never rounds ----------------------------------
def test_a_value_that_does_not_fit_is_refused_with_the_column_and_value(ref_wh: Session) -> None:
    csv = (
        TRADE_HEADER
        + trade_row("T1", price="10.1234567")
        + trade_row("T2", qty="1234567890123456789")
        + trade_row("T3", qty="0.000001", price="0.000001")  # fits; notional rounds to 0
    )
    with pytest.raises(BatchRejected) as err:
        ref_wh.ingest("trades", csv.encode(), fmt="csv")
    sample = {
        r["_row_number"]: r["_reason"] for r in err.value.details["report"]["quarantine_sample"]
    }
    assert sample[1] == (
        "column price: '10.1234567' has 7 decimal places; decimal(24,6) holds at most 6 "
        "(send the value rounded as you mean it: it is never rounded here)"
    )
    assert sample[2] == (
        "column quantity: '1234567890123456789' does not fit decimal(24,6): at most 18 "
        "integer digits"
    )
    assert 3 not in sample
    assert ref_wh.query("SELECT count(*) FROM fact_trade").rows() == [[0]]  # nothing stored


def test_json_numbers_keep_every_digit(ref_wh: Session) -> None:
    body = (
        '[{"trade_id": "J1", "event": "NEW", "event_ts": "2024-01-02T10:00:00Z", '
        '"trade_ts": "2024-01-02T10:00:00Z", "trade_date": "2024-01-02", '
        '"settle_date": "2024-01-02", "portfolio_code": "P1", "instrument_code": "AAPL", '
        '"counterparty_code": "GS", "side": "BUY", "quantity": 0.1, '
        '"price": 123456789012.123457, "currency": "USD", "fees": 0.000001}]'
    )
    assert ref_wh.ingest("trades", body.encode(), fmt="json").status == "committed"
    row = ref_wh.query("SELECT quantity, price, fees_local, notional_local FROM fact_trade").rows()
    # a float would have made the price 123456789012.12346 (17 significant digits at most)
    assert row == [
        [Decimal("0.1"), Decimal("123456789012.123457"), Decimal("0.000001"),
         Decimal("12345678901.212346")]  # 12345678901.2123457 rounded half to even
    ]  # fmt: skip


def test_parquet_floats_are_their_shortest_decimal(ref_wh: Session, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "price_date": pa.array(["2024-01-02", "2024-01-03", "2024-01-04"]),
            # 0.1 and 185.64 of two instruments: a close 1856x the previous one is refused
            "instrument_code": ["SAP", "AAPL", "AAPL"],
            "close_price": pa.array([0.1, 185.64, 1 / 3], pa.float64()),
        }
    )
    path = tmp_path / "prices.parquet"
    pq.write_table(table, path)
    with pytest.raises(BatchRejected) as err:
        ref_wh.ingest("prices", path.read_bytes(), fmt="parquet")
    reasons = err.value.details["report"]["quarantine_sample"]
    assert [r["_row_number"] for r in reasons] == [3]
    assert "'0.3333333333333333' has 16 decimal places" in reasons[0]["_reason"]
    ok = pa.table({k: v[:2] for k, v in zip(table.column_names, table.columns, strict=True)})
    pq.write_table(ok, path)
    assert ref_wh.ingest("prices", path.read_bytes(), fmt="parquet").status == "committed"
    rows = ref_wh.query("SELECT close_price FROM fact_price ORDER BY price_date").rows()
    assert rows == [[Decimal("0.1")], [Decimal("185.64")]]


# -- the property ---------------------------------------------------------------------------
_AMOUNT = st.decimals(
    min_value=Decimal("0.000001"), max_value=Decimal("99999999"), places=6, allow_nan=False
)


def _q6(x: Decimal) -> Decimal:
    return x.quantize(Q6, ROUND_HALF_EVEN)


def test_sql_cubes_on_both_routes_and_a_decimal_reference_agree_exactly(
    ref_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    @settings(
        max_examples=examples(ci=40, dev=4),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(
        batch=st.lists(
            st.tuples(_AMOUNT, _AMOUNT, _AMOUNT, st.sampled_from(["BUY", "SELL"])),
            min_size=1,
            max_size=40,
        )
    )
    def check(batch: list[tuple[Decimal, Decimal, Decimal, str]]) -> None:
        me = copy_warehouse(ref_template, tmp_path_factory.mktemp("exact") / "wh")
        try:
            days = [d for d in range(2, 32) if d not in (6, 7, 13, 14, 20, 21, 27, 28)]
            lines = [  # trade dates on business days (weekend trades are refused)
                f"T{i},NEW,2024-01-02T10:00:00Z,2024-01-02T10:00:00Z,2024-01-{days[i % 20]:02d},"
                f"2024-01-{days[i % 20]:02d},P1,AAPL,GS,{side},{q},{p},USD,{fee}\n"
                for i, (q, p, fee, side) in enumerate(batch)
            ]
            report = me.ingest("trades", (TRADE_HEADER + "".join(lines)).encode(), fmt="csv")
            assert report.status == "committed", report.reason
            notional = sum((_q6(q * p) for q, p, _, _ in batch), Decimal(0))
            fees = sum((f for _, _, f, _ in batch), Decimal(0))
            quantity = sum((q if s == "BUY" else -q for q, _, _, s in batch), Decimal(0))
            sql = "SELECT sum(notional_reporting), sum(fees_local), sum(signed_quantity) "
            sql += "FROM fact_trade"
            assert _same_every_time(lambda: me.query(sql, use_cache=False).rows(), 3) == [
                [notional, fees, quantity]
            ]
            q = {"measures": ["notional", "fees", "net_quantity"], "dimensions": ["desk"]}
            auto = me.cube("trades", {**q, "cache": False})
            raw = me.cube("trades", {**q, "cache": False, "route": "raw"})
            assert auto.route.startswith("rollup:") and raw.route == "raw"
            assert auto.rows() == raw.rows() == [["Equities", notional, fees, quantity]]
        finally:
            me.warehouse.close()

    check()


def test_a_decimal_overflow_says_how_to_fix_it(loaded: Session) -> None:
    from ledgerhouse.errors import QueryFailed

    with pytest.raises(QueryFailed) as err:
        loaded.query("SELECT sum(notional_local * fx_rate * reporting_fx_rate) FROM fact_trade")
    assert "Overflow" in str(err.value) and "CAST(x * fx_rate AS DECIMAL(38, 6))" in (
        err.value.hint or ""
    )
    fixed = loaded.query(
        "SELECT sum(CAST(notional_local * fx_rate AS DECIMAL(38, 6)) * reporting_fx_rate) "
        "FROM fact_trade"
    ).rows()
    assert isinstance(fixed[0][0], Decimal)


def test_every_protocol_carries_the_same_digits(loaded: Session, tmp_path: Path) -> None:
    """The JSON API, the streamed CSV, Parquet and Arrow answers, a library export and the
    CLI's JSON all give the exact sums the library gives (no float in between)."""
    import io
    import json

    import pyarrow.csv as pacsv
    import pyarrow.ipc as ipc
    import pyarrow.parquet as pq
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from ledgerhouse.api import create_app
    from ledgerhouse.cli.main import app as cli

    sql = (
        "SELECT portfolio_code, sum(notional_base) AS n, sum(fees_reporting) AS f "
        "FROM fact_trade GROUP BY 1 ORDER BY 1"
    )
    want = loaded.query(sql).rows()
    assert want and all(isinstance(v, Decimal) for r in want for v in r[1:])
    key = loaded.create_api_key("digits", ("reader",))
    wh = loaded.warehouse
    with TestClient(create_app(wh)) as c:
        c.headers["Authorization"] = f"Bearer {key}"
        body = c.post("/v1/query/sql", json={"sql": sql}).text
        assert json.loads(body, parse_float=Decimal)["rows"] == want
        media = {
            "text/csv": lambda b: pacsv.read_csv(
                io.BytesIO(b),
                convert_options=pacsv.ConvertOptions(
                    column_types={"n": pa.string(), "f": pa.string()}
                ),
            ),
            "application/vnd.apache.parquet": lambda b: pq.read_table(io.BytesIO(b)),
            "application/vnd.apache.arrow.stream": lambda b: ipc.open_stream(b).read_all(),
        }
        for accept, read in media.items():
            r = c.post("/v1/query/sql", headers={"Accept": accept}, json={"sql": sql})
            assert r.status_code == 200, r.text
            got = read(r.content).to_pylist()
            assert [[g["portfolio_code"], Decimal(g["n"]), Decimal(g["f"])] for g in got] == want
            if accept != "text/csv":
                assert all(isinstance(g["n"], Decimal) for g in got), accept
    path = tmp_path / "out.parquet"
    loaded.export(sql, path, format="parquet")
    assert [list(r.values()) for r in pq.read_table(path).to_pylist()] == want
    res = CliRunner().invoke(
        cli, ["query", sql, "--format", "json", "--root", str(wh.settings.root)]
    )
    assert res.exit_code == 0, res.stdout
    assert json.loads(res.stdout, parse_float=Decimal)["rows"] == want


# -- found in review: large values, rates, nested values, declared kinds ----------------------
def test_a_large_valid_trade_is_stored_and_its_statistics_do_not_overflow(
    ref_wh: Session,
) -> None:
    """A 10^13 notional (a USD 1bn trade in IDR is 1.6e13) fits decimal(24,6): it is stored,
    and the rollups' standard-deviation sums of squares hold it."""
    csv = TRADE_HEADER + trade_row("A1", qty="10000000", price="1000000") + trade_row("A2")
    assert ref_wh.ingest("trades", csv.encode(), fmt="csv").status == "committed"
    q = {"measures": ["notional", "notional_stddev"], "cache": False}
    raw = ref_wh.cube("trades", {**q, "route": "raw"}).rows()
    assert raw[0][0] == Decimal("10000000001000")
    assert math.isclose(raw[0][1], float(Decimal("10000000001000") - 2000) / math.sqrt(2))


def test_a_product_too_large_is_refused_with_a_reason_not_a_crash(ref_wh: Session) -> None:
    csv = (
        TRADE_HEADER
        + trade_row("B1", qty="10000000000000", price="10000000000000")
        + "".join(trade_row(f"OK{i}") for i in range(30))
    )
    report = ref_wh.ingest("trades", csv.encode(), fmt="csv")
    assert report.status == "committed" and report.rows_quarantined == 1
    (reason,) = report.quarantine_reasons
    assert "notional_local = quantity × price" in reason and "does not fit decimal(…,…)" in reason


def test_an_unusable_cross_rate_and_an_overflowing_pnl_are_refused(ref_wh: Session) -> None:
    positions = (
        "position_date,portfolio_code,instrument_code,quantity,market_value,cost_basis\n"
        "2024-01-02,P1,AAPL,1,900000000000000000,-900000000000000000\n"
        + "".join(f"2024-01-{3 + i:02d},P1,AAPL,1,100,90\n" for i in range(25))
    )
    report = ref_wh.ingest("positions", positions.encode(), fmt="csv")
    assert report.rows_quarantined == 1
    assert any("unrealized_pnl_local = market_value_local - cost_basis_local" in r
               for r in report.quarantine_reasons)  # fmt: skip
    fx = "rate_date,currency,rate_to_usd\n2024-01-01,VND,0.000000000001\n"
    assert ref_wh.ingest("fx_rates", fx.encode(), fmt="csv").status == "committed"
    pf = (
        "portfolio_code,name,firm,desk,base_currency,effective_date\n"
        "PV,Viet,ACME,Asia,VND,2020-01-01\n"
    )
    ref_wh.ingest("portfolios", pf.encode(), fmt="csv")
    csv = TRADE_HEADER + trade_row("V1", pf="PV") + "".join(trade_row(f"W{i}") for i in range(30))
    report = ref_wh.ingest("trades", csv.encode(), fmt="csv")
    assert report.rows_quarantined == 1
    (reason,) = report.quarantine_reasons
    assert "the FX rate from USD to VND" in reason and "does not fit decimal(…,…)" in reason


def test_rates_from_parquet_floats_keep_their_digits(ref_wh: Session, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "rate_date": ["2024-01-03", "2024-01-03"],
            "currency": ["XAU", "EUR"],
            "rate_to_usd": pa.array([8192.7, 1.0823], pa.float64()),
        }
    )
    path = tmp_path / "fx.parquet"
    pq.write_table(table, path)
    assert ref_wh.ingest("fx_rates", path.read_bytes(), fmt="parquet").status == "committed"
    rows = ref_wh.query(
        "SELECT currency_code, rate_to_usd FROM fact_fx_rate "
        "WHERE rate_date = DATE '2024-01-03' ORDER BY 1"
    ).rows()
    assert rows == [["EUR", Decimal("1.0823")], ["XAU", Decimal("8192.7")]]


def test_nested_values_with_fractions_load_and_export(ref_wh: Session, tmp_path: Path) -> None:
    body = (
        '[{"rate_date": "2024-01-04", "currency": "EUR", "rate_to_usd": 1.1, "meta": {"src": 0.5}}]'
    )
    report = ref_wh.ingest("fx_rates", body.encode(), fmt="json")
    assert report.status == "committed" and any("meta" in w for w in report.warnings)
    out = tmp_path / "nested.csv"
    ref_wh.export("SELECT [rate_to_usd] AS rates FROM fact_fx_rate ORDER BY 1", out, format="csv")
    assert "[1.100000000000]" in out.read_text()


def test_a_declared_exact_measure_must_be_exact(tmp_path: Path) -> None:
    from ledgerhouse.errors import ConfigError
    from ledgerhouse.model.schema import FACT_PERFORMANCE, FACT_TRADE
    from ledgerhouse.semantic.models import Cube
    from ledgerhouse.semantic.numerics import classified

    def cube(sql: str, numeric: str | None = None) -> Cube:
        measure = {"type": "sum", "sql": sql} | ({"numeric": numeric} if numeric else {})
        return Cube.model_validate(
            {"name": "c", "fact": "fact_trade", "partition": "trade_month",
             "dimensions": {"side": {"sql": "fact.side"}}, "measures": {"m": measure}}
        )  # fmt: skip

    tables = {t.relation: t for t in (FACT_TRADE, FACT_PERFORMANCE)}
    kinds = {
        sql: classified(cube(sql), tables).measures["m"].numeric
        for sql in (
            "fact.quantity * fact.price",  # 12 places: exact
            "fact.notional_base * 1e3",  # 1e3 is a DOUBLE in DuckDB
            "fact.quantity * fact.fx_rate",  # 18 places: summed as a float at 18 places
            "fact.notional_local / fact.quantity",
            "abs(fact.notional_base) * 2",
        )
    }
    assert list(kinds.values()) == ["exact", "float", "float", "float", "exact"]
    with pytest.raises(ConfigError, match="declared `numeric: exact`"):
        classified(cube("fact.notional_base * 1e3", "exact"), tables)


def test_the_client_sends_decimal_parameters_with_every_digit() -> None:
    from ledgerhouse.client.http import _jsonable

    assert _jsonable([Decimal("123456789012.123457"), 1.5]) == ["123456789012.123457", 1.5]
