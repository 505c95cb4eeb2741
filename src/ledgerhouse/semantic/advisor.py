"""The rollup advisor: a tenant's cube queries that no rollup answered, read from its query
log, grouped by what a rollup would need to answer them (the dimensions grouped or filtered,
the time grain, the segments, the measures), each group proposed as a rollup with its
measured cost on the star, the rollup's measured size and the estimated benefit.

Answers from the result cache count as demand (the next commit empties the cache and the
star answers again). A proposal keeps the policed code (``portfolio`` for a row policy on
portfolios) when the tenant has row policies, so that the callers those policies restrict
can use it too (a rollup without the code is passed over for them). Applying a proposal
adds it as the tenant's own rollup (``tenancy/schemas.py``: for this tenant only, refreshed
in every commit of its facts); the automatic mode (setting ``rollup_advisor = "auto"``)
applies the proposals that meet its thresholds after enough new unanswered queries.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from ledgerhouse.errors import InvalidRequest
from ledgerhouse.semantic.compiler import Resolved, aligned, resolve, rollup_select, why_not
from ledgerhouse.semantic.models import ADDITIVE, Cube
from ledgerhouse.semantic.service import SemanticLayer, parse_query
from ledgerhouse.semantic.tenant_rollups import attach

log = logging.getLogger(__name__)

#: Bytes a rollup stores per value, by column kind (an estimate of Parquet's size).
_BYTES_PER_VALUE = 9


@dataclass(frozen=True)
class Proposal:
    """One rollup the advisor proposes, with what it measured."""

    cube: str
    name: str
    dimensions: tuple[str, ...]
    time_dimension: str | None
    granularity: str | None
    measures: tuple[str, ...]
    segments: tuple[str, ...]
    queries: int  # logged queries it answers that no rollup answered
    users: int
    star_ms: float  # their measured time on the star, summed
    rows: int  # the rollup's rows at the latest commit (measured)
    fact_rows: int
    estimated_bytes: int
    #: the same queries on the rollup: per query, the measured cost of a rollup-answered query
    #: (the median in the log) plus its star time above that × rollup rows / fact rows
    estimated_ms: float
    keeps: tuple[str, ...] = ()  # the policed codes it keeps for row-restricted callers
    #: an admin dropped a rollup of this name before (the automatic mode leaves it alone)
    declined: bool = False
    examples: tuple[dict[str, Any], ...] = field(default=(), compare=False)

    @property
    def reduction(self) -> float:
        """Fact rows per rollup row (how many times fewer rows a query reads)."""
        return self.fact_rows / self.rows if self.rows else float(self.fact_rows or 1)

    def spec(self) -> dict[str, Any]:
        """The rollup's declaration (``ledgerhouse schema add``)."""
        out: dict[str, Any] = {"rollup": self.name, "cube": self.cube,
                               "dimensions": list(self.dimensions),
                               "measures": list(self.measures)}  # fmt: skip
        if self.time_dimension and self.granularity:
            out["time_dimension"] = self.time_dimension
            out["granularity"] = self.granularity
        if self.segments:
            out["segments"] = list(self.segments)
        out["description"] = (
            f"Proposed by the rollup advisor from {self.queries} queries of the query log."
        )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.spec(),
            "time_dimension": self.time_dimension,
            "granularity": self.granularity,
            "segments": list(self.segments),
            "queries": self.queries,
            "users": self.users,
            "star_ms": round(self.star_ms, 3),
            "estimated_ms": round(self.estimated_ms, 3),
            "rows": self.rows,
            "fact_rows": self.fact_rows,
            "reduction": round(self.reduction, 2),
            "estimated_bytes": self.estimated_bytes,
            "keeps": list(self.keeps),
            "declined": self.declined,
            "examples": list(self.examples),
        }


