"""Grants: actions on resources (tenant > table/cube > column, analytics calls, exports) to
roles and users, decided in one place; custom roles hold only what is granted to them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from ledgerhouse.access import Principal, Resource, may
from ledgerhouse.access.grants import Grant, TenantRules
from ledgerhouse.errors import Conflict, Forbidden, InvalidRequest, NotFound
from ledgerhouse.session import Session
from tests.conftest import copy_warehouse


def _rules(*grants: Grant) -> TenantRules:
    return TenantRules("t", 1, {"analyst": ""}, grants)


def _as(roles: tuple[str, ...], rules: TenantRules, user: str = "u") -> Principal:
    class Live:
        def decide(self, p: Principal, action: str, resource: object) -> bool | None:
            return rules.decide(p, action, resource)

    return Principal("t", user, roles).with_rules(Live())


def test_a_deny_wins_over_every_allow_and_a_narrow_allow_over_nothing() -> None:
    rules = _rules(
        Grant("role", "analyst", "read", "table", "fact_trade"),
        Grant("role", "reader", "read", "table", "quarantine", "deny"),
        Grant("user", "eve", "read", "tenant", None, "deny"),
    )
    analyst, reader = _as(("analyst",), rules), _as(("reader",), rules)
    table = lambda name: Resource("t", "table", name)  # noqa: E731
    assert may(analyst, "read", table("fact_trade"))
    assert not may(analyst, "read", table("fact_price"))  # a custom role: only what is granted
    assert may(analyst, "read")  # something in the tenant is granted: the gate opens
    assert not may(analyst, "ingest")
    assert may(reader, "read", table("fact_price")) and not may(reader, "read", table("quarantine"))
    assert not may(_as(("admin",), rules, user="eve"), "read", table("fact_price"))
    assert not may(analyst, "read", Resource("other", "table", "fact_trade"))  # another tenant


def test_column_grants_leave_the_other_columns_out() -> None:
    rules = _rules(
        Grant("role", "analyst", "read", "column", "fact_trade.trade_id"),
        Grant("role", "analyst", "read", "column", "fact_trade.notional_reporting"),
        Grant("role", "reader", "read", "column", "fact_trade.fees_local", "deny"),
    )
    columns = ["trade_id", "notional_reporting", "fees_local", "price"]
    analyst, reader = _as(("analyst",), rules), _as(("reader",), rules)
    assert may(analyst, "read", Resource("t", "table", "fact_trade"))
    assert rules.hidden_columns(analyst, "fact_trade", columns) == {"fees_local", "price"}
    assert rules.hidden_columns(reader, "fact_trade", columns) == {"fees_local"}


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory, loaded_template: Path) -> Iterator[Session]:
    me = copy_warehouse(loaded_template, tmp_path_factory.mktemp("grants") / "wh")
    me.create_role("analyst", "trades only, some columns")
    yield me
    me.warehouse.close()


def _session(warehouse: Session, *roles: str, user: str = "ana") -> Session:
    return warehouse.warehouse.session(Principal("default", user, roles))


def test_a_custom_role_reads_only_what_is_granted(warehouse: Session) -> None:
    analyst = _session(warehouse, "analyst")
    with pytest.raises(Forbidden, match="may not read"):
        analyst.query("SELECT count(*) FROM fact_trade")
    grant = warehouse.grant("read", "role:analyst", "table:fact_trade")
    try:
        want = warehouse.query("SELECT count(*) FROM fact_trade").rows()
        assert analyst.query("SELECT count(*) FROM fact_trade").rows() == want
        with pytest.raises(Forbidden, match="fact_price"):
            analyst.query("SELECT count(*) FROM fact_trade JOIN fact_price USING (instrument_code)")
        assert {t["name"] for t in analyst.tables()} == {"fact_trade"}
        assert {r[0] for r in analyst.query("SHOW TABLES").rows()} == {"fact_trade"}
        with pytest.raises(Forbidden):  # a mart built from fact_trade and dimensions
            analyst.query("SELECT count(*) FROM mart_trading_activity")
    finally:
        warehouse.revoke_grant(grant["id"])
    with pytest.raises(Forbidden):  # revoked: refused from the next call on
        analyst.query("SELECT count(*) FROM fact_trade")


def test_column_grants_and_denies_shape_every_answer(warehouse: Session) -> None:
    analyst = _session(warehouse, "analyst")
    made = [
        warehouse.grant("read", "role:analyst", "column:fact_trade.trade_id"),
        warehouse.grant("read", "role:analyst", "column:fact_trade.notional_reporting"),
    ]
    try:
        res = analyst.query("SELECT * FROM fact_trade LIMIT 3")
        assert [c["name"] for c in res.columns] == ["trade_id", "notional_reporting"]
        assert res.policy is not None and "fact_trade.price" in res.policy["hidden"]
        with pytest.raises(Forbidden) as refused:
            analyst.query("SELECT sum(price) FROM fact_trade")
        assert refused.value.code == "policy_denied" and "price" in refused.value.message
        with pytest.raises(Forbidden):  # qualified, aliased, in a CTE: the same
            analyst.query("WITH x AS (SELECT t.price FROM fact_trade t) SELECT * FROM x")
        (described,) = [r for r in analyst.query("DESCRIBE fact_trade").rows()][:1]
        assert {r[0] for r in analyst.query("DESCRIBE fact_trade").rows()} == {
            "trade_id",
            "notional_reporting",
        } and described
        total = warehouse.query("SELECT sum(notional_reporting) FROM fact_trade").rows()
        assert analyst.query("SELECT sum(notional_reporting) FROM fact_trade").rows() == total
    finally:
        for g in made:
            warehouse.revoke_grant(g["id"])
    reader = _session(warehouse, "reader")
    deny = warehouse.grant("read", "user:ana", "column:fact_trade.fees_local", deny=True)
    try:
        cols = [c["name"] for c in reader.query("SELECT * FROM fact_trade LIMIT 1").columns]
        assert "fees_local" not in cols and "price" in cols
        other = _session(warehouse, "reader", user="bob")
        assert "fees_local" in [
            c["name"] for c in other.query("SELECT * FROM fact_trade LIMIT 1").columns
        ]
    finally:
        warehouse.revoke_grant(deny["id"])


def test_analytics_calls_and_exports_are_granted_one_by_one(warehouse: Session) -> None:
    analyst = _session(warehouse, "analyst")
    made = [
        warehouse.grant("read", "role:analyst"),
        warehouse.grant("analyze", "role:analyst", "analytics:pnl"),
    ]
    try:
        pnl, _ = analyst.pnl(date(2023, 3, 24))
        assert pnl.height > 0
        with pytest.raises(Forbidden, match="analyze"):
            analyst.performance()
        with (  # read, but no export: no stream
            pytest.raises(Forbidden, match="export"),
            analyst.stream("SELECT * FROM fact_trade") as export,
        ):
            list(export.batches)
        assert analyst.query("SELECT count(*) FROM fact_trade").rows()[0][0] > 0
        deny = warehouse.grant("export", "role:reader", "table:fact_trade", deny=True)
        with (
            pytest.raises(Forbidden),
            _session(warehouse, "reader").stream("SELECT * FROM fact_trade") as export,
        ):
            list(export.batches)
        warehouse.revoke_grant(deny["id"])
    finally:
        for g in made:
            warehouse.revoke_grant(g["id"])


def test_cube_grants(warehouse: Session) -> None:
    analyst = _session(warehouse, "analyst")
    made = [warehouse.grant("read", "role:analyst", "cube:trades"),
            warehouse.grant("read", "role:analyst", "table:fact_trade")]  # fmt: skip
    try:
        with pytest.raises(Forbidden, match="positions"):
            analyst.cube("positions", {"measures": ["positions"]})
        with pytest.raises(Forbidden):  # the cube joins dimensions it may not read
            analyst.cube("trades", {"dimensions": ["desk"], "measures": ["trades"]})
        got = analyst.cube("trades", {"dimensions": ["side"], "measures": ["trades"],
                                      "route": "raw"})  # fmt: skip
        assert sum(r[1] for r in got.rows()) > 0
    finally:
        for g in made:
            warehouse.revoke_grant(g["id"])


def test_bad_grants_and_roles_are_refused_with_the_fix(warehouse: Session) -> None:
    with pytest.raises(InvalidRequest, match="unknown action"):
        warehouse.grant("fly", "role:analyst")
    with pytest.raises(InvalidRequest, match="no role 'ghost'"):
        warehouse.grant("read", "role:ghost")
    with pytest.raises(InvalidRequest, match="not granted on a cube"):
        warehouse.grant("ingest", "role:analyst", "cube:trades")
    with pytest.raises(InvalidRequest, match="platform"):
        warehouse.grant("manage_tenants", "role:analyst", "tenant")
    with pytest.raises(InvalidRequest, match="built-in"):
        warehouse.create_role("admin")
    with pytest.raises(Conflict):
        warehouse.create_role("analyst")
    with pytest.raises(Forbidden, match="manage access"):
        _session(warehouse, "reader").grant("read", "role:analyst")
    with pytest.raises(InvalidRequest, match="unknown roles"):
        warehouse.create_api_key("x", ("ghost",))


def test_a_role_held_by_a_key_cannot_be_dropped(warehouse: Session) -> None:
    warehouse.create_role("temp")
    key = warehouse.create_api_key("tim", ("temp",), attributes={"desks": ["Rates"]})
    (record,) = [k for k in warehouse.list_api_keys() if k.user == "tim"]
    assert record.attributes == {"desks": ["Rates"]}
    principal = warehouse.warehouse.authenticate(f"Bearer {key}")
    assert principal.roles == ("temp",) and principal.attribute("desks") == ("Rates",)
    with pytest.raises(Conflict, match="held by API keys"):
        warehouse.drop_role("temp")
    warehouse.revoke_api_key(record.id)
    assert warehouse.drop_role("temp")["dropped"]
    changes = [e["action"] for e in warehouse.audit_entries(limit=200)]
    assert {"role_create", "role_drop", "grant_add", "grant_remove"} <= set(changes)


def test_a_deny_holds_for_a_principal_that_did_not_come_through_a_session(
    warehouse: Session,
) -> None:
    """The query service holds every principal to its tenant's grants, not only those a
    session attached them to (a service called directly, with a bare Principal)."""
    deny = warehouse.grant("read", "user:mallory", "table:fact_trade", deny=True)
    try:
        bare = Principal("default", "mallory", ("reader",))
        assert bare.rules is None
        with pytest.raises(Forbidden):
            warehouse.warehouse.queries.sql(bare, "SELECT count(*) FROM fact_trade")
        with (
            pytest.raises(Forbidden),
            warehouse.warehouse.queries.export(bare, "SELECT * FROM fact_trade") as export,
        ):
            list(export.batches)
    finally:
        warehouse.revoke_grant(deny["id"])


def test_a_grant_id_out_of_range_is_not_found(warehouse: Session) -> None:
    for grant_id in (0, -1, 2**63, 10**30):
        with pytest.raises(NotFound):
            warehouse.revoke_grant(grant_id)
