"""Backups of a warehouse root: consistent while the server runs, incremental, verifiable,
restorable (``ledgerhouse backup``, ``backup verify``, ``restore``; docs/operations.md).

A backup is a folder ``<repository>/<id>/`` with the root's layout:

- ``metadata.db``: the metadata store, copied with SQLite's online backup (a consistent
  snapshot while other processes write: the commit log, the ingestion ledger, keys, the query
  log, the audit trail...);
- every Delta table of every tenant **as the snapshot's commits reference it**: the log entries
  up to the highest version a commit of the snapshot names (a later version, being written
  meanwhile, is not part of the backup) and every data file those entries add — so every
  commit the snapshot holds reads, ``as_of`` included, exactly as it did;
- the root's own files (the mask key, the OpenLineage events), not the lock, spill or exports;
- ``manifest.json``: each file's size and SHA-256, the snapshot's tenants and latest commits.

Delta files are immutable by name, so a second backup into the same repository hard-links
every file the previous backup already holds (same path and size) and copies only new ones.
``verify`` re-reads every file against the manifest and opens every committed table version.
``restore`` copies a backup into a new root; ``as_of`` keeps the commits up to one commit only
(the tables' later versions are rolled back by the commit writer's recovery on first use).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from ledgerhouse.errors import ConfigError, Conflict, NotFound, StorageError

MANIFEST = "manifest.json"
#: Root entries a backup leaves out: the metadata database's side files (the snapshot is
#: taken through SQLite), exports (a user's output), locks and spill files.
_SKIP = frozenset({"metadata.db", "metadata.db-wal", "metadata.db-shm", "metadata.db-journal",
                   "_exports", "_writer.lock", ".spill"})  # fmt: skip
_LOG = "_delta_log"

Progress = Callable[[str], None]


@dataclass
class BackupReport:
    """What a backup (or a restore, or a verification) did."""

    id: str
    path: str
    previous: str | None
    tenants: dict[str, int | None]  # tenant -> its latest commit in the backup
    files: int = 0
    bytes: int = 0
    copied_files: int = 0
    copied_bytes: int = 0
    linked_files: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["mb_per_s"] = round(self.bytes / 1e6 / self.seconds, 1) if self.seconds else None
        return out


def sqlite_path(url: str) -> Path:
    """The file of a SQLite metadata URL (a PostgreSQL store is backed up with pg_dump)."""
    if not url.startswith("sqlite:///"):
        raise ConfigError(
            "`ledgerhouse backup` copies a SQLite metadata store only, and this one is not SQLite",
            hint="Back up a PostgreSQL store with pg_dump (not built into `ledgerhouse backup` "
            "yet); see docs/operations.md, PostgreSQL.",
        )
    return Path(url.removeprefix("sqlite:///"))


def snapshot_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database (its online backup API)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def committed_versions(db: Path) -> dict[str, dict[str, int]]:
    """tenant -> relation -> the highest version any commit of the snapshot names."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT tenant_id, table_versions FROM warehouse_commits").fetchall()
    finally:
        con.close()
    out: dict[str, dict[str, int]] = {}
    for tenant, versions in rows:
        held = out.setdefault(tenant, {})
        for relation, version in json.loads(versions).items():
            if version is not None and version > held.get(relation, -1):
                held[relation] = int(version)
    return out


def latest_commits(db: Path) -> dict[str, int | None]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        tenants = [r[0] for r in con.execute("SELECT id FROM tenants")]
        latest = dict(con.execute(
            "SELECT tenant_id, max(id) FROM warehouse_commits GROUP BY tenant_id"
        ).fetchall())  # fmt: skip
    finally:
        con.close()
    return {t: latest.get(t) for t in tenants}


def table_files(table_dir: Path, upto: int | None) -> list[Path]:
    """The files of a Delta table that its versions up to ``upto`` (every version: None)
    need: their log entries, the checkpoints among them, every data file they add."""
    log = table_dir / _LOG
    out: list[Path] = []
    added: set[str] = set()
    for entry in sorted(log.iterdir()):
        stem = entry.name.split(".", 1)[0]
        if not stem.isdigit():
            continue  # _last_checkpoint (rewritten in place; readers do without it), temp files
        if upto is not None and int(stem) > upto:
            continue
        out.append(entry)
        if entry.name.endswith(".json"):
            for line in entry.read_text().splitlines():
                if line.startswith('{"add"'):
                    added.add(unquote(json.loads(line)["add"]["path"]))
        elif entry.name.endswith(".checkpoint.parquet"):
            import pyarrow.parquet as pq

            adds = pq.read_table(entry, columns=["add"]).column("add").to_pylist()
            added |= {unquote(a["path"]) for a in adds if a}
    for rel in sorted(added):
        path = table_dir / rel
        if path.exists():  # a file of a crashed writer's version may be gone: verify says
            out.append(path)
    return out


