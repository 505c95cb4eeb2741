"""Property: for any sequence of trade-event batches, fact_trade and fact_trade_event equal a
sequential oracle in which only accepted events change a trade's state."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import TRADE_HEADER, copy_warehouse, examples, trade_row

event = st.tuples(
    st.sampled_from(["T1", "T2", "T3"]),
    st.sampled_from(["NEW", "AMEND", "CANCEL"]),
    st.integers(0, 20),  # event time (minutes)
    st.integers(1, 9),  # quantity
)
batches = st.lists(st.lists(event, min_size=1, max_size=6), min_size=1, max_size=4)


def _oracle(bs: list[list[tuple[str, str, int, int]]]) -> tuple[dict[str, int], int]:
    """(live trade -> quantity, number of accepted events)."""
    state: dict[str, dict[str, object]] = {}
    accepted = 0
    for batch in bs:
        seen: set[tuple[str, int]] = set()
        rows = []
        for tid, ev, ts, qty in batch:  # a repeated (trade, time) in a batch is a duplicate
            if (tid, ts) not in seen:
                seen.add((tid, ts))
                rows.append((tid, ev, ts, qty))
        prior = {t: dict(s) for t, s in state.items()}
        for tid, ev, ts, qty in sorted(rows, key=lambda r: (r[0], r[2])):
            s = state.get(tid)
            p = prior.get(tid)
            if p is not None and ts <= p["ts"]:  # type: ignore[operator]
                continue  # not later than the trade's stored event
            if ev == "NEW":
                if s is not None:
                    continue
                state[tid] = {"qty": qty, "ts": ts, "cancelled": False}
            else:
                if s is None or s["cancelled"]:
                    continue
                s.update({"ts": ts, "qty": qty} if ev == "AMEND" else {"ts": ts, "cancelled": True})
            accepted += 1
    live = {t: int(s["qty"]) for t, s in state.items() if not s["cancelled"]}  # type: ignore[call-overload]
    return live, accepted


@given(batches)
@settings(
    max_examples=examples(ci=25, dev=3),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_trades_match_the_sequential_oracle(tmp_path_factory, ref_template, bs) -> None:  # type: ignore[no-untyped-def]
    root: Path = tmp_path_factory.mktemp("tp") / "wh"
    wh = copy_warehouse(ref_template, root, max_error_rate=1.0)  # a fresh warehouse with REF
    try:
        for n, batch in enumerate(bs):
            rows = "".join(
                trade_row(tid, ev, ts=f"2024-01-02T10:{ts:02d}:00Z", qty=str(qty))
                for tid, ev, ts, qty in batch
            )
            wh.ingest("trades", (TRADE_HEADER + rows).encode(), fmt="csv", batch_id=f"b{n}")
        live, accepted = _oracle(bs)
        got = wh.query("SELECT trade_id, quantity FROM fact_trade ORDER BY 1").rows()
        assert {t: int(q) for t, q in got} == live
        assert wh.query("SELECT count(*) FROM fact_trade_event").rows() == [[accepted]]
    finally:
        wh.warehouse.close()
