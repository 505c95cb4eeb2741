"""Tenant schemas: a tenant's own extension of a dimension (loaded through ingestion, SCD2 by
code, exactly once), its own cube over it and its own mart, seen by that tenant only; the
other tenant's relations, cubes, catalog and answers are unchanged."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ledgerhouse import Warehouse
from ledgerhouse.api import create_app
from ledgerhouse.cli.main import app
from ledgerhouse.client import Client
from ledgerhouse.errors import (
    BatchRejected,
    Forbidden,
    InvalidRequest,
    NotFound,
    QueryRejected,
    RejectedByQuality,
    UnknownDataset,
)
from ledgerhouse.governance.errors import UnknownMetadataObject
from ledgerhouse.session import Session
from ledgerhouse.tenancy.errors import (
    InvalidSchemaObject,
    SchemaObjectExists,
    SchemaObjectInUse,
    UnknownSchemaObject,
)
from tests.conftest import REF, admin, trade_row, trades_csv

ESG = """
extension: esg
dimension: dim_instrument
description: Our own ESG classification of instruments.
attributes:
  esg_class: string
  esg_score: {type: "decimal(5,2)", required: false}
  green: boolean
"""
HEADER = "instrument_code,esg_class,esg_score,green,effective_date\n"
FIRST = HEADER + "AAPL,A,7.5,true,2020-01-01\nSAP,B,5,no,2020-01-01\nBUND,A,9.25,yes,2020-01-01\n"
# AAPL is reclassified from 2024-01-03: its trades of the 2nd keep class A, of the 3rd get AA
SECOND = HEADER + "AAPL,AA,8,true,2024-01-03\n"
ESG_CUBE = """
name: esg_trades
title: Trades by our ESG class
fact: fact_trade
partition: trade_month
joins:
  esg:
    table: ext_instrument_esg
    sql: >-
      fact.instrument_code = esg.instrument_code AND fact.trade_date >= esg.valid_from
      AND fact.trade_date < esg.valid_to
dimensions:
  esg_class: {sql: esg.esg_class, title: ESG class}
  trade_date: {sql: fact.trade_date, type: time}
measures:
  trades: {type: count}
  quantity: {type: sum, sql: fact.quantity}
"""
BY_HAND = """
SELECT e.esg_class, count(*) AS trades, sum(t.quantity) AS quantity
FROM fact_trade t LEFT JOIN ext_instrument_esg e
  ON t.instrument_code = e.instrument_code AND t.trade_date >= e.valid_from
 AND t.trade_date < e.valid_to
