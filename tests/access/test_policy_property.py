"""Property: for random cube queries and random row policies, the restricted answer equals the
unrestricted answer filtered to the allowed rows (a filter on the portfolio, whose members are
worked out here from the dimension's current rows, independently of the policy engine)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledgerhouse.access import Principal
from ledgerhouse.session import Session
from tests.conftest import copy_warehouse

DIMENSIONS = ["firm", "desk", "portfolio", "asset_class", "sector", "side", "counterparty_type",
              "currency", "strategy"]  # fmt: skip
MEASURES = ["trades", "notional", "fees", "max_notional", "buy_notional", "instruments"]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory, loaded_template: Path) -> Iterator[Session]:
    me = copy_warehouse(loaded_template, tmp_path_factory.mktemp("property") / "wh")
    me.create_role("client")
    me.create_role("desk_head")
    for role in ("client", "desk_head"):
        me.grant("read", f"role:{role}")
    me.put_policy("own", "row", predicate="portfolio_code IN (:portfolios)", roles=["client"])
    me.put_policy("desks", "row", predicate="desk IN (:desks)", roles=["desk_head"])
    yield me
    me.warehouse.close()


@pytest.fixture(scope="module")
def current(warehouse: Session) -> list[tuple[str, str]]:
    """(portfolio_code, desk) of each portfolio's current version."""
    rows = warehouse.query("SELECT portfolio_code, desk FROM dim_portfolio WHERE is_current")
    return [(r[0], r[1]) for r in rows.rows()]


def _rows(res: Any) -> list[str]:
    return sorted(repr(r) for r in res.rows())


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    derandomize=True,
)
@given(
    dims=st.lists(st.sampled_from(DIMENSIONS), min_size=0, max_size=3, unique=True),
    measures=st.lists(st.sampled_from(MEASURES), min_size=1, max_size=3, unique=True),
    by_desk=st.booleans(),
    picks=st.lists(st.integers(0, 9), max_size=4),
    month=st.sampled_from([None, "2023-01", "2023-02"]),
)
def test_a_restricted_cube_answer_is_the_filtered_unrestricted_one(
    warehouse: Session,
    current: list[tuple[str, str]],
    dims: list[str],
    measures: list[str],
    by_desk: bool,
    picks: list[int],
    month: str | None,
) -> None:
    if by_desk:
        desks = sorted({current[i % len(current)][1] for i in picks})
        who = Principal("default", "head", ("desk_head",), {"desks": desks})
        allowed = sorted(code for code, desk in current if desk in desks)
    else:
        allowed = sorted({current[i % len(current)][0] for i in picks})
        who = Principal("default", "client", ("client",), {"portfolios": allowed})
    query: dict[str, Any] = {"dimensions": dims, "measures": measures, "cache": False}
    if month is not None:
        query["time_dimension"] = {"dimension": "trade_date", "granularity": "day",
                                   "date_range": [f"{month}-01", f"{month}-28"]}  # fmt: skip
    restricted = warehouse.warehouse.session(who).cube("trades", query)
    if not allowed:  # no member allowed: no row (a total over nothing)
        assert all(r[-1] in (0, None) for r in restricted.rows()) or not restricted.rows()
        return
    reference = {
        **query,
        "filters": [*query.get("filters", []),
                    {"member": "portfolio", "op": "in", "values": allowed}],
    }  # fmt: skip
    full = warehouse.cube("trades", reference)
    assert _rows(restricted) == _rows(full)
    assert restricted.policy is not None
    assert not restricted.route.startswith("rollup:desk_month")
    assert not restricted.route.startswith("rollup:counterparty_month")
