"""The quality checks inside every commit: a commit listener and a commit observer.

The listener (``on_commit``, registered after the mart refresher, so marts and rollups are
checked too) runs the checks the commit concerns over its changed rows, leaves the results in
``txn.notes["quality"]`` and, when a check of severity ``error`` failed, raises
``QualityGateFailed``: the commit is not made, and recovery rolls the staged versions back on
the next transaction. The observer records the results after the commit point (with the
commit id), or after the rejection (with the batch id), and sends the alerts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ledgerhouse.governance.errors import QualityGateFailed
from ledgerhouse.governance.quality import alerts as alert_events
from ledgerhouse.governance.quality.alerts import WebhookAlerts
from ledgerhouse.governance.quality.kinds import KindRegistry
from ledgerhouse.governance.quality.models import CheckResult, CheckSpec
from ledgerhouse.governance.quality.runner import PinnedSql, RunContext, evaluate
from ledgerhouse.governance.quality.validation import Validation, load_folder
from ledgerhouse.model.schema import TableDef
from ledgerhouse.storage.commits import CommitWriter, Transaction
from ledgerhouse.storage.quality import QualityStore

log = logging.getLogger("ledgerhouse.quality")

BUILTIN_DIR = Path(__file__).parent / "checks"
NOTE = "quality"


class CheckCatalog:
    """Every check of a tenant: the built-in ones, the cube folder's (``<cube_dir>/checks/
    *.yaml``), and the tenant's own (metadata store), which replace one of the same name."""

    def __init__(
        self,
        registry: KindRegistry,
        tables: Mapping[str, TableDef],
        store: QualityStore,
        guard: Callable[[str], frozenset[str]],
        cube_dir: Path | None = None,
    ) -> None:
        self.registry = registry
        self.tables = tables
        self.store = store
        self.env = Validation(tables, guard)
        #: a tenant's own tables and the guard over them (its schema: docs/tenancy/schemas.md)
        self.tenant_tables: Callable[[str], Mapping[str, TableDef]] = lambda _tenant: {}
        self.tenant_guard: Callable[[str, str], frozenset[str]] = lambda _tenant, sql: guard(sql)
        self.files: dict[str, CheckSpec] = {}
        for spec in load_folder(BUILTIN_DIR, origin="builtin", registry=registry, env=self.env):
            self.files[spec.name] = spec
        if cube_dir is not None:
            for spec in load_folder(
                cube_dir / "checks", origin="cube_dir", registry=registry, env=self.env
            ):
                self.files[spec.name] = spec  # a cube folder's check replaces a built-in

    def tenant_checks(self, tenant: str) -> list[CheckSpec]:
        out = []
        for d in self.store.checks(tenant):
            out.append(
                CheckSpec(
                    d["name"], d["relation"], d["kind"], d["severity"], d.get("description", ""),
                    dict(d.get("params") or {}), "tenant",
                )
            )  # fmt: skip
        return out

    def tables_of(self, tenant: str) -> Mapping[str, TableDef]:
        """The shared tables and the tenant's own."""
        extra = self.tenant_tables(tenant)
        return {**self.tables, **extra} if extra else self.tables

    def env_of(self, tenant: str, source: str) -> Validation:
        """What validating a tenant's declaration checks against: its tables, its guard."""
        return Validation(self.tables_of(tenant), lambda sql: self.tenant_guard(tenant, sql),
                          source=source)  # fmt: skip

    def checks(self, tenant: str) -> list[CheckSpec]:
        merged = dict(self.files)
        for spec in self.tenant_checks(tenant):
            merged[spec.name] = spec
        tables = self.tables_of(tenant)
        return [s for s in merged.values() if s.relation in tables]