def _tables(tenant_dir: Path) -> list[Path]:
    return sorted(p.parent for p in tenant_dir.rglob(_LOG) if p.is_dir())


class Backups:
    """Backups of one warehouse root (its metadata URL, its tables' folder)."""

    def __init__(
        self, root: Path, metadata_url: str, relation_dirs: Callable[[str], Mapping[str, Path]]
    ) -> None:
        self.root = root
        self.metadata_url = metadata_url
        #: tenant -> {relation: its table folder, relative to the root}: each table is copied
        #: up to its committed version, and checked at each
        self.relation_dirs = relation_dirs

    # -- backup -------------------------------------------------------------------------------
    def backup(self, repository: Path, *, progress: Progress | None = None) -> BackupReport:
        started = time.perf_counter()
        repository.mkdir(parents=True, exist_ok=True)
        previous = self._latest(repository)
        backup_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        target = repository / backup_id
        partial = repository / f".{backup_id}.partial"
        say = progress or (lambda _m: None)
        say("metadata: online snapshot")
        snapshot_sqlite(sqlite_path(self.metadata_url), partial / "metadata.db")
        db = partial / "metadata.db"
        report = BackupReport(backup_id, str(target), previous.name if previous else None,
                              latest_commits(db))  # fmt: skip
        old = _manifest(previous)["files"] if previous else {}
        files: dict[str, dict[str, Any]] = {}
        versions = committed_versions(db)
        for source in self._sources(versions, say):
            rel = source.relative_to(self.root).as_posix()
            dest = partial / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            size = source.stat().st_size
            held = old.get(rel)
            if previous is not None and held is not None and held["size"] == size:
                os.link(previous / rel, dest)  # immutable by name: the same file
                files[rel] = held
                report.linked_files += 1
            else:
                files[rel] = {"size": size, "sha256": _copy(source, dest)}
                report.copied_files += 1
                report.copied_bytes += size
            report.files += 1
            report.bytes += size
        meta_size = db.stat().st_size
        meta = {"size": meta_size, "sha256": _sha256(db)}
        report.copied_files += 1
        report.copied_bytes += meta_size
        manifest = {
            "id": backup_id, "created_at": datetime.now(UTC).isoformat(),
            "previous": report.previous, "tenants": report.tenants,
            "metadata": meta, "files": files,
        }  # fmt: skip
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
        partial.rename(target)  # a backup is whole or absent
        report.seconds = time.perf_counter() - started
        say(f"backup {backup_id}: {report.files} files, {report.copied_bytes:,} bytes copied")
        return report

    def _sources(self, versions: Mapping[str, Mapping[str, int]], say: Progress) -> Iterable[Path]:
        for entry in sorted(self.root.iterdir()):
            if entry.name in _SKIP or entry.name == "tenants":
                continue
            if entry.is_file():
                yield entry
            elif entry.is_dir():
                yield from (p for p in sorted(entry.rglob("*")) if p.is_file())
        tenants_dir = self.root / "tenants"
        for tenant_dir in sorted(tenants_dir.iterdir()) if tenants_dir.is_dir() else ():
            tenant = tenant_dir.name
            caps = {(self.root / d).resolve(): versions.get(tenant, {}).get(r)
                    for r, d in self.relation_dirs(tenant).items()}  # fmt: skip
            for table_dir in _tables(tenant_dir):
                if table_dir.resolve() in caps and caps[table_dir.resolve()] is None:
                    continue  # a table no commit of the snapshot names yet
                say(f"{tenant}: {table_dir.relative_to(tenant_dir)}")
                yield from table_files(table_dir, caps.get(table_dir.resolve()))

    # -- verify -------------------------------------------------------------------------------
    def verify(self, repository: Path, backup: str | None = None) -> BackupReport:
        """Every file against the manifest, and every committed table version readable."""
        started = time.perf_counter()
        folder = self._find(repository, backup)
        manifest = _manifest(folder)
        report = BackupReport(manifest["id"], str(folder), manifest["previous"],
                              manifest["tenants"])  # fmt: skip
        entries = {**manifest["files"], "metadata.db": manifest["metadata"]}
        for rel, held in sorted(entries.items()):
            path = folder / rel
            if not path.is_file():
                report.problems.append(f"{rel}: missing")
                continue
            if path.stat().st_size != held["size"] or _sha256(path) != held["sha256"]:
                report.problems.append(f"{rel}: content differs from the manifest (damaged)")
            report.files += 1
            report.bytes += held["size"]
        if not report.problems:
            report.problems += self._check_versions(folder)
        report.seconds = time.perf_counter() - started
        return report

    def _check_versions(self, folder: Path) -> list[str]:
        """Every table version a commit of the backup names opens from the backup, and its
        files are there."""
        from deltalake import DeltaTable

        problems = []
        for tenant, relations in committed_versions(folder / "metadata.db").items():
            dirs = self.relation_dirs(tenant)
            for relation, version in sorted(relations.items()):
                live = dirs.get(relation)
                if live is None:
                    continue  # a table the tenant no longer has (dropped): its files checked
                table_dir = folder / live
                try:
                    uris = DeltaTable(str(table_dir), version=version).file_uris()
                except Exception as exc:  # reported, with the table and the version
                    problems.append(f"{tenant}/{relation}@{version}: does not open ({exc})")
                    continue
                missing = [u for u in uris if not Path(unquote(u.removeprefix("file://"))).exists()]
                if missing:
                    problems.append(f"{tenant}/{relation}@{version}: {len(missing)} files missing")
        return problems

    # -- restore ------------------------------------------------------------------------------
    def restore(
        self,
        repository: Path,
        new_root: Path,
        *,
        backup: str | None = None,
        as_of: int | None = None,
        progress: Progress | None = None,
    ) -> BackupReport:
        """Copy a backup into ``new_root`` (which must not hold anything yet); ``as_of``
        keeps the commits up to that commit id only (later batches can be sent again)."""
        started = time.perf_counter()
        folder = self._find(repository, backup)
        verified = self.verify(repository, folder.name)
        if verified.problems:
            raise StorageError(
                f"backup {folder.name} does not verify: {verified.problems[0]}"
                + (f" (and {len(verified.problems) - 1} more)" if len(verified.problems) > 1
                   else ""),
                hint="Restore another backup (`ledgerhouse backup list`).",
                problems=verified.problems[:20],
            )  # fmt: skip
        if new_root.exists() and any(new_root.iterdir()):
            raise Conflict(
                f"{new_root} is not empty: a restore never writes over a warehouse",
                hint="Give a new folder with --root (then point the server at it).",
            )
        manifest = _manifest(folder)
        say = progress or (lambda _m: None)
        report = BackupReport(manifest["id"], str(new_root), manifest["previous"],
                              manifest["tenants"])  # fmt: skip
        for rel in sorted({**manifest["files"], "metadata.db": manifest["metadata"]}):
            dest = new_root / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(folder / rel, dest)
            report.files += 1
            report.bytes += dest.stat().st_size
        say(f"restored {report.files} files")
        if as_of is not None:
            report.tenants = _keep_until(new_root / "metadata.db", as_of)
        report.seconds = time.perf_counter() - started
        return report

    # -- listing ------------------------------------------------------------------------------
    def list(self, repository: Path) -> list[dict[str, Any]]:
        out = []
        for folder in _backups(repository):
            m = _manifest(folder)
            size = sum(f["size"] for f in m["files"].values()) + m["metadata"]["size"]
            out.append({
                "id": m["id"], "created_at": m["created_at"], "previous": m["previous"],
                "tenants": m["tenants"], "files": len(m["files"]) + 1, "bytes": size,
            })  # fmt: skip
        return out

    def _latest(self, repository: Path) -> Path | None:
        found = _backups(repository)
        return found[-1] if found else None

    def _find(self, repository: Path, backup: str | None) -> Path:
        found = _backups(repository)
        if not found:
            raise NotFound(f"no backup in {repository}",
                           hint="Take one with `ledgerhouse backup --to DIR`.")  # fmt: skip
        if backup is None:
            return found[-1]
        for folder in found:
            if folder.name == backup:
                return folder
        raise NotFound(
            f"no backup {backup!r} in {repository}",
            hint="Backups: " + ", ".join(f.name for f in found[-5:]),
        )


