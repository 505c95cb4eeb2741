"""Running checks over one set of table versions: inside a commit, or on demand.

The SQL runs on one session of the tenant's engine (``PinnedSql``, passed in by the
composition root: governance does not import the query layer) with every relation a check
reads bound under its own name to its new version, and under ``changed__<relation>`` to the
rows that version added since the committed one — the changed partitions, from the Delta log.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

import pyarrow as pa

from ledgerhouse.errors import LedgerhouseError
from ledgerhouse.governance.quality.kinds import KindRegistry
from ledgerhouse.governance.quality.models import SAMPLE_ROWS, CheckResult, CheckSpec, Outcome


class PinnedSession(Protocol):
    """One engine session whose relations are table versions, committed or not."""

    def bind(
        self,
        name: str,
        relation: str,
        version: int | None,
        since: int | None,
        *,
        kept: bool = False,
    ) -> None:
        """Bind ``name`` to ``relation`` at ``version``; with ``since``, to the rows of the
        files that version added after version ``since`` only, or (``kept``) to the rows of the
        files it kept from ``since``."""

    def execute(self, sql: str) -> pa.Table:
        """Run Ledgerhouse's own SQL (the engine's dialect), whole answer."""
        ...

    def checked(self, sql: str) -> tuple[str, frozenset[str]]:
        """A caller's SQL through the guard: its checked text and the relations it reads."""
        ...


class PinnedSql(Protocol):
    """Opens a pinned session on a tenant's engine (query/marts.py ``MartRefresher``)."""

    def pinned(self, tenant: str) -> AbstractContextManager[PinnedSession]: ...

    def guard(self, sql: str) -> frozenset[str]:
        """The relations ``sql`` reads (QueryRejected when the guard refuses it)."""
        ...


class RunContext:
    """What a kind sees of the commit: names to read, row counts, history, the clock."""

    def __init__(
        self,
        tenant: str,
        session: PinnedSession,
        versions: Mapping[str, int],
        committed: Mapping[str, int],
        now: datetime,
        history: Callable[[CheckSpec, int], list[float]],
        *,
        on_demand: bool = False,
    ) -> None:
        self.tenant = tenant
        self.session = session
        self.versions = versions
        self.committed = committed
        self.now = now
        self.on_demand = on_demand
        self._history = history
        self._bound: set[str] = set()
        self._counts: dict[str, int] = {}

    def is_changed(self, relation: str) -> bool:
        return self.versions.get(relation) != self.committed.get(relation)

    def table(self, relation: str) -> str:
        """The SQL name of ``relation``'s new version, whole."""
        if relation not in self._bound:
            self.session.bind(relation, relation, self.versions.get(relation), None)
            self._bound.add(relation)
        return _ident(relation)

    def changed(self, relation: str) -> str:
        """The SQL name of the rows ``relation``'s new version added (every row on demand)."""
        name = f"changed__{relation}"
        if name not in self._bound:
            since = None if self.on_demand else self.committed.get(relation)
            self.session.bind(name, relation, self.versions.get(relation), since)
            self._bound.add(name)
        return _ident(name)

    def kept(self, relation: str) -> str:
        """The SQL name of the rows ``relation``'s new version kept from the committed one
        (none on demand: every row counts as changed)."""
        name = f"kept__{relation}"
        if name not in self._bound:
            since = self.committed.get(relation)
            if self.on_demand or since is None:
                self.session.bind(
                    name, relation, self.versions.get(relation), self.versions.get(relation)
                )
            else:
                self.session.bind(name, relation, self.versions.get(relation), since, kept=True)
            self._bound.add(name)
        return _ident(name)

    def changed_rows(self, relation: str) -> int:
        if relation not in self._counts:
            self._counts[relation] = int(
                self.scalar(f"SELECT count(*) FROM {self.changed(relation)}") or 0
            )
        return self._counts[relation]

    def query(self, sql: str) -> pa.Table:
        return self.session.execute(sql)

    def scalar(self, sql: str) -> Any:
        table = self.session.execute(sql)
        return table.column(0)[0].as_py() if table.num_rows else None

    def checked(self, sql: str) -> str:
        """A caller's SQL through the guard, each relation it reads bound to its new version."""
        text, relations = self.session.checked(sql)
        for relation in relations:
            self.table(relation)
        return text

    def failing(self, sql: str, rows_checked: int, sample: str | None = None) -> Outcome:
        """Count the rows ``sql`` returns (the failures); when there are any, keep a sample of
        the rows ``sample`` returns (default ``sql``). Counting first with the fewest columns
        keeps a passing check from reading every column of the changed rows."""
        failing = int(self.scalar(f"SELECT count(*) FROM ({sql}) AS q") or 0)
        if failing == 0:
            return Outcome(rows_checked=rows_checked)
        table = self.session.execute(f"SELECT * FROM ({sample or sql}) AS q LIMIT {SAMPLE_ROWS}")
        rows = [{k: jsonable(v) for k, v in row.items()} for row in table.to_pylist()]
        return Outcome(failing=failing, rows_checked=rows_checked, sample=rows)

    def history(self, spec: CheckSpec, limit: int) -> list[float]:
        return self._history(spec, limit)


