"""Vacuum: the data files no commit references (``ledgerhouse maintain``; docs/operations.md).

A batch killed mid-write leaves Parquet files its uncommitted Delta version added; recovery
rolls the table back (a RESTORE: a new version without them) but the files stay. A file is an
orphan when no version a warehouse commit names holds it. Each table's log is replayed once
(add and remove actions) to learn the files live at every committed version; every other data
file older than the grace period is removed. The default retention keeps every commit
reproducible, so no file a commit can read is ever removed. The Delta log itself is kept whole.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

_LOG = "_delta_log"


@dataclass
class VacuumReport:
    tenant: str
    tables: int = 0
    orphans: int = 0
    bytes: int = 0
    removed: int = 0
    kept_young: int = 0  # orphans younger than the grace period (a writer may still use them)
    files: list[str] = field(default_factory=list)  # relative to the root (at most 200)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def live_files(table_dir: Path, versions: Iterable[int]) -> set[str] | None:
    """The data files (paths relative to the table) live at any of ``versions``, from one
    replay of the log; None when the log's first entries are gone (a cleaned-up log)."""
    wanted = sorted(set(versions))
    if not wanted:
        return set()
    log = table_dir / _LOG
    live: set[str] = set()
    out: set[str] = set()
    todo = iter(wanted)
    target = next(todo)
    version = 0
    while True:
        entry = log / f"{version:020d}.json"
        if not entry.exists():
            return None if version <= target else out
        for line in entry.read_text().splitlines():
            if line.startswith('{"add"'):
                live.add(unquote(json.loads(line)["add"]["path"]))
            elif line.startswith('{"remove"'):
                live.discard(unquote(json.loads(line)["remove"]["path"]))
        while version == target:
            out |= live
            nxt = next(todo, None)
            if nxt is None:
                return out
            target = nxt
        version += 1


def data_files(table_dir: Path) -> list[Path]:
    return sorted(p for p in table_dir.rglob("*.parquet") if _LOG not in p.parts)


def vacuum_table(
    table_dir: Path,
    versions: Iterable[int],
    *,
    grace_s: float,
    dry_run: bool,
    report: VacuumReport,
    root: Path,
) -> None:
    """Remove (or, ``dry_run``, list) the data files of ``table_dir`` live at none of
    ``versions`` and older than ``grace_s``."""
    from deltalake import DeltaTable

    versions = list(versions)
    live = live_files(table_dir, versions)
    if live is None:  # the log was cleaned up: ask delta-rs for each committed version
        live = set()
        for v in set(versions):
            uris = DeltaTable(str(table_dir), version=v).file_uris()
            live |= {os.path.relpath(unquote(u.removeprefix("file://")), table_dir) for u in uris}
    now = time.time()
    report.tables += 1
    for path in data_files(table_dir):
        rel = path.relative_to(table_dir).as_posix()
        if rel in live:
            continue
        stat = path.stat()
        if now - stat.st_mtime < grace_s:
            report.kept_young += 1
            continue
        report.orphans += 1
        report.bytes += stat.st_size
        if len(report.files) < 200:
            report.files.append(path.relative_to(root).as_posix())
        if not dry_run:
            path.unlink()
            report.removed += 1