def _backups(repository: Path) -> list[Path]:
    if not repository.is_dir():
        return []
    return sorted(p for p in repository.iterdir() if p.is_dir() and (p / MANIFEST).is_file())


def _manifest(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / MANIFEST).read_text())
    return data


def _copy(source: Path, dest: Path) -> str:
    digest = hashlib.sha256()
    with open(source, "rb") as src, open(dest, "wb") as out:
        while chunk := src.read(1 << 20):
            digest.update(chunk)
            out.write(chunk)
    shutil.copystat(source, dest)
    return digest.hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _keep_until(db: Path, commit: int) -> dict[str, int | None]:
    """Forget the commits after ``commit`` (and the batches they stored) in a restored
    metadata database; the tables' later versions are rolled back on first use."""
    con = sqlite3.connect(db)
    try:
        known = con.execute("SELECT 1 FROM warehouse_commits WHERE id = ?", (commit,)).fetchone()
        if known is None:
            raise NotFound(
                f"the backup has no commit {commit}",
                hint="List the commits with `ledgerhouse commits` on the restored root.",
            )
        with con:
            con.execute("DELETE FROM ingest_batches WHERE commit_id > ?", (commit,))
            con.execute("DELETE FROM warehouse_commits WHERE id > ?", (commit,))
    finally:
        con.close()
    return latest_commits(db)
