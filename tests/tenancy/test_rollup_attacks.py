"""Attacks on a tenant's own rollups and on the rollup advisor (review of 5599ada), by a
malicious tenant admin or a restricted client. Each test asserts the secure (or robust)
behaviour: the ones that fail show a leak or a breakage; the others pin attacks that are
correctly refused today."""

from __future__ import annotations

import importlib.resources
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledgerhouse import Warehouse
from ledgerhouse.access import Principal
from ledgerhouse.api import create_app
from ledgerhouse.session import Session
from ledgerhouse.tenancy.errors import InvalidSchemaObject
from tests.conftest import REF, admin, copies_of_a_trade, copy_warehouse

#: A tenant cube over the trades with a pinned join to the counterparty (a confidential
#: code and name): ``{dims}`` is replaced by the dimensions under test.
CUBE = """
name: {name}
fact: fact_trade
partition: trade_month
joins:
  portfolio: {{table: dim_portfolio, sql: "fact.portfolio_key = portfolio.portfolio_key"}}
  counterparty:
    table: dim_counterparty
    sql: "fact.counterparty_key = counterparty.counterparty_key"
dimensions:
  portfolio: {{sql: fact.portfolio_code}}
  trade_date: {{sql: fact.trade_date, type: time}}
{dims}
measures:
  trades: {{type: count}}
  quantity: {{type: sum, sql: fact.quantity}}
{measures}
segments:
  buys: fact.side = 'BUY'
{segments}
rollups:
  r:
    dimensions: [portfolio{extra}]
    measures: [trades{extra_measures}]
{rollup_extra}
"""


def _cube(
    name: str = "atk",
    dims: dict[str, str] | None = None,
    *,
    measures: str = "",
    segments: str = "",
    rollup_extra: str = "",
    extra_measures: str = "",
) -> str:
    dims = dims or {}
    lines = "\n".join(f"  {n}: {{sql: {_yaml(s)}}}" for n, s in dims.items())
    extra = "".join(f", {n}" for n in dims)
    return CUBE.format(name=name, dims=lines, extra=extra, measures=measures,
                       segments=segments, rollup_extra=rollup_extra,
                       extra_measures=extra_measures)  # fmt: skip


def _yaml(sql: str) -> str:
    return '"' + sql.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _rollup_relation(me: Session, cube: str) -> str:
    layer = me.warehouse.tenant_layer(me.principal.tenant)
    (relation,) = [r for r in layer.tables if r.startswith(f"rollup_{cube}_")]
    return relation


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory, loaded_template: Path) -> Iterator[Session]:
    me = copy_warehouse(loaded_template, tmp_path_factory.mktemp("attacks") / "wh")
    me.create_role("client")
    me.grant("read", "role:client")
    me.put_policy("own", "row", predicate="portfolio_code IN (:portfolios)", roles=["client"])
    me.create_role("masked")
    me.grant("read", "role:masked")
    me.put_policy("mask", "column", classification="confidential", roles=["masked"])
    yield me
    me.warehouse.close()


@pytest.fixture
def fresh(tmp_path: Path, loaded_template: Path) -> Iterator[Session]:
    me = copy_warehouse(loaded_template, tmp_path / "wh")
    yield me
    me.warehouse.close()


def _client(me: Session, *portfolios: str) -> Session:
    return me.warehouse.session(
        Principal("default", "client", ("client",), {"portfolios": tuple(portfolios)})
    )


def _masked(me: Session) -> Session:
    return me.warehouse.session(Principal("default", "masked", ("masked",)))


def _codes(me: Session) -> set[str]:
    rows = me.query("SELECT counterparty_code, name FROM dim_counterparty").rows()
    return {c for c, _ in rows} | {n for _, n in rows}


def _shown(rows: list[list[Any]]) -> set[str]:
    return {str(v) for row in rows for v in row}


def _leaks(rows: list[list[Any]], secrets: set[str]) -> set[str]:
    """The confidential values (counterparty codes and names) that ``rows`` show, also
    inside a longer text (a JSON document of the row)."""
    texts = _shown(rows)
    return {s for s in secrets if any(s == t or f'"{s}"' in t for t in texts)}


