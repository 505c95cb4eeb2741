"""Column policies: a classified column (governance's classifications, and every column
derived from one) is masked or left out for the roles a policy names, inside every relation a
query reads, so no predicate, join or aggregate can see the original value."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledgerhouse.access import Principal
from ledgerhouse.errors import Forbidden, InvalidRequest, QueryFailed
from ledgerhouse.query.policies import REDACTED
from ledgerhouse.session import Session
from tests.conftest import copy_warehouse


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory, loaded_template: Path) -> Iterator[Session]:
    me = copy_warehouse(loaded_template, tmp_path_factory.mktemp("columns") / "wh")
    for role in ("client", "pseudonymous", "denied"):
        me.create_role(role)
        me.grant("read", f"role:{role}")
    me.put_policy("mask_confidential", "column", classification="confidential", roles=["client"])
    me.put_policy("hash_confidential", "column", classification="confidential", mask="hash",
                  roles=["pseudonymous"])  # fmt: skip
    me.put_policy("deny_confidential", "column", classification="confidential", action="deny",
                  roles=["denied"])  # fmt: skip
    yield me
    me.warehouse.close()


def _as(warehouse: Session, role: str) -> Session:
    return warehouse.warehouse.session(Principal("default", role, (role,)))


def test_a_masked_column_reads_redacted_and_cannot_be_probed(warehouse: Session) -> None:
    client = _as(warehouse, "client")
    names = client.query("SELECT DISTINCT name FROM dim_counterparty")
    assert names.rows() == [[REDACTED]]
    assert "dim_counterparty.name" in names.policy["masked"]
    real = warehouse.query("SELECT name FROM dim_counterparty LIMIT 1").rows()[0][0]
    probe = "SELECT count(*) FROM dim_counterparty WHERE name = ?"
    assert client.query(probe, params=[real]).rows() == [[0]]  # the predicate sees the mask
    assert warehouse.query(probe, params=[real]).rows()[0][0] == 1
    assert client.query("SELECT count(*) FROM dim_counterparty WHERE name LIKE 'A%'").rows() == [
        [0]
    ]
    # derived columns carry the label too: the trades' counterparty code, and the rollup's
    trades = client.query("SELECT DISTINCT counterparty_code FROM fact_trade")
    assert trades.rows() == [[REDACTED]]
    (rollup,) = [t["name"] for t in warehouse.tables() if "counterparty_month" in t["name"]]
    assert client.query(f"SELECT DISTINCT counterparty FROM {rollup}").rows() == [[REDACTED]]
    # a surrogate key shows what the dimension shows under the same policy: it is not masked
    assert client.query("SELECT count(DISTINCT counterparty_key) FROM fact_trade").rows()[0][0] > 1
    # an unclassified column is untouched
    assert client.query("SELECT count(DISTINCT country) FROM dim_counterparty").rows()[0][0] > 1


def test_aggregates_over_a_masked_column_are_computed_on_the_masked_values(
    warehouse: Session,
) -> None:
    client = _as(warehouse, "client")
    (got,) = client.query(
        "SELECT count(name), count(DISTINCT name), min(name), max(name) FROM dim_counterparty"
    ).rows()
    total = warehouse.query("SELECT count(name) FROM dim_counterparty").rows()[0][0]
    assert got == [total, 1, REDACTED, REDACTED]
    # the rating (confidential, text) masked; a group by it is one group
    assert client.query("SELECT rating, count(*) FROM dim_counterparty GROUP BY 1").rows() == [
        [REDACTED, total]
    ]


def test_a_cube_grouped_by_a_masked_member_shows_one_masked_group(warehouse: Session) -> None:
    client = _as(warehouse, "client")
    for route in ("raw", None):
        q = {"dimensions": ["counterparty"], "measures": ["trades"], "cache": False}
        if route:
            q["route"] = route
        got = client.cube("trades", q)
        total = sum(r[1] for r in warehouse.cube("trades", q).rows())
        assert got.rows() == [[REDACTED, total]], got.route
    by_type = client.cube("trades", {"dimensions": ["counterparty_type"], "measures": ["trades"]})
    assert (
        by_type.rows()
        == warehouse.cube(
            "trades", {"dimensions": ["counterparty_type"], "measures": ["trades"]}
        ).rows()
    )  # counterparty_type is not classified: the breakdown stays


def test_a_hashed_column_keeps_joins_and_groups_without_the_value(warehouse: Session) -> None:
    pseudo = _as(warehouse, "pseudonymous")
    sql = (
        "SELECT c.counterparty_code, count(*) FROM fact_trade t JOIN dim_counterparty c "
        "ON c.counterparty_code = t.counterparty_code GROUP BY 1"
    )
    got, want = pseudo.query(sql).rows(), warehouse.query(sql).rows()
    assert sorted(r[1] for r in got) == sorted(r[1] for r in want)  # the same groups
    real = {r[0] for r in want}
    assert all(r[0].startswith("h:") and r[0] not in real for r in got)
    again = pseudo.query(sql, use_cache=False).rows()
    assert sorted(map(repr, again)) == sorted(map(repr, got))  # stable pseudonyms


def test_a_denied_column_is_left_out_and_refused_by_name(warehouse: Session) -> None:
    denied = _as(warehouse, "denied")
    cols = [c["name"] for c in denied.query("SELECT * FROM dim_counterparty").columns]
    assert "name" not in cols and "rating" not in cols and "country" in cols
    for sql in (
        "SELECT name FROM dim_counterparty",
        "SELECT count(DISTINCT c.rating) FROM dim_counterparty c",
        "SELECT counterparty_code FROM fact_trade",
        "SELECT 1 FROM dim_counterparty WHERE name = 'x'",
    ):
        with pytest.raises(Forbidden) as refused:
            denied.query(sql)
        assert refused.value.code == "policy_denied", sql
    described = {r[0] for r in denied.query("DESCRIBE dim_counterparty").rows()}
    assert "name" not in described


def test_a_classification_change_applies_on_the_next_query(warehouse: Session) -> None:
    client = _as(warehouse, "client")
    assert client.query("SELECT count(DISTINCT country) FROM dim_counterparty").rows()[0][0] > 1
    warehouse.annotate("dim_counterparty.country", classifications=["confidential"])
    try:
        assert client.query("SELECT DISTINCT country FROM dim_counterparty").rows() == [[REDACTED]]
    finally:
        warehouse.annotate("dim_counterparty.country", reset=["classifications"])
    assert client.query("SELECT count(DISTINCT country) FROM dim_counterparty").rows()[0][0] > 1


def test_bad_policies_are_refused_with_the_fix(warehouse: Session) -> None:
    with pytest.raises(InvalidRequest, match="mask or deny"):
        warehouse.put_policy("x", "column", classification="pii", action="hide", roles=["client"])
    with pytest.raises(InvalidRequest, match="no role and no user"):
        warehouse.put_policy("x", "column", classification="pii")
    with pytest.raises(InvalidRequest, match="has no column 'desks'"):
        warehouse.put_policy("x", "row", predicate="desks = :d", roles=["client"])
    with pytest.raises(InvalidRequest, match="subquery"):
        warehouse.put_policy("x", "row", predicate="portfolio_code IN (SELECT 1)", roles=["client"])
    with pytest.raises(Exception, match="not allowed"):
        warehouse.put_policy("x", "row", predicate="read_text(name) = 'a'", roles=["client"])
    with pytest.raises(InvalidRequest, match="dimension"):
        warehouse.put_policy("x", "row", dimension="fact_trade", predicate="true", roles=["client"])
    assert "x" not in {p["name"] for p in warehouse.policies()}


def test_an_engine_error_under_a_policy_carries_no_value(warehouse: Session) -> None:
    """A conversion error quotes the value it met; under a policy the engine may meet values
    the policy would not return (it may evaluate the caller's expression before the filter),
    so the value is withheld — the admin still sees it."""
    client = _as(warehouse, "client")
    sql = "SELECT count(*) FROM dim_counterparty WHERE CAST(country AS INTEGER) = 1"
    with pytest.raises(QueryFailed) as under:
        client.query(sql)
    with pytest.raises(QueryFailed) as admin:
        warehouse.query(sql)
    assert "'…'" in under.value.message and "withheld" in under.value.message
    assert "'…'" not in admin.value.message
