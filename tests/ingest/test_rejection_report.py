"""A rejected batch's report says what it is: no row accepted (``rows_valid`` counts the rows
that passed), and its reasons read as rules ("column quantity: … must be > 0"), one count per
rule whatever the values."""

from __future__ import annotations

import pytest

from ledgerhouse.ingest.errors import BatchRejected
from ledgerhouse.session import Session
from tests.conftest import TRADE_HEADER, trade_row


def _reject(wh: Session, csv: str, batch_id: str) -> dict:
    with pytest.raises(BatchRejected) as info:
        wh.ingest("trades", csv.encode(), fmt="csv", batch_id=batch_id)
    return info.value.details["report"]


def test_rejected_report_accepts_no_row(ref_wh: Session) -> None:
    csv = TRADE_HEADER + trade_row("T1") + trade_row("T2", qty="-5") + trade_row("T3", qty="-7")
    report = _reject(ref_wh, csv, "b-rejected")
    assert report["status"] == "rejected"
    assert (report["rows_received"], report["rows_accepted"]) == (3, 0)
    assert (report["rows_valid"], report["rows_quarantined"]) == (1, 2)
    stored = ref_wh.batch("b-rejected")
    assert (stored["rows_accepted"], stored["rows_valid"]) == (0, 1)


def test_committed_report_counts_valid_rows_as_accepted(ref_wh: Session) -> None:
    report = ref_wh.ingest("trades", (TRADE_HEADER + trade_row("T1")).encode(), fmt="csv")
    assert report.to_dict()["rows_valid"] == report.rows_accepted == 1


def test_reason_counts_read_as_rules(ref_wh: Session) -> None:
    csv = (
        TRADE_HEADER
        + trade_row("T1", qty="-5")
        + trade_row("T2", qty="-7.25")
        + trade_row("T3", date="2024-13-45")
    )
    reasons = _reject(ref_wh, csv, "b-rules")["quarantine_reasons"]
    assert reasons == {
        "column quantity: … must be > 0": 2,
        "column trade_date: cannot read … as date": 1,
    }


def test_stale_event_reason_reads_as_a_rule(ref_wh: Session) -> None:
    ref_wh.ingest("trades", (TRADE_HEADER + trade_row("T1")).encode(), fmt="csv")
    stale = trade_row("T1", "AMEND", ts="2024-01-02T09:00:00Z")
    reasons = _reject(ref_wh, TRADE_HEADER + stale, "b-stale")["quarantine_reasons"]
    assert reasons == {"event of trade_id … at … is not later than its stored event at …": 1}
