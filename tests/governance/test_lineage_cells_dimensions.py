"""Cell lineage of a cube answer names the dimension batches too: the batches that wrote the
dimension versions the row's facts joined (a portfolio's version, say), each version counted
once — checked against a direct query at the answer's commit, before and after an SCD2 change
of that dimension (closing a version re-stamps it with the closing batch: its last writer)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledgerhouse.session import Session
from tests.conftest import copy_warehouse, trade_row, trades_csv

PORTFOLIOS = "portfolio_code,name,firm,desk,base_currency,benchmark_code,effective_date\n"


@pytest.fixture(scope="module")
def me(tmp_path_factory: pytest.TempPathFactory, ref_template: Path) -> Iterator[Session]:
    session = copy_warehouse(ref_template, tmp_path_factory.mktemp("cells-dims") / "wh")
    yield session
    session.warehouse.close()


def _explain_desk(me: Session, desk: str) -> tuple[dict[str, Any], int]:
    res = me.cube("trades", {"measures": ["trades"], "dimensions": ["desk"]})
    assert res.table is not None and res.query_id is not None
    desks = res.table.column("desk").to_pylist()
    found = me.explain_cell(res.query_id, desks.index(desk))
    return found, res.commit


def _direct(me: Session, desk: str, commit: int) -> dict[str, dict[str, int]]:
    """The batches of the fact rows and of the distinct portfolio versions in the group."""
    facts = me.query(
        "SELECT t.batch_id, count(*) FROM fact_trade t JOIN dim_portfolio p "
        "USING (portfolio_key) WHERE p.desk = ? GROUP BY 1",
        params=[desk], as_of=commit,
    ).rows()  # fmt: skip
    dims = me.query(
        "SELECT batch_id, count(*) FROM (SELECT DISTINCT p.* FROM fact_trade t "
        "JOIN dim_portfolio p USING (portfolio_key) WHERE p.desk = ?) GROUP BY 1",
        params=[desk], as_of=commit,
    ).rows()  # fmt: skip
    return {
        "fact_trade": {b: int(n) for b, n in facts},
        "dim_portfolio": {b: int(n) for b, n in dims},
    }


def _named(found: dict[str, Any]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for b in found["batches"]:
        for relation, n in b["rows_in_answer"].items():
            out.setdefault(relation, {})[b["batch_id"]] = n
    return out


def test_a_cube_row_names_the_batches_of_its_dimension_versions(me: Session) -> None:
    me.ingest(
        "trades",
        trades_csv(trade_row("T1"), trade_row("T2", pf="P2")),
        batch_id="dims-t1",
        fmt="csv",
    )
    before, commit = _explain_desk(me, "Equities")
    named = _named(before)
    expected = _direct(me, "Equities", commit)
    assert named["fact_trade"] == expected["fact_trade"] == {"dims-t1": 1}
    assert named["dim_portfolio"] == expected["dim_portfolio"]
    (portfolio_batch,) = expected["dim_portfolio"]
    dataset = {b["batch_id"]: b["dataset"] for b in before["batches"]}
    assert dataset[portfolio_batch] == "portfolios"

    # P1 gets a new version (SCD2) and trades under it: the new answer joins both versions
    me.ingest(
        "portfolios",
        (PORTFOLIOS + "P1,Growth II,ACME,Equities,USD,BM1,2024-03-01\n").encode(),
        batch_id="dims-p1-v2",
        fmt="csv",
    )
    me.ingest(
        "trades",
        trades_csv(trade_row("T3", ts="2024-03-04T10:00:00Z", date="2024-03-04")),
        batch_id="dims-t3",
        fmt="csv",
    )
    after, commit_after = _explain_desk(me, "Equities")
    assert _named(after)["dim_portfolio"] == _direct(me, "Equities", commit_after)["dim_portfolio"]
    # both P1 versions: the new one, and the old one closed (valid_to) by the same batch, which
    # is the last to have written it (a dimension row's batch_id is its last writer)
    assert _named(after)["dim_portfolio"] == {"dims-p1-v2": 2}
    assert _named(after)["fact_trade"] == {"dims-t1": 1, "dims-t3": 1}

    # the first answer, explained again, still names what it read at its commit
    res = me.query_log_entry(before["query_id"])
    assert res["commit_id"] == commit
    again = me.explain_cell(before["query_id"], before["row"])
    assert _named(again) == named