# -- 1. column policies: what a tenant rollup stores must be masked as its sources -----------
@pytest.mark.parametrize(
    ("dimension", "sql"),
    [
        # the lineage graph treats every column named *_key as an opaque surrogate key
        ("counterparty_key", "fact.counterparty_code"),
        ("cp_name_key", "counterparty.name"),
        # the lineage of the rollup's SQL is keyed by the lower-cased name ('cp'), the
        # rollup's column is 'Cp': the classification never reaches it
        ("Cp", "fact.counterparty_code"),
        ("CpName", "counterparty.name || ''"),
    ],
)
def test_column_mask_covers_a_rollup_dimension_whatever_its_name(
    warehouse: Session, dimension: str, sql: str
) -> None:
    text = _cube("named", {dimension: sql})
    try:
        warehouse.add_cube(text)
    except InvalidSchemaObject as refused:  # refused, naming the member: as good as masking
        assert dimension in str(refused) and "lower case" in str(refused)
        return
    try:
        secrets = _codes(warehouse)
        masked = _masked(warehouse)
        asked = {"dimensions": ["portfolio", dimension], "measures": ["trades"], "cache": False}
        star = masked.cube("named", {**asked, "route": "raw"})
        assert not _leaks(star.rows(), secrets)  # the star masks them
        got = masked.cube("named", asked)
        assert got.route == "rollup:r"
        leaked = sorted(_leaks(got.rows(), secrets))
        assert not leaked, f"rollup shows {leaked[:3]}"
        relation = _rollup_relation(warehouse, "named")
        in_sql = masked.query(f'SELECT "{dimension}" FROM {relation}').rows()
        assert not _leaks(in_sql, secrets), f"SQL shows {sorted(_leaks(in_sql, secrets))[:3]}"
    finally:
        warehouse.drop_schema("cube", "named")


@pytest.mark.parametrize(
    "sql",
    [
        "fact['counterparty_code']",
        "struct_extract(fact, 'counterparty_code')",
        "to_json(fact)::VARCHAR",  # the whole fact row, as a JSON text
        "COLUMNS('^counterparty_code$')",  # a column picked by a pattern, not by its name
    ],
)
def test_column_mask_covers_a_reference_lineage_cannot_follow(warehouse: Session, sql: str) -> None:
    """A dimension reading the fact row as a struct (or a column chosen by COLUMNS): the star
    masks it (its source is the masked view of fact_trade); the rollup was built from the
    unmasked row and its lineage finds no source column, so nothing masks it. Refusing the
    declaration is as good as masking."""
    try:
        warehouse.add_cube(_cube("whole", {"cp": sql}))
    except InvalidSchemaObject:
        return  # refused: fine
    try:
        secrets = _codes(warehouse)
        masked = _masked(warehouse)
        asked = {"dimensions": ["portfolio", "cp"], "measures": ["trades"], "cache": False,
                 "limit": 50}  # fmt: skip
        assert not _leaks(masked.cube("whole", {**asked, "route": "raw"}).rows(), secrets)
        got = masked.cube("whole", asked)
        assert not _leaks(got.rows(), secrets), (got.route, sorted(_leaks(got.rows(), secrets))[:3])
        relation = _rollup_relation(warehouse, "whole")
        in_sql = masked.query(f"SELECT cp FROM {relation} LIMIT 50").rows()
        assert not _leaks(in_sql, secrets)
    finally:
        warehouse.drop_schema("cube", "whole")


