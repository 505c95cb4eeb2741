"""A full disk (issue 16, point 5), on a tmpfs of a few MB (skipped where mounting is not
allowed): a batch that clearly cannot fit is refused before it is parsed; a write that fails
for want of space answers 507 storage_full, its files are removed, nothing is stored; once
space is freed, the same batch lands once."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledgerhouse import Warehouse
from ledgerhouse.errors import StorageFull
from tests.conftest import REF, admin, trade_row, trades_csv


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()[:200]}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path, leave: int) -> Path:
    filler = disk / "filler"
    with open(filler, "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * (1 << 20))
                fh.flush()
        except OSError:
            pass
    os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler


def test_a_full_disk_refuses_cleans_up_and_the_batch_lands_once_after(small_disk: Path) -> None:
    wh, _ = Warehouse.init(root=small_disk / "wh")
    with wh:
        me = admin(wh)
        for ds, text in REF.items():
            me.ingest(ds, text.encode(), fmt="csv")
        before = me.commits(limit=1)[0].id
        big = trades_csv(*(trade_row(f"TG{i}") for i in range(20_000)))
        filler = _fill(small_disk, leave=len(big))
        with pytest.raises(StorageFull) as refused:  # clearly cannot fit: before parsing
            me.ingest("trades", big, fmt="csv")
        assert "would not fit" in refused.value.message
        filler.unlink()
        body = trades_csv(*(trade_row(f"TF{i}", qty=str(i + 1)) for i in range(600)))
        checked = wh.ingestion.before_write
        wh.ingestion.before_write = lambda _tenant, _size: None  # the write itself fails
        filler = _fill(small_disk, leave=60_000)
        with pytest.raises(StorageFull) as full:
            me.ingest("trades", body, fmt="csv")
        wh.ingestion.before_write = checked
        assert full.value.status == 507 and "nothing of it is stored" in full.value.message
        assert me.commits(limit=1)[0].id == before
        (left,) = wh.vacuum(older_than_s=0, dry_run=True)
        assert left.orphans == 0, left.files  # the failed write's data files were removed
        assert full.value.details["freed_bytes"] > 0
        filler.unlink()  # space freed: the same batch lands, once
        report = me.ingest("trades", body, fmt="csv")
        assert report.status == "committed", report
        assert me.query("SELECT count(*) FROM fact_trade WHERE trade_id LIKE 'TF%'").rows() == [
            [600]
        ]
        assert me.ingest("trades", body, fmt="csv").status == "duplicate"
        assert wh.check() == []
