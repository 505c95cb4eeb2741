"""Opening a warehouse made by an older Ledgerhouse upgrades its metadata store in place."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, inspect, text

import ledgerhouse.storage.metadata as metadata
from ledgerhouse import Warehouse
from tests.conftest import admin


def _alembic(url: str, revision: str, *, down: bool = False) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(metadata.__file__).parent / "migrations"))
    engine = create_engine(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)
    engine.dispose()


def test_open_migrates_a_0003_warehouse_and_its_keys_keep_working(tmp_path: Path) -> None:
    wh, key = Warehouse.init(root=tmp_path / "wh")
    url = wh.settings.resolved_metadata_url
    wh.close()
    _alembic(url, "0003", down=True)  # the schema of the previous release
    engine = create_engine(url)
    columns = {c["name"] for c in inspect(engine).get_columns("api_keys")}
    assert "last_used_at" not in columns
    with engine.connect() as c:
        assert c.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0003"
    engine.dispose()

    with Warehouse.open(root=tmp_path / "wh") as wh:
        assert wh.authenticate(f"Bearer {key}").is_admin
        (only,) = admin(wh).list_api_keys()
        wh.meta.keys.flush_usage()
        assert admin(wh).list_api_keys()[0].last_used_at is not None
        with wh.meta.engine.connect() as c:
            assert c.execute(text("SELECT version_num FROM alembic_version")).scalar() == _head()
            assert c.execute(text("SELECT key_generation FROM tenants")).scalar() == 0
        admin(wh).rotate_api_key(only.id)
        with wh.meta.engine.connect() as c:
            assert c.execute(text("SELECT key_generation FROM tenants")).scalar() == 1


def _head() -> str:
    """The newest migration's revision (each release adds one)."""
    from pathlib import Path

    import ledgerhouse.storage as storage

    versions = Path(storage.__file__).parent / "migrations" / "versions"
    return max(p.name.split("_")[0] for p in versions.glob("[0-9]*_*.py"))
