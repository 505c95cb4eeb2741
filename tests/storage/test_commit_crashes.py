"""Crash recovery for every writer that goes through the commit writer: a run killed after a
Delta write and before its warehouse commit leaves nothing readers see, and the next commit, by
any writer, publishes nothing of it. Ingestion has its own crash tests
(tests/ingest/test_exactly_once.py); these cover anomaly scoring and tenant creation."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from ledgerhouse import Warehouse
from ledgerhouse.model import build_dim_date
from ledgerhouse.model.schema import ML_TRADE_ANOMALY
from ledgerhouse.session import Session
from tests.conftest import admin, copy_warehouse, snapshot


@pytest.fixture
def wh(tmp_path: Path, ml_template: Path) -> Iterator[Session]:
    """A copy of a warehouse holding FinBench SF 0.002 (seed 11)."""
    me = copy_warehouse(ml_template, tmp_path / "wh")
    yield me
    me.warehouse.close()


def _windows(wh: Session) -> tuple[date, date, date, date]:
    first, last = wh.query("SELECT min(trade_date), max(trade_date) FROM fact_trade").rows()[0]
    split = first + timedelta(days=40)
    return first, split, split + timedelta(days=1), last


def _orphan_rows() -> pl.DataFrame:
    """What a scoring run leaves in ml_trade_anomaly when it dies after its Delta append."""
    return pl.DataFrame(
        {
            "trade_id": ["ORPHAN"],
            "trade_month": ["2024-01"],
            "trade_date": [date(2024, 1, 2)],
            "portfolio_code": ["P1"],
            "instrument_code": ["AAPL"],
            "model_id": ["ORPHAN"],
            "score": [1.0],
            "is_anomaly": [True],
            "scored_at": [datetime.now(UTC)],
        }
    )


def _orphans(wh: Session) -> int:
    sql = "SELECT count(*) FROM ml_trade_anomaly WHERE model_id = 'ORPHAN'"
    n: int = wh.query(sql, use_cache=False).rows()[0][0]
    return n


def test_scoring_after_a_crashed_scoring_does_not_publish_its_rows(wh: Session) -> None:
    # a Delta version of ml_trade_anomaly that no warehouse commit references, as a scoring
    # run killed between its append and its commit leaves behind
    wh.warehouse.store.append("default", ML_TRADE_ANOMALY, _orphan_rows())
    assert _orphans(wh) == 0  # readers pin the last commit: they do not see it
    record = wh.detect_anomalies(*_windows(wh))
    assert _orphans(wh) == 0, "the next scoring commit published a crashed run's rows"
    n = wh.query("SELECT count(*), count(DISTINCT model_id) FROM ml_trade_anomaly").rows()[0]
    assert n == [record["metrics"]["scored_rows"], 1]


_SCORE = textwrap.dedent(
    """
    import sys
    from datetime import date
    from ledgerhouse import Warehouse
    wh = Warehouse.open(root=sys.argv[1])
    me = wh.local(roles=("writer",))
    me.detect_anomalies(*(date.fromisoformat(d) for d in sys.argv[2:6]))
    """
)

_INIT = textwrap.dedent(
    """
    import sys
    from ledgerhouse import Warehouse
    wh, key = Warehouse.init(root=sys.argv[1])
    print(key or "")
    """
)


def _run(code: str, args: list[str], failpoint: str | None) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k != "LEDGERHOUSE_FAILPOINT"}
    if failpoint:
        env["LEDGERHOUSE_FAILPOINT"] = failpoint
    done = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, timeout=180
    )
    return done.returncode, done.stdout.decode().strip(), done.stderr.decode(errors="replace")


@pytest.mark.crash
@pytest.mark.parametrize("failpoint", ["ml_trade_anomaly", "before-commit"])
def test_sigkill_during_scoring_leaves_nothing_and_the_next_commit_publishes_nothing(
    wh: Session, failpoint: str
) -> None:
    windows = [d.isoformat() for d in _windows(wh)]
    before = snapshot(wh)
    code, _out, err = _run(_SCORE, [str(wh.warehouse.root), *windows], failpoint)
    assert code == -signal.SIGKILL, err
    assert snapshot(wh) == before and wh.models() == []
    # the next commit is by another writer (an ingestion): it must not publish the scores
    assert wh.ingest("fx_rates", b"rate_date,currency,rate_to_usd\n2030-01-01,EUR,1.1\n",
                     fmt="csv").status == "committed"  # fmt: skip
    assert wh.query("SELECT count(*) FROM ml_trade_anomaly", use_cache=False).rows() == [[0]]
    # and a scoring run after it lands once
    code, _out, err = _run(_SCORE, [str(wh.warehouse.root), *windows], None)
    assert code == 0, err
    (model,) = wh.models()
    n = wh.query("SELECT count(*), count(DISTINCT model_id) FROM ml_trade_anomaly").rows()[0]
    assert n == [model["metrics"]["scored_rows"], 1]


@pytest.mark.crash
def test_sigkill_during_tenant_creation_then_init_again(tmp_path: Path) -> None:
    root = tmp_path / "wh"
    code, _out, err = _run(_INIT, [str(root)], "dim_date")
    assert code == -signal.SIGKILL, err
    code, key, err = _run(_INIT, [str(root)], None)
    assert code == 0, err
    assert key.startswith("lh_"), "the tenant's admin key was lost with the crashed init"
    wh = Warehouse.open(root=root)
    try:
        assert [c.operation for c in admin(wh).commits()] == ["init"]
        calendar = build_dim_date().height
        assert admin(wh).query(
            "SELECT count(*), count(DISTINCT date_key) FROM dim_date"
        ).rows() == [[calendar, calendar]]
        assert wh.authenticate(f"Bearer {key}").tenant == "default"
    finally:
        wh.close()
