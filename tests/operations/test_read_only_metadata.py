"""A read-only metadata store (issue 16, point 5): queries are answered and the query log
degrades with one warning, not a traceback per query; a write answers one clear error
(503 metadata_unavailable) and stores nothing; once writable, the same batch lands once."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ledgerhouse import Warehouse
from ledgerhouse.errors import MetadataUnavailable
from tests.conftest import admin, copies_of_a_trade, copy_warehouse


def test_a_read_only_metadata_store(
    tmp_path: Path, loaded_template: Path, caplog: pytest.LogCaptureFixture
) -> None:
    me = copy_warehouse(loaded_template, tmp_path / "wh")
    root = me.warehouse.root
    body = copies_of_a_trade(me, "TRO")
    commits = len(me.commits(limit=1000))
    me.warehouse.close()
    url = f"sqlite:///file:{root / 'metadata.db'}?mode=ro&uri=true"
    caplog.set_level(logging.WARNING)
    with Warehouse.open(root=root, metadata_url=url) as wh:
        reader = admin(wh)
        for _ in range(5):
            assert reader.query("SELECT count(*) FROM fact_trade", use_cache=False).rows()
        wh.query_log.flush()
        with pytest.raises(MetadataUnavailable) as refused:
            reader.ingest("trades", body, fmt="csv")
        assert refused.value.status == 503 and refused.value.code == "metadata_unavailable"
        assert "nothing of it is visible" in refused.value.message
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert not tracebacks, [r.getMessage() for r in tracebacks]
    log_warnings = [r for r in caplog.records if "query log cannot be written" in r.getMessage()]
    assert len(log_warnings) == 1  # once, not once a query
    with Warehouse.open(root=root) as wh:  # writable again: the batch lands, once
        again = admin(wh)
        assert len(again.commits(limit=1000)) == commits
        assert again.ingest("trades", body, fmt="csv").status == "committed"
        assert again.ingest("trades", body, fmt="csv").status == "duplicate"
