"""The row filter a policy renders is the cheapest one equal to ``code IN (allowed)``: none
when every member is allowed, ``NOT IN`` the denied members when they are fewer; raw records
and the quarantine (which may name any member) keep the ``IN`` list. Each answer equals the
unrestricted one filtered by hand."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledgerhouse.access import Principal
from ledgerhouse.session import Session
from tests.conftest import copy_warehouse

TOTALS = "SELECT portfolio_code, count(*), sum(quantity) FROM {rel} GROUP BY 1 ORDER BY 1"


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory, loaded_template: Path) -> Iterator[Session]:
    me = copy_warehouse(loaded_template, tmp_path_factory.mktemp("filters") / "wh")
    me.create_role("desk")
    me.grant("read", "role:desk")
    me.put_policy("mine", "row", predicate="portfolio_code IN (:portfolios)", roles=["desk"])
    yield me
    me.warehouse.close()


def _codes(me: Session) -> list[str]:
    return [r[0] for r in me.query("SELECT DISTINCT portfolio_code FROM dim_portfolio "
                                   "ORDER BY 1").rows()]  # fmt: skip


def _as(me: Session, codes: list[str]) -> Session:
    return me.warehouse.session(Principal("default", "d", ("desk",), {"portfolios": tuple(codes)}))


def _filters(me: Session, who: Session, relation: str) -> tuple[tuple[str, object], ...]:
    policy = me.warehouse.queries.policies.effective(who.principal, [relation]).of(relation)
    assert policy is not None
    return policy.filters


def test_every_member_allowed_filters_nothing_yet_says_the_policy_applied(
    warehouse: Session,
) -> None:
    everyone = _as(warehouse, _codes(warehouse))
    assert _filters(warehouse, everyone, "fact_trade") == (("portfolio_code", None),)
    got = everyone.query(TOTALS.format(rel="fact_trade"))
    assert got.rows() == warehouse.query(TOTALS.format(rel="fact_trade")).rows()
    assert got.policy is not None and got.policy["policies"] == ["mine"]


def test_all_but_one_is_a_not_in_of_the_one_and_drops_its_rows(warehouse: Session) -> None:
    codes = _codes(warehouse)
    left_out = codes[1]
    most = _as(warehouse, [c for c in codes if c != left_out])
    ((column, members),) = _filters(warehouse, most, "fact_trade")
    assert column == "portfolio_code" and members is not None and len(members) == 1
    for relation in ("fact_trade", "mart_trading_activity"):
        sql = TOTALS.format(rel=relation).replace("quantity", "1" if "mart" in relation else
                                                  "quantity")  # fmt: skip
        expected = [r for r in warehouse.query(sql).rows() if r[0] != left_out]
        assert most.query(sql).rows() == expected, relation
    joined = most.query(
        "SELECT count(*) FROM fact_trade t JOIN dim_portfolio p USING (portfolio_key) "
        f"WHERE p.portfolio_code = '{left_out}'"
    ).rows()
    assert joined == [[0]]


def test_raw_records_keep_the_list_of_the_allowed(warehouse: Session) -> None:
    codes = _codes(warehouse)
    most = _as(warehouse, codes[1:])
    ((_, members),) = _filters(warehouse, most, "raw_trades")
    assert members == frozenset(codes[1:])  # a raw record may name a member no dimension has
    everyone = _as(warehouse, codes)
    ((_, all_members),) = _filters(warehouse, everyone, "raw_trades")
    assert all_members == frozenset(codes)
    sql = "SELECT count(*) FROM raw_trades WHERE portfolio_code NOT IN ({})".format(
        ", ".join(f"'{c}'" for c in codes)
    )
    assert everyone.query(sql).rows() == [[0]]


def test_every_member_allowed_may_use_a_desk_rollup(warehouse: Session) -> None:
    everyone = _as(warehouse, _codes(warehouse))
    desks = {"dimensions": ["desk"], "measures": ["trades"]}
    got = everyone.cube("trades", desks)
    assert got.route == warehouse.cube("trades", desks).route == "rollup:desk_month"
    assert got.rows() == warehouse.cube("trades", desks).rows()
    assert got.policy is not None and got.policy["policies"] == ["mine"]
    most = _as(warehouse, _codes(warehouse)[1:])
    assert most.cube("trades", desks).route != "rollup:desk_month"  # one denied: not usable
