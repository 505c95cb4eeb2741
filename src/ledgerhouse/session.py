"""A caller's session: one Principal and everything it may ask of a warehouse.

The in-process twin of the HTTP client (``ledgerhouse.client.Client``): the same calls with
the same answers (tests/interface/test_caller_behaviours.py runs one suite against both),
made as the principal the session was opened for. Each method is one call of a domain service with
that principal; the services authorize it (``access.authorize``).

    from ledgerhouse import Warehouse
    wh = Warehouse.open(root="./warehouse")
    me = wh.local(tenant="default", roles=("reader",))   # or wh.session(principal)
    me.query("SELECT count(*) FROM fact_trade").rows()
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import polars as pl

from ledgerhouse.access import Principal, withheld
from ledgerhouse.analytics import AnalyticsService, Conventions
from ledgerhouse.ingest import BatchReport
from ledgerhouse.ingest.progress import Progress
from ledgerhouse.query import AsOf, CancelToken, Explain, Export, ExportResult, QueryResult
from ledgerhouse.semantic import CubeQuery, CubeResult
from ledgerhouse.storage import ApiKeyRecord, IssuedKey, WarehouseCommit

if TYPE_CHECKING:
    from ledgerhouse.services import Warehouse


class Session:
    def __init__(self, warehouse: Warehouse, principal: Principal) -> None:
        self.warehouse = warehouse
        self.principal = principal

    def __repr__(self) -> str:
        p = self.principal
        return f"<Session {p.user!r} of {p.tenant!r} as {', '.join(p.roles)}>"

    # -- reads --------------------------------------------------------------------------------
    def query(
        self,
        sql: str,
        *,
        as_of: AsOf = None,
        limit: int | None = None,
        params: list[Any] | None = None,
        timeout_s: float | None = None,
        explain: Explain = None,
        cancel: CancelToken | None = None,
        use_cache: bool = True,
    ) -> QueryResult:
        """Run one guarded SQL query on a pinned commit (the latest, or ``as_of``)."""
        return self.warehouse.queries.sql(
            self.principal, sql, as_of=as_of, limit=limit, params=params, timeout_s=timeout_s,
            explain=explain, cancel=cancel, use_cache=use_cache,
        )  # fmt: skip

    @contextmanager
    def stream(
        self,
        sql: str,
        *,
        as_of: AsOf = None,
        limit: int | None = None,
        params: list[Any] | None = None,
        timeout_s: float | None = None,
        cancel: CancelToken | None = None,
        batch_rows: int = 65_536,
    ) -> Iterator[Export]:
        """Every row of one guarded query as Arrow batches, with no row cap (``limit`` when
        given), never from the cache::

            with me.stream("SELECT * FROM fact_trade") as export:
                for batch in export.batches:  # pyarrow.RecordBatch, at most batch_rows rows
                    ...

        The query holds its admission slot and its time limit until the ``with`` ends."""
        with self.warehouse.queries.export(
            self.principal, sql, as_of=as_of, params=params, limit=limit,
            timeout_s=timeout_s, cancel=cancel, batch_rows=batch_rows,
        ) as export:  # fmt: skip
            yield export

    def export(
        self,
        sql: str,
        sink: str | Path | IO[bytes],
        *,
        format: str = "parquet",
        as_of: AsOf = None,
        limit: int | None = None,
        params: list[Any] | None = None,
        timeout_s: float | None = None,
        cancel: CancelToken | None = None,
    ) -> ExportResult:
        """Write every row of one guarded query to ``sink`` (a path, or a binary file) as
        ``parquet``, ``csv`` or ``arrow`` (an IPC stream), batch by batch. A path appears only
        once every row is written: a failure leaves no file."""
        from ledgerhouse.query.exports import check_format, write

        check_format(format)
        with self.stream(
            sql, as_of=as_of, limit=limit, params=params, timeout_s=timeout_s, cancel=cancel
        ) as export:
            size = write(export.schema, export.batches, sink, format)
        return ExportResult(export.query_id, export.commit, format, export.rows, size)

    def tables(self, *, as_of: AsOf = None) -> list[dict[str, Any]]:
        """Every queryable table with its layer, description, pinned version and row count."""
        return self.warehouse.catalog.tables(self.principal, as_of=as_of)

    def commits(self, limit: int = 100) -> list[WarehouseCommit]:
        """The tenant's warehouse commits, newest first."""
        return self.warehouse.catalog.commits(self.principal, limit)

    def query_log_entries(
        self, *, status: str | None = None, slowest: bool = False, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Logged queries of the tenant, newest (or slowest) first."""
        return self.warehouse.catalog.query_log_entries(
            self.principal, status=status, slowest=slowest, limit=limit
        )

    def query_log_entry(self, query_id: str, *, plan: bool = False) -> dict[str, Any]:
        """One logged query; with ``plan``, the engine's plan for it on the commit it pinned."""
        return self.warehouse.catalog.query_log_entry(self.principal, query_id, plan=plan)

    # -- lineage ------------------------------------------------------------------------------
    def lineage(
        self,
        relation: str,
        column: str | None = None,
        *,
        direction: str = "upstream",
        depth: int | None = None,
        as_of: AsOf = None,
    ) -> dict[str, Any]:
        """Where a relation (or one of its columns) comes from (``upstream``) or what is made
        from it (``downstream``), in the lineage graph of the pinned commit
        (docs/governance/lineage.md)."""
        return self.warehouse.lineage.lineage(
            self.principal, relation, column, direction=direction, depth=depth, as_of=as_of
        )

    def explain_cell(self, query_id: str, row: int) -> dict[str, Any]:
        """Cell lineage of row ``row`` (0-based) of a logged answer: the source batches, the
        raw records' location and the column paths, reproduced at the answer's commit."""
        if self._restricted():  # another's answer: not found, as in the query log
            self.warehouse.catalog.query_log_entry(self.principal, query_id)
        cell = self.warehouse.lineage.explain_cell(self.principal, query_id, row)
        return withheld.cell(cell) if self._restricted() else cell

    def lineage_events(self, limit: int = 100, job: str | None = None) -> list[dict[str, Any]]:
        """The tenant's latest OpenLineage run events (of ``job`` only, when named), newest
        first, as the JSON they were emitted as (docs/governance/openlineage.md)."""
        events = self.warehouse.openlineage.events(self.principal, limit=limit, job=job)
        return [withheld.lineage_event(e) for e in events] if self._restricted() else events

    # -- cubes --------------------------------------------------------------------------------
    def cubes(self, *, as_of: AsOf = None) -> list[dict[str, Any]]:
        """Metadata of every cube, with each rollup's rows at the pinned commit."""
        return self.warehouse.cube_service.cubes(self.principal, as_of=as_of)

    def cube(
        self,
        cube: str,
        query: CubeQuery | dict[str, Any] | str,
        *,
        dry_run: bool = False,
        timeout_s: float | None = None,
        cancel: CancelToken | None = None,
    ) -> CubeResult:
        """Answer a cube query on one pinned commit (from a rollup when one answers it
        exactly); ``dry_run`` returns the plan (SQL, route) without running."""
        return self.warehouse.cube_service.cube(
            self.principal, cube, query, dry_run=dry_run, timeout_s=timeout_s, cancel=cancel
        )

    def cube_drill(
        self,
        cube: str,
        query: CubeQuery | dict[str, Any] | str,
        hierarchy: str,
        *,
        up: bool = False,
        value: Any = None,
    ) -> CubeQuery:
        """The query rolled up (``up``) or drilled down one level along ``hierarchy``."""
        return self.warehouse.cube_service.drill(
            self.principal, cube, query, hierarchy, up=up, value=value
        )

    # -- metadata, glossary and catalog (docs/governance/metadata.md, catalog.md) -------------
    def describe_object(self, name: str) -> dict[str, Any]:
        """An object's metadata: ``fact_trade``, ``fact_trade.price``, ``cube:trades``,
        ``cube:trades.notional``, ``term:Exposure``: description, owner, tags,
        classifications, glossary terms, version; its columns or members; a term's links."""
        return self.warehouse.metadata.describe(self.principal, name)

    def annotate(
        self,
        name: str,
        *,
        owner: str | None = None,
        description: str | None = None,
        tags: list[str] | None = None,
        classifications: list[str] | None = None,
        terms: list[str] | None = None,
        reset: list[str] | None = None,
        reason: str | None = None,
    ) -> dict[str, Any]:
        """Set an object's owner, description, tags, classifications or glossary terms (None
        leaves a field; ``reset`` returns fields to their built-in value); a steward's or an
        admin's call, versioned. Returns the object's metadata with the ``change`` made."""
        return self.warehouse.metadata.annotate(
            self.principal, name, owner=owner, description=description, tags=tags,
            classifications=classifications, terms=terms, reset=reset or (), reason=reason,
        )  # fmt: skip

    def metadata_history(
        self, name: str | None = None, *, limit: int = 100
    ) -> list[dict[str, Any]]:
        """The changes of one object (every object when None), newest first: who, when, the
        fields before and after, the reason."""
        return self.warehouse.metadata.history(self.principal, name, limit=limit)

    def glossary(self) -> list[dict[str, Any]]:
        """The tenant's glossary terms: definition, owner, synonyms and the linked objects."""
        return self.warehouse.metadata.glossary(self.principal)

    def define_term(
        self,
        name: str,
        *,
        definition: str | None = None,
        owner: str | None = None,
        synonyms: list[str] | None = None,
        reason: str | None = None,
    ) -> dict[str, Any]:
        """Add a glossary term (a definition is required) or change one."""
        return self.warehouse.metadata.define_term(
            self.principal, name, definition=definition, owner=owner, synonyms=synonyms,
            reason=reason,
        )  # fmt: skip

    def link_term(
        self, term: str, objects: list[str], *, unlink: bool = False, reason: str | None = None
    ) -> list[dict[str, Any]]:
        """Link a glossary term to columns, measures or other objects (``unlink`` removes)."""
        return self.warehouse.metadata.link_term(
            self.principal, term, objects, unlink=unlink, reason=reason
        )

    def catalog_search(
        self,
        text: str = "",
        *,
        kind: str | list[str] | None = None,
        layer: str | list[str] | None = None,
        tag: str | list[str] | None = None,
        owner: str | list[str] | None = None,
        classification: str | list[str] | None = None,
        limit: int = 10,
        samples: bool = True,
    ) -> dict[str, Any]:
        """Ranked search of the tenant's tables, columns, cubes, measures, dimensions and
        glossary terms, with facet counts; each hit with its lineage, freshness, quality
        score, row count and (when the caller may read the table) sample values."""
        return self.warehouse.catalog_index.search(
            self.principal, text, kind=kind, layer=layer, tag=tag, owner=owner,
            classification=classification, limit=limit, samples=samples,
        )  # fmt: skip

    # -- the tenant's own schema (docs/tenancy/schemas.md) -----------------------------------
    def schema(self) -> list[dict[str, Any]]:
        """The tenant's own extensions, cubes and marts (active and dropped)."""
        return self.warehouse.schemas.objects(self.principal)

    def add_schema(self, declaration: str | dict[str, Any]) -> dict[str, Any]:
        """Add an extension of a dimension, a mart or a cube (YAML text or a mapping; admins:
        ``manage_schema``); its tables are created in a commit of their own."""
        return self.warehouse.schemas.add(self.principal, declaration)

    def add_cube(self, yaml_text: str) -> dict[str, Any]:
        """Add (or replace) one of the tenant's own cubes (the format of docs/cubes.md)."""
        return self.warehouse.schemas.add_cube(self.principal, yaml_text)

    def drop_schema(self, kind: str, name: str) -> dict[str, Any]:
        """Drop the tenant's extension, cube or mart ``name``."""
        return self.warehouse.schemas.drop(self.principal, kind, name)

    def advise_rollups(
        self,
        *,
        days: float = 30.0,
        min_queries: int = 2,
        limit: int = 10,
        apply: bool = False,
        names: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        """The rollups the advisor proposes from the tenant's cube queries the star answered
        in the last ``days`` (admins: ``manage_schema``), each with its measured cost and
        size; ``apply`` adds them (or those of ``names``) as the tenant's own rollups."""
        from ledgerhouse.access import Resource, authorize
        from ledgerhouse.errors import LedgerhouseError

        authorize(self.principal, "manage_schema", Resource(self.principal.tenant, "schema"))
        proposals = self.warehouse.advisor.advise(
            self.principal.tenant, days=days, min_queries=min_queries, limit=limit
        )
        unknown = sorted(set(names or ()) - {p.name for p in proposals})
        if unknown:
            from ledgerhouse.errors import NotFound

            raise NotFound(
                f"no proposal named {', '.join(unknown)}",
                hint="List the proposals with `ledgerhouse optimize advise` (they follow the "
                "query log: a proposal a rollup now answers is gone).",
            )
        out = []
        for p in proposals:
            item = {**p.to_dict(), "applied": None, "error": None}
            if apply and (names is None or p.name in names):
                try:
                    added = self.warehouse.schemas.add_rollup(self.principal, p.spec())
                    item["applied"] = added["relation"]
                except LedgerhouseError as exc:  # one refused: the others are still applied
                    item["error"] = exc.message
            out.append(item)
        return out

    # -- data quality (docs/governance/quality.md) --------------------------------------------
    def quality_checks(self) -> list[dict[str, Any]]:
        """Every quality check of the tenant: built-in, beside the cubes, and its own."""
        return self.warehouse.quality.checks(self.principal)

    def add_quality_checks(self, yaml_text: str) -> list[dict[str, Any]]:
        """Validate and store the tenant's checks of a YAML text (stewards, admins); a check
        named like an existing one replaces it. Returns the checks as stored."""
        return self.warehouse.quality.add_checks(self.principal, yaml_text)

    def remove_quality_check(self, name: str) -> dict[str, Any]:
        """Remove one of the tenant's own checks (stewards, admins)."""
        return self.warehouse.quality.remove_check(self.principal, name)

    def quality_results(
        self,
        relation: str | None = None,
        *,
        check: str | None = None,
        status: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Check results, newest first: per commit, rejected batch and on-demand run."""
        rows = self.warehouse.quality.results(
            self.principal, relation=relation, check=check, status=status, limit=limit
        )
        return [withheld.quality_result(r) for r in rows] if self._restricted() else rows

    def quality_scores(self) -> list[dict[str, Any]]:
        """The quality score (0-100) of each checked relation, from its newest results."""
        return self.warehouse.quality.scores(self.principal)

    def quality_trend(
        self, relation: str | None = None, *, by: str = "day", since: date | str | None = None
    ) -> list[dict[str, Any]]:
        """Each relation's score after each commit (``by="commit"``) or at each day's end."""
        return self.warehouse.quality.trend(self.principal, relation=relation, by=by, since=since)

    def run_quality(self, relation: str | None = None) -> list[dict[str, Any]]:
        """Run the checks (of ``relation``) over the whole latest commit now; the results are
        recorded with that commit (stewards, admins)."""
        return self.warehouse.quality.run(self.principal, relation)

    # -- ingestion ----------------------------------------------------------------------------
    def ingest(
        self,
        dataset: str,
        data: bytes | str | Path,
        *,
        fmt: str | None = None,
        batch_id: str | None = None,
        progress: Progress | None = None,
    ) -> BatchReport:
        """Ingest one batch of ``dataset`` from bytes or a file path; exactly once."""
        return self.warehouse.ingestion.ingest(
            self.principal, dataset, data, fmt=fmt, batch_id=batch_id, progress=progress
        )

    def batch(self, batch_id: str) -> dict[str, Any]:
        """One batch's report (committed or rejected)."""
        report = self.warehouse.ingestion.batch(self.principal, batch_id)
        return withheld.batch_report(report) if self._restricted() else report

    def batches(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest batches' reports, newest first."""
        reports = self.warehouse.ingestion.batches(self.principal, limit)
        return [withheld.batch_report(r) for r in reports] if self._restricted() else reports

    # -- analytics ----------------------------------------------------------------------------
    def analytics(self) -> AnalyticsService:
        """The analytics service reading as this session's principal (docs/analytics.md)."""
        return self.warehouse.analytics_jobs.service(self.principal)

    def performance(
        self,
        portfolios: list[str] | None = None,
        *,
        start: date | None = None,
        end: date | None = None,
        conventions: Conventions | dict[str, Any] | None = None,
        as_of: AsOf = None,
    ) -> tuple[pl.DataFrame, int]:
        """Performance and risk of the portfolios (all when none) on one commit: TWR,
        annualized and money-weighted returns, volatility, Sharpe, Sortino, Calmar, drawdown,
        VaR, expected shortfall, and benchmark-relative figures. The report and the commit."""
        return self.warehouse.analytics_jobs.performance(
            self.principal, portfolios, start=start, end=end, conventions=conventions, as_of=as_of
        )

    def period_returns(
        self,
        portfolios: list[str] | None = None,
        *,
        every: str = "month",
        start: date | None = None,
        end: date | None = None,
        as_of: AsOf = None,
    ) -> tuple[pl.DataFrame, int]:
        """Modified Dietz returns per month, quarter or year, chain-linked."""
        return self.warehouse.analytics_jobs.period_returns(
            self.principal, portfolios, every=every, start=start, end=end, as_of=as_of
        )

    def exposures(
        self,
        on: date,
        *,
        by: list[str] | None = None,
        level: str = "portfolio",
        as_of: AsOf = None,
    ) -> tuple[pl.DataFrame, int]:
        """Long, short, gross and net exposure on a day by hierarchy level (firm, desk,
        portfolio) and breakdowns ``by`` (asset_class, sector, currency, country)."""
        return self.analytics().exposures(on, by, level, as_of)

    def pnl(
        self, on: date, *, portfolios: list[str] | None = None, as_of: AsOf = None
    ) -> tuple[pl.DataFrame, int]:
        """Realized (average cost) and unrealized P&L by portfolio and instrument."""
        return self.analytics().pnl(on, portfolios, as_of)

    def reconcile_positions(self, on: date, *, as_of: AsOf = None) -> tuple[pl.DataFrame, int]:
        """Positions rebuilt from cumulative trades up to a day, beside the stored snapshot."""
        return self.analytics().reconcile_positions(on, as_of)

    def correlation(
        self,
        portfolios: list[str] | None = None,
        *,
        start: date | None = None,
        end: date | None = None,
        min_periods: int = 20,
        as_of: AsOf = None,
    ) -> tuple[pl.DataFrame, int]:
        """Correlation matrix of the portfolios' daily returns (pairwise complete)."""
        return self.analytics().correlation(portfolios, start, end, min_periods, as_of)

    def attribution(
        self,
        portfolios: list[str] | None = None,
        *,
        start: date,
        end: date,
        daily: bool = False,
        as_of: AsOf = None,
    ) -> tuple[pl.DataFrame, int]:
        """Brinson-Fachler allocation, selection and interaction by sector against each
        portfolio's benchmark, linked over the period (Carino) or per day."""
        return self.analytics().attribution(portfolios, start, end, daily, as_of)

    def vwap(
        self, start: date, end: date, *, instrument: str | None = None, as_of: AsOf = None
    ) -> tuple[pl.DataFrame, int]:
        """VWAP and TWAP per instrument and day."""
        return self.analytics().vwap(start, end, instrument, as_of)

    def slippage(
        self, start: date, end: date, *, instrument: str | None = None, as_of: AsOf = None
    ) -> tuple[pl.DataFrame, int]:
        """Each trade against the prevailing close (as-of join), slippage in basis points."""
        return self.analytics().slippage(start, end, instrument, as_of)

    def detect_anomalies(
        self,
        train_start: date,
        train_end: date,
        score_start: date,
        score_end: date,
        *,
        contamination: float = 0.01,
        seed: int = 0,
        timeout_s: float | None = None,
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        """Train an anomaly model, score trades, write the scores in a new commit, record the
        model; returns the model record. ``timeout_s`` limits each of its reads (capped by
        ``query_timeout_s``); ``progress`` hears each stage as it starts."""
        return self.warehouse.analytics_jobs.detect_anomalies(
            self.principal, train_start, train_end, score_start, score_end,
            contamination=contamination, seed=seed, timeout_s=timeout_s, progress=progress,
        )  # fmt: skip

    def models(self) -> list[dict[str, Any]]:
        """The tenant's trained models, newest first, with their metadata."""
        found = self.warehouse.analytics_jobs.models(self.principal)
        return [withheld.model(m) for m in found] if self._restricted() else found

    # -- access control (docs/tenancy/access.md, docs/tenancy/policies.md) --------------------
    def access(self) -> dict[str, Any]:
        """This session's own access: roles, attributes, the grants and policies that apply."""
        return self.warehouse.access.mine(self.principal)

    def policies_in_force(self) -> dict[str, Any] | None:
        """The names of the row and column policies this session's reads are under (None:
        none), e.g. for an analytics answer."""
        mine = self.warehouse.access.mine(self.principal)["policies"]
        return {"policies": sorted(p["name"] for p in mine)} if mine else None

    def roles(self) -> list[dict[str, Any]]:
        """The tenant's roles: the built-in ones and its own (admins)."""
        return self.warehouse.access.roles(self.principal)

    def create_role(self, name: str, description: str = "") -> dict[str, Any]:
        """A role of the tenant's own: it holds only what is granted to it (admins)."""
        return self.warehouse.access.create_role(self.principal, name, description)

    def drop_role(self, name: str) -> dict[str, Any]:
        """Drop one of the tenant's roles and its grants (refused while a key holds it)."""
        return self.warehouse.access.drop_role(self.principal, name)

    def grants(self) -> list[dict[str, Any]]:
        """The tenant's grants (admins)."""
        return self.warehouse.access.grants(self.principal)

    def grant(
        self, action: str, to: str, on: str = "tenant", *, deny: bool = False
    ) -> dict[str, Any]:
        """Allow (or ``deny``) ``action`` on ``on`` (``tenant``, ``table:NAME``,
        ``column:TABLE.COLUMN``, ``cube:NAME``, ``analytics[:CALL]``) to ``to``
        (``role:NAME`` or ``user:NAME``); a deny wins over every allow (admins)."""
        return self.warehouse.access.grant(self.principal, action, to, on, deny=deny)

    def revoke_grant(self, grant_id: int) -> dict[str, Any]:
        """Remove one grant (admins)."""
        return self.warehouse.access.revoke_grant(self.principal, grant_id)

    def policies(self) -> list[dict[str, Any]]:
        """The tenant's row and column policies (admins)."""
        return self.warehouse.access.policies(self.principal)

    def put_policy(self, name: str, kind: str, **spec: Any) -> dict[str, Any]:
        """Create or replace a row policy (``dimension``, ``predicate``) or a column policy
        (``classification``, ``action`` mask|deny, ``mask`` redact|null|hash), applying to
        ``roles`` and ``users`` (admins; docs/tenancy/policies.md)."""
        return self.warehouse.access.put_policy(self.principal, name, kind, spec)

    def drop_policy(self, name: str) -> dict[str, Any]:
        """Drop one policy (admins)."""
        return self.warehouse.access.drop_policy(self.principal, name)

    def _restricted(self) -> bool:
        """Whether a row or column policy, or a read grant, may change what this session
        reads: then what no policy filters (sample rows, whole-table counts) is withheld
        (access/withheld.py)."""
        engine = self.warehouse.queries.policies
        return engine is not None and engine.restricts(self.principal)

    # -- keys (admins) ------------------------------------------------------------------------
    def create_api_key(
        self,
        user: str,
        roles: tuple[str, ...] = ("reader",),
        *,
        attributes: dict[str, Any] | None = None,
    ) -> str:
        """A new API key for ``user`` of this tenant; shown once. ``attributes`` ({name:
        value or [values]}) are what row policies are parameterized by."""
        return self.warehouse.keys.create(self.principal, user, tuple(roles), attributes)

    def list_api_keys(self, *, active: bool = False) -> list[ApiKeyRecord]:
        """The tenant's keys (never a secret or its hash)."""
        return self.warehouse.keys.list(self.principal, active=active)

    def revoke_api_key(self, key_id: int, *, force: bool = False) -> ApiKeyRecord:
        """Revoke a key; the tenant's last admin key only with ``force``."""
        return self.warehouse.keys.revoke(self.principal, key_id, force=force)

    def rotate_api_key(self, key_id: int) -> IssuedKey:
        """A new secret for the same user and roles; the old one is revoked at once."""
        return self.warehouse.keys.rotate(self.principal, key_id)

    # -- audit trail (auditors, admins) -------------------------------------------------------
    def audit_entries(
        self,
        *,
        user: str | None = None,
        action: str | None = None,
        relation: str | None = None,
        since: datetime | date | str | None = None,
        until: datetime | date | str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """The tenant's audit entries, newest first, filtered (docs/governance/audit.md)."""
        return self.warehouse.audit.entries(
            self.principal, user=user, action=action, relation=relation, since=since,
            until=until, limit=limit,
        )  # fmt: skip

    def verify_audit(self, *, expect_head: str | None = None) -> dict[str, Any]:
        """Recompute the tenant's audit chain: ok, entries checked, head seq and hash, and
        every problem found; ``expect_head`` (an earlier head hash) must still be in it."""
        return self.warehouse.audit.verify(self.principal, expect_head=expect_head)

    # -- governance report (auditors, admins) -------------------------------------------------
    def governance_report(
        self, start: date, end: date, *, format: str | None = None
    ) -> dict[str, Any] | str:
        """The governance report of the days ``start`` to ``end`` (docs/governance/report.md):
        a dict, or the document as text in ``format`` (``md``, ``html`` or ``json``)."""
        from ledgerhouse.governance.report import render

        report = self.warehouse.governance_reports.report(self.principal, start, end)
        return report if format is None else render(report, format)
