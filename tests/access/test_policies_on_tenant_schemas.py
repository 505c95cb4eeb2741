"""Row policies hold on a tenant's own schema too: its extension of a dimension is filtered by
the dimension's code; its own marts — SQL its admin wrote, which may aggregate across members
even beside a code column — are refused to a caller under a row policy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledgerhouse.access import Principal
from ledgerhouse.errors import Forbidden
from ledgerhouse.session import Session
from tests.conftest import copy_warehouse

MANDATE = """
extension: mandate
dimension: dim_portfolio
attributes:
  mandate: string
"""


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory, loaded_template: Path) -> Iterator[Session]:
    me = copy_warehouse(loaded_template, tmp_path_factory.mktemp("schemas") / "wh")
    me.add_schema(MANDATE)
    csv = "portfolio_code,mandate,effective_date\n" + "".join(
        f"{p},{m},2020-01-01\n" for p, m in (("P0001", "growth"), ("P0002", "income"),
                                             ("P0003", "income"))
    )  # fmt: skip
    assert me.ingest("ext_portfolio_mandate", csv.encode(), fmt="csv").status == "committed"
    me.add_schema(
        {"mart": "by_portfolio", "sql": "SELECT portfolio_code, count(*) AS n FROM fact_trade "
         "GROUP BY ALL"}
    )  # fmt: skip
    me.add_schema(
        {"mart": "by_side", "sql": "SELECT side, count(*) AS n FROM fact_trade GROUP BY ALL"}
    )
    me.create_role("client")
    me.grant("read", "role:client")
    me.put_policy("own", "row", predicate="portfolio_code IN (:portfolios)", roles=["client"])
    yield me
    me.warehouse.close()


def test_an_extension_is_filtered_by_the_dimensions_code(warehouse: Session) -> None:
    client = warehouse.warehouse.session(
        Principal("default", "acme", ("client",), {"portfolios": ["P0002"]})
    )
    rows = client.query("SELECT portfolio_code, mandate FROM ext_portfolio_mandate").rows()
    assert rows == [["P0002", "income"]]
    # a join through the extension cannot reach another portfolio's trades
    joined = client.query(
        "SELECT m.mandate, count(*) FROM fact_trade t JOIN ext_portfolio_mandate m "
        "USING (portfolio_code) GROUP BY 1"
    ).rows()
    want = warehouse.query("SELECT count(*) FROM fact_trade WHERE portfolio_code = 'P0002'")
    assert joined == [["income", want.rows()[0][0]]]


@pytest.mark.parametrize("mart", ["tmart_by_portfolio", "tmart_by_side"])
def test_a_tenant_mart_is_refused_under_a_row_policy(warehouse: Session, mart: str) -> None:
    client = warehouse.warehouse.session(
        Principal("default", "acme", ("client",), {"portfolios": ["P0002"]})
    )
    with pytest.raises(Forbidden) as refused:
        client.query(f"SELECT * FROM {mart}")
    assert refused.value.code == "policy_denied"
    assert warehouse.query(f"SELECT count(*) FROM {mart}").rows()[0][0] > 0
    reader = warehouse.warehouse.session(Principal("default", "rita", ("reader",)))
    assert reader.query(f"SELECT count(*) FROM {mart}").rows()[0][0] > 0  # no policy: read