class QualityMonitor:
    """The commit listener and observer of the quality checks (wired in services.py)."""

    def __init__(
        self,
        catalog: CheckCatalog,
        sql: PinnedSql,
        writer: CommitWriter,
        store: QualityStore,
        alerts: WebhookAlerts,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.catalog = catalog
        self.sql = sql
        self.writer = writer
        self.store = store
        self.alerts = alerts
        self.clock = clock

    # -- running ------------------------------------------------------------------------------
    def run(
        self,
        tenant: str,
        committed: Mapping[str, int],
        versions: Mapping[str, int],
        *,
        on_demand: bool = False,
        relation: str | None = None,
    ) -> list[CheckResult]:
        specs = self.catalog.checks(tenant)
        if relation is not None:
            specs = [s for s in specs if s.relation == relation]
        if not specs:
            return []

        def history(spec: CheckSpec, limit: int) -> list[float]:
            return self.store.observations(tenant, spec.name, spec.relation, limit)

        with self.sql.pinned(tenant) as session:
            ctx = RunContext(
                tenant, session, versions, committed, self.clock(), history, on_demand=on_demand
            )
            return evaluate(specs, self.catalog.registry, ctx, only_changed=not on_demand)

    def on_commit(
        self, tenant: str, committed: dict[str, int], versions: dict[str, int]
    ) -> dict[str, int]:
        """The commit listener: check, note, and refuse the commit on a failed error check.
        Commits that bring no data (``init``: empty tables and the generated calendar;
        ``upgrade``: published data rewritten in a new layout; metadata edits) are not
        checked: there is nothing new to judge, and refusing them would lock a warehouse."""
        txn = self.writer.current
        if txn is not None and _brings_no_data(txn.operation):
            return {}
        results = self.run(tenant, committed, versions)
        rows = [_row(r) for r in results]
        if txn is not None:
            txn.notes[NOTE] = rows
            flagged = [r for r in rows if r["status"] not in ("pass", "skipped")]
            if txn.report:  # the batch's ledger entry: what the checks found, with the commit
                txn.report[NOTE] = [_summary(r) for r in flagged]
        blocking = [r for r in results if r.blocks]
        if blocking:
            names = ", ".join(f"{r.check} ({r.failing} failing)" for r in blocking)
            raise QualityGateFailed(
                f"quality check{'s' if len(blocking) > 1 else ''} of severity error failed: "
                f"{names}; nothing was published",
                hint="Fix the data (the sample rows show the failures) and send the batch "
                "again, or change the check (`ledgerhouse quality add`); see "
                "`ledgerhouse quality results`.",
                checks=[_summary(_row(r)) for r in blocking],
            )
        return {}

    # -- the observer -------------------------------------------------------------------------
    def started(self, txn: Transaction) -> None:
        pass

    def abandoned(self, txn: Transaction) -> None:
        pass

    def committed(self, txn: Transaction) -> None:
        rows = txn.notes.get(NOTE)
        if not rows or txn.commit is None:
            return
        batch_id = txn.commit.batch_id
        self.store.record(txn.tenant, rows, commit_id=txn.commit.id, batch_id=batch_id)
        self._alert(txn.tenant, rows, commit_id=txn.commit.id, batch_id=batch_id, rejected=False)

    def failed(self, txn: Transaction, error: BaseException) -> None:
        rows = txn.notes.get(NOTE)
        if not rows or not isinstance(error, QualityGateFailed):
            return  # another failure: nothing was judged, or the verdicts do not matter
        batch_id = txn.report.get("batch_id") if txn.report else None
        self.store.record(txn.tenant, rows, commit_id=None, batch_id=batch_id)
        self._alert(txn.tenant, rows, commit_id=None, batch_id=batch_id, rejected=True)

    def _alert(self, tenant: str, rows: list[dict[str, Any]], **where: Any) -> None:
        try:
            self.alerts.send(alert_events.events(tenant, rows, **where))
        except Exception:  # alerts never change an outcome
            log.exception("queueing quality alerts failed")


def _row(r: CheckResult) -> dict[str, Any]:
    d = r.to_dict()
    observed = r.detail.get("observed")
    d["observed"] = float(observed) if isinstance(observed, int | float) else None
    return d


def _summary(r: dict[str, Any]) -> dict[str, Any]:
    keys = ("check", "relation", "kind", "severity", "status", "failing", "rows_checked",
            "message", "sample")  # fmt: skip
    return {k: r[k] for k in keys}


def _brings_no_data(operation: str) -> bool:
    return operation in ("init", "upgrade") or operation.startswith("metadata:")
