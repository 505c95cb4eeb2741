"""One behaviour suite for the caller interface, run against every implementation: the
in-process library (``wh.local(...)``, a ``Session``) and the HTTP client on a live server.
Each behaviour asserts the same shapes, and the values of the in-process reference."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
from polars.testing import assert_frame_equal

from ledgerhouse import errors
from tests.interface.conftest import Caller

TRADES = "SELECT trade_id, portfolio_code, quantity, trade_date FROM fact_trade"
TOUR = {
    "cube": "trades",
    "measures": ["notional", "trades"],
    "hierarchies": {"portfolio": "firm"},
}
BY_FIRM = {k: v for k, v in TOUR.items() if k != "cube"}


def _window(reference: Caller) -> tuple[date, date]:
    res = reference.query("SELECT min(trade_date), max(trade_date) FROM fact_trade")
    first, last = res.rows()[0]
    return first, last


# -- SQL --------------------------------------------------------------------------------------
def test_a_query_answers_rows_an_arrow_table_a_frame_and_its_commit(
    caller: Caller, reference: Caller
) -> None:
    sql = TRADES + " ORDER BY trade_id LIMIT 5"
    res = caller.query(sql, use_cache=False)
    want = reference.query(sql, use_cache=False)
    assert isinstance(res.table, pa.Table)
    assert res.table.column_names == want.table.column_names
    assert res.rows() == want.rows()
    assert isinstance(res.rows()[0][3], date)
    assert_frame_equal(res.to_polars(), want.to_polars())
    assert res.columns == want.columns
    latest = reference.commits(1)[0]
    assert res.commit.id == want.commit.id == latest.id
    assert isinstance(res.query_id, str) and res.query_id != want.query_id
    assert (res.route, res.cache_hit, res.truncated) == ("raw", False, False)
    assert res.sql == sql


def test_a_query_takes_params_as_of_and_limit(caller: Caller, reference: Caller) -> None:
    first = reference.commits(100)[-1]
    earlier = caller.query("SELECT count(*) AS n FROM fact_trade", as_of=first.id)
    assert earlier.rows() == [[0]] and earlier.commit.id == first.id
    sql = "SELECT trade_id FROM fact_trade WHERE portfolio_code = ? ORDER BY trade_id"
    cut = caller.query(sql, params=["P0001"], limit=2)
    assert cut.truncated and cut.rows() == reference.query(sql, params=["P0001"], limit=2).rows()
    assert len(cut.rows()) == 2


# -- cubes ------------------------------------------------------------------------------------
def test_a_cube_query_answers_rows_route_and_commit(caller: Caller, reference: Caller) -> None:
    fresh = {**BY_FIRM, "cache": False}  # the route of a run, not of the result cache
    res = caller.cube("trades", fresh)
    want = reference.cube("trades", fresh)
    assert isinstance(res.table, pa.Table)
    assert res.rows() == want.rows() and len(res.rows()) == 2
    assert_frame_equal(res.to_polars(), want.to_polars())
    assert res.columns == want.columns
    assert res.route == want.route and res.route.startswith("rollup:")
    assert res.commit == want.commit == reference.commits(1)[0].id
    assert res.truncated is False and isinstance(res.query_id, str)


def test_a_cube_dry_run_plans_and_runs_nothing(caller: Caller, reference: Caller) -> None:
    res = caller.cube("trades", BY_FIRM, dry_run=True)
    want = reference.cube("trades", BY_FIRM, dry_run=True)
    assert res.table is None and res.rows() == [] and res.to_polars().is_empty()
    assert res.route == want.route and res.commit == want.commit


def test_the_tour_document_with_its_cube_key_works_everywhere(
    caller: Caller, reference: Caller
) -> None:
    """Issue 12 item 8: one cube-query document (tour.json, with "cube") everywhere."""
    want = reference.cube("trades", BY_FIRM).rows()
    assert caller.cube("trades", TOUR).rows() == want
    assert caller.cube("trades", json.dumps(TOUR)).rows() == want


def test_a_document_naming_another_cube_is_refused_naming_both(caller: Caller) -> None:
    with pytest.raises(errors.InvalidRequest) as info:
        caller.cube("positions", TOUR)
    assert "'trades'" in str(info.value) and "'positions'" in str(info.value)
    assert info.value.status == 400


def test_drilling_down_and_rolling_up_a_cube_query(caller: Caller, reference: Caller) -> None:
    down = caller.cube_drill("trades", BY_FIRM, "portfolio", value="Northwind Capital")
    want = reference.cube_drill("trades", BY_FIRM, "portfolio", value="Northwind Capital")
    assert caller.cube("trades", down).rows() == reference.cube("trades", want).rows()
    desks = caller.cube("trades", down).to_polars()
    assert desks.columns[:2] == ["firm", "desk"]
    assert set(desks["firm"]) == {"Northwind Capital"}
    up = caller.cube_drill("trades", down, "portfolio", up=True)
    assert caller.cube("trades", up).rows() == reference.cube("trades", BY_FIRM).rows() or (
        caller.cube("trades", up).to_polars()["firm"].to_list() == ["Northwind Capital"]
    )


def test_cubes_lists_the_same_metadata(caller: Caller, reference: Caller) -> None:
    got, want = caller.cubes(), reference.cubes()
    assert [c["name"] for c in got] == [c["name"] for c in want] == [
        "performance", "positions", "trades",
    ]  # fmt: skip
    for cube, ref in zip(got, want, strict=True):
        for key, value in cube.items():
            assert value == ref[key], (cube["name"], key)


# -- analytics --------------------------------------------------------------------------------
def test_performance_is_a_report_and_its_commit(caller: Caller, reference: Caller) -> None:
    report, commit = caller.performance(["P0001", "P0002"], conventions={"risk_free": 0.02})
    want, want_commit = reference.performance(["P0001", "P0002"], conventions={"risk_free": 0.02})
    assert isinstance(report, pl.DataFrame) and report.height == 2
    assert commit == want_commit == reference.commits(1)[0].id
    assert_frame_equal(report, want)


ANALYTICS: dict[str, Any] = {
    "period_returns": lambda first, last: ((), {"every": "month"}),
    "exposures": lambda first, last: ((last,), {"by": ["sector"], "level": "desk"}),
    "pnl": lambda first, last: ((last,), {"portfolios": ["P0001"]}),
    "reconcile_positions": lambda first, last: ((last,), {}),
    "correlation": lambda first, last: ((), {"start": first, "end": last, "min_periods": 5}),
    "attribution": lambda first, last: ((), {"start": first, "end": last}),
    "vwap": lambda first, last: ((first, last), {}),
    "slippage": lambda first, last: ((first, last), {"instrument": "I000001"}),
}


@pytest.mark.parametrize("call", sorted(ANALYTICS))
def test_each_analytics_call_is_a_frame_and_its_commit(
    call: str, caller: Caller, reference: Caller
) -> None:
    args, kwargs = ANALYTICS[call](*_window(reference))
    frame, commit = getattr(caller, call)(*args, **kwargs)
    want, want_commit = getattr(reference, call)(*args, **kwargs)
    assert isinstance(frame, pl.DataFrame) and isinstance(commit, int)
    assert commit == want_commit
    assert_frame_equal(frame, want)
    assert frame.height > 0


def test_models_lists_the_trained_models(caller: Caller, reference: Caller) -> None:
    models = caller.models()
    assert models == reference.models() and models
    assert models[0]["name"] == "trade_anomaly"
    assert isinstance(models[0]["created_at"], datetime)


# -- the catalog ------------------------------------------------------------------------------
def test_tables_commits_and_batches(caller: Caller, reference: Caller) -> None:
    assert caller.tables() == reference.tables()
    commits, want = caller.commits(5), reference.commits(5)
    assert len(commits) == 5
    for got, ref in zip(commits, want, strict=True):
        assert (got.id, got.operation, got.batch_id, got.created_at) == (
            ref.id, ref.operation, ref.batch_id, ref.created_at,
        )  # fmt: skip
        assert (got.table_versions, list(got.changed_tables)) == (
            ref.table_versions, list(ref.changed_tables),
        )  # fmt: skip
    batches = caller.batches(3)
    assert batches == reference.batches(3) and len(batches) == 3
    assert caller.batch(batches[0]["batch_id"]) == reference.batch(batches[0]["batch_id"])


def test_the_query_log(caller: Caller, reference: Caller) -> None:
    ran = caller.query("SELECT 42 AS answer", use_cache=False)
    entries = caller.query_log_entries(limit=20)
    assert ran.query_id in [e["id"] for e in entries]
    assert entries == reference.query_log_entries(limit=20)
    entry = caller.query_log_entry(ran.query_id, plan=True)
    assert entry["text"] == "SELECT 42 AS answer" and entry["status"] == "ok"
    assert "plan" in entry
    assert {k: v for k, v in entry.items() if k != "plan"} == {
        k: v for k, v in reference.query_log_entry(ran.query_id).items() if k != "plan"
    }


# -- keys -------------------------------------------------------------------------------------
def test_api_keys_are_managed_the_same(caller_as: Any) -> None:
    me = caller_as("admin")
    secret = me.create_api_key("kim")
    assert isinstance(secret, str) and secret.startswith("lh_")
    kim = next(k for k in me.list_api_keys(active=True) if k.user == "kim")
    assert kim.roles == ("reader",) and isinstance(kim.created_at, datetime)
    issued = me.rotate_api_key(kim.id)
    assert issued.key.user == "kim" and issued.key.id != kim.id
    assert issued.secret.startswith("lh_") and issued.secret != secret
    revoked = me.revoke_api_key(issued.key.id)
    assert revoked.id == issued.key.id and revoked.revoked_at is not None


# -- errors -----------------------------------------------------------------------------------
def _raised(fn: Any) -> errors.LedgerhouseError:
    with pytest.raises(errors.LedgerhouseError) as info:
        fn()
    return info.value


@pytest.mark.parametrize(
    ("what", "expected"),
    [
        ("bad_sql", errors.QueryRejected),
        ("reader_ingests", errors.Forbidden),
        ("reader_manages_keys", errors.Forbidden),
        ("unknown_cube", errors.NotFound),
    ],
)
def test_errors_are_the_same_exception_classes(
    what: str, expected: type[errors.LedgerhouseError], caller: Caller, reference: Caller
) -> None:
    calls = {
        "bad_sql": lambda me: me.query("SELEC 1"),
        "reader_ingests": lambda me: me.ingest("fx_rates", b"a,b\n1,2\n", fmt="csv"),
        "reader_manages_keys": lambda me: me.create_api_key("eve"),
        "unknown_cube": lambda me: me.cube("nope", BY_FIRM),
    }
    got, want = _raised(lambda: calls[what](caller)), _raised(lambda: calls[what](reference))
    assert type(got) is type(want) is expected
    assert (got.code, got.status, got.retryable) == (want.code, want.status, want.retryable)
    if what in ("bad_sql", "unknown_cube"):  # the API words hints for HTTP callers
        assert str(got) == str(want)


# -- governance -------------------------------------------------------------------------------
def _same_error(fn: Any, caller: Caller, reference: Caller) -> type[errors.LedgerhouseError]:
    got, want = _raised(lambda: fn(caller)), _raised(lambda: fn(reference))
    assert type(got) is type(want)
    assert (got.code, got.status) == (want.code, want.status)
    return type(got)


@pytest.mark.parametrize(
    ("relation", "column", "direction"),
    [
        ("mart_trading_activity", None, "upstream"),
        ("fact_trade", None, "downstream"),
        ("mart_trading_activity", "notional_base", "upstream"),
        ("fact_trade", "notional_base", "downstream"),
    ],
)
def test_lineage_of_a_table_and_a_column_both_directions(
    relation: str, column: str | None, direction: str, caller: Caller, reference: Caller
) -> None:
    got = caller.lineage(relation, column, direction=direction, depth=2)
    want = reference.lineage(relation, column, direction=direction, depth=2)
    assert got == want
    assert got["edges"]


def test_explain_cell_and_lineage_events(caller: Caller, reference: Caller) -> None:
    answer = reference.query(
        "SELECT portfolio_code, count(*) AS n FROM fact_trade WHERE side = ? GROUP BY 1 "
        "ORDER BY 1 LIMIT 3",
        params=["BUY"],
    )
    got, want = caller.explain_cell(answer.query_id, 1), reference.explain_cell(answer.query_id, 1)
    assert got.pop("cube", None) is None  # the HTTP schema's field of cube answers
    assert got == want and want["precision"] == "row" and want["batches"]
    assert caller.lineage_events(5) == reference.lineage_events(5)
    job = reference.lineage_events(1)[0]["job"]["name"]
    assert caller.lineage_events(3, job=job) == reference.lineage_events(3, job=job)
    assert _same_error(lambda me: me.explain_cell("0" * 32, 0), caller, reference) is (
        errors.NotFound
    )


def test_quality_checks_results_and_scores(caller: Caller, reference: Caller) -> None:
    checks = caller.quality_checks()
    assert checks == reference.quality_checks() and checks
    results = caller.quality_results(limit=20)
    assert results == reference.quality_results(limit=20)
    relation = checks[0]["relation"]
    assert caller.quality_results(relation, limit=5) == reference.quality_results(relation, limit=5)
    assert caller.quality_scores() == reference.quality_scores()


def test_the_audit_trail_for_an_auditor(caller_as: Any, served: Any) -> None:
    auditor, reference = caller_as("auditor"), served.session("auditor")
    served.session("admin").query("SELECT 1 AS one", use_cache=False)
    served.warehouse.query_log.flush()
    until = reference.audit_entries(limit=1)[0]["at"]  # a fixed window: later calls append
    got = auditor.audit_entries(until=until, limit=10)
    want = reference.audit_entries(until=until, limit=10)
    assert got == want and len(got) == 10
    assert auditor.audit_entries(action="query", until=until, limit=3) == reference.audit_entries(
        action="query", until=until, limit=3
    )
    checked, expected = auditor.verify_audit(), reference.verify_audit()
    assert checked["ok"] is expected["ok"] is True
    assert set(checked) == set(expected)
    assert checked["problems"] == expected["problems"] == []


@pytest.mark.parametrize("call", ["audit_entries", "verify_audit", "annotate", "report"])
def test_a_reader_is_refused_governance_writes_and_the_audit(
    call: str, caller: Caller, reference: Caller
) -> None:
    first = date(2024, 1, 1)
    calls = {
        "audit_entries": lambda me: me.audit_entries(limit=1),
        "verify_audit": lambda me: me.verify_audit(),
        "annotate": lambda me: me.annotate("fact_trade", description="mine now"),
        "report": lambda me: me.governance_report(first, first),
    }
    assert _same_error(calls[call], caller, reference) is errors.Forbidden


def test_metadata_is_described_annotated_and_versioned_the_same(
    caller_as: Any, served: Any, request: pytest.FixtureRequest
) -> None:
    steward, reference = caller_as("steward"), served.session("reader")
    impl = request.node.callspec.params["caller_as"]
    changed = steward.annotate(
        "fact_trade.trade_id", tags=[f"via-{impl}"], reason=f"behaviour suite ({impl})"
    )
    described = reference.describe_object("fact_trade.trade_id")
    assert {k: v for k, v in changed.items() if k != "change"} == described
    assert changed["change"]["after"]["tags"] == described["tags"]
    assert steward.describe_object("fact_trade.trade_id") == reference.describe_object(
        "fact_trade.trade_id"
    )
    assert f"via-{impl}" in reference.describe_object("fact_trade.trade_id")["tags"]
    history = steward.metadata_history("fact_trade.trade_id", limit=2)
    assert history == reference.metadata_history("fact_trade.trade_id", limit=2)
    assert history[0]["reason"] == f"behaviour suite ({impl})"
    assert steward.glossary() == reference.glossary()


def test_catalog_search_and_the_governance_report(caller_as: Any, served: Any) -> None:
    reader, reference = caller_as("reader"), served.session("reader")
    got = reader.catalog_search("counterparty exposure", limit=5)
    assert got == reference.catalog_search("counterparty exposure", limit=5)
    assert got["hits"] if isinstance(got, dict) else got
    facet = reader.catalog_search("trade", layer="mart", limit=3)
    assert facet == reference.catalog_search("trade", layer="mart", limit=3)
    auditor, want = caller_as("auditor"), served.session("auditor")
    first, last = _window(reference)
    report = auditor.governance_report(first, last)
    expected = want.governance_report(first, last)
    assert isinstance(report, dict) and set(report) == set(expected)
    volatile = {"generated_at", "generated_by"}
    assert {k: v for k, v in report.items() if k not in volatile} == {
        k: v for k, v in expected.items() if k not in volatile
    }
