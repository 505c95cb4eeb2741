"""A Python client for a Ledgerhouse server: the same calls as a library ``Session``
(``wh.local(...)``), over HTTP, answering with the same shapes.

    from ledgerhouse.client import Client
    lh = Client("http://127.0.0.1:8000", api_key="lh_...")   # or token="<OIDC JWT>"
    report = lh.ingest("trades", "trades.csv", batch_id="trades-2024-06-03")
    res = lh.query("SELECT count(*) AS n FROM fact_trade")   # res.table, res.rows(), res.commit.id
    report, commit = lh.performance(conventions={"risk_free": 0.02})

Results come as Arrow IPC streams (``Accept: application/vnd.apache.arrow.stream``) with their
metadata in the ``X-`` headers, so ``.table`` has the server's types. Errors come back as the
same exception classes the library raises (the class registered for the envelope's code in
``ledgerhouse.errors.REGISTRY``), carrying the server's message, hint, details, status and
``retryable``. tests/interface/test_caller_behaviours.py runs one behaviour suite against both.
"""

from __future__ import annotations

import json
import time
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import polars as pl
import pyarrow as pa

# nothing of the server but its errors and media types (tests/test_layers.py)
from ledgerhouse import errors, media
from ledgerhouse.client.results import (
    ApiKey,
    Commit,
    CubeResult,
    IssuedKey,
    QueryResult,
    policy_of,
)

ARROW = "application/vnd.apache.arrow.stream"
AsOf = int | str | datetime | date | None
Day = date | str


