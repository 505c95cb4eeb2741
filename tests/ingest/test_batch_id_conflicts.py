"""A batch id names one content: resending the same bytes is a duplicate, sending other bytes
under the same id (an Idempotency-Key or --batch-id reused by mistake) is a 409 naming both
digests, and nothing already stored changes."""

from __future__ import annotations

import hashlib
import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ledgerhouse.api import create_app
from ledgerhouse.cli.main import app as cli
from ledgerhouse.errors import BatchIdConflict
from ledgerhouse.session import Session
from tests.conftest import TRADE_HEADER, snapshot, trade_row

FIRST = (TRADE_HEADER + trade_row("T1")).encode()
OTHER = (TRADE_HEADER + trade_row("T1") + trade_row("T2")).encode()


def _digest(payload: bytes) -> str:
    return "sha256:" + hashlib.sha256(payload).hexdigest()


def test_same_id_other_content_is_refused_with_both_digests(ref_wh: Session) -> None:
    first = ref_wh.ingest("trades", FIRST, fmt="csv", batch_id="b-1")
    assert first.status == "committed" and first.content_digest == _digest(FIRST)
    before = snapshot(ref_wh)
    assert ref_wh.ingest("trades", FIRST, fmt="csv", batch_id="b-1").status == "duplicate"
    with pytest.raises(BatchIdConflict) as caught:
        ref_wh.ingest("trades", OTHER, fmt="csv", batch_id="b-1")
    err = caught.value
    assert err.status == 409 and not err.retryable
    assert err.details["stored_digest"] == _digest(FIRST)
    assert err.details["sent_digest"] == _digest(OTHER)
    assert "new batch id" in err.hint
    assert snapshot(ref_wh) == before  # nothing stored changed


def test_the_api_answers_409_and_the_cli_exits_2(ref_wh: Session, tmp_path) -> None:  # type: ignore[no-untyped-def]
    key = ref_wh.create_api_key("w", ("writer",))
    auth = {"Authorization": f"Bearer {key}", "Content-Type": "text/csv"}
    with TestClient(create_app(ref_wh.warehouse)) as c:
        sent = c.post(
            "/v1/ingest/trades", content=FIRST, headers={**auth, "Idempotency-Key": "k-1"}
        )
        assert sent.status_code == 201, sent.text
        again = c.post(
            "/v1/ingest/trades", content=FIRST, headers={**auth, "Idempotency-Key": "k-1"}
        )
        assert again.status_code == 200 and again.json()["status"] == "duplicate"
        other = c.post(
            "/v1/ingest/trades", content=OTHER, headers={**auth, "Idempotency-Key": "k-1"}
        )
        assert other.status_code == 409, other.text
        error = other.json()["error"]
        assert error["code"] == "batch_id_conflict" and error["retryable"] is False
        assert error["details"]["sent_digest"] == _digest(OTHER)
    path = tmp_path / "trades.csv"
    path.write_bytes(OTHER)
    root = str(ref_wh.warehouse.root)
    res = CliRunner().invoke(
        cli, ["ingest", "trades", str(path), "--batch-id", "k-1", "--root", root, "--json"]
    )
    assert res.exit_code == 2, res.output
    assert json.loads(res.stderr)["error"]["code"] == "batch_id_conflict"
