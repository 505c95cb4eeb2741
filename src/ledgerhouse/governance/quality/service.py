"""The quality service a Session calls: checks, results, scores, trend, runs on demand.

Every call takes the caller's Principal: reading checks, results and scores is
``read_governance`` (every role); adding or removing a tenant's checks and running them is
``manage_quality`` (steward, admin). A tenant sees and changes only its own.

A result's ``sample`` holds rows of the data: it is shown only to a caller who may ``read``
the relation the check judged (an auditor sees the verdict and the failing count, with
``sample`` empty and ``sample_withheld`` true), as the catalog does with its samples.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from ledgerhouse.access import Principal, Resource, authorize, may
from ledgerhouse.errors import InvalidRequest, NotFound, did_you_mean
from ledgerhouse.governance.errors import QualityCheckNotFound
from ledgerhouse.governance.quality.models import CheckSpec
from ledgerhouse.governance.quality.monitor import CheckCatalog, QualityMonitor
from ledgerhouse.governance.quality.scores import scores as score_table
from ledgerhouse.governance.quality.scores import trend as score_trend
from ledgerhouse.governance.quality.validation import parse_checks
from ledgerhouse.storage.metadata import MetadataStore

#: Longest YAML text of checks one upload may send.
MAX_YAML_CHARS = 256 * 1024


class QualityService:
    def __init__(self, monitor: QualityMonitor, meta: MetadataStore) -> None:
        self.monitor = monitor
        self.catalog: CheckCatalog = monitor.catalog
        self.meta = meta
        self.store = meta.quality

    def _authorize(self, principal: Principal, action: str, name: str | None = None) -> None:
        authorize(principal, action, Resource(principal.tenant, "quality", name))  # type: ignore[arg-type]

    def _known(self, relation: str | None, tenant: str) -> None:
        tables = self.catalog.tables_of(tenant)
        if relation is not None and relation not in tables:
            raise NotFound(
                f"no relation {relation!r}.{did_you_mean(relation, tables)}",
                hint="List the tables with `ledgerhouse tables`.",
            )

    # -- checks -------------------------------------------------------------------------------
    def checks(self, principal: Principal) -> list[dict[str, Any]]:
        """Every check of the tenant (built-in, cube folder, its own), by relation and name."""
        self._authorize(principal, "read_governance")
        specs = self.catalog.checks(principal.tenant)
        return [s.to_dict() for s in sorted(specs, key=lambda s: (s.relation, s.name))]

    def add_checks(self, principal: Principal, yaml_text: str) -> list[dict[str, Any]]:
        """Validate the checks of ``yaml_text`` and store them as the tenant's (a check of the
        same name as a built-in or an earlier one replaces it); return them."""
        self._authorize(principal, "manage_quality")
        if not isinstance(yaml_text, str) or not yaml_text.strip():
            raise InvalidRequest("no quality checks sent", hint="Send the YAML of the checks.")
        if len(yaml_text) > MAX_YAML_CHARS:
            raise InvalidRequest(
                f"the checks' YAML has {len(yaml_text):,} characters; the limit is "
                f"{MAX_YAML_CHARS:,}",
                hint="Split the checks into several uploads.",
            )
        env = self.catalog.env_of(principal.tenant, "upload")
        specs = parse_checks(yaml_text, origin="tenant", registry=self.catalog.registry, env=env)
        if not specs:
            raise InvalidRequest("the YAML declares no checks", hint="List them under checks:.")
        self.store.put_checks(principal.tenant, [s.to_dict() for s in specs], principal.user)
        return [s.to_dict() for s in specs]

    def remove_check(self, principal: Principal, name: str) -> dict[str, Any]:
        """Remove one of the tenant's checks (a built-in it replaced comes back)."""
        self._authorize(principal, "manage_quality", name)
        own = {s.name: s for s in self.catalog.tenant_checks(principal.tenant)}
        if name not in own:
            if name in self.catalog.files:
                raise QualityCheckNotFound(
                    f"check {name!r} is {self.catalog.files[name].origin.replace('_', ' ')}, "
                    "not one of the tenant's: it cannot be removed",
                    hint="Replace it: add a check of the same name (e.g. with severity warn).",
                    check=name,
                )
            raise QualityCheckNotFound(
                f"the tenant has no quality check {name!r}.{did_you_mean(name, own)}",
                hint="List the checks with `ledgerhouse quality checks`.",
                check=name,
            )
        self.store.remove_check(principal.tenant, name)
        return own[name].to_dict()

    # -- results ------------------------------------------------------------------------------
    def results(
        self,
        principal: Principal,
        *,
        relation: str | None = None,
        check: str | None = None,
        status: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Check results, newest first (commits, rejected batches and on-demand runs)."""
        self._authorize(principal, "read_governance")
        if not 1 <= limit <= 10_000:
            raise InvalidRequest(f"limit {limit} is out of range", hint="Use 1-10000.")
        self._known(relation, principal.tenant)
        rows = self.store.results(
            principal.tenant, relation=relation, check=check, status=status, limit=limit
        )
        return [_visible(principal, r) for r in rows]

    def scores(self, principal: Principal) -> list[dict[str, Any]]:
        """The quality score of each relation with results (docs/governance/quality.md)."""
        self._authorize(principal, "read_governance")
        return score_table(self.store.latest(principal.tenant))

    def trend(
        self,
        principal: Principal,
        *,
        relation: str | None = None,
        by: str = "day",
        since: date | datetime | str | None = None,
    ) -> list[dict[str, Any]]:
        """Each relation's score after each commit (``by="commit"``) or day (``"day"``)."""
        self._authorize(principal, "read_governance")
        if by not in ("day", "commit"):
            raise InvalidRequest(f"by {by!r} is not day or commit", hint="Use by=day|commit.")
        self._known(relation, principal.tenant)
        if isinstance(since, str):
            try:
                datetime.fromisoformat(since)
            except ValueError:
                raise InvalidRequest(
                    f"since {since[:80]!r} is not a date",
                    hint="Give a date or a time as YYYY-MM-DD[THH:MM:SS].",
                ) from None
        rows = self.store.results(
            principal.tenant, relation=relation, limit=None, oldest_first=True
        )
        start = since.isoformat() if isinstance(since, date | datetime) else since
        return score_trend(rows, by=by, relation=relation, since=start)

    def run(self, principal: Principal, relation: str | None = None) -> list[dict[str, Any]]:
        """Run every check (of ``relation``) over the whole latest commit, now; record the
        results with that commit (trigger ``on_demand``) and return them."""
        self._authorize(principal, "manage_quality")
        self._known(relation, principal.tenant)
        commit = self.meta.commit_log.latest_commit(principal.tenant)
        if commit is None:
            raise NotFound(
                f"tenant {principal.tenant!r} has no warehouse commit",
                hint="Run `ledgerhouse init` first.",
            )
        results = self.monitor.run(
            principal.tenant, {}, commit.table_versions, on_demand=True, relation=relation
        )
        rows = [r.to_dict() | {"observed": None} for r in results]
        self.store.record(principal.tenant, rows, commit_id=commit.id, batch_id=None)
        self.monitor._alert(
            principal.tenant, rows, commit_id=commit.id, batch_id=None, rejected=False
        )
        return [_visible(principal, r | {"commit_id": commit.id}) for r in rows]

    # -- for the governance report and the catalog (no principal: the composition root's) ----
    def results_between(self, tenant: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        return self.store.results(tenant, since=start, until=end, limit=None)

    def score(self, tenant: str, relation: str) -> float | None:
        """The relation's score (None: no verdict yet), for the catalog."""
        return self.scores_of(tenant).get(relation)

    def scores_of(self, tenant: str) -> dict[str, float | None]:
        return {s["relation"]: s["score"] for s in score_table(self.store.latest(tenant))}

    def trend_between(self, tenant: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        rows = self.store.results(tenant, until=end, limit=None, oldest_first=True)
        return score_trend(rows, by="day", since=start.isoformat())

    def freshness(self, tenant: str) -> list[dict[str, Any]]:
        """The newest verdict of each freshness check: relation, expected, age, fresh."""
        out = []
        for r in self.store.latest(tenant):
            if r["kind"] != "freshness":
                continue
            d = r["detail"]
            out.append(
                {
                    "relation": r["relation"],
                    "check": r["check"],
                    "expected": d.get("expected"),
                    "max_age_s": d.get("max_age_s"),
                    "last_loaded_at": d.get("last_loaded_at"),
                    "age_s": d.get("age_s"),
                    "fresh": d.get("fresh"),
                    "checked_at": r["recorded_at"],
                }
            )
        return out


def _visible(principal: Principal, row: dict[str, Any]) -> dict[str, Any]:
    """``row`` as ``principal`` may see it: the sample rows are data, kept only for a caller
    who may read the relation judged (a custom SQL check's too: every relation it reads is
    the tenant's, under the same grants)."""
    readable = may(principal, "read", Resource(principal.tenant, "table", row.get("relation")))
    if readable:
        return row | {"sample_withheld": False}
    return row | {"sample": [], "sample_withheld": bool(row.get("sample"))}


__all__ = ["CheckSpec", "QualityService"]