class Client:
    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        token: str | None = None,
        timeout: float = 300.0,
        http: httpx.Client | None = None,
    ) -> None:
        # an API key, or a single sign-on token (an OIDC JWT; docs/tenancy/sso.md): both are
        # sent as the bearer value, and the server tells them apart
        if (api_key is None) == (token is None):
            raise TypeError("Client needs an api_key or a token (one of them)")
        self._http = http or httpx.Client(base_url=base_url, timeout=timeout)
        self._auth = {"Authorization": f"Bearer {api_key or token}"}

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {**self._auth, **kw.pop("headers", {})}
        if "json" in kw:
            kw["json"] = _jsonable(kw["json"])
        resp = self._http.request(method, path, headers=headers, **kw)
        if resp.status_code >= 400:
            raise _error(resp)
        return resp

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        return self._send(method, path, **kw).json()

    def _arrow(self, path: str, body: dict[str, Any]) -> tuple[pa.Table, httpx.Headers, float]:
        """POST ``body`` asking for an Arrow IPC stream: the table, the headers, the ms taken."""
        started = time.perf_counter()
        resp = self._send("POST", path, json=body, headers={"Accept": ARROW})
        table = pa.ipc.open_stream(resp.content).read_all()
        return table, resp.headers, (time.perf_counter() - started) * 1000

    def _frame(self, path: str, body: dict[str, Any]) -> tuple[pl.DataFrame, int]:
        table, headers, _ = self._arrow(path, body)
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        return frame, int(headers["X-Commit"])

    # -- ingestion ----------------------------------------------------------------------------
    def ingest(
        self,
        dataset: str,
        data: bytes | str | Path,
        *,
        fmt: str | None = None,
        batch_id: str | None = None,
    ) -> dict[str, Any]:
        if isinstance(data, str | Path):
            path = Path(data)
            fmt = fmt or media.format_from_path(path)
            data = path.read_bytes()
        if fmt not in media.UPLOAD_TYPE:
            raise errors.InvalidRequest(
                f"unknown format {fmt!r}", hint="Pass fmt= one of " + ", ".join(media.UPLOAD_TYPE)
            )
        headers = {"Content-Type": media.UPLOAD_TYPE[fmt]}
        if batch_id:
            headers["Idempotency-Key"] = batch_id
        result: dict[str, Any] = self._call(
            "POST", f"/v1/ingest/{dataset}", content=data, headers=headers
        )
        return result

    def batch(self, batch_id: str) -> dict[str, Any]:
        """One batch's report (committed or rejected)."""
        result: dict[str, Any] = self._call("GET", f"/v1/ingest/batches/{batch_id}")
        return result

    def batches(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest batches' reports, newest first."""
        result: list[dict[str, Any]] = self._call(
            "GET", "/v1/ingest/batches", params={"limit": limit}
        )
        return result

    # -- the tenant's own schema (docs/tenancy/schemas.md) -----------------------------------
    def schema(self) -> list[dict[str, Any]]:
        """The tenant's own extensions, cubes and marts (active and dropped)."""
        result: list[dict[str, Any]] = self._call("GET", "/v1/schema")
        return result

    def add_schema(self, declaration: str | dict[str, Any]) -> dict[str, Any]:
        """Add an extension, a mart or a cube (YAML text, or a mapping sent as YAML)."""
        if not isinstance(declaration, str):
            import yaml

            declaration = yaml.safe_dump(declaration, sort_keys=False)
        result: dict[str, Any] = self._call("POST", "/v1/schema", json={"yaml": declaration})
        return result

    def add_cube(self, yaml_text: str) -> dict[str, Any]:
        """Add (or replace) one of the tenant's own cubes."""
        result: dict[str, Any] = self._call("POST", "/v1/cubes", json={"yaml": yaml_text})
        return result

    def drop_schema(self, kind: str, name: str) -> dict[str, Any]:
        """Drop the tenant's extension, cube or mart ``name``."""
        name, kind = quote(name, safe=""), quote(kind, safe="")
        path = f"/v1/cubes/{name}" if kind == "cube" else f"/v1/schema/{kind}/{name}"
        result: dict[str, Any] = self._call("DELETE", path)
        return result

    # -- data quality -------------------------------------------------------------------------
    def quality_checks(self) -> list[dict[str, Any]]:
        """Every quality check of the tenant: built-in, beside the cubes, and its own."""
        result: list[dict[str, Any]] = self._call("GET", "/v1/quality/checks")
        return result

    def add_quality_checks(self, yaml_text: str) -> list[dict[str, Any]]:
        """Validate and store the tenant's checks of a YAML text (stewards, admins)."""
        result: list[dict[str, Any]] = self._call(
            "POST", "/v1/quality/checks", json={"yaml": yaml_text}
        )
        return result

    def remove_quality_check(self, name: str) -> dict[str, Any]:
        """Remove one of the tenant's own checks (stewards, admins)."""
        result: dict[str, Any] = self._call("DELETE", f"/v1/quality/checks/{name}")
        return result

    def quality_results(
        self,
        relation: str | None = None,
        *,
        check: str | None = None,
        status: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Check results, newest first: per commit, rejected batch and on-demand run."""
        given = {"relation": relation, "check": check, "status": status}
        params = {k: v for k, v in given.items() if v is not None}
        result: list[dict[str, Any]] = self._call(
            "GET", "/v1/quality/results", params={**params, "limit": limit}
        )
        return result

    def quality_scores(self) -> list[dict[str, Any]]:
        """The quality score (0-100) of each checked relation, from its newest results."""
        result: list[dict[str, Any]] = self._call("GET", "/v1/quality/scores")
        return result

    def quality_trend(
        self, relation: str | None = None, *, by: str = "day", since: date | str | None = None
    ) -> list[dict[str, Any]]:
        """Each relation's score after each commit (``by="commit"``) or at each day's end."""
        given = {"relation": relation, "since": _jsonable(since)}
        params = {k: v for k, v in given.items() if v is not None}
        result: list[dict[str, Any]] = self._call(
            "GET", "/v1/quality/trend", params={**params, "by": by}
        )
        return result

    def run_quality(self, relation: str | None = None) -> list[dict[str, Any]]:
        """Run the checks (of ``relation``) over the whole latest commit now (stewards, admins)."""
        result: list[dict[str, Any]] = self._call(
            "POST", "/v1/quality/run", json={"relation": relation}
        )
        return result

    # -- reads --------------------------------------------------------------------------------
    def query(
        self,
        sql: str,
        *,
        as_of: AsOf = None,
        limit: int | None = None,
        params: list[Any] | None = None,
        timeout_s: float | None = None,
        explain: str | None = None,
        use_cache: bool = True,
    ) -> QueryResult:
        """Run one guarded SQL query on a pinned commit (the latest, or ``as_of``)."""
        body = {"sql": sql, "as_of": as_of, "limit": limit, "params": params,
                "timeout_s": timeout_s, "explain": explain, "cache": use_cache,
                "export": False}  # fmt: skip  # an answer capped as the library's is
        table, headers, elapsed_ms = self._arrow("/v1/query/sql", body)
        return QueryResult(
            query_id=headers["X-Query-Id"],
            table=table,
            commit=Commit(int(headers["X-Commit"])),
            elapsed_ms=elapsed_ms,
            truncated=headers.get("X-Truncated") == "true",
            sql=sql,
            route=headers.get("X-Route", "raw"),
            policy=policy_of(headers),
        )

    def tables(self, *, as_of: AsOf = None) -> list[dict[str, Any]]:
        """Every queryable table with its layer, description, pinned version and row count."""
        params = {"as_of": _jsonable(as_of)} if as_of is not None else None
        result: list[dict[str, Any]] = self._call("GET", "/v1/tables", params=params)
        return result

    def commits(self, limit: int = 100) -> list[Commit]:
        """The tenant's warehouse commits, newest first."""
        records = self._call("GET", "/v1/commits", params={"limit": limit})
        return [Commit.of(r) for r in records]

    def query_log_entries(
        self, *, status: str | None = None, slowest: bool = False, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Logged queries of the tenant, newest (or slowest) first."""
        params: dict[str, Any] = {"slowest": slowest, "limit": limit}
        if status:
            params["status"] = status
        result: list[dict[str, Any]] = self._call("GET", "/v1/queries", params=params)
        return result

    def query_log_entry(self, query_id: str, *, plan: bool = False) -> dict[str, Any]:
        """One logged query; with ``plan``, the engine's plan for it on the commit it pinned."""
        result: dict[str, Any] = self._call("GET", f"/v1/queries/{query_id}", params={"plan": plan})
        return result

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
        """Where a relation (or one of its columns) comes from, or what is made from it."""
        params: dict[str, Any] = {"direction": direction}
        if depth is not None:
            params["depth"] = depth
        if as_of is not None:
            params["as_of"] = _jsonable(as_of)
        path = f"/v1/lineage/{quote(relation, safe=':')}"
        if column is not None:
            path += f"/{quote(column, safe='')}"
        result: dict[str, Any] = self._call("GET", path, params=params)
        return result

    def explain_cell(self, query_id: str, row: int) -> dict[str, Any]:
        """Cell lineage of row ``row`` (0-based) of a logged answer."""
        result: dict[str, Any] = self._call(
            "GET", f"/v1/queries/{quote(query_id, safe='')}/cells/{int(row)}"
        )
        return result

    def lineage_events(self, limit: int = 100, job: str | None = None) -> list[dict[str, Any]]:
        """The tenant's latest OpenLineage run events (of ``job`` only), newest first."""
        params: dict[str, Any] = {"limit": limit, **({"job": job} if job is not None else {})}
        result: list[dict[str, Any]] = self._call("GET", "/v1/lineage/events", params=params)
        return result

    # -- cubes --------------------------------------------------------------------------------
    def cubes(self, *, as_of: AsOf = None) -> list[dict[str, Any]]:
        """Metadata of every cube, with each rollup's rows at the pinned commit."""
        params = {"as_of": _jsonable(as_of)} if as_of is not None else None
        result: list[dict[str, Any]] = self._call("GET", "/v1/cubes", params=params)
        return result

    def cube(
        self,
        cube: str,
        query: dict[str, Any] | str | bytes | Any,
        *,
        dry_run: bool = False,
        timeout_s: float | None = None,
    ) -> CubeResult:
        """Answer a cube query (docs/cubes.md: a dict, or its JSON text; a ``"cube"`` key must
        name ``cube``) on one pinned commit; ``dry_run`` returns the plan without running."""
        body = {**_document(query), "dry_run": dry_run}
        if timeout_s is not None:
            body["timeout_s"] = timeout_s
        path = f"/v1/cubes/{cube}/query"
        if dry_run:
            answer: dict[str, Any] = self._call("POST", path, json=body)
            return CubeResult(cube, None, int(answer["commit"]), route=answer["route"],
                              answer=answer)  # fmt: skip
        table, headers, elapsed_ms = self._arrow(path, body)
        return CubeResult(
            cube,
            table,
            int(headers["X-Commit"]),
            query_id=headers.get("X-Query-Id") or None,
            route=headers.get("X-Route", "raw"),
            elapsed_ms=elapsed_ms,
            truncated=headers.get("X-Truncated") == "true",
            policy=policy_of(headers),
        )

    def cube_drill(
        self,
        cube: str,
        query: dict[str, Any] | str | bytes | Any,
        hierarchy: str,
        *,
        up: bool = False,
        value: Any = None,
    ) -> dict[str, Any]:
        """The query rolled up (``up``) or drilled down one level along ``hierarchy`` (with
        ``value``, only that member of the current level), as a query document."""
        drill = {"hierarchy": hierarchy, "direction": "up" if up else "down", "value": value}
        body = {**_document(query), "dry_run": True, "drill": drill}
        answer: dict[str, Any] = self._call("POST", f"/v1/cubes/{cube}/query", json=body)
        drilled: dict[str, Any] = answer["query"]
        return drilled

    # -- analytics (docs/analytics.md): each a frame and the commit it was read at ------------
    def performance(
        self,
        portfolios: list[str] | None = None,
        *,
        start: Day | None = None,
        end: Day | None = None,
        conventions: dict[str, Any] | None = None,
        as_of: AsOf = None,
    ) -> tuple[pl.DataFrame, int]:
        """Performance and risk of the portfolios (all when none) on one commit."""
        body = {"portfolios": portfolios, "start": start, "end": end, "as_of": as_of,
                "conventions": conventions}  # fmt: skip
        return self._frame("/v1/analytics/performance", body)

    def period_returns(
        self,
        portfolios: list[str] | None = None,
        *,
        every: str = "month",
        start: Day | None = None,
        end: Day | None = None,
        as_of: AsOf = None,
    ) -> tuple[pl.DataFrame, int]:
        """Modified Dietz returns per month, quarter or year, chain-linked."""
        body = {"portfolios": portfolios, "every": every, "start": start, "end": end,
                "as_of": as_of}  # fmt: skip
        return self._frame("/v1/analytics/returns", body)

    def exposures(
        self,
        on: Day,
        *,
        by: list[str] | None = None,
        level: str = "portfolio",
        as_of: AsOf = None,
    ) -> tuple[pl.DataFrame, int]:
        """Long, short, gross and net exposure on a day by hierarchy level and breakdowns."""
        body = {"date": on, "by": by or ["asset_class"], "level": level, "as_of": as_of}
        return self._frame("/v1/analytics/exposures", body)

    def pnl(
        self, on: Day, *, portfolios: list[str] | None = None, as_of: AsOf = None
    ) -> tuple[pl.DataFrame, int]:
        """Realized (average cost) and unrealized P&L by portfolio and instrument."""
        body = {"date": on, "portfolios": portfolios, "as_of": as_of}
        return self._frame("/v1/analytics/pnl", body)

    def reconcile_positions(self, on: Day, *, as_of: AsOf = None) -> tuple[pl.DataFrame, int]:
        """Positions rebuilt from cumulative trades up to a day, beside the stored snapshot."""
        return self._frame("/v1/analytics/reconcile_positions", {"date": on, "as_of": as_of})

    def correlation(
        self,
        portfolios: list[str] | None = None,
        *,
        start: Day | None = None,
        end: Day | None = None,
        min_periods: int = 20,
        as_of: AsOf = None,
    ) -> tuple[pl.DataFrame, int]:
        """Correlation matrix of the portfolios' daily returns (pairwise complete)."""
        body = {"portfolios": portfolios, "start": start, "end": end,
                "min_periods": min_periods, "as_of": as_of}  # fmt: skip
        return self._frame("/v1/analytics/correlation", body)

    def attribution(
        self,
        portfolios: list[str] | None = None,
        *,
        start: Day,
        end: Day,
        daily: bool = False,
        as_of: AsOf = None,
    ) -> tuple[pl.DataFrame, int]:
        """Brinson-Fachler effects by sector against each portfolio's benchmark."""
        body = {"portfolios": portfolios, "start": start, "end": end, "daily": daily,
                "as_of": as_of}  # fmt: skip
        return self._frame("/v1/analytics/attribution", body)

    def vwap(
        self, start: Day, end: Day, *, instrument: str | None = None, as_of: AsOf = None
    ) -> tuple[pl.DataFrame, int]:
        """VWAP and TWAP per instrument and day."""
        body = {"start": start, "end": end, "instrument": instrument, "as_of": as_of}
        return self._frame("/v1/analytics/vwap", body)

    def slippage(
        self, start: Day, end: Day, *, instrument: str | None = None, as_of: AsOf = None
    ) -> tuple[pl.DataFrame, int]:
        """Each trade against the prevailing close, slippage in basis points."""
        body = {"start": start, "end": end, "instrument": instrument, "as_of": as_of}
        return self._frame("/v1/analytics/slippage", body)

    def detect_anomalies(
        self,
        train_start: Day,
        train_end: Day,
        score_start: Day,
        score_end: Day,
        *,
        contamination: float = 0.01,
        seed: int = 0,
    ) -> dict[str, Any]:
        """Train the anomaly model, score trades in a new commit; the model record."""
        body = {"train_start": train_start, "train_end": train_end, "score_start": score_start,
                "score_end": score_end, "contamination": contamination, "seed": seed}  # fmt: skip
        return _model(self._call("POST", "/v1/analytics/anomalies", json=body))

    def models(self) -> list[dict[str, Any]]:
        """The tenant's trained models, newest first, with their metadata."""
        return [_model(m) for m in self._call("GET", "/v1/models")]

    # -- metadata, glossary and catalog -------------------------------------------------------
    def describe_object(self, name: str) -> dict[str, Any]:
        """An object's metadata (fact_trade, fact_trade.price, cube:trades.notional, ...)."""
        result: dict[str, Any] = self._call("GET", f"/v1/metadata/{quote(name, safe=':')}")
        return result

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
        """Set an object's owner, description, tags, classifications or glossary terms."""
        given = {"owner": owner, "description": description, "tags": tags,
                 "classifications": classifications, "terms": terms, "reason": reason}  # fmt: skip
        body = {k: v for k, v in given.items() if v is not None}
        body["reset"] = list(reset or [])
        result: dict[str, Any] = self._call(
            "PATCH", f"/v1/metadata/{quote(name, safe=':')}", json=body
        )
        return result

    def metadata_history(
        self, name: str | None = None, *, limit: int = 100
    ) -> list[dict[str, Any]]:
        """The changes of one object (every object when None), newest first."""
        path = "/v1/metadata/history"
        if name is not None:
            path = f"/v1/metadata/{quote(name, safe=':')}/history"
        result: list[dict[str, Any]] = self._call("GET", path, params={"limit": limit})
        return result

    def glossary(self) -> list[dict[str, Any]]:
        """The tenant's glossary terms with their links."""
        result: list[dict[str, Any]] = self._call("GET", "/v1/glossary")
        return result

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
        given = {"definition": definition, "owner": owner, "synonyms": synonyms, "reason": reason}
        body = {k: v for k, v in given.items() if v is not None}
        result: dict[str, Any] = self._call(
            "PUT", f"/v1/glossary/{quote(name, safe='')}", json=body
        )
        return result

    def link_term(
        self, term: str, objects: list[str], *, unlink: bool = False, reason: str | None = None
    ) -> list[dict[str, Any]]:
        """Link a glossary term to columns, measures or other objects (``unlink`` removes)."""
        body = {"objects": list(objects), "unlink": unlink, "reason": reason}
        result: list[dict[str, Any]] = self._call(
            "POST", f"/v1/glossary/{quote(term, safe='')}/links", json=body
        )
        return result

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
        """Ranked catalog search with facet counts (GET /v1/catalog/search)."""
        params: dict[str, Any] = {"q": text, "limit": limit, "samples": samples}
        facets = {"kind": kind, "layer": layer, "tag": tag, "owner": owner,
                  "classification": classification}  # fmt: skip
        for key, value in facets.items():
            if value is not None:
                params[key] = [value] if isinstance(value, str) else list(value)
        result: dict[str, Any] = self._call("GET", "/v1/catalog/search", params=params)
        return result

    # -- keys (admins) ------------------------------------------------------------------------
    def create_api_key(
        self,
        user: str,
        roles: tuple[str, ...] | list[str] = ("reader",),
        *,
        attributes: dict[str, Any] | None = None,
    ) -> str:
        """A new API key for ``user`` of this tenant; shown once. ``attributes`` are what
        row policies are parameterized by."""
        body: dict[str, Any] = {"user": user, "roles": list(roles)}
        if attributes:
            body["attributes"] = attributes
        result: dict[str, Any] = self._call("POST", "/v1/keys", json=body)
        return str(result["api_key"])

    # -- access control (docs/tenancy/access.md) ----------------------------------------------
    def access(self) -> dict[str, Any]:
        """This caller's own access: roles, attributes, the grants and policies that apply."""
        result: dict[str, Any] = self._call("GET", "/v1/access/me")
        return result

    def roles(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/v1/roles")
        return result

    def create_role(self, name: str, description: str = "") -> dict[str, Any]:
        body = {"name": name, "description": description}
        result: dict[str, Any] = self._call("POST", "/v1/roles", json=body)
        return result

    def drop_role(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("DELETE", f"/v1/roles/{name}")
        return result

    def grants(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/v1/grants")
        return result

    def grant(
        self, action: str, to: str, on: str = "tenant", *, deny: bool = False
    ) -> dict[str, Any]:
        """Allow (or ``deny``) ``action`` on ``on`` to ``to`` (role:NAME or user:NAME)."""
        body = {"action": action, "to": to, "on": on, "deny": deny}
        result: dict[str, Any] = self._call("POST", "/v1/grants", json=body)
        return result

    def revoke_grant(self, grant_id: int) -> dict[str, Any]:
        result: dict[str, Any] = self._call("DELETE", f"/v1/grants/{int(grant_id)}")
        return result

    def policies(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/v1/policies")
        return result

    def put_policy(self, name: str, kind: str, **spec: Any) -> dict[str, Any]:
        """Create or replace a row or column policy (docs/tenancy/policies.md)."""
        body = {"kind": kind, **{k: v for k, v in spec.items() if v is not None}}
        result: dict[str, Any] = self._call("PUT", f"/v1/policies/{name}", json=body)
        return result

    def drop_policy(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("DELETE", f"/v1/policies/{name}")
        return result

    # -- resources and usage (docs/tenancy/resources.md) ---------------------------------------
    def resources(self, tenant: str) -> dict[str, Any]:
        """A tenant's overrides, the limits in force and the defaults (platform; own admin)."""
        found: dict[str, Any] = self._call("GET", f"/v1/tenants/{tenant}/resources")
        return found

    def set_resources(self, tenant: str, overrides: dict[str, Any]) -> dict[str, Any]:
        """Replace a tenant's overrides (a platform admin's key or token)."""
        found: dict[str, Any] = self._call("PUT", f"/v1/tenants/{tenant}/resources", json=overrides)
        return found

    def usage(
        self, tenant: str | None = None, *, since: str | None = None, until: str | None = None
    ) -> dict[str, Any]:
        """Metered usage: the caller's tenant's, or ``tenant``'s (platform; own admin)."""
        path = "/v1/usage" if tenant is None else f"/v1/tenants/{tenant}/usage"
        params = {k: v for k, v in (("since", since), ("until", until)) if v is not None}
        found: dict[str, Any] = self._call("GET", path, params=params)
        return found

    def list_api_keys(self, *, active: bool = False) -> list[ApiKey]:
        """The tenant's keys (never a secret or its hash)."""
        return [ApiKey.of(k) for k in self._call("GET", "/v1/keys", params={"active": active})]

    def revoke_api_key(self, key_id: int, *, force: bool = False) -> ApiKey:
        """Revoke a key; the tenant's last admin key raises ApiKeyConflict unless ``force``."""
        return ApiKey.of(self._call("POST", f"/v1/keys/{key_id}/revoke", params={"force": force}))

    def rotate_api_key(self, key_id: int) -> IssuedKey:
        """A new secret for the same user and roles; the old one is revoked at once."""
        record = self._call("POST", f"/v1/keys/{key_id}/rotate")
        return IssuedKey(ApiKey.of(record), str(record["api_key"]))

    # -- tenants (platform admins: a platform key) ------------------------------------------
    def tenants(self) -> list[dict[str, Any]]:
        """Every tenant: status, times, purge date, latest commit, storage bytes."""
        result: list[dict[str, Any]] = self._call("GET", "/v1/tenants")
        return result

    def tenant(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/v1/tenants/{name}")
        return result

    def create_tenant(self, name: str) -> dict[str, Any]:
        """A new tenant: ``{"tenant": record, "admin_api_key": ...}`` (the key shown once)."""
        result: dict[str, Any] = self._call("POST", "/v1/tenants", json={"name": name})
        return result

    def suspend_tenant(self, name: str, *, reason: str | None = None) -> dict[str, Any]:
        """Refuse every key of the tenant (403 ``tenant_suspended``); its data is kept."""
        body = {"reason": reason}
        result: dict[str, Any] = self._call("POST", f"/v1/tenants/{name}/suspend", json=body)
        return result

    def resume_tenant(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/v1/tenants/{name}/resume")
        return result

    def delete_tenant(
        self, name: str, *, retention_days: int | None = None, reason: str | None = None
    ) -> dict[str, Any]:
        """Export the tenant (on the server, under its root's _exports), then mark it
        deleted: ``{"tenant": record, "export": {directory, commit_id, relations, ...}}``."""
        body = {"retention_days": retention_days, "reason": reason}
        result: dict[str, Any] = self._call("POST", f"/v1/tenants/{name}/delete", json=body)
        return result

    def purge_tenant(self, name: str) -> dict[str, Any]:
        """Remove a deleted tenant once its retention has passed (PurgeNotDue before)."""
        result: dict[str, Any] = self._call("POST", f"/v1/tenants/{name}/purge")
        return result

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
        """The tenant's audit entries, newest first, filtered."""
        given = {"user": user, "action": action, "relation": relation, "since": since,
                 "until": until}  # fmt: skip
        params = {k: _jsonable(v) for k, v in given.items() if v is not None}
        result: list[dict[str, Any]] = self._call(
            "GET", "/v1/audit", params={**params, "limit": limit}
        )
        return result

    def verify_audit(self, *, expect_head: str | None = None) -> dict[str, Any]:
        """Recompute the tenant's audit chain: ok, entries checked, head, problems."""
        params = {"expect_head": expect_head} if expect_head is not None else None
        result: dict[str, Any] = self._call("GET", "/v1/audit/verify", params=params)
        return result

    # -- governance report (auditors, admins) -------------------------------------------------
    def governance_report(
        self, start: date, end: date, *, format: str | None = None
    ) -> dict[str, Any] | str:
        """The governance report of the days ``start`` to ``end``: a dict, or the document
        (``format`` ``md``, ``html`` or ``json``) as text."""
        params = {"from": start.isoformat(), "to": end.isoformat(), "format": format or "json"}
        resp = self._send("GET", "/v1/governance/report", params=params)
        if format is None:
            report: dict[str, Any] = resp.json()
            return report
        return resp.text


def _jsonable(value: Any) -> Any:
    """Dates and timestamps as ISO text, at any depth; the rest as it is."""
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Decimal):  # text keeps every digit; a JSON number would be a double
        return str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _document(query: Any) -> dict[str, Any]:
    """A cube query as a JSON object: a dict, its JSON text, or a ``CubeQuery``."""
    if hasattr(query, "model_dump"):
        query = query.model_dump(mode="json", exclude_defaults=True)
    if isinstance(query, str | bytes):
        try:
            query = json.loads(query)
        except json.JSONDecodeError as exc:
            raise errors.InvalidRequest(
                f"the cube query is not valid JSON: {exc}", hint="See docs/cubes.md for examples."
            ) from None
    if not isinstance(query, dict):
        raise errors.InvalidRequest("a cube query is a JSON object", hint="See docs/cubes.md.")
    return dict(query)


def _model(record: dict[str, Any]) -> dict[str, Any]:
    """A model record with its ``created_at`` a datetime, as the library gives it."""
    if isinstance(record.get("created_at"), str):
        return {**record, "created_at": datetime.fromisoformat(record["created_at"])}
    return record


def _error(resp: httpx.Response) -> errors.LedgerhouseError:
    """The exception of an error answer: the class registered for its code, with the server's
    message, hint, details, status and ``retryable``."""
    try:
        body = resp.json()["error"]
        code, message = str(body.get("code", "")), str(body.get("message", ""))
    except Exception:
        return errors.LedgerhouseError(
            f"HTTP {resp.status_code}: {resp.text[:300]}", hint="Is this a Ledgerhouse server?"
        )
    cls = errors.error_class(code)
    if cls is errors.LedgerhouseError:  # a code of a domain's own: its family by status
        cls = _BY_STATUS.get(resp.status_code, errors.LedgerhouseError)
    details = body.get("details")
    exc = cls(
        message, hint=str(body.get("hint", "")), **(details if isinstance(details, dict) else {})
    )
    exc.status = resp.status_code
    exc.retryable = bool(body.get("retryable", cls.retryable))
    if code and cls.code != code:
        exc.code = code  # a code this client does not know: kept as the server sent it
    return exc


#: The family of an error whose code this client does not know (a tenancy or governance
#: code): ``except Forbidden`` catches a ``tenant_suspended`` as it would in process.
_BY_STATUS: dict[int, type[errors.LedgerhouseError]] = {
    400: errors.InvalidRequest,
    401: errors.Unauthorized,
    403: errors.Forbidden,
    404: errors.NotFound,
    409: errors.Conflict,
    429: errors.Overloaded,
}
