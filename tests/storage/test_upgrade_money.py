"""A warehouse of the release before exact money (float64 amounts, no ``dim_currency
.minor_unit``) is refused when opened, with the fix named; ``Warehouse.upgrade`` rewrites its
tables once, in one commit, to decimals (each float's shortest text rounded half to even to the
column's scale) with the marts and rollups rebuilt from the upgraded facts; the commits before
it still answer with the old floats; a resend is still a duplicate; a second upgrade does
nothing.

The old warehouse is made as the previous release made it: by this code's ingestion with the
previous release's table layout (every decimal column float64, ``minor_unit`` absent), so the
store wrote float64 columns; plus one commit of rows as the previous release's float arithmetic
left them (``1.25 / 1.1``, ``0.1 + 0.2``)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from deltalake import DeltaTable
from typer.testing import CliRunner

import ledgerhouse.ingest.tables as ingest_tables
import ledgerhouse.model.marts as marts
import ledgerhouse.model.schema as schema
from ledgerhouse import Warehouse
from ledgerhouse.cli.main import app
from ledgerhouse.model.schema import DIM_CURRENCY, FACT_PRICE, FACT_TRADE, TableDef
from ledgerhouse.semantic.service import SemanticLayer
from ledgerhouse.storage.upgrade import UpgradeRequired, convert
from tests.conftest import REF, TRADE_HEADER, admin, trade_row

PRICES = "price_date,instrument_code,close_price\n2024-01-02,AAPL,185.64\n2024-01-02,SAP,140.5\n"
#: floats as the previous release computed them, and what each becomes (shortest text, half even)
LEGACY_FX = 1.25 / 1.1  # 1.1363636363636362 -> 1.136363636364 (rate scale 12)
LEGACY_PRICES = [0.1 + 0.2, 1.0000005, 1.0000015, 2.5]  # -> 0.3, 1.000000, 1.000002, 2.5


def _old_layout(table: TableDef) -> tuple[tuple[str, pa.DataType], ...]:
    return tuple(
        (n, pa.float64() if pa.types.is_decimal(t) else t)
        for n, t in table.columns
        if not (table.name == "dim_currency" and n == "minor_unit")
    )


def _table_defs() -> list[TableDef]:
    found = [v for v in vars(schema).values() if isinstance(v, TableDef)]
    found += list(marts.MART_TABLES) + list(ingest_tables.INGEST_TABLES)
    return list({id(t): t for t in found}.values())


@contextmanager
def previous_release(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This code with the table layout of the release before decimals."""
    saved = {id(t): (t, t.columns) for t in _table_defs()}
    original = SemanticLayer.rollup_marts

    def old_rollups(self: SemanticLayer) -> list[marts.MartDef]:
        out = original(self)
        for m in out:
            object.__setattr__(m.table, "columns", _old_layout(m.table))
        return out

    try:
        for t, _ in saved.values():
            object.__setattr__(t, "columns", _old_layout(t))
        monkeypatch.setattr(SemanticLayer, "rollup_marts", old_rollups)
        yield
    finally:
        monkeypatch.setattr(SemanticLayer, "rollup_marts", original)
        for t, columns in saved.values():
            object.__setattr__(t, "columns", columns)


def _exact(value: float, scale: int) -> Decimal:
    return Decimal(repr(value)).quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_EVEN)