def test_column_mask_covers_a_rollup_measure_over_a_struct_field(warehouse: Session) -> None:
    """count_distinct over fact['counterparty_code']: on the star the masked codes count as
    one; the rollup stores (and shows) the real number of distinct counterparties."""
    text = _cube("cnt", {"side": "fact.side"},
                 measures="  cps: {type: count_distinct, sql: \"fact['counterparty_code']\"}",
                 extra_measures=", cps")  # fmt: skip
    try:
        warehouse.add_cube(text)
    except InvalidSchemaObject:
        return
    try:
        masked = _masked(warehouse)
        asked = {"dimensions": ["portfolio", "side"], "measures": ["cps"], "cache": False}
        star = sorted(masked.cube("cnt", {**asked, "route": "raw"}).rows(), key=repr)
        got = sorted(masked.cube("cnt", asked).rows(), key=repr)
        assert got == star or all(r[-1] in (None, 0, 1) for r in got), (got[:2], star[:2])
    finally:
        warehouse.drop_schema("cube", "cnt")


def test_a_column_deny_covers_a_rollup_dimension_named_like_a_key(warehouse: Session) -> None:
    warehouse.create_role("nocp")
    warehouse.grant("read", "role:nocp")
    warehouse.grant("read", "role:nocp", "column:fact_trade.counterparty_code", deny=True)
    reader = warehouse.warehouse.session(Principal("default", "ncp", ("nocp",)))
    try:
        warehouse.add_cube(_cube("keyed", {"counterparty_key": "fact.counterparty_code"}))
    except InvalidSchemaObject as refused:  # a *_key member is refused: nothing to read
        assert "counterparty_key" in str(refused)
        return
    try:
        codes = {r[0] for r in warehouse.query("SELECT counterparty_code FROM dim_counterparty")
                 .rows()}  # fmt: skip
        relation = _rollup_relation(warehouse, "keyed")
        try:
            rows = reader.query(f"SELECT * FROM {relation}").rows()
        except Exception as exc:  # refused: fine
            assert getattr(exc, "code", "") in ("policy_denied", "forbidden"), exc
        else:
            assert not _shown(rows) & codes, "the denied codes are read through the rollup"
        try:
            got = reader.cube("keyed", {"dimensions": ["portfolio", "counterparty_key"],
                                        "measures": ["trades"], "cache": False})  # fmt: skip
        except Exception as exc:
            assert getattr(exc, "code", "") in ("policy_denied", "forbidden"), exc
        else:
            assert not _shown(got.rows()) & codes, (got.route, got.rows()[:2])
    finally:
        warehouse.drop_schema("cube", "keyed")


# -- 2. row policies: the row-local / pinned checks (refused today) ---------------------------
@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"dims": {"x": "(FROM fact_trade SELECT max(portfolio_code))"}}, "reads beyond"),
        (
            {"dims": {"x": "EXISTS (SELECT 1 FROM fact_trade WHERE portfolio_code = 'P0002')"}},
            "reads beyond",
        ),
        (
            {
                "dims": {
                    "x": "fact.instrument_code IN (SELECT instrument_code FROM fact_trade "
                    "WHERE portfolio_code = 'P0002')"
                }
            },
            "reads beyond",
        ),
        ({"dims": {"x": "lag(fact.portfolio_code) OVER (ORDER BY fact.trade_id)"}}, "reads beyond"),
        (
            {"dims": {"x": "portfolio.desk || (SELECT min(desk) FROM dim_portfolio)"}},
            "reads beyond",
        ),
        (
            {
                "segments": '  peek: "fact.quantity > (SELECT avg(quantity) FROM fact_trade)"',
                "rollup_extra": "    segments: [peek]",
            },
            "reads beyond",
        ),
        (
            {
                "measures": '  w: {type: weighted_avg, sql: fact.price, weight: "(SELECT 1)"}',
                "extra_measures": ", w",
            },
            "reads beyond",
        ),
    ],
)
def test_a_tenant_rollup_reading_other_rows_is_refused(
    warehouse: Session, change: dict[str, Any], problem: str
) -> None:
    before = warehouse.schema()
    with pytest.raises(InvalidSchemaObject) as refused:
        warehouse.add_cube(_cube("leaky", **change))
    assert problem in refused.value.message
    assert warehouse.schema() == before