@dataclass(frozen=True)
class AdvisorPorts:
    """What the advisor reads (the composition root wires them)."""

    #: the tenant's semantic layer (the shared cubes, its own, its rollups)
    layer: Callable[[str], SemanticLayer]
    #: the tenant's logged cube requests since ``days`` ago: dicts with request, route,
    #: duration_ms, user, status
    cube_log: Callable[[str, float], list[dict[str, Any]]]
    #: ``count(tenant, sql)``: the rows of a query (run unrestricted, on the latest commit)
    count: Callable[[str, str], int]
    #: the rows of a relation at the latest commit
    relation_rows: Callable[[str, str], int]
    #: the natural codes the tenant's row policies filter by (e.g. {"portfolio_code"})
    policed: Callable[[str], Collection[str]]
    #: why the tenant could not add this rollup declaration (None: it could)
    refusal: Callable[[str, dict[str, Any]], str | None] = lambda _tenant, _spec: None
    #: the tenant's rollup names: (active, dropped) — a dropped name stays taken
    names: Callable[[str], tuple[Collection[str], Collection[str]]] = lambda _t: ((), ())


class RollupAdvisor:
    def __init__(self, ports: AdvisorPorts) -> None:
        self.ports = ports

    def advise(
        self, tenant: str, *, days: float = 30.0, min_queries: int = 2, limit: int = 10
    ) -> list[Proposal]:
        """The rollups that would answer the tenant's unanswered cube queries of the last
        ``days``, most beneficial first (at least ``min_queries`` queries each)."""
        if days <= 0 or min_queries < 1 or limit < 1:
            raise InvalidRequest(
                "days must be positive, min_queries and limit at least 1",
                hint="e.g. --days 30 --min-queries 2",
            )
        layer = self.ports.layer(tenant)
        policed = set(self.ports.policed(tenant))
        groups: dict[tuple[Any, ...], list[tuple[Resolved, dict[str, Any]]]] = {}
        entries = self.ports.cube_log(tenant, days)
        served = sorted(float(e.get("duration_ms") or 0.0) for e in entries
                        if str(e.get("route", "")).startswith("rollup:"))  # fmt: skip
        # the measured cost of a query a rollup answers (planning, pinning, shaping): what a
        # proposed rollup's queries cost at least
        fixed_ms = served[len(served) // 2] if served else 0.0
        for entry in entries:
            resolved = _resolved(layer, entry)
            if resolved is None:
                continue
            if any(
                why_not(resolved, r) is None and _keeps(resolved.cube, r.dimensions, policed)
                for r in resolved.cube.rollups.values()
            ):
                continue  # a rollup answers it now, for restricted callers too
            groups.setdefault(_need(resolved, policed), []).append((resolved, entry))
        proposals = []
        active, dropped = self.ports.names(tenant)
        for key, members in groups.items():
            if len(members) < min_queries:
                continue
            try:
                proposal = self._propose(tenant, layer, key, members, fixed_ms,
                                         set(active) | set(dropped), set(dropped))  # fmt: skip
            except Exception:  # one cube that cannot be sized never hides the others
                log.exception("rollup advisor: tenant %s, %s could not be proposed", tenant, key)
                continue
            if proposal is not None:
                proposals.append(proposal)
        proposals.sort(key=lambda p: (p.star_ms - p.estimated_ms, p.queries), reverse=True)
        return proposals[:limit]

    def _propose(
        self,
        tenant: str,
        layer: SemanticLayer,
        key: tuple[Any, ...],
        members: list[tuple[Resolved, dict[str, Any]]],
        fixed_ms: float,
        taken: set[str],
        dropped: set[str],
    ) -> Proposal | None:
        cube_name, dims, time_dim, grain, segments, keeps = key
        cube = layer.cube(cube_name)
        measures: list[str] = []
        for resolved, _ in members:
            for m in resolved.base_measures:
                if m not in measures:
                    measures.append(m)
        exact = len({(tuple(sorted(r.dimensions)), r.granularity) for r, _ in members}) == 1
        kept = [m for m in measures if cube.measures[m].type in ADDITIVE or exact]
        if not kept:
            return None
        digest = hashlib.sha256(repr(key).encode()).hexdigest()[:6]
        base = name = f"advised_{digest}"
        n = 1
        while name in taken:  # a dropped name stays taken: the next free one
            n += 1
            name = f"{base}_{n}"
        spec = {"dimensions": list(dims), "measures": kept, "segments": list(segments)}
        if time_dim and grain:
            spec |= {"time_dimension": time_dim, "granularity": grain}
        refused = self.ports.refusal(tenant, {"rollup": name, "cube": cube_name, **spec})
        if refused is not None:  # e.g. a cube whose fact is not month-partitioned
            log.info("rollup advisor: %s cannot be added: %s", key, refused)
            return None
        try:
            trial = attach(cube, {name: spec})
        except Exception as exc:  # a member the rollup format cannot keep
            log.info("rollup advisor: %s cannot be proposed: %s", key, exc)
            return None
        answered = [(r, e) for r, e in members
                    if why_not(_on(r, trial), trial.rollups[name]) is None]  # fmt: skip
        if not answered:
            return None
        rows = self.ports.count(tenant, _count_sql(trial, name))
        fact_rows = self.ports.relation_rows(tenant, cube.fact)
        star_ms = sum(float(e.get("duration_ms") or 0.0) for _, e in answered)
        ratio = rows / fact_rows if fact_rows else 1.0
        raw = [float(e.get("duration_ms") or 0.0) for _, e in answered if e.get("route") == "raw"]
        fixed = min(fixed_ms, min(raw)) if raw else fixed_ms
        # each query: the fixed cost, plus its time above it scaled by the rows it would read
        estimated = sum(fixed + max(0.0, float(e.get("duration_ms") or 0.0) - fixed) * ratio
                        if e.get("route") == "raw" else float(e.get("duration_ms") or 0.0)
                        for _, e in answered)  # fmt: skip
        columns = len(trial.rollups[name].dimensions) + 2 + 2 * len(kept)
        return Proposal(
            cube=cube_name,
            name=name,
            dimensions=tuple(dims),
            time_dimension=time_dim if grain else None,
            granularity=grain,
            measures=tuple(kept),
            segments=tuple(segments),
            queries=len(answered),
            users=len({e.get("user") for _, e in answered}),
            star_ms=star_ms,
            rows=rows,
            fact_rows=fact_rows,
            estimated_bytes=rows * columns * _BYTES_PER_VALUE,
            estimated_ms=min(star_ms, estimated),
            keeps=tuple(keeps),
            declined=base in dropped,
            examples=tuple(e["request"]["query"] for _, e in answered[:3]),
        )


def _resolved(layer: SemanticLayer, entry: Mapping[str, Any]) -> Resolved | None:
    request = entry.get("request") or {}
    if request.get("kind") != "cube" or entry.get("status", "ok") != "ok":
        return None
    if str(entry.get("route", "")).startswith("rollup:"):
        return None
    try:
        cube = layer.cube(request["cube"])
        query = parse_query(request["query"])
        if query.route == "raw":  # asked for the star on purpose
            return None
        return resolve(cube, query)
    except Exception:  # a cube since dropped or changed: not advice material
        return None


def _code_dimensions(cube: Cube, policed: Collection[str]) -> list[str]:
    """The cube's dimensions that are the fact's own policed code column."""
    out = []
    for name, d in cube.dimensions.items():
        column = d.sql.strip().removeprefix("fact.")
        if d.sql.strip().startswith("fact.") and column in policed and d.type != "time":
            out.append(name)
    return out


def _keeps(cube: Cube, dimensions: Collection[str], policed: Collection[str]) -> bool:
    return all(d in dimensions for d in _code_dimensions(cube, policed))


def _need(r: Resolved, policed: set[str]) -> tuple[Any, ...]:
    """What a rollup must keep to answer ``r``: the cube, its dimensions (grouped, filtered,
    and the policed codes), the time dimension and grain, the segments."""
    dims = {*r.dimensions, *(f.member for f in r.where)}
    keeps = [d for d in _code_dimensions(r.cube, policed) if d not in dims]
    dims |= set(keeps)
    grain = None
    if r.granularity in ("day", "week"):
        grain = "day"
    elif r.granularity is not None or r.date_range is not None:
        whole_months = r.date_range is None or aligned(r.date_range, "month")
        grain = "month" if whole_months else "day"
    time_dim = r.time_dimension if grain else None
    ordered = tuple(d for d in r.cube.dimensions if d in dims)
    return (r.cube.name, ordered, time_dim, grain, tuple(sorted(r.segments)), tuple(sorted(keeps)))


def _on(r: Resolved, cube: Cube) -> Resolved:
    """``r`` against ``cube`` (the same cube with the proposed rollup attached)."""
    import dataclasses

    return dataclasses.replace(r, cube=cube)


def _count_sql(cube: Cube, name: str) -> str:
    """The rows the rollup would hold: its refresh query over every month of the fact."""
    months = f"SELECT DISTINCT {cube.partition} FROM {cube.fact}"
    return f"SELECT count(*) AS n FROM ({rollup_select(cube, name).format(months=months)}) AS r"


class AutoAdvisor:
    """The automatic mode: after ``every`` new unanswered cube queries of a tenant (and at
    most once per ``interval_s``), apply the proposals that answer at least ``min_queries``
    and read at most ``max_ratio`` of the fact's rows, in a background thread."""

    def __init__(
        self,
        advisor: RollupAdvisor,
        apply: Callable[[str, Proposal], None],
        *,
        every: int = 20,
        interval_s: float = 300.0,
        min_queries: int = 5,
        max_ratio: float = 0.1,
        max_rollups: int = 3,
    ) -> None:
        self.advisor = advisor
        self.apply = apply
        self.every = every
        self.interval_s = interval_s
        self.min_queries = min_queries
        self.max_ratio = max_ratio
        self.max_rollups = max_rollups
        self._seen: dict[str, int] = {}
        self._last: dict[str, float] = {}
        self._running: set[str] = set()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def on_query(self, entry: Mapping[str, Any]) -> None:
        """A query-log listener (the query's thread): counts each tenant's cube queries the
        star answered; a run that is due starts in a thread of its own."""
        request = entry.get("request") or {}
        if request.get("kind") != "cube" or entry.get("route") != "raw":
            return
        if entry.get("status", "ok") != "ok":
            return
        tenant = str(entry.get("tenant_id"))
        with self._lock:
            self._seen[tenant] = self._seen.get(tenant, 0) + 1
            last = self._last.get(tenant)
            recent = last is not None and time.monotonic() - last < self.interval_s
            if self._seen[tenant] < self.every or recent or tenant in self._running:
                return
            self._seen[tenant] = 0
            self._last[tenant] = time.monotonic()
            self._running.add(tenant)
        thread = threading.Thread(target=self.run, args=(tenant,), daemon=True,
                                  name=f"rollup-advisor-{tenant}")  # fmt: skip
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def close(self, timeout_s: float = 120.0) -> None:
        """Wait for the runs under way (the warehouse closes its engines next)."""
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=timeout_s)

    def run(self, tenant: str) -> list[Proposal]:
        """Apply the proposals that meet the thresholds; return them."""
        applied: list[Proposal] = []
        try:
            for p in self.advisor.advise(tenant, min_queries=self.min_queries):
                if len(applied) >= self.max_rollups:
                    break
                if p.declined or (p.fact_rows and p.rows / p.fact_rows > self.max_ratio):
                    continue  # an admin dropped it once; or too large
                try:
                    self.apply(tenant, p)
                except Exception:  # one that fails never stops the others
                    log.exception("the rollup advisor could not apply %s (%s)", p.name, tenant)
                    continue
                applied.append(p)
        except Exception:  # advice never fails a query; the next run tries again
            log.exception("the rollup advisor failed for tenant %s", tenant)
        finally:
            with self._lock:
                self._running.discard(tenant)
        return applied
