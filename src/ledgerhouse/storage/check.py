"""Checking that the tables hold what the commits say (``ledgerhouse check``, ``/readyz?check``,
and the error a query or a write gets from a damaged table; docs/operations.md).

For each table version a commit names: its Delta log opens at that version, the table's log has
not fallen behind it, and every data file of the version exists with the size its log entry
records (``deep``: and its Parquet footer reads). A problem names the tenant, the table, the
version and the file, relative to the warehouse root.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pyarrow as pa

from ledgerhouse.errors import REPAIR_HINT, StorageDamaged, scrub_paths
from ledgerhouse.model.schema import TableDef
from ledgerhouse.storage.delta import DeltaStore


@dataclass(frozen=True)
class Problem:
    tenant: str
    relation: str
    version: int
    file: str | None  # relative to the warehouse root; None: the table's log
    problem: str

    def __str__(self) -> str:
        where = f" file {self.file}" if self.file else ""
        return f"{self.tenant}/{self.relation} at version {self.version}:{where} {self.problem}"

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class StorageChecker:
    def __init__(
        self,
        store: DeltaStore,
        relations_of: Callable[[str], Mapping[str, TableDef]],
    ) -> None:
        self.store = store
        self.relations_of = relations_of

    def check(
        self, tenant: str, versions: Iterable[Mapping[str, int]], *, deep: bool = False
    ) -> list[Problem]:
        """The problems of the table versions named by each of ``versions`` (commits' table
        versions), each version checked once."""
        tables = self.relations_of(tenant)
        seen: set[tuple[str, int]] = set()
        problems: list[Problem] = []
        latest: dict[str, int] = {}
        for named in versions:
            for relation, version in sorted(named.items()):
                table = tables.get(relation)
                if table is None or version is None or (relation, version) in seen:
                    continue
                seen.add((relation, version))
                problems += self._version(tenant, table, version, deep, latest)
        return problems

    def _version(
        self, tenant: str, table: TableDef, version: int, deep: bool, latest: dict[str, int]
    ) -> list[Problem]:
        from deltalake import DeltaTable

        def problem(text: str, file: str | None = None) -> Problem:
            return Problem(tenant, table.relation, version, file, text)

        path = self.store.path(tenant, table)
        if table.relation not in latest:
            try:
                latest[table.relation] = DeltaTable(str(path)).version()
            except Exception as exc:  # the log itself is gone or unreadable
                latest[table.relation] = -1
                return [problem(f"its Delta log does not open ({_first(exc, self.store.root)})")]
        if latest[table.relation] < 0:
            return []  # said once, for its first version
        if latest[table.relation] < version:
            return [problem(f"its log ends at version {latest[table.relation]}, before the "
                            "version the commit names")]  # fmt: skip
        try:
            actions = pa.table(DeltaTable(str(path), version=version).get_add_actions(True))
        except Exception as exc:
            return [
                problem(f"its log does not open at this version ({_first(exc, self.store.root)})")
            ]
        out = []
        root = self.store.root
        for rel, size in zip(actions["path"].to_pylist(), actions["size_bytes"].to_pylist(),
                             strict=True):  # fmt: skip
            full = path / unquote(rel)
            shown = os.path.relpath(full, root)
            try:
                found = full.stat().st_size
            except FileNotFoundError:
                out.append(problem("missing", shown))
                continue
            if found != size:
                out.append(problem(f"{found:,} bytes, its log says {size:,} (truncated or "
                                   "overwritten)", shown))  # fmt: skip
            elif deep:
                try:
                    import pyarrow.parquet as pq

                    pq.ParquetFile(full).metadata  # noqa: B018 - reading the footer is the check
                except Exception as exc:
                    out.append(
                        problem(f"does not read as Parquet ({_first(exc, self.store.root)})", shown)
                    )
        return out

    def damaged(self, tenant: str, versions: Mapping[str, int], cause: BaseException) -> None:
        """Raise StorageDamaged naming the first problem of ``versions`` (what a failed read
        or write used), if the check finds one; return otherwise (the failure was not damage:
        the caller re-raises it)."""
        found = self.check(tenant, [versions])
        if not found:
            return
        first = found[0]
        more = f" (and {len(found) - 1} more: `ledgerhouse check`)" if len(found) > 1 else ""
        raise StorageDamaged(
            f"table {first.relation} of tenant {tenant} is damaged at version {first.version}: "
            f"{(first.file + ' ') if first.file else ''}{first.problem}{more}",
            hint=REPAIR_HINT,
            table=first.relation,
            version=first.version,
            file=first.file,
            problems=[p.to_dict() for p in found[:20]],
        ) from cause


def _first(exc: BaseException, root: Path) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return scrub_paths(text[:300], str(root))
