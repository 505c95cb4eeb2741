"""Bad inputs get a clear error naming the problem, and no table changes."""

from __future__ import annotations

import io
import json

import polars as pl
import pytest

from ledgerhouse.errors import InvalidRequest, LedgerhouseError, PayloadTooLarge
from ledgerhouse.ingest.errors import BatchRejected, UnknownDataset, UnreadablePayload
from ledgerhouse.session import Session
from tests.conftest import TRADE_HEADER, snapshot, trade_row

GOOD = TRADE_HEADER + trade_row("T1")


def _rejects(
    wh: Session,
    exc: type[LedgerhouseError],
    match: str,
    dataset: str,
    payload: bytes,
    fmt: str = "csv",
) -> LedgerhouseError:
    before = snapshot(wh)
    with pytest.raises(exc, match=match) as info:
        wh.ingest(dataset, payload, fmt=fmt)
    assert snapshot(wh) == before, "a refused batch must not change any table"
    assert info.value.hint, "every error says what to do"
    return info.value


def test_wrong_types_are_named(ref_wh: Session) -> None:
    csv = TRADE_HEADER + trade_row("T1", qty="abc") + trade_row("T2", price="1.5.2")
    err = _rejects(ref_wh, BatchRejected, "2 of 2 rows", "trades", csv.encode())
    reasons = " ".join(err.details["report"]["quarantine_reasons"])
    assert "column quantity: cannot read … as decimal(…,…)" in reasons
    sample = err.details["report"]["quarantine_sample"]
    assert "'abc'" in sample[0]["_reason"]


def test_missing_columns(ref_wh: Session) -> None:
    err = _rejects(
        ref_wh,
        BatchRejected,
        r"needs columns \['event', 'event_ts'\]",
        "trades",
        b"trade_id,side\nT1,BUY\n",
    )
    assert err.details["missing_columns"] == ["event", "event_ts"]


def test_unknown_instrument_is_quarantined_or_rejected(ref_wh: Session) -> None:
    _rejects(
        ref_wh,
        BatchRejected,
        "above the 5.0% limit",
        "trades",
        (TRADE_HEADER + trade_row("T1", inst="NOPE")).encode(),
    )
    # under the error-rate limit: stored, and the bad row is in quarantine with its reason
    rows = "".join(trade_row(f"T{i}", ts=f"2024-01-02T10:00:{i:02d}Z") for i in range(40))
    report = ref_wh.ingest(
        "trades", (TRADE_HEADER + rows + trade_row("TX", inst="NOPE")).encode(), fmt="csv"
    )
    assert (report.rows_accepted, report.rows_quarantined) == (40, 1)
    got = ref_wh.query("SELECT reason, record FROM quarantine").rows()
    assert got[0][0] == "unknown instrument_code 'NOPE'"
    assert json.loads(got[0][1])["trade_id"] == "TX"


@pytest.mark.parametrize(
    ("payload", "fmt", "match"),
    [
        (b"", "csv", "empty"),
        (b"   \n", "csv", "empty"),
        (b'trade_id,event\n"T1,NEW\n', "csv", "could not read the payload as csv"),
        (b'[{"trade_id": "T1",', "json", "could not read the payload as json"),
        (b'{"a": 1}\nnot json\n', "ndjson", "line 2 is not valid JSON"),
        (b'{"trade_id": "T1"}', "json", "array of objects"),
        (b"[]", "json", "no rows"),
        (b"PAR1garbage", "parquet", "could not read the payload as parquet"),
        (b"not arrow at all", "arrow", "could not read the payload as arrow"),
    ],
)
def test_malformed_payloads(ref_wh: Session, payload: bytes, fmt: str, match: str) -> None:
    _rejects(ref_wh, UnreadablePayload, match, "trades", payload, fmt)


def test_duplicate_trade_ids(ref_wh: Session) -> None:
    csv = TRADE_HEADER + trade_row("T1") + trade_row("T1")
    err = _rejects(ref_wh, BatchRejected, "1 of 2 rows", "trades", csv.encode())
    assert "duplicate key" in str(err.details["report"]["quarantine_sample"])
    ref_wh.ingest("trades", GOOD.encode(), fmt="csv")
    err = _rejects(
        ref_wh,
        BatchRejected,
        "1 of 1 rows",
        "trades",
        (TRADE_HEADER + trade_row("T1", ts="2024-01-03T10:00:00Z")).encode(),
    )
    assert "already exists" in str(err.details["report"]["quarantine_reasons"])


