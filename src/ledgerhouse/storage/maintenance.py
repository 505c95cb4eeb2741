"""Maintenance of the tables against the commits (docs/operations.md): ``check`` (every file
the commits reference is there and whole), ``vacuum`` (the files no commit references, a
crashed batch's leftovers, removed) and ``compact`` (small files rewritten, one commit that
changes no answer). The composition root builds one per warehouse (``Warehouse.check``,
``vacuum``, ``compact`` call it)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledgerhouse.errors import InvalidRequest, NotFound
from ledgerhouse.model.schema import TableDef
from ledgerhouse.storage.check import Problem, StorageChecker
from ledgerhouse.storage.commits import CommitWriter
from ledgerhouse.storage.delta import DeltaStore
from ledgerhouse.storage.metadata import MetadataStore
from ledgerhouse.storage.vacuum import VacuumReport, vacuum_table


@dataclass(frozen=True)
class MaintenancePorts:
    root: Path
    store: DeltaStore
    meta: MetadataStore
    writer: CommitWriter
    checker: StorageChecker
    #: ``tenants(name or None)``: that tenant (its name checked) or every tenant
    tenants: Callable[[str | None], list[str]]
    #: every relation of a tenant (the shared ones and its own)
    relations_of: Callable[[str], Mapping[str, TableDef]]
    #: ``sources_of(tenant, relation)``: the relations a derived one is built from
    sources_of: Callable[[str, str], Iterable[str]]


class Maintenance:
    def __init__(self, ports: MaintenancePorts) -> None:
        self.p = ports

    def check(
        self, tenant: str | None = None, *, every_commit: bool = False, deep: bool = False
    ) -> list[Problem]:
        """The problems of the tables the latest commit (``every_commit``: every commit) of
        each tenant (or ``tenant``) names: a data file missing, truncated or (``deep``) not
        Parquet, a log that does not open or is behind; and the derived tables (marts,
        rollups) built from a damaged table. Empty: the storage holds what the commits say."""
        problems: list[Problem] = []
        for name in self.p.tenants(tenant):
            latest = self.p.meta.commit_log.latest_commit(name)
            current = dict(latest.table_versions) if latest is not None else {}
            if every_commit:
                named = self.p.meta.commit_log.versions_named(name)
                versions = [{r: v} for r, held in sorted(named.items()) for v in sorted(held)]
            else:
                versions = [current] if current else []
            found = self.p.checker.check(name, versions, deep=deep)
            damaged = {p.relation for p in found}
            for relation in sorted(set(current) - damaged):
                hit = sorted((set(self.p.sources_of(name, relation)) - {relation}) & damaged)
                if hit:
                    found.append(Problem(
                        name, relation, current[relation], None,
                        f"built from damaged {', '.join(hit)}: its rows may hide the damage",
                    ))  # fmt: skip
            problems += found
        return problems

    def vacuum(
        self, tenant: str | None = None, *, older_than_s: float = 3600.0, dry_run: bool = False
    ) -> list[VacuumReport]:
        """Remove the data files no commit references (a crashed batch's leftovers) from each
        tenant's tables (or ``tenant``'s), once older than ``older_than_s``; every file a
        commit names is kept, so every commit stays reproducible. Runs under each tenant's
        writer lock (no write in progress), after the writer's recovery. Returns a report per
        tenant (``dry_run``: what would be removed)."""
        if older_than_s < 0:
            raise InvalidRequest("older_than_s must be 0 or more", hint="e.g. 3600 (an hour)")
        reports = []
        for name in self.p.tenants(tenant):
            report = VacuumReport(name)
            relations = self.p.relations_of(name)
            with self.p.writer.writer_lock(name):
                latest = self.p.meta.commit_log.latest_commit(name)
                self.p.writer.recover(name, latest)  # a crashed writer's versions rolled back
                named = self.p.meta.commit_log.versions_named(name)
                for relation in latest.table_versions if latest is not None else ():
                    table = relations.get(relation)
                    if table is not None and self.p.store.exists(name, table):
                        # recovery's restored version holds the committed version's files
                        named.setdefault(relation, set()).add(self.p.store.version(name, table))
                for relation, versions in sorted(named.items()):
                    table = relations.get(relation)
                    if table is None or not self.p.store.exists(name, table):
                        continue
                    vacuum_table(
                        self.p.store.path(name, table), versions, grace_s=older_than_s,
                        dry_run=dry_run, report=report, root=self.p.root,
                    )  # fmt: skip
            reports.append(report)
        return reports

    def compact(
        self,
        tenant: str | None = None,
        *,
        tables: Iterable[str] | None = None,
        target_mb: float = 128.0,
        sort_by: Iterable[str] = (),
        min_files: int = 2,
    ) -> list[dict[str, Any]]:
        """Compact each tenant's tables (or ``tables``) whose latest version has at least
        ``min_files`` files in a partition: their small files rewritten into files of about
        ``target_mb`` (``sort_by``: Z-ordered), the same rows, in one warehouse commit per
        tenant (operation ``maintain:compact``; marts and rollups refresh in it). Every older
        commit still reads its own files. Returns what each table had and has."""
        if target_mb <= 0 or min_files < 2:
            raise InvalidRequest("target_mb must be positive and min_files at least 2",
                                 hint="e.g. target_mb=128, min_files=2")  # fmt: skip
        sort = tuple(sort_by)
        out: list[dict[str, Any]] = []
        for name in self.p.tenants(tenant):
            relations = self.p.relations_of(name)
            wanted = list(tables) if tables is not None else sorted(relations)
            self._check_names(name, relations, wanted, sort)
            with self.p.writer.transaction(name, "maintain:compact") as txn:
                for relation in wanted:
                    table = relations[relation]
                    version = txn.committed.get(relation)
                    if version is None or (table.layer == "raw" and tables is None):
                        continue  # raw records are compacted only when named
                    done = self._compact(txn, name, table, version, target_mb, sort, min_files)
                    if done is not None:
                        out.append(done)
        return out

    @staticmethod
    def _check_names(
        tenant: str, relations: Mapping[str, TableDef], wanted: list[str], sort: tuple[str, ...]
    ) -> None:
        unknown = [t for t in wanted if t not in relations]
        if unknown:
            raise NotFound(f"no table {unknown[0]!r} in tenant {tenant!r}",
                           hint="List the tables with `ledgerhouse tables`.")  # fmt: skip
        for t in wanted:
            bad = [c for c in sort if c not in relations[t].column_names]
            if bad:
                columns = ", ".join(relations[t].column_names)
                raise NotFound(f"table {t!r} has no columns {bad}", hint=f"Columns: {columns}.")

    def _compact(
        self,
        txn: Any,
        tenant: str,
        table: TableDef,
        version: int,
        target_mb: float,
        sort: tuple[str, ...],
        min_files: int,
    ) -> dict[str, Any] | None:
        files = self.p.store.files(tenant, table, version)
        per_folder: dict[str, int] = {}
        for f in files:
            folder = f.rsplit("/", 1)[0]
            per_folder[folder] = per_folder.get(folder, 0) + 1
        if not per_folder or max(per_folder.values()) < min_files:
            return None
        metrics: dict[str, Any] = {}

        def write() -> int:
            new, done = self.p.store.compact(tenant, table, int(target_mb * 1_000_000), sort)
            metrics.update(done)
            return new

        new = txn.stage(table, write)
        return {
            "tenant": tenant, "table": table.relation, "version": new,
            "files_before": len(files), "files_after": len(self.p.store.files(tenant, table, new)),
            "files_removed": metrics.get("numFilesRemoved"),
            "files_added": metrics.get("numFilesAdded"),
        }  # fmt: skip
