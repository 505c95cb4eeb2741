"""The report kept in the ledger (``ledgerhouse batch ID``, ``GET /v1/batches/ID``) carries the
batch's duration, not the 0.0 it had before the duration was known."""

from __future__ import annotations

from ledgerhouse.session import Session
from tests.conftest import TRADE_HEADER, trade_row


def test_stored_report_has_the_duration(ref_wh: Session) -> None:
    report = ref_wh.ingest(
        "trades", (TRADE_HEADER + trade_row("T1")).encode(), fmt="csv", batch_id="b-timed"
    )
    stored = ref_wh.batch("b-timed")
    assert 0 < stored["duration_s"] <= round(report.duration_s, 3) + 0.001
    assert stored["rows_per_s"] > 0