def test_huge_field_and_upload_limit(ref_wh: Session) -> None:
    csv = TRADE_HEADER + trade_row("T1").replace("AAPL", "A" * 1_000_000)
    err = _rejects(ref_wh, BatchRejected, "1 of 1 rows", "trades", csv.encode())
    assert "exceeds the 4096-character limit" in str(err.details["report"]["quarantine_sample"])
    ref_wh.warehouse.ingestor.limits.max_upload_bytes = 1000
    try:
        _rejects(
            ref_wh, PayloadTooLarge, "exceeds the 1,000-byte limit", "trades", (GOOD * 20).encode()
        )
    finally:
        ref_wh.warehouse.ingestor.limits.max_upload_bytes = 2 * 1024**3


def test_unknown_dataset_and_bad_batch_id(ref_wh: Session) -> None:
    _rejects(ref_wh, UnknownDataset, "unknown dataset 'trade'", "trade", GOOD.encode())
    before = snapshot(ref_wh)
    with pytest.raises(InvalidRequest, match="batch id"):
        ref_wh.ingest("trades", GOOD.encode(), fmt="csv", batch_id="../../etc")
    with pytest.raises(InvalidRequest, match="batch id"):  # `$` matched before a final newline
        ref_wh.ingest("trades", GOOD.encode(), fmt="csv", batch_id="b1\n")
    assert snapshot(ref_wh) == before


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (trade_row("T1", side="HOLD"), "'HOLD' is not one of BUY|SELL"),
        (trade_row("T1", qty="-5"), "quantity: -5.000000 must be > 0"),
        (trade_row("T1", ccy="XXQ"), "'XXQ' is not an ISO 4217 currency code"),
        (trade_row("T1", date="2024-13-45"), "cannot read '2024-13-45' as date"),
        (trade_row("T1", qty="inf"), "cannot read 'inf' as decimal(24,6)"),
        (trade_row("T1", event="AMEND"), "unknown trade_id 'T1': AMEND before any NEW"),
        (trade_row("T1", pf="P9"), "unknown portfolio_code 'P9'"),
        (
            trade_row("T1", date="2019-06-01", ts="2019-06-01T10:00:00Z"),
            "portfolio_code 'P1' has no version valid on 2019-06-01",
        ),
    ],
)
def test_row_rules_name_the_value(ref_wh: Session, row: str, reason: str) -> None:
    err = _rejects(ref_wh, BatchRejected, "1 of 1 rows", "trades", (TRADE_HEADER + row).encode())
    assert reason in err.details["report"]["quarantine_sample"][0]["_reason"]


def _encode(df: pl.DataFrame, fmt: str) -> bytes:
    if fmt == "json":
        return json.dumps(df.to_dicts()).encode()
    if fmt == "ndjson":
        return "\n".join(json.dumps(r) for r in df.to_dicts()).encode()
    buf = io.BytesIO()
    if fmt == "parquet":
        df.write_parquet(buf)
    else:
        df.write_ipc(buf)
    return buf.getvalue()


def test_every_format_is_read(ref_wh: Session) -> None:
    formats = ["json", "ndjson", "parquet", "arrow"]
    for i, fmt in enumerate(formats):
        df = pl.read_csv(io.StringIO(TRADE_HEADER + trade_row(f"F{i}")), infer_schema=False)
        report = ref_wh.ingest("trades", _encode(df, fmt), fmt=fmt)
        assert report.rows_accepted == 1, (fmt, report)
    got = ref_wh.query("SELECT trade_id, quantity FROM fact_trade ORDER BY 1").rows()
    assert got == [[f"F{i}", 100.0] for i in range(len(formats))]


def test_spreadsheet_csv_exports_are_read(ref_wh: Session) -> None:
    """Excel writes a byte-order mark, and ';' or tab separators in many locales."""
    text = TRADE_HEADER + trade_row("B1")
    bom = "\ufeff" + text
    semicolon = (TRADE_HEADER + trade_row("S1")).replace(",", ";")
    tab = (TRADE_HEADER + trade_row("H1")).replace(",", "\t")
    for payload in (bom, semicolon, tab):
        assert ref_wh.ingest("trades", payload.encode(), fmt="csv").rows_accepted == 1
    got = ref_wh.query("SELECT trade_id FROM fact_trade ORDER BY 1").rows()
    assert got == [["B1"], ["H1"], ["S1"]]