@pytest.fixture(scope="module")
def old_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A loaded warehouse of the previous release, built once (closed); `old_root` copies it."""
    root = tmp_path_factory.mktemp("old-release") / "wh"
    with pytest.MonkeyPatch.context() as monkeypatch, previous_release(monkeypatch):
        wh, _ = Warehouse.init(root=root)
        with wh:
            me = admin(wh)
            for ds, body in REF.items():
                me.ingest(ds, body.encode(), fmt="csv")
            rows = trade_row("T1") + trade_row("T2", qty="5", price="20.25", inst="SAP", ccy="EUR")
            me.ingest("trades", (TRADE_HEADER + rows).encode(), fmt="csv", batch_id="b-1")
            # after the trades: their prices are far from these closes (the price band)
            me.ingest("prices", PRICES.encode(), fmt="csv")
            # rows as the previous release's float arithmetic stored them
            fact = wh.store.read("default", FACT_TRADE, wh.store.version("default", FACT_TRADE))
            legacy = fact.filter(pl.col("trade_id") == "T2").with_columns(
                trade_id=pl.lit("L1"),
                fx_rate=pl.lit(LEGACY_FX),
                notional_base=pl.lit(round(5 * 20.25 * LEGACY_FX, 6)),
            )
            price = wh.store.read("default", FACT_PRICE, wh.store.version("default", FACT_PRICE))
            noisy = pl.concat(
                price.head(1).with_columns(
                    price_date=pl.lit(f"2024-01-{3 + i:02d}").str.to_date(),
                    close_price=pl.lit(p),
                )
                for i, p in enumerate(LEGACY_PRICES)
            )
            with wh.writer.transaction("default", "ingest:legacy") as txn:
                txn.append(FACT_TRADE, legacy)
                txn.append(FACT_PRICE, noisy)
            types = DeltaTable(str(wh.store.path("default", FACT_TRADE))).schema().to_arrow()
            assert pa.schema(types).field("notional_base").type == pa.float64()
    return root


@pytest.fixture
def old_root(tmp_path: Path, old_template: Path) -> Path:
    """A copy of `old_template`, for one test: its root (closed)."""
    root = tmp_path / "wh"
    shutil.copytree(old_template, root)
    return root


def test_opening_an_old_warehouse_names_the_upgrade_and_changes_nothing(old_root: Path) -> None:
    before = sorted(p.relative_to(old_root).as_posix() for p in old_root.rglob("*.json"))
    with pytest.raises(UpgradeRequired) as err:
        Warehouse.open(root=old_root)
    assert "ledgerhouse upgrade" in (err.value.hint or "")
    assert "fact_trade" in err.value.message and "float" in err.value.message
    after = sorted(p.relative_to(old_root).as_posix() for p in old_root.rglob("*.json"))
    assert after == before  # no Delta version written
    # a dry run says what it would do, and writes nothing either
    (report,) = Warehouse.upgrade(root=old_root, dry_run=True)
    assert report.dry_run and report.commit_id is None and report.rounded == 4
    assert sorted(p.relative_to(old_root).as_posix() for p in old_root.rglob("*.json")) == before
    with pytest.raises(UpgradeRequired):
        Warehouse.open(root=old_root)


def test_the_upgrade_rewrites_once_and_keeps_history(old_root: Path) -> None:
    (report,) = Warehouse.upgrade(root=old_root)
    assert not report.up_to_date and report.commit_id is not None
    rewritten = {t.relation: t for t in report.tables}
    assert {"fact_trade", "fact_price", "dim_currency", "mart_trading_activity"} <= set(rewritten)
    # 1.25/1.1 (fx_rate) and 0.1+0.2, 1.0000005, 1.0000015 (close_price) needed rounding
    assert rewritten["fact_trade"].rounded == 1 and rewritten["fact_price"].rounded == 3
    assert report.rounded == 4

    with Warehouse.open(root=old_root) as wh:
        me = admin(wh)
        commits = me.commits()
        assert commits[0].id == report.commit_id and commits[0].operation == "upgrade"
        legacy_commit = report.previous_commit_id
        assert legacy_commit is not None
        assert legacy_commit == commits[1].id

        # decimal types on disk, and the schema of the current TableDefs
        for table in (FACT_TRADE, FACT_PRICE, DIM_CURRENCY):
            stored = pa.schema(DeltaTable(str(wh.store.path("default", table))).schema().to_arrow())
            for f in table.schema:
                assert stored.field(f.name).type == f.type or pa.types.is_string(f.type)
        # values: the old floats' shortest text, half even to the scale
        fx = me.query("SELECT fx_rate FROM fact_trade WHERE trade_id = 'L1'").rows()
        assert fx == [[_exact(LEGACY_FX, 12)]] and fx[0][0] == Decimal("1.136363636364")
        closes = me.query(
            "SELECT close_price FROM fact_price WHERE price_date > DATE '2024-01-02' "
            "ORDER BY price_date"
        ).rows()
        assert [r[0] for r in closes] == [_exact(p, 6) for p in LEGACY_PRICES]
        assert [str(r[0]) for r in closes] == ["0.300000", "1.000000", "1.000002", "2.500000"]
        assert me.query("SELECT sum(quantity) FROM fact_trade").rows() == [[Decimal(110)]]
        units = me.query("SELECT currency_code, minor_unit FROM dim_currency ORDER BY 1").rows()
        assert units and all(u == 2 for _, u in units)  # EUR, GBP, USD

        # the old commits still answer as they did: the float columns they pinned
        old = me.query(
            "SELECT fx_rate, notional_base FROM fact_trade WHERE trade_id = 'L1'",
            as_of=legacy_commit,
        ).rows()
        assert old == [[LEGACY_FX, round(5 * 20.25 * LEGACY_FX, 6)]]
        assert isinstance(old[0][0], float)
        first = me.query("SELECT sum(quantity) FROM fact_trade", as_of=commits[2].id).rows()
        assert first == [[105.0]] and isinstance(first[0][0], float)
        # a column the old layout did not have reads as null there (not a binder error)
        then = me.query(
            "SELECT currency_code, minor_unit FROM dim_currency ORDER BY 1", as_of=legacy_commit
        ).rows()
        assert [c for c, _ in then] == [c for c, _ in units] and all(u is None for _, u in then)

        # marts and rollups agree exactly with the upgraded facts
        fact = me.query("SELECT sum(notional_base), sum(notional_reporting) FROM fact_trade")
        base, reporting = fact.rows()[0]
        mart = me.query("SELECT sum(notional_base) FROM mart_trading_activity").rows()[0][0]
        assert isinstance(mart, Decimal) and mart == base
        rollups = [m.table for m in wh.semantic.rollup_marts() if "trades" in m.table.relation]
        assert rollups
        for table in rollups:
            col = next(c for c in table.column_names if c.startswith("notional__"))
            total = me.query(f'SELECT sum("{col}") FROM {table.relation}').rows()[0][0]
            assert Decimal(total) == reporting, table.relation

        # a resend of an old batch is still a duplicate of its commit
        rows = trade_row("T1") + trade_row("T2", qty="5", price="20.25", inst="SAP", ccy="EUR")
        again = me.ingest("trades", (TRADE_HEADER + rows).encode(), fmt="csv", batch_id="b-1")
        assert again.status == "duplicate" and (again.commit_id or 0) < legacy_commit
        # and new data lands in the new layout
        t3 = trade_row("T3", qty="0.5", price="185.64")  # at AAPL's close (the price band)
        new = me.ingest("trades", (TRADE_HEADER + t3).encode(), fmt="csv")
        assert new.status == "committed"
        assert me.query("SELECT sum(quantity) FROM fact_trade").rows() == [[Decimal("110.5")]]
        last = me.commits()[0].id

    # a second upgrade does nothing and says so
    (again_report,) = Warehouse.upgrade(root=old_root)
    assert again_report.up_to_date and again_report.commit_id is None
    with Warehouse.open(root=old_root) as wh:
        assert admin(wh).commits()[0].id == last


def test_the_cli_upgrades_with_progress_and_a_summary(old_root: Path) -> None:
    runner = CliRunner()
    dry = runner.invoke(app, ["upgrade", "--root", str(old_root), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would rewrite" in dry.stdout and "dry run: nothing written" in dry.stdout
    refused = runner.invoke(app, ["tables", "--root", str(old_root)])
    assert refused.exit_code != 0 and "ledgerhouse upgrade" in refused.stderr
    done = runner.invoke(app, ["upgrade", "--root", str(old_root)])
    assert done.exit_code == 0, done.output
    assert "default: fact_trade: " in done.stderr  # progress per table
    assert "values rounded" in done.stdout and "commit " in done.stdout
    assert "rounded in fact_price.close_price: 0.30000000000000004 -> 0.300000" in done.stdout
    second = runner.invoke(app, ["upgrade", "--root", str(old_root), "--json"])
    assert second.exit_code == 0
    assert '"up_to_date": true' in second.stdout
    assert runner.invoke(app, ["tables", "--root", str(old_root)]).exit_code == 0


@pytest.mark.parametrize(
    ("value", "scale", "expected", "rounded"),
    [
        (0.1 + 0.2, 6, "0.300000", True),
        (1.0000005, 6, "1.000000", True),  # a tie on the shortest text: to even
        (1.0000015, 6, "1.000002", True),
        (-2.675, 2, "-2.68", True),  # 2.675 is 2.67499999... as a binary float: text wins
        (1680.0000000000002, 6, "1680.000000", True),
        (123456789012.345678, 6, "123456789012.34567", False),  # past 2^52 units: slow path
        (1e-7, 6, "0.000000", True),
        (42.5, 6, "42.500000", False),
        (-0.000001, 6, "-0.000001", False),
    ],
)
def test_a_float_becomes_its_shortest_text_rounded_half_to_even(
    value: float, scale: int, expected: str, rounded: bool
) -> None:
    arr, rounded_values = convert(pa.array([value, None]), pa.decimal128(38, scale), "t", "c")
    assert arr.to_pylist() == [Decimal(expected).quantize(Decimal(1).scaleb(-scale)), None]
    assert bool(rounded_values) == rounded
