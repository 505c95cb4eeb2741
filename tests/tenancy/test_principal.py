"""A required principal: every call names who makes it, and every read passes one gate.

No call reaches a domain service without a Principal; a library user names the roles of a
local session (never a silent admin); and every way a row can be read (SQL, cube, analytics,
a logged query's plan) is authorized for each relation it reads at one place, the query
service's entry point, where row and column policies will apply.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from ledgerhouse import Warehouse
from ledgerhouse.access import ACTIONS, Principal, Resource, authorize, may, permissions
from ledgerhouse.errors import Forbidden, InvalidRequest
from ledgerhouse.session import Session
from tests.conftest import TRADE_HEADER, trade_row


def test_a_principal_has_no_default_roles_and_only_known_ones() -> None:
    with pytest.raises(TypeError):
        Principal(tenant="default", user="ana")  # type: ignore[call-arg]
    with pytest.raises(InvalidRequest, match="role names \\['Root!'\\] are not valid"):
        Principal(tenant="default", user="ana", roles=("Root!",))
    # a role of the tenant's own (not built in) holds nothing until something is granted to it
    custom = Principal(tenant="default", user="ana", roles=("root",))
    assert not any(may(custom, action) for action in ACTIONS)
    with pytest.raises(InvalidRequest, match="at least one role"):
        Principal(tenant="default", user="ana", roles=())
    # a bare string is one role, not its letters
    assert Principal(tenant="t", user="u", roles="reader").roles == ("reader",)  # type: ignore[arg-type]


def test_a_local_session_names_its_roles(wh: Session) -> None:
    warehouse = wh.warehouse
    with pytest.raises(TypeError):
        warehouse.local()  # type: ignore[call-arg]
    reader = warehouse.local(roles=("reader",), user="ana")
    assert reader.principal == Principal(tenant="default", user="ana", roles=("reader",))
    assert reader.query("SELECT 1 AS one").rows() == [[1]]
    with pytest.raises(Forbidden, match="may not ingest"):
        reader.ingest("trades", (TRADE_HEADER + trade_row("T1")).encode(), fmt="csv")
    with pytest.raises(Forbidden, match="may not manage keys"):
        reader.list_api_keys()
    with pytest.raises(InvalidRequest, match="tenant name"):
        warehouse.local("Not A Tenant", roles=("admin",))
    with pytest.raises(TypeError, match="needs a Principal"):
        warehouse.session("admin")  # type: ignore[arg-type]


def test_the_warehouse_itself_has_no_calls_and_says_where_they_went(wh: Session) -> None:
    with pytest.raises(
        AttributeError, match=r"wh\.local\(tenant=\.\.\., roles=\[\.\.\.\]\)\.query"
    ):
        wh.warehouse.query("SELECT 1")  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match="has no attribute 'nothing_like_this'"):
        wh.warehouse.nothing_like_this  # type: ignore[attr-defined]  # noqa: B018


def test_a_resource_of_another_tenant_is_refused_whatever_the_roles() -> None:
    admin = Principal(tenant="acme", user="root", roles=("admin",))
    assert may(admin, "read", Resource("acme", "table", "fact_trade"))
    assert not may(admin, "read", Resource("globex", "table", "fact_trade"))
    with pytest.raises(Forbidden, match="table 'fact_trade' of another tenant"):
        authorize(admin, "read", Resource("globex", "table", "fact_trade"))


def test_every_read_path_is_authorized_per_relation_at_one_gate(
    loaded: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deny one relation in the one decision function: SQL, cube queries (raw and rollup
    routes), the marts and rollups built from it, analytics and a logged query's plan all
    refuse, and a read of other relations still answers. (Row and column policies will hook
    in at the same place.)"""
    admitted = permissions.may
    asked: list[tuple[str, Resource | None]] = []

    def deny_fact_trade(p: Principal, action: Any, resource: Resource | None = None) -> bool:
        asked.append((action, resource))
        if resource is not None and resource.kind == "table" and resource.name == "fact_trade":
            return False
        return admitted(p, action, resource)

    logged = loaded.query("SELECT count(*) FROM fact_trade").query_id
    monkeypatch.setattr(permissions, "may", deny_fact_trade)
    denied = "may not read table 'fact_trade'"
    with pytest.raises(Forbidden, match=denied):
        loaded.query("WITH t AS (SELECT * FROM fact_trade) SELECT count(*) FROM t")
    with pytest.raises(Forbidden, match=denied):  # the raw route reads fact_trade
        loaded.cube("trades", {"measures": ["trades"], "dimensions": ["instrument"]})
    with pytest.raises(Forbidden, match=denied):  # a rollup is built from fact_trade
        loaded.cube("trades", {"measures": ["trades"], "dimensions": ["desk"]})
    with pytest.raises(Forbidden, match=denied):  # and so is a mart
        loaded.query("SELECT count(*) FROM mart_trading_activity")
    with pytest.raises(Forbidden, match=denied):
        loaded.analytics().vwap(date(2000, 1, 1), date(2100, 1, 1))
    with pytest.raises(Forbidden, match=denied):
        loaded.query_log_entry(logged, plan=True)
    assert loaded.query("SELECT count(*) FROM dim_portfolio").rows()[0][0] > 0
    assert ("read", Resource("default", "table", "dim_portfolio")) in asked


def test_a_session_is_isolated_to_its_tenant(ref_wh: Session) -> None:
    wh = ref_wh
    warehouse: Warehouse = wh.warehouse
    warehouse.create_tenant("acme")
    wh.ingest("trades", (TRADE_HEADER + trade_row("SECRET1")).encode(), fmt="csv")
    acme = warehouse.local("acme", roles=("admin",))
    assert acme.query("SELECT count(*) FROM fact_trade").rows() == [[0]]
    assert wh.query("SELECT count(*) FROM fact_trade").rows() == [[1]]
    assert [c.tenant for c in acme.commits()] == ["acme"]
