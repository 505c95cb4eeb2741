"""Exactly once: a resend is a no-op returning the original report; a process killed in the
middle of a batch leaves nothing partial, and the resend then lands exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ledgerhouse import Warehouse
from ledgerhouse.session import Session
from tests.conftest import REF, TRADE_HEADER, admin, snapshot, trade_row


def _trades_csv(n: int, prefix: str = "T") -> bytes:
    rows = [
        trade_row(f"{prefix}{i:05d}", ts=f"2024-01-02T10:{i // 60 % 60:02d}:{i % 60:02d}Z")
        for i in range(n)
    ]
    return (TRADE_HEADER + "".join(rows)).encode()


def test_resend_returns_original_report_and_changes_nothing(ref_wh: Session) -> None:
    payload = _trades_csv(50)
    first = ref_wh.ingest("trades", payload, fmt="csv")
    before = snapshot(ref_wh)
    commits = len(ref_wh.commits())
    again = ref_wh.ingest("trades", payload, fmt="csv")  # same content: same derived batch id
    assert again.status == "duplicate"
    assert again.batch_id == first.batch_id and again.commit_id == first.commit_id
    assert again.rows_accepted == first.rows_accepted == 50
    assert snapshot(ref_wh) == before and len(ref_wh.commits()) == commits
    # an explicit batch id: the same bytes again are a duplicate; other bytes under it are a
    # conflict (tests/ingest/test_batch_id_conflicts.py), never silently dropped
    ref_wh.ingest("trades", _trades_csv(3, "U"), fmt="csv", batch_id="upstream-42")
    before = snapshot(ref_wh)
    dup = ref_wh.ingest("trades", _trades_csv(3, "U"), fmt="csv", batch_id="upstream-42")
    assert dup.status == "duplicate" and snapshot(ref_wh) == before


def test_batch_id_reused_for_another_dataset_is_a_conflict(ref_wh: Session) -> None:
    from ledgerhouse.errors import Conflict

    ref_wh.ingest(
        "fx_rates",
        b"rate_date,currency,rate_to_usd\n2024-03-01,EUR,1.1\n",
        fmt="csv",
        batch_id="b-1",
    )
    with pytest.raises(Conflict, match="already used for dataset 'fx_rates'"):
        ref_wh.ingest(
            "prices",
            b"price_date,instrument_code,close_price\n2024-03-01,AAPL,1\n",
            fmt="csv",
            batch_id="b-1",
        )


_CHILD = textwrap.dedent(
    """
    import sys
    from ledgerhouse import Warehouse
    wh = Warehouse.open(root=sys.argv[1])
    wh.local(roles=("writer",)).ingest("trades", sys.argv[2], batch_id="crash-batch")
    """
)


def _child(root: Path, payload: Path, failpoint: str | None) -> subprocess.Popen[bytes]:
    env = {**os.environ}
    if failpoint:
        env["LEDGERHOUSE_FAILPOINT"] = failpoint
    else:
        env.pop("LEDGERHOUSE_FAILPOINT", None)
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(root), str(payload)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _with_reference_data(root: Path) -> Session:
    wh, _ = Warehouse.init(root=root)
    me = admin(wh)
    for ds, text in REF.items():
        me.ingest(ds, text.encode(), fmt="csv")
    return me


def _finish(child: subprocess.Popen[bytes]) -> tuple[int, str]:
    _out, err = child.communicate(timeout=120)
    return child.returncode, err.decode(errors="replace")


@pytest.mark.crash
@pytest.mark.parametrize(
    "failpoint",
    ["raw_trades", "fact_trade_event", "fact_trade", "mart_trading_activity", "before-commit"],
)
def test_sigkill_between_writes_leaves_nothing_and_resend_lands_once(
    tmp_path: Path, failpoint: str
) -> None:
    root = tmp_path / "wh"
    wh = _with_reference_data(root)
    before = snapshot(wh)
    payload = tmp_path / "trades.csv"
    payload.write_bytes(_trades_csv(200))
    code, err = _finish(_child(root, payload, failpoint))
    assert code == -signal.SIGKILL, err
    # Readers see exactly the state before the batch, although Delta versions were written.
    assert snapshot(wh) == before
    assert wh.query("SELECT count(*) FROM fact_trade").rows() == [[0]]
    # The resend (a new process, same batch id) lands exactly once.
    code, err = _finish(_child(root, payload, None))
    assert code == 0, err
    assert wh.query("SELECT count(*), count(DISTINCT trade_id) FROM fact_trade").rows() == [
        [200, 200]
    ]
    assert wh.query("SELECT count(*) FROM fact_trade_event").rows() == [[200]]
    assert wh.query("SELECT count(*) FROM raw_trades").rows() == [[200]]
    again = wh.ingest("trades", payload, batch_id="crash-batch")
    assert again.status == "duplicate"
    wh.warehouse.close()


@pytest.mark.crash
def test_sigkill_at_a_random_moment_is_all_or_nothing(tmp_path: Path) -> None:
    root = tmp_path / "wh"
    wh = _with_reference_data(root)
    payload = tmp_path / "trades.csv"
    payload.write_bytes(_trades_csv(3000))
    for delay in (0.5, 1.0, 1.5, 2.5):
        child = _child(root, payload, None)
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        _finish(child)
        n = wh.query("SELECT count(*) FROM fact_trade").rows()[0][0]
        assert n in (0, 3000)
        if n:
            break
    code, err = _finish(_child(root, payload, None))
    assert code == 0, err
    assert wh.query("SELECT count(*) FROM fact_trade_event").rows() == [[3000]]
    assert wh.query("SELECT count(*) FROM raw_trades").rows() == [[3000]]
    wh.warehouse.close()


@pytest.mark.crash
def test_init_after_a_crash_does_not_commit_the_crashed_batch(tmp_path: Path) -> None:
    root = tmp_path / "wh"
    wh = _with_reference_data(root)
    before = snapshot(wh)
    payload = tmp_path / "trades.csv"
    payload.write_bytes(_trades_csv(20))
    code, err = _finish(_child(root, payload, "before-commit"))
    assert code == -signal.SIGKILL, err
    again, key = Warehouse.init(root=root)  # re-running init must not adopt orphan versions
    assert key is None
    assert snapshot(again) == before
    assert admin(again).query("SELECT count(*) FROM fact_trade").rows() == [[0]]
    again.close()
    wh.warehouse.close()


def test_opening_the_warehouse_does_not_wait_for_a_running_ingestion(tmp_path: Path) -> None:
    import threading

    root = tmp_path / "wh"
    wh, _ = Warehouse.init(root=root)
    opened = threading.Event()
    with wh.writer.writer_lock("default"):  # as a long ingestion in another process would

        def reader() -> None:
            Warehouse.open(root=root).close()
            opened.set()

        threading.Thread(target=reader, daemon=True).start()
        assert opened.wait(timeout=60), "open() blocked on the writer lock"
    wh.close()