@pytest.mark.parametrize(
    "sql",
    [
        "getvariable('x')",
        "current_setting('threads')",
        "query_table('fact_trade')::VARCHAR",
        "md5(fact.portfolio_code || current_setting('memory_limit'))",
    ],
)
def test_a_tenant_rollup_calling_functions_outside_the_allowlist_is_refused(
    warehouse: Session, sql: str
) -> None:
    before = warehouse.schema()
    with pytest.raises(Exception) as refused:  # the guard refuses the refresh
        warehouse.add_cube(_cube("funcs", {"x": sql}))
    assert "not allowed" in str(refused.value) or "reads beyond" in str(refused.value)
    assert warehouse.schema() == before


@pytest.mark.parametrize(
    "join",
    [
        'p: {table: fact_trade, sql: "fact.portfolio_key = p.portfolio_key"}',
        'p: {table: raw_trades, sql: "fact.portfolio_code = p.portfolio_code"}',
        'p: {table: quarantine, sql: "fact.portfolio_key = p.portfolio_key"}',
        'p: {table: dim_portfolio, sql: "fact.portfolio_key = p.portfolio_key OR true"}',
        'p: {table: dim_portfolio, sql: "fact.portfolio_key = p.portfolio_key AND '
        'fact.portfolio_key = p.portfolio_key OR true"}',
        'p: {table: dim_portfolio, sql: "fact.portfolio_key = p.portfolio_key AND '
        'EXISTS (SELECT 1 FROM fact_trade)"}',
        'p: {table: dim_portfolio, sql: "fact.benchmark_code = p.benchmark_code"}',
        # a join aliased like the fact (the code column would be another table's)
        'fact: {table: dim_portfolio, sql: "fact.portfolio_key = fact.portfolio_key"}',
        'FACT: {table: dim_portfolio, sql: "fact.portfolio_key = FACT.portfolio_key"}',
    ],
)
def test_a_tenant_rollup_with_an_unpinned_join_is_refused(warehouse: Session, join: str) -> None:
    alias = join.split(":")[0]
    column = (
        "record"
        if "quarantine" in join
        else ("quantity" if "fact_" in join.split(",")[0] or "raw_" in join else "desk")
    )
    text = _cube("unpinned", {"x": f"{alias}.{column}"}).replace("joins:\n", f"joins:\n  {join}\n")
    before = warehouse.schema()
    with pytest.raises(Exception):  # noqa: B017 - refused (InvalidSchemaObject or the build)
        warehouse.add_cube(text)
    assert warehouse.schema() == before


def test_a_cube_over_a_tenant_mart_or_a_raw_table_gets_no_rollup(warehouse: Session) -> None:
    warehouse.add_schema({"mart": "by_pf", "sql": "SELECT portfolio_code, trade_month, "
                          "count(*) AS n FROM fact_trade GROUP BY ALL"})  # fmt: skip
    for fact, partition in (("tmart_by_pf", "trade_month"), ("raw_trades", "trade_month")):
        text = (
            f"name: over\nfact: {fact}\npartition: {partition}\n"
            "dimensions:\n  portfolio: {sql: fact.portfolio_code}\n"
            "measures:\n  rows: {type: count}\n"
            "rollups:\n  r: {dimensions: [portfolio], measures: [rows]}\n"
        )
        with pytest.raises(InvalidSchemaObject) as refused:
            warehouse.add_cube(text)
        assert "not partitioned" in refused.value.message


def test_an_extra_join_condition_cannot_widen_what_a_client_sees(warehouse: Session) -> None:
    text = _cube("narrow", {"x": "p.desk"}).replace(
        "joins:\n",
        'joins:\n  p: {table: dim_portfolio, sql: "fact.portfolio_key = p.portfolio_key AND '
        "p.portfolio_code IN ('P0002')\"}\n",
    )
    warehouse.add_cube(text)
    try:
        got = _client(warehouse, "P0001").cube(
            "narrow", {"dimensions": ["portfolio", "x"], "measures": ["trades"], "cache": False}
        )
        assert got.route == "rollup:r"
        assert {r[0] for r in got.rows()} == {"P0001"}
        assert {r[1] for r in got.rows()} == {None}  # P0002's desk never beside P0001
    finally:
        warehouse.drop_schema("cube", "narrow")