GROUP BY 1 ORDER BY 1
"""
ESG_MART = {
    "mart": "esg_daily",
    "description": "Trades per ESG class and day.",
    "sql": "SELECT e.esg_class, t.trade_date, count(*) AS trades FROM fact_trade t "
    "JOIN ext_instrument_esg e ON t.instrument_code = e.instrument_code "
    "AND t.trade_date >= e.valid_from AND t.trade_date < e.valid_to GROUP BY ALL",
}
B_QUERIES = (
    "SELECT instrument_code, count(*), sum(quantity) FROM fact_trade GROUP BY 1 ORDER BY 1",
    "SELECT * FROM dim_instrument ORDER BY instrument_code",
)


def _trades() -> bytes:
    return trades_csv(
        trade_row("T1", qty="100"),
        trade_row("T2", inst="SAP", ccy="EUR", pf="P2", qty="50"),
        trade_row("T3", ts="2024-01-03T10:00:00Z", date="2024-01-03", qty="30"),
    )


@dataclass
class Two:
    wh: Warehouse
    a: Session  # the default tenant's admin: declares the schema
    b: Session  # tenant beta's admin
    b_before: list[list[list[Any]]]
    loads: list[Any]


@pytest.fixture(scope="module")
def two(ref_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Two]:
    root = tmp_path_factory.mktemp("schemas") / "wh"
    shutil.copytree(ref_template, root)
    wh = Warehouse.open(root=root)
    wh.create_tenant("beta")
    a, b = admin(wh), admin(wh, "beta")
    for ds, text in REF.items():
        b.ingest(ds, text.encode(), fmt="csv")
    a.ingest("trades", _trades(), fmt="csv")
    b.ingest("trades", _trades(), fmt="csv")
    before = [b.query(q).rows() for q in B_QUERIES]
    a.add_schema(ESG)
    loads = [a.ingest("ext_instrument_esg", text.encode(), fmt="csv") for text in (FIRST, SECOND)]
    a.add_cube(ESG_CUBE)
    a.add_schema(ESG_MART)
    yield Two(wh, a, b, before, loads)
    wh.close()


def test_an_extension_keeps_scd2_history_loaded_exactly_once(two: Two) -> None:
    first, second = two.loads
    assert first.status == second.status == "committed"
    assert set(second.tables_written) >= {"ext_instrument_esg", "raw_ext_instrument_esg"}
    rows = two.a.query(
        "SELECT instrument_code, esg_class, esg_score, green, valid_from, valid_to, is_current "
        "FROM ext_instrument_esg ORDER BY instrument_code, valid_from"
    ).rows()
    end = date(9999, 12, 31)
    assert rows == [
        ["AAPL", "A", Decimal("7.50"), True, date(2020, 1, 1), date(2024, 1, 3), False],
        ["AAPL", "AA", Decimal("8.00"), True, date(2024, 1, 3), end, True],
        ["BUND", "A", Decimal("9.25"), True, date(2020, 1, 1), end, True],
        ["SAP", "B", Decimal("5.00"), False, date(2020, 1, 1), end, True],
    ]
    again = two.a.ingest("ext_instrument_esg", SECOND.encode(), fmt="csv")
    assert (again.status, again.batch_id, again.commit_id) == (
        "duplicate", second.batch_id, second.commit_id
    )  # fmt: skip
    # joined to the facts point in time, in plain SQL
    joined = two.a.query(
        "SELECT t.trade_id, e.esg_class FROM fact_trade t JOIN ext_instrument_esg e "
        "ON t.instrument_code = e.instrument_code AND t.trade_date >= e.valid_from "
        "AND t.trade_date < e.valid_to WHERE t.trade_id IN ('T1', 'T2', 'T3') ORDER BY 1"
    ).rows()
    assert joined == [["T1", "A"], ["T2", "B"], ["T3", "AA"]]


def test_an_unknown_member_or_a_bad_value_is_quarantined(two: Two) -> None:
    bad = HEADER + "NOPE,A,1,true,2020-01-01\nSAP,B,x,true,2020-01-01\n"
    with pytest.raises(BatchRejected) as err:  # 2 of 2 rows refused: above the error rate
        two.a.ingest("ext_instrument_esg", bad.encode(), fmt="csv")
    report = err.value.details["report"]
    reasons = " ".join(report["quarantine_reasons"]) + json.dumps(report["quarantine_sample"])
    assert "'NOPE' is not a member of dim_instrument" in reasons
    assert "esg_score" in reasons


def test_a_tenant_cube_groups_by_its_own_attribute_as_sql_does(two: Two) -> None:
    res = two.a.cube("esg_trades", {"dimensions": ["esg_class"], "measures": ["trades", "quantity"],
                                     "order": [{"member": "esg_class"}]})  # fmt: skip
    assert res.rows() == two.a.query(BY_HAND).rows()
    # T1 (AAPL on the 2nd) in class A, T3 (AAPL on the 3rd) in AA: the version of its day
    assert [r[0] for r in res.rows()] == ["A", "AA", "B"] and res.rows()[0][1] == 1
    names = [c["name"] for c in two.a.cubes()]
    assert "esg_trades" in names and {"trades", "positions", "performance"} <= set(names)


def test_a_tenant_mart_is_built_and_refreshed_in_the_commit_of_its_sources(two: Two) -> None:
    stored = "SELECT esg_class, trade_date, trades FROM tmart_esg_daily ORDER BY 1, 2"
    computed = f"SELECT * FROM ({ESG_MART['sql']}) ORDER BY 1, 2"
    assert two.a.query(stored).rows() == two.a.query(computed).rows()
    assert ["A", date(2024, 1, 2), 1] in two.a.query(stored).rows()
    t4 = trade_row("T4", ts="2024-01-04T10:00:00Z", date="2024-01-04")
    report = two.a.ingest("trades", trades_csv(t4), fmt="csv")
    assert "tmart_esg_daily" in report.tables_written  # the same commit
    after = two.a.query(stored).rows()
    assert ["AA", date(2024, 1, 4), 1] in after and after == two.a.query(computed).rows()


def test_the_catalog_shows_the_tenant_its_own_schema(two: Two) -> None:
    tables = {t["name"]: t for t in two.a.tables()}
    assert tables["ext_instrument_esg"]["rows"] == 4
    assert {"raw_ext_instrument_esg", "tmart_esg_daily"} <= set(tables)
    shown = [r[0] for r in two.a.query("SHOW TABLES").rows()]
    assert {"ext_instrument_esg", "tmart_esg_daily"} <= set(shown)
    described = two.a.query("DESCRIBE ext_instrument_esg").rows()
    assert [r[0] for r in described][:4] == ["instrument_code", "esg_class", "esg_score", "green"]
    assert two.a.describe_object("ext_instrument_esg.esg_class")["type"] == "string"
    assert two.a.describe_object("cube:esg_trades")["name"] == "esg_trades"
    hits = two.a.catalog_search("esg")["hits"]
    assert {"ext_instrument_esg", "cube:esg_trades"} & {h["object"] for h in hits}
    kinds = {(o["kind"], o["name"], o["status"]) for o in two.a.schema()}
    assert kinds == {("extension", "esg", "active"), ("cube", "esg_trades", "active"),
                     ("mart", "esg_daily", "active")}  # fmt: skip


def test_another_tenant_sees_none_of_it_and_its_answers_are_unchanged(two: Two) -> None:
    b = two.b
    for sql, name in (("SELECT * FROM ext_instrument_esg", "ext_instrument_esg"),
                      ("SELECT * FROM tmart_esg_daily", "tmart_esg_daily"),
                      ("SELECT * FROM raw_ext_instrument_esg", "raw_ext_instrument_esg"),
                      ("DESCRIBE ext_instrument_esg", "ext_instrument_esg")):  # fmt: skip
        with pytest.raises(QueryRejected) as err:
            b.query(sql)
        # exactly what any unknown name gets: no hint it exists elsewhere
        assert err.value.message.startswith(f"unknown relation '{name}'")
        assert "ext_instrument_esg" not in err.value.message.split(".", 1)[1]
    with pytest.raises(NotFound):
        b.cube("esg_trades", {"measures": ["trades"]})
    with pytest.raises(UnknownDataset):
        b.ingest("ext_instrument_esg", FIRST.encode(), fmt="csv")
    with pytest.raises(UnknownMetadataObject):
        b.describe_object("ext_instrument_esg")
    assert not [t for t in b.tables() if "esg" in t["name"]]
    assert not [r for r in b.query("SHOW TABLES").rows() if "esg" in r[0]]
    assert "esg_trades" not in [c["name"] for c in b.cubes()]
    assert not [h for h in b.catalog_search("esg")["hits"] if "esg" in h["object"]]
    assert b.schema() == []
    assert [b.query(q).rows() for q in B_QUERIES] == two.b_before


@pytest.mark.parametrize(
    ("declaration", "error", "words"),
    [
        ({"extension": "x", "dimension": "dim_date", "attributes": {"a": "string"}},
         InvalidSchemaObject, "not a dimension a tenant may extend"),
        ({"extension": "x", "dimension": "dim_portfolio", "attributes": {"a": "varchar"}},
         InvalidSchemaObject, "unknown type 'varchar'"),
        ({"extension": "x", "dimension": "dim_portfolio", "attributes": {"a": "decimal(40,2)"}},
         InvalidSchemaObject, "out of range"),
        ({"extension": "x", "dimension": "dim_portfolio", "attributes": {"valid_to": "date"}},
         InvalidSchemaObject, "a column every extension has"),
        ({"extension": "x", "dimension": "dim_portfolio", "attributes": {}},
         InvalidSchemaObject, "declares no attributes"),
        ({"extension": "Bad-Name", "dimension": "dim_portfolio", "attributes": {"a": "string"}},
         InvalidSchemaObject, "name 'Bad-Name' is not valid"),
        ({"extension": "esg", "dimension": "dim_instrument", "attributes": {"a": "string"}},
         SchemaObjectExists, "already has the extension 'esg'"),
        ({"mart": "m", "sql": "SELECT count(*) FROM fact_trade"},
         InvalidSchemaObject, "distinct lower-case names"),
        ({"mart": "m", "sql": "SELECT * FROM nowhere"}, QueryRejected, "unknown relation"),
        ({"kind": "table"}, InvalidSchemaObject, "a rollup nor a cube"),
    ],
)  # fmt: skip
def test_bad_declarations_are_refused_with_what_to_fix(
    two: Two, declaration: dict[str, Any], error: type[Exception], words: str
) -> None:
    with pytest.raises(error) as err:
        two.a.add_schema(declaration)
    assert words in str(err.value)


def test_a_cube_clashing_with_a_shared_one_or_reading_unknown_tables_is_refused(two: Two) -> None:
    with pytest.raises(SchemaObjectExists, match="shared cube"):
        two.a.add_cube(ESG_CUBE.replace("name: esg_trades", "name: trades"))
    with pytest.raises(InvalidSchemaObject, match="unknown table 'ext_instrument_esg'"):
        two.b.add_cube(ESG_CUBE)  # beta has no such extension


def test_only_an_admin_changes_the_schema(two: Two) -> None:
    reader = two.wh.local(roles=("reader",))
    with pytest.raises(Forbidden):
        reader.add_schema(ESG.replace("esg", "esg2"))
    with pytest.raises(Forbidden):
        reader.drop_schema("cube", "esg_trades")
    assert {o["name"] for o in reader.schema()} == {"esg", "esg_trades", "esg_daily"}


def test_dropping_is_refused_while_in_use_and_keeps_the_name_taken(ref_wh: Session) -> None:
    me = ref_wh
    me.add_schema(ESG)
    me.add_cube(ESG_CUBE)
    with pytest.raises(SchemaObjectInUse, match="cube 'esg_trades'"):
        me.drop_schema("extension", "esg")
    assert me.drop_schema("cube", "esg_trades")["status"] == "dropped"
    assert me.drop_schema("extension", "esg")["status"] == "dropped"
    with pytest.raises(QueryRejected, match="unknown relation"):
        me.query("SELECT * FROM ext_instrument_esg")
    with pytest.raises(SchemaObjectExists, match="dropped"):
        me.add_schema(ESG)
    with pytest.raises(UnknownSchemaObject):
        me.drop_schema("mart", "nothing")
    assert me.query("SELECT count(*) FROM dim_instrument").rows() == [[3]]  # shared: untouched


def test_http_and_cli_add_list_and_drop(ref_template: Path, tmp_path: Path) -> None:
    root = tmp_path / "wh"
    shutil.copytree(ref_template, root)
    with Warehouse.open(root=root) as wh:
        key = admin(wh).create_api_key("schema-api", ("admin",))
        with TestClient(create_app(wh)) as http:
            client = Client("http://testserver", key, http=http)
            added = client.add_schema(ESG)
            assert (added["kind"], added["relation"]) == ("extension", "ext_instrument_esg")
            client.ingest("ext_instrument_esg", FIRST.encode(), fmt="csv")
            assert client.add_cube(ESG_CUBE)["reads"] == ["ext_instrument_esg", "fact_trade"]
            assert http.get("/v1/cubes/esg_trades", headers={"Authorization": f"Bearer {key}"}
                            ).status_code == 200  # fmt: skip
            assert {o["name"] for o in client.schema()} == {"esg", "esg_trades"}
            assert client.drop_schema("cube", "esg_trades")["status"] == "dropped"
            refused = http.post("/v1/schema", json={"yaml": "extension: x\ndimension: dim_date"},
                                headers={"Authorization": f"Bearer {key}"})  # fmt: skip
            assert refused.status_code == 400
            assert refused.json()["error"]["code"] == "invalid_schema_object"
    (tmp_path / "mandate.yaml").write_text(
        "extension: mandate\ndimension: dim_portfolio\nattributes:\n  mandate_type: string\n"
    )
    runner = CliRunner()
    done = runner.invoke(app, ["schema", "add", str(tmp_path / "mandate.yaml"), "--root",
                               str(root), "--json"])  # fmt: skip
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout)["relation"] == "ext_portfolio_mandate"
    listed = runner.invoke(app, ["schema", "list", "--root", str(root)])
    assert "ext_portfolio_mandate" in listed.stdout and "ext_instrument_esg" in listed.stdout


def test_a_quality_check_of_the_tenant_checks_its_own_table(two: Two) -> None:
    two.a.add_quality_checks(
        "checks:\n  - name: esg_class_known\n    relation: ext_instrument_esg\n"
        "    kind: accepted_values\n    severity: error\n"
        "    column: esg_class\n    values: [A, AA, B]\n"
    )
    assert "esg_class_known" in {c["name"] for c in two.a.quality_checks()}
    bad = HEADER + "SAP,Z,1,true,2025-01-01\n"
    with pytest.raises(RejectedByQuality):
        two.a.ingest("ext_instrument_esg", bad.encode(), fmt="csv")
    assert two.a.query("SELECT count(*) FROM ext_instrument_esg").rows() == [[4]]
    with pytest.raises(InvalidRequest, match="unknown relation 'ext_instrument_esg'"):
        two.b.add_quality_checks(
            "checks:\n  - {name: c, relation: ext_instrument_esg, kind: not_null, "
            "columns: [esg_class]}\n"
        )
    two.a.remove_quality_check("esg_class_known")


def test_the_lineage_graph_has_the_tenants_objects_only(two: Two) -> None:
    t5 = trade_row("T5", ts="2024-01-05T10:00:00Z", date="2024-01-05")
    two.a.ingest("trades", trades_csv(t5), fmt="csv")  # a commit linked to the tenant's graph
    edges = {(e["from"], e["job"]) for e in two.a.lineage("tmart_esg_daily", depth=2)["edges"]}
    assert ("ext_instrument_esg", "refresh:tmart_esg_daily") in edges
    assert ("raw_ext_instrument_esg", "ingest:ext_instrument_esg") in edges
    with pytest.raises(NotFound, match="no relation 'ext_instrument_esg'"):
        two.b.lineage("ext_instrument_esg")