def evaluate(
    specs: list[CheckSpec],
    registry: KindRegistry,
    ctx: RunContext,
    *,
    only_changed: bool = True,
) -> list[CheckResult]:
    """Run each check the commit concerns (all of them on demand); a check that cannot run
    is an ``error`` result, never an exception."""
    changed = {r for r in ctx.versions if ctx.is_changed(r)}
    results: list[CheckResult] = []
    for spec in specs:
        kind = registry.get(spec.kind, check=spec.name)
        if spec.relation not in ctx.versions:
            continue  # a relation this commit does not have (a rollup of a removed cube)
        if only_changed and not (kind.every_commit(spec) or kind.reads(spec) & changed):
            continue
        started = time.perf_counter()
        try:
            outcome = kind.run(spec, ctx)
            message = ""
        except LedgerhouseError as exc:
            outcome, message = Outcome(), f"the check could not run: {exc.message}"
            status = "error"
        except Exception as exc:  # a bug in a kind must not pass as a pass
            outcome, message = Outcome(), f"the check could not run: {type(exc).__name__}: {exc}"
            status = "error"
        else:
            status = _status(spec, outcome)
            message = _message(spec, outcome, status)
        results.append(
            CheckResult(
                check=spec.name,
                relation=spec.relation,
                kind=spec.kind,
                severity=spec.severity,
                status=status,  # type: ignore[arg-type]
                failing=outcome.failing,
                rows_checked=outcome.rows_checked,
                sample=outcome.sample,
                detail=outcome.detail,
                duration_ms=(time.perf_counter() - started) * 1000,
                message=message,
                trigger="on_demand" if ctx.on_demand else "commit",
            )
        )
    return results


def _status(spec: CheckSpec, outcome: Outcome) -> str:
    if outcome.skipped:
        return "skipped"
    if outcome.failing == 0:
        return "pass"
    return "fail" if spec.severity == "error" else "warn"


def _message(spec: CheckSpec, outcome: Outcome, status: str) -> str:
    if status == "skipped":
        return str(outcome.detail.get("why", "no verdict"))
    if status == "pass":
        return ""
    if spec.kind == "freshness":
        d = outcome.detail
        return (
            f"{spec.relation}.{spec.params['column']} is {_age(d.get('age_s', 0))} old; "
            f"expected at most {spec.params['max_age']}"
        )
    if spec.kind == "volume":
        d = outcome.detail
        return (
            f"{spec.relation} got {d['observed']} rows; its last {d['history']} commits "
            f"suggest {d['expected_low']:g} to {d['expected_high']:g}"
        )
    return (
        f"{outcome.failing} of {outcome.rows_checked} rows of {spec.relation} fail "
        f"{spec.kind} ({spec.name})"
    )


def _age(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds / 60:.0f} minutes"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def jsonable(value: Any) -> Any:
    """A sample value as JSON: exact decimals and dates as text, NaN as null."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