def test_a_dimension_merely_named_portfolio_code_is_not_a_code_column(warehouse: Session) -> None:
    """A rollup whose only 'portfolio_code' is a constant is not filtered by it: refused to a
    restricted client in SQL, passed over for the star in a cube query."""
    text = _cube("fake", {"portfolio_code": "'P0001'"}).replace(
        "dimensions: [portfolio, portfolio_code]", "dimensions: [portfolio_code]"
    )
    warehouse.add_cube(text)
    try:
        client = _client(warehouse, "P0001")
        relation = _rollup_relation(warehouse, "fake")
        with pytest.raises(Exception) as refused:
            client.query(f"SELECT * FROM {relation}")
        assert getattr(refused.value, "code", "") == "policy_denied"
        got = client.cube("fake", {"dimensions": ["portfolio_code"], "measures": ["trades"],
                                   "cache": False})  # fmt: skip
        assert got.route == "raw"
        mine = client.query("SELECT count(*) FROM fact_trade").rows()[0][0]
        assert got.rows() == [["P0001", mine]]
    finally:
        warehouse.drop_schema("cube", "fake")


# -- 3. grants -------------------------------------------------------------------------------
def test_a_denied_table_is_not_read_through_a_tenant_rollup(warehouse: Session) -> None:
    warehouse.create_role("nofact")
    warehouse.grant("read", "role:nofact")
    warehouse.grant("read", "role:nofact", "table:fact_trade", deny=True)
    warehouse.create_role("nocol")
    warehouse.grant("read", "role:nocol")
    warehouse.grant("read", "role:nocol", "column:fact_trade.notional_reporting", deny=True)
    added = warehouse.add_schema("rollup: grants_t\ncube: trades\n"
                                 "dimensions: [portfolio, counterparty_type]\n"
                                 "measures: [trades, notional]")  # fmt: skip
    try:
        relation = added["relation"]
        nofact = warehouse.warehouse.session(Principal("default", "nf", ("nofact",)))
        nocol = warehouse.warehouse.session(Principal("default", "nc", ("nocol",)))
        asked = {"dimensions": ["counterparty_type"], "measures": ["trades", "notional"],
                 "cache": False}  # fmt: skip
        for call in (lambda: nofact.query(f"SELECT * FROM {relation}"),
                     lambda: nofact.cube("trades", asked),
                     lambda: nocol.cube("trades", asked)):  # fmt: skip
            with pytest.raises(Exception) as refused:
                call()
            assert getattr(refused.value, "code", "") in ("forbidden", "policy_denied")
        shown = nocol.query(f"SELECT * FROM {relation} LIMIT 1")
        assert "notional__sum" not in shown.table.schema.names
    finally:
        warehouse.drop_schema("rollup", "grants_t")


# -- 4. another tenant -----------------------------------------------------------------------
def test_another_tenant_cannot_read_drop_or_share_a_tenant_rollup(warehouse: Session) -> None:
    wh = warehouse.warehouse
    wh.create_tenant("gamma")
    gamma = admin(wh, "gamma")
    for ds, text in REF.items():
        gamma.ingest(ds, text.encode(), fmt="csv")
    spec = "rollup: xt_ccy\ncube: trades\ndimensions: [portfolio, currency]\nmeasures: [trades]"
    mine = warehouse.add_schema(spec)
    try:
        with pytest.raises(Exception) as refused:
            gamma.query(f"SELECT * FROM {mine['relation']}")
        assert "unknown relation" in str(refused.value)
        with pytest.raises(Exception) as unknown:
            gamma.drop_schema("rollup", "xt_ccy")
        assert getattr(unknown.value, "code", "") == "unknown_schema_object"
        theirs = gamma.add_schema(spec)  # the same declaration: the same name, its own table
        assert theirs["relation"] == mine["relation"]
        assert gamma.query(f"SELECT count(*) FROM {theirs['relation']}").rows() == [[0]]
        assert warehouse.query(f"SELECT count(*) FROM {mine['relation']}").rows()[0][0] > 0
        got = gamma.cube("trades", {"dimensions": ["currency"], "measures": ["trades"]})
        assert got.rows() == []
    finally:
        warehouse.drop_schema("rollup", "xt_ccy")


