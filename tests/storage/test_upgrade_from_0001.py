"""A warehouse of the first release (metadata at migration 0001) holding data is upgraded to
the newest migration when opened, and keeps everything: commits, the ledger (a resend is still a
duplicate), API keys, time travel to its old commits; new data lands on top.

The old warehouse is made the way a user has one: built and loaded by Ledgerhouse, then its
metadata taken down to 0001 (Alembic's downgrades), which drops what later releases added (the
query log, ML models, key usage) and keeps the tables of 0001 with their rows."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

import ledgerhouse.storage.metadata as metadata
from ledgerhouse import Warehouse
from tests.conftest import REF, TRADE_HEADER, admin, snapshot, trade_row
from tests.storage.test_migrations import _alembic

COUNT = "SELECT count(*), sum(quantity) FROM fact_trade"


def _head() -> str:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(metadata.__file__).parent / "migrations"))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def _revision(url: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            return str(c.execute(text("SELECT version_num FROM alembic_version")).scalar())
    finally:
        engine.dispose()


def test_a_0001_warehouse_with_data_upgrades_to_head_and_keeps_it(tmp_path: Path) -> None:
    root = tmp_path / "wh"
    wh, admin_key = Warehouse.init(root=root)
    assert admin_key is not None
    for ds, body in REF.items():
        admin(wh).ingest(ds, body.encode(), fmt="csv")
    first = admin(wh).ingest("trades", (TRADE_HEADER + trade_row("T1")).encode(), fmt="csv")
    second = admin(wh).ingest(
        "trades", (TRADE_HEADER + trade_row("T2", qty="5")).encode(), fmt="csv", batch_id="b-2"
    )
    reader_key = admin(wh).create_api_key("ana", ("reader",))
    commits, batches, tables = admin(wh).commits(), admin(wh).batches(), snapshot(wh)
    assert admin(wh).query(COUNT).rows() == [[2, 105.0]]
    url = wh.settings.resolved_metadata_url
    wh.close()

    _alembic(url, "0001", down=True)
    assert _revision(url) == "0001"
    engine = create_engine(url)
    names = set(inspect(engine).get_table_names())
    engine.dispose()
    assert {"tenants", "api_keys", "warehouse_commits", "ingest_batches"} <= names
    assert not names & {"query_log", "ml_models"}

    with Warehouse.open(root=root) as wh:
        assert _revision(url) == _head()
        assert admin(wh).commits() == commits and admin(wh).batches() == batches
        assert snapshot(wh) == tables
        assert wh.authenticate(f"Bearer {admin_key}").is_admin
        reader = wh.authenticate(f"Bearer {reader_key}")
        assert reader.roles == ("reader",) and not reader.is_admin
        # time travel to a commit made before the upgrade
        assert admin(wh).query(COUNT, as_of=first.commit_id).rows() == [[1, 100.0]]
        assert admin(wh).query(COUNT).rows() == [[2, 105.0]]
        # the ledger kept its batches: a resend is still a no-op returning the old report
        again = admin(wh).ingest(
            "trades", (TRADE_HEADER + trade_row("T2", qty="5")).encode(), fmt="csv", batch_id="b-2"
        )
        assert again.status == "duplicate" and again.commit_id == second.commit_id
        # and the tables later migrations added work: new data lands, queries are logged
        third = admin(wh).ingest(
            "trades", (TRADE_HEADER + trade_row("T3", qty="1")).encode(), fmt="csv"
        )
        assert third.status == "committed" and third.commit_id > commits[0].id
        assert admin(wh).query(COUNT).rows() == [[3, 106.0]]
        wh.query_log.flush()
        assert any(q["text"] == COUNT for q in wh.meta.query_store.queries("default"))