# -- 5. the advisor --------------------------------------------------------------------------
def test_the_advisor_is_for_admins_only_over_http(warehouse: Session) -> None:
    wh = warehouse.warehouse
    key = wh.keys.create(Principal("default", "admin", ("admin",)), "cl", ("client",))
    http = TestClient(create_app(wh), headers={"Authorization": f"Bearer {key}"})
    assert http.get("/v1/optimize/rollups").status_code == 403
    assert http.post("/v1/optimize/rollups", json={}).status_code == 403
    assert http.post("/v1/optimize/rollups", json={"names": ["x"], "sql": "1"}).status_code in (
        400, 403, 422,
    )  # fmt: skip


FX_CUBE = """
name: fx
fact: fact_fx_rate
partition: {partition}
dimensions:
  currency: {{sql: fact.currency_code}}
  rate_date: {{sql: fact.rate_date, type: time}}
measures:
  rates: {{type: count}}
"""
FX_ASKED = {"dimensions": ["currency"], "measures": ["rates"], "cache": False}
BY_INSTRUMENT = {"dimensions": ["instrument"], "measures": ["trades"], "cache": False}


def test_the_advisor_survives_a_cube_whose_partition_column_does_not_exist(
    fresh: Session,
) -> None:
    """A tenant cube's `partition` is never checked against its fact; the star answers it,
    but the advisor's size query selects that column and the whole advice fails (500)."""
    fresh.add_cube(FX_CUBE.format(partition="rate_month"))  # fact_fx_rate has no rate_month
    for _ in range(2):
        assert fresh.cube("fx", FX_ASKED).route == "raw"
        fresh.cube("trades", BY_INSTRUMENT)
    proposals = fresh.advise_rollups()  # RuntimeError: counting failed: Binder Error
    assert [p["cube"] for p in proposals] == ["trades"]


def test_the_advisor_proposes_only_rollups_it_can_apply(fresh: Session) -> None:
    """fact_fx_rate is not month-partitioned: no rollup of the fx cube can be added, yet the
    advisor proposes one, and `--apply` fails after applying the others (the automatic mode
    fails the same way on every run)."""
    fresh.add_cube(FX_CUBE.format(partition="rate_date"))
    for _ in range(2):
        fresh.cube("fx", FX_ASKED)
        fresh.cube("trades", BY_INSTRUMENT)
    assert all(p["cube"] != "fx" for p in fresh.advise_rollups())
    applied = fresh.advise_rollups(apply=True)  # InvalidSchemaObject: not partitioned
    assert applied and all(p["applied"] for p in applied)


def test_an_advised_rollup_dropped_can_be_advised_and_applied_again(fresh: Session) -> None:
    for _ in range(2):
        fresh.cube("trades", BY_INSTRUMENT)
    (first,) = fresh.advise_rollups(apply=True)
    fresh.drop_schema("rollup", first["rollup"])
    for _ in range(2):
        assert fresh.cube("trades", BY_INSTRUMENT).route == "raw"
    # the same name comes back, and a dropped name stays taken: SchemaObjectExists
    (again,) = fresh.advise_rollups(apply=True)
    assert again["applied"]
    assert fresh.cube("trades", BY_INSTRUMENT).route == f"rollup:{again['rollup']}"


# -- 6. robustness ---------------------------------------------------------------------------
OWN = """
name: mine
fact: fact_trade
partition: trade_month
dimensions:
  portfolio: {sql: fact.portfolio_code}
  trade_date: {sql: fact.trade_date, type: time}
measures:
  trades: {type: count}
  quantity: {type: sum, sql: fact.quantity}
rollups:
  r:
    dimensions: [portfolio]
    measures: [trades, quantity]
"""


def _new_trades(me: Session, prefix: str, n: int = 3) -> None:
    body = copies_of_a_trade(me, prefix, n)
    assert me.ingest("trades", body, fmt="csv").status == "committed"


def test_a_tenant_cube_dropped_and_added_again_serves_no_stale_rollup(fresh: Session) -> None:
    """The rollup's table is kept when its cube is dropped, and not refreshed meanwhile; the
    same cube added again finds the table committed, creates nothing, and serves it."""
    asked = {"dimensions": ["portfolio"], "measures": ["trades", "quantity"], "cache": False}
    fresh.add_cube(OWN)
    assert fresh.cube("mine", asked).route == "rollup:r"
    fresh.drop_schema("cube", "mine")
    _new_trades(fresh, "STALE")
    fresh.add_cube(OWN)
    got = fresh.cube("mine", asked)
    star = fresh.cube("mine", {**asked, "route": "raw"})
    assert got.route == "rollup:r"
    assert sorted(got.rows(), key=repr) == sorted(star.rows(), key=repr)


def test_a_shared_cube_change_does_not_break_every_query_of_a_tenant(
    tmp_path: Path, loaded_template: Path
) -> None:
    """A tenant rollup of a shared cube names the cube's members; when the operator's cube
    loses one (an upgrade, LEDGERHOUSE_CUBE_DIR), the tenant's layer no longer builds and
    every query of the tenant fails, SQL on the shared tables included."""
    fresh = copy_warehouse(loaded_template, tmp_path / "wh")
    fresh.add_schema("rollup: by_ccy\ncube: trades\ndimensions: [portfolio, currency]\n"
                     "measures: [trades]")  # fmt: skip
    root = fresh.warehouse.root
    fresh.warehouse.close()
    cubes = Path(f"{root}-cubes")
    cubes.mkdir()
    text = (importlib.resources.files("ledgerhouse.semantic") / "cubes" / "trades.yaml").read_text()
    (cubes / "trades.yaml").write_text(
        text.replace("  currency: {sql: fact.currency, title: Trade currency}\n", "")
    )
    wh = Warehouse.open(root=root, cube_dir=cubes)
    try:
        me = admin(wh)
        assert me.query("SELECT count(*) FROM fact_trade").rows()[0][0] > 0
        assert me.cube("positions", {"measures": ["positions"]}).rows()
    finally:
        wh.close()


def test_replacing_a_cube_so_that_its_rollup_no_longer_fits_is_refused(
    warehouse: Session,
) -> None:
    warehouse.add_cube(OWN.split("rollups:")[0].replace("name: mine", "name: repl"))
    warehouse.add_schema("rollup: repl_r\ncube: repl\ndimensions: [portfolio]\n"
                         "measures: [quantity]")  # fmt: skip
    try:
        before = warehouse.schema()
        without = OWN.split("rollups:")[0].replace("name: mine", "name: repl")
        for change in (
            without.replace("  quantity: {type: sum, sql: fact.quantity}\n", ""),
            without.replace("quantity: {type: sum, sql: fact.quantity}",
                            'quantity: {type: sum, sql: "sum(fact.quantity) OVER ()"}'),
        ):  # fmt: skip
            with pytest.raises(InvalidSchemaObject):
                warehouse.add_cube(change)
            assert warehouse.schema() == before
    finally:
        warehouse.drop_schema("rollup", "repl_r")
        warehouse.drop_schema("cube", "repl")


def test_a_rollup_of_a_computed_measure_is_refused_as_invalid(warehouse: Session) -> None:
    """A ratio, share or running total has no stored primitives: the declaration fails with
    an AssertionError (a 500) instead of invalid_schema_object (400)."""
    for measure in ("fee_rate", "notional_share"):
        with pytest.raises(InvalidSchemaObject):
            warehouse.add_schema(f"rollup: comp_{measure}\ncube: trades\n"
                                 f"dimensions: [portfolio]\nmeasures: [{measure}]")  # fmt: skip
