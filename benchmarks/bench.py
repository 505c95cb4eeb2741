"""FinBench: measure Ledgerhouse against raw DuckDB, Polars and pandas on the same data.

    ledgerhouse bench --scale SF --runs N [--paths service,library,duckdb,polars,pandas] --out DIR

1. Generates the data (once per scale, seed and days; kept in DIR) in a subprocess.
2. Ingests it through the product in a subprocess (so peak memory is the ingestion's own):
   bulk rows/s per dataset, then amendment merges (recent and scattered).
3. Pins the latest commit, serves the warehouse from a separate server process, and runs every
   FinBench query the product answers on every path, interleaved (the order of the paths
   rotates each run, so drift of the machine affects them equally).
4. Checks every path's answer against raw DuckDB's: exact for keys, integers, dates and
   decimals (money, quantities, prices: no tolerance, and a float where raw DuckDB has a decimal
   is a disagreement); floats (ratios, statistics) within 1e-9 relative or 1e-6 absolute. A
   disagreement fails the run, after writing the results.
5. Writes DIR/results.json, DIR/results.md and DIR/ratios.png.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from importlib import metadata
from pathlib import Path
from typing import Any

import duckdb
import httpx
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.ipc as ipc

from benchmarks.analytics_queries import ANALYTICS_QUERIES
from benchmarks.queries import NOT_YET, QUERIES, BenchQuery, Params, Product, week_of
from ledgerhouse.errors import InvalidRequest, LedgerhouseError
from ledgerhouse.model.schema import TableDef
from ledgerhouse.services import Warehouse
from ledgerhouse.storage.metadata import WarehouseCommit

ALL_QUERIES: tuple[BenchQuery, ...] = (*QUERIES, *ANALYTICS_QUERIES)

PATHS = ("service", "service_cached", "library", "library_raw", "duckdb", "polars", "pandas")
#: library_raw: the library with rollups off (route "raw"), to measure what rollups save
PRODUCT_PATHS = ("service", "service_cached", "library", "library_raw")
REL_TOL, ABS_TOL = 1e-9, 1e-6
TENANT = "default"
#: Answers are compared whole: the product's row limit (100,000 by default) is raised.
ROW_LIMIT = 50_000_000
#: The service path asks for Arrow IPC, as a client that moves data (not a browser) would.
_ARROW = {"Accept": "application/vnd.apache.arrow.stream"}


class BenchFailed(LedgerhouseError):
    status = 500
    code = "bench_failed"


class BenchDisagreement(BenchFailed):
    code = "bench_disagreement"


@dataclass
class BenchConfig:
    scale: float
    runs: int
    out: Path
    paths: tuple[str, ...] = PATHS
    seed: int = 42
    days: int = 750
    amendments: int = 100_000
    reuse_warehouse: bool = False

    def __post_init__(self) -> None:
        unknown = [p for p in self.paths if p not in PATHS]
        if unknown or not self.paths:
            raise InvalidRequest(
                f"unknown bench paths {unknown}" if unknown else "no bench path given",
                hint=f"Choose from {', '.join(PATHS)}.",
            )
        if "duckdb" not in self.paths:  # the reference every ratio and check is against
            self.paths = (*self.paths, "duckdb")
        if self.runs < 1:
            raise InvalidRequest("runs must be at least 1", hint="Pass --runs 15.")


@dataclass
class Measured:
    times_ms: list[float] = field(default_factory=list)
    rows: int = 0
    route: str | None = None
    agrees: bool = True
    disagreement: str | None = None


# -- the paths ---------------------------------------------------------------------------------
class RawFiles:
    """The pinned commit's Parquet files, read the way a user of each library would."""

    def __init__(self, wh: Warehouse, commit: WarehouseCommit) -> None:
        self.wh = wh
        self.commit = commit
        self.duck = duckdb.connect(
            config={
                "threads": wh.settings.duckdb_threads,
                "memory_limit": wh.settings.duckdb_memory_limit,
            }
        )
        for name in (
            "fact_trade",
            "fact_position",
            "fact_performance",
            "fact_price",
            "fact_benchmark_constituent",
        ):
            self._view(wh.relations[name])
        for name in ("dim_portfolio", "dim_instrument"):
            self._view(wh.relations[name])

    def files(self, table: TableDef) -> list[str]:
        version = self.commit.table_versions[table.relation]
        return self.wh.store.files(TENANT, table, version)

    def _view(self, table: TableDef) -> None:
        files = ", ".join("'" + f.replace("'", "''") + "'" for f in self.files(table))
        opts = ""
        if table.partition_by:
            opts = (
                f", hive_partitioning = true, hive_types = {{'{table.partition_by[0]}': VARCHAR}}"
            )
        self.duck.execute(
            f"CREATE VIEW {table.relation} AS SELECT * FROM read_parquet([{files}]{opts})"
        )

    def scan(self, relation: str) -> pl.LazyFrame:
        table = self.wh.relations[relation]
        return pl.scan_parquet(self.files(table), hive_partitioning=bool(table.partition_by))

    def pandas(
        self, relation: str, columns: list[str], filters: list[tuple[str, str, Any]] | None
    ) -> Any:
        """What a pandas user writes: keep the files of the partitions asked for, read the
        columns needed, then filter rows with boolean masks. (pyarrow 26 cannot push these
        filters into files whose strings delta-rs wrote as string_view.)

        Decimal columns (money, quantities, prices) are read as pyarrow-backed decimals
        (``pd.ArrowDtype``): exact, and vectorized where pandas' default, an object column of
        Python ``Decimal`` values, is an order of magnitude slower. Adding, subtracting,
        ``abs`` and group sums stay exact; the queries cast to float64 where the answer is a
        ratio or a statistic, as DuckDB does when it divides decimals."""
        import pandas as pd
        import pyarrow.parquet as pq

        def exact(t: pa.DataType) -> Any:
            return pd.ArrowDtype(t) if pa.types.is_decimal(t) else None

        table = self.wh.relations[relation]
        files = self.files(table)
        part = table.partition_by[0] if table.partition_by else None
        rows = [f for f in filters or [] if f[0] != part]
        for _, op, value in [f for f in filters or [] if f[0] == part]:
            wanted = set(value) if op == "in" else {value}
            files = [f for f in files if f.split(f"/{part}=")[1].split("/")[0] in wanted]
        need = list(dict.fromkeys([*columns, *(c for c, _, _ in rows)]))
        frames = [
            pq.read_table(f, columns=need).to_pandas(date_as_object=False, types_mapper=exact)
            for f in files
        ]
        df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=need)
        for column, op, value in rows:
            series = df[column]
            if isinstance(value, date):
                value = pd.Timestamp(value)
            mask = {
                "==": lambda s, v: s == v,
                ">=": lambda s, v: s >= v,
                "<=": lambda s, v: s <= v,
                "in": lambda s, v: s.isin(v),
            }[op](series, value)
            df = df[mask]
        return df[columns].reset_index(drop=True)

    def params(self) -> Params:
        def q(sql: str) -> Any:
            """The first row of a query (None when it has none)."""
            rows = self.duck.sql(sql).fetchall()
            return rows[0] if rows else None

        month = q(
            "SELECT strftime(quantile_disc(performance_date, 0.5), '%Y-%m') FROM fact_performance"
        )
        assert month is not None and month[0], "no performance data to benchmark"
        m = str(month[0])
        first = date.fromisoformat(m + "-01")
        last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        exposure_row = q(
            f"SELECT max(position_date) FROM fact_position WHERE position_month = '{m}'"
        )
        desk_row = q("SELECT desk FROM dim_portfolio WHERE is_current ORDER BY desk LIMIT 1")
        trade = q(
            "SELECT trade_id, instrument_code, trade_date FROM fact_trade "
            f"WHERE trade_month = '{m}' ORDER BY trade_id LIMIT 1"
        )
        assert exposure_row and desk_row and trade, "the warehouse lacks positions or trades"
        week_first, week_last = week_of(first + timedelta(days=14))
        var_row = q(
            "SELECT min(d) FROM (SELECT DISTINCT performance_date AS d FROM fact_performance "
            "ORDER BY d DESC LIMIT 250)"
        )
        return Params(
            month=m,
            month_first=first,
            month_last=last,
            exposure_date=exposure_row[0],
            desk=desk_row[0],
            week_first=week_first,
            week_last=week_last,
            trade_id=trade[0],
            instrument=trade[1],
            trade_date=trade[2],
            var_first=var_row[0],
        )

    def close(self) -> None:
        self.duck.close()


class Paths:
    """Runs one query on one path; returns its answer (rows) and, for the product, the route."""

    def __init__(
        self, wh: Warehouse, raw: RawFiles, http: httpx.Client | None, params: Params
    ) -> None:
        self.wh, self.raw, self.http, self.p = wh, raw, http, params
        self.me = wh.local(roles=("reader",), user="finbench")  # the library path's caller
        self.commit = raw.commit.id

    def available(self, path: str, q: BenchQuery) -> bool:
        """Whether the query has a version on this path (analytics have no cache or rollups
        to switch off; some have no hand-written library version)."""
        if path in PRODUCT_PATHS:
            return q.product(self.p).kind != "analytics" or path in ("service", "library")
        return getattr(q, path) is not None

    def run(self, path: str, q: BenchQuery) -> tuple[Any, str | None]:
        if path in PRODUCT_PATHS:
            return self._product(path, q.product(self.p))
        if path == "duckdb" and q.duckdb is not None:
            return self.raw.duck.sql(q.duckdb(self.p)).to_arrow_table(), None
        if path == "polars" and q.polars is not None:
            return q.polars(self.raw.scan, self.p), None
        assert q.pandas is not None
        return q.pandas(self.raw.pandas, self.p), None

    def _analytics(self, path: str, spec: Product) -> tuple[Any, str | None]:
        args = dict(spec.args or {})
        cols = spec.columns or []
        if path == "library":
            frame, _ = getattr(self.me.analytics(), spec.method)(**args, as_of=self.commit)
            return frame.select(cols), "analytics"
        assert self.http is not None
        sent = spec.api_args if spec.api_args is not None else args
        body = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in sent.items()}
        r = self.http.post(
            f"/v1/analytics/{spec.method}", json={**body, "as_of": self.commit}, headers=_ARROW
        )
        if r.status_code != 200:
            raise BenchFailed(
                f"the service answered {r.status_code}: {r.text[:300]}",
                hint="See the server's error; the bench stops.",
            )
        return ipc.open_stream(r.content).read_all().select(cols), "analytics"

    def _product(self, path: str, spec: Product) -> tuple[Any, str | None]:
        if spec.kind == "analytics":
            return self._analytics(path, spec)
        cache = path == "service_cached"
        if path in ("library", "library_raw"):
            if spec.kind == "cube":
                query = {**(spec.query or {}), "as_of": self.commit, "cache": False}
                if path == "library_raw":
                    query["route"] = "raw"
                res = self.me.cube(spec.cube, query)
                return res.table, res.route
            sql = self.me.query(spec.sql, params=spec.params, as_of=self.commit, use_cache=False)
            return sql.table, sql.route
        assert self.http is not None
        if spec.kind == "cube":
            body = {**(spec.query or {}), "as_of": self.commit, "cache": cache}
            r = self.http.post(f"/v1/cubes/{spec.cube}/query", json=body, headers=_ARROW)
        else:
            # an interactive answer (capped, cacheable), as a BI tool asks: not an export
            body = {"sql": spec.sql, "params": spec.params, "as_of": self.commit, "cache": cache}
            body["export"] = False
            r = self.http.post("/v1/query/sql", json=body, headers=_ARROW)
        if r.status_code != 200:
            raise BenchFailed(
                f"the service answered {r.status_code}: {r.text[:300]}",
                hint="See the server's error; the bench stops.",
            )
        return ipc.open_stream(r.content).read_all(), r.headers["X-Route"]


# -- comparing answers -------------------------------------------------------------------------
def normalize(answer: Any) -> list[tuple[Any, ...]]:
    """Rows as comparable Python values: dates as ISO dates, decimals as exact ``Decimal``
    values (``1.50`` and ``1.5`` are one value), other numbers as int/float."""
    if isinstance(answer, pa.Table):
        cols = [c.to_pylist() for c in answer.columns]
        rows = list(zip(*cols, strict=True)) if cols else []
    elif isinstance(answer, pl.DataFrame):
        rows = answer.rows()
    elif isinstance(answer, list):
        rows = [tuple(r) for r in answer]
    else:  # pandas
        rows = [tuple(r) for r in answer.itertuples(index=False, name=None)]
    return [tuple(_value(v) for v in r) for r in rows]


def _value(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, datetime):
        return v.date().isoformat()
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return v if v.is_finite() else None
    if isinstance(v, str) and len(v) >= 10 and v[4] == "-" and v[7] == "-":
        return v[:10] if len(v) == 10 or v[10] in "T " else v
    if isinstance(v, float) and math.isnan(v):
        return None
    if v is not None and type(v).__name__ == "NAType":  # pandas' missing value
        return None
    return v


def _sort_key(row: tuple[Any, ...]) -> tuple[str, ...]:
    exact = [_exact_text(v) for v in row if not isinstance(v, float)]
    approx = [f"{v:.3e}" for v in row if isinstance(v, float)]
    return (*exact, *approx)


def _exact_text(v: Any) -> str:
    """One text per value: a decimal's without its trailing zeros (``1.50`` -> ``1.5``)."""
    if isinstance(v, Decimal):
        return format(v.normalize(), "f")
    return str(v)


def disagreement(reference: list[tuple[Any, ...]], got: list[tuple[Any, ...]]) -> str | None:
    """None when the answers agree, else what differs (first difference). Where raw DuckDB
    has a decimal (money, quantity, price), the other answer must hold the same decimal value
    exactly: no tolerance, and a float there is a difference. Floats (ratios, statistics) agree
    within ``REL_TOL`` relative or ``ABS_TOL`` absolute."""
    if len(reference) != len(got):
        return f"{len(got)} rows, raw DuckDB has {len(reference)}"
    pairs = zip(sorted(reference, key=_sort_key), sorted(got, key=_sort_key), strict=True)
    for i, (a, b) in enumerate(pairs):
        if len(a) != len(b):
            return f"row {i}: {len(b)} columns, raw DuckDB has {len(a)}"
        for j, (x, y) in enumerate(zip(a, b, strict=True)):
            why = _differs(x, y)
            if why:
                return f"row {i}, column {j}: {why}"
    return None


def _differs(x: Any, y: Any) -> str | None:
    """Why ``y`` (a path's value) differs from ``x`` (raw DuckDB's), or None."""
    if x is None or y is None:
        return None if x is y else f"{y!r} vs {x!r}"
    if isinstance(x, Decimal):  # money, a quantity, a price: the same value, exactly
        if isinstance(y, float):
            return f"{y!r} is a float where raw DuckDB has the exact decimal {_exact_text(x)}"
        if isinstance(y, bool) or not isinstance(y, Decimal | int) or x != y:
            return f"{_exact_text(y)} vs exactly {_exact_text(x)}"
        return None
    if isinstance(x, float) or isinstance(y, float):  # a ratio or a statistic
        if isinstance(x, bool) or isinstance(y, bool) or not isinstance(y, Decimal | int | float):
            return f"{y!r} vs {x!r}"
        if not math.isclose(float(x), float(y), rel_tol=REL_TOL, abs_tol=ABS_TOL):
            return f"{y!r} vs {x!r}"
        return None
    return None if x == y else f"{y!r} vs {x!r}"


# -- the run -----------------------------------------------------------------------------------
def run_bench(cfg: BenchConfig, say: Callable[[str], None] = print) -> dict[str, Any]:
    cfg.out.mkdir(parents=True, exist_ok=True)
    data = cfg.out / f"data-sf{cfg.scale:g}-seed{cfg.seed}-days{cfg.days}"
    done = data / ".complete"  # written once every dataset file is
    if not done.is_file():
        say(f"generating FinBench data at scale {cfg.scale:g} into {data} ...")
        _subprocess(
            [
                "generate",
                "--scale",
                str(cfg.scale),
                "--seed",
                str(cfg.seed),
                "--days",
                str(cfg.days),
                "--out",
                str(data),
            ],
            cli=True,
        )
        done.write_text(datetime.now(UTC).isoformat())
    root = cfg.out / "warehouse"
    ingest_file = cfg.out / "ingestion.json"
    if cfg.reuse_warehouse and root.is_dir() and ingest_file.is_file():
        say(f"reusing {root} and its ingestion measurements")
        ingestion = json.loads(ingest_file.read_text())
    else:
        say("ingesting through the product (bulk load, then amendment merges) ...")
        out = _subprocess(
            [
                str(Path(__file__).with_name("ingest_bench.py")),
                "--data",
                str(data),
                "--root",
                str(root),
                "--amendments",
                str(cfg.amendments),
            ],
            cli=False,
        )
        ingestion = json.loads(out)
        ingest_file.write_text(json.dumps(ingestion, indent=2))
    ingestion["bulk_rows_per_s"] = _bulk_rate(ingestion)
    results = _measure(cfg, root, say)
    results["ingestion"] = ingestion
    results["summary"]["bulk_rows_per_s"] = ingestion["bulk_rows_per_s"]
    from benchmarks.report import write_reports

    write_reports(results, cfg.out)
    say(f"results written to {cfg.out / 'results.md'}, results.json and ratios.png")
    bad = [
        f"{q['id']} on {path}: {m['disagreement']}"
        for q in results["queries"]
        for path, m in q["paths"].items()
        if not m["agrees"]
    ]
    if bad:
        raise BenchDisagreement(
            f"{len(bad)} answers disagree with raw DuckDB: " + "; ".join(bad[:5]),
            hint="A path computes something else: read the query's paths in benchmarks/queries.py.",
            disagreements=bad,
        )
    return results


def _bulk_rate(ingestion: dict[str, Any]) -> int:
    sets = ingestion["datasets"].values()
    rows = sum(d["rows"] for d in sets)
    secs = sum(d["seconds"] for d in sets)
    return round(rows / secs) if secs else 0


def _measure(cfg: BenchConfig, root: Path, say: Callable[[str], None]) -> dict[str, Any]:
    with Warehouse.open(root=root, query_row_limit=ROW_LIMIT) as wh:
        commit = wh.local(roles=("reader",)).commits()[0]
        raw = RawFiles(wh, commit)
        params = raw.params()
        needs_server = any(p in cfg.paths for p in ("service", "service_cached"))
        server = _server(wh, root, cfg.out / "server.log")
        with server if needs_server else contextlib.nullcontext() as http:
            paths = Paths(wh, raw, http, params)
            on = {q.id: [p for p in cfg.paths if paths.available(p, q)] for q in ALL_QUERIES}
            measured = {q.id: {p: Measured() for p in on[q.id]} for q in ALL_QUERIES}
            say(f"checking answers on {len(cfg.paths)} paths ({', '.join(cfg.paths)}) ...")
            for q in ALL_QUERIES:  # the untimed first run: answers, routes, warm caches
                answers = {}
                for p in on[q.id]:
                    try:
                        answers[p] = paths.run(p, q)
                    except Exception as e:  # recorded as a disagreement; the others go on
                        if p == "duckdb":
                            raise  # the reference: the bench itself is wrong
                        failed = measured[q.id][p]
                        failed.agrees = False
                        why = " ".join(str(e).split())[:300]  # one line, for results.md
                        failed.disagreement = f"failed: {type(e).__name__}: {why}"
                        say(f"{q.id} on {p} failed: {why}")
                on[q.id] = [p for p in on[q.id] if p in answers]  # a failed path is not timed
                # the reference: raw DuckDB, or the library where no hand-written SQL exists
                reference = normalize(answers["duckdb" if "duckdb" in answers else "library"][0])
                for p, (answer, route) in answers.items():
                    m = measured[q.id][p]
                    rows = normalize(answer)
                    m.rows, m.route = len(rows), route
                    m.disagreement = disagreement(reference, rows)
                    m.agrees = m.disagreement is None
            for run in range(cfg.runs):
                say(f"run {run + 1}/{cfg.runs}")
                for i, q in enumerate(ALL_QUERIES):
                    todo = on[q.id]
                    k = (run + i) % len(todo)
                    for p in todo[k:] + todo[:k]:
                        t = time.perf_counter()
                        paths.run(p, q)
                        measured[q.id][p].times_ms.append((time.perf_counter() - t) * 1000)
        raw.close()
    return _results(cfg, commit, params, measured)


def _results(
    cfg: BenchConfig,
    commit: WarehouseCommit,
    params: Params,
    measured: dict[str, dict[str, Measured]],
) -> dict[str, Any]:
    queries = []
    for q in ALL_QUERIES:
        has_ref = "duckdb" in measured[q.id]
        ref = float(np.median(measured[q.id]["duckdb"].times_ms)) if has_ref else 0.0
        entry: dict[str, Any] = {
            "id": q.id,
            "finbench": q.finbench,
            "title": q.title,
            "product_call": q.product(params).describe(),
            "paths": {},
        }
        for p, m in measured[q.id].items():
            timed = bool(m.times_ms)  # not when the path failed
            med = float(np.median(m.times_ms)) if timed else 0.0
            entry["paths"][p] = {
                "median_ms": round(med, 3) if timed else None,
                "p99_ms": round(float(np.percentile(m.times_ms, 99)), 3) if timed else None,
                "runs": len(m.times_ms),
                "rows": m.rows,
                "ratio_to_duckdb": round(med / ref, 3) if ref and timed else None,
                "agrees": m.agrees,
                "disagreement": m.disagreement,
                **({"route": m.route} if m.route else {}),
            }
        queries.append(entry)

    def ratios(path: str, over: str = "duckdb") -> list[float]:
        return [
            q["paths"][path]["median_ms"] / q["paths"][over]["median_ms"]
            for q in queries
            if path in q["paths"]
            and over in q["paths"]
            and q["paths"][over]["median_ms"]
            and q["paths"][path]["median_ms"]
        ]

    summary: dict[str, Any] = {}
    for p in cfg.paths:
        if p != "duckdb" and ratios(p):
            summary[f"median_ratio_{p}_to_duckdb"] = round(float(np.median(ratios(p))), 3)
    if "service" in cfg.paths:
        with_ratio = [q for q in queries if q["paths"].get("service", {}).get("ratio_to_duckdb")]
        worst = max(with_ratio, key=lambda q: q["paths"]["service"]["ratio_to_duckdb"])
        summary["worst_service_query"] = {
            "id": worst["id"],
            "ratio_to_duckdb": worst["paths"]["service"]["ratio_to_duckdb"],
        }
        for other in ("pandas", "polars"):
            if other in cfg.paths:
                summary[f"median_ratio_{other}_to_service"] = round(
                    float(np.median(ratios(other, "service"))), 3
                )
    speedups = [
        q["paths"]["library_raw"]["median_ms"] / q["paths"]["library"]["median_ms"]
        for q in queries
        if "library_raw" in q["paths"]
        and str(q["paths"]["library"].get("route", "")).startswith("rollup:")
        and q["paths"]["library"]["median_ms"]
        and q["paths"]["library_raw"]["median_ms"]
    ]
    if speedups:
        summary["rollup_speedup_median"] = round(float(np.median(speedups)), 2)
        summary["rollup_speedup_min"] = round(min(speedups), 2)
    summary["max_p99_ms"] = {
        p: round(max(q["paths"][p]["p99_ms"] or 0.0 for q in queries if p in q["paths"]), 3)
        for p in cfg.paths
    }
    summary["all_agree"] = all(m["agrees"] for q in queries for m in q["paths"].values())
    return {
        "finbench": {"scale": cfg.scale, "seed": cfg.seed, "days": cfg.days, "runs": cfg.runs},
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": versions(),
        "commit": commit.id,
        "params": {k: str(v) for k, v in params.__dict__.items()},
        "tolerance": {"relative": REL_TOL, "absolute": ABS_TOL, "decimals": "exact"},
        "queries": queries,
        "not_measured": [{"finbench": k, "reason": v} for k, v in sorted(NOT_YET.items())],
        "summary": summary,
    }


# -- helpers -----------------------------------------------------------------------------------
def _subprocess(args: list[str], *, cli: bool) -> str:
    cmd = [sys.executable, "-c", "from ledgerhouse.cli.main import main; main()", *args]
    if not cli:
        cmd = [sys.executable, *args]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=None, text=True, check=False)
    if proc.returncode != 0:
        raise BenchFailed(
            f"`{' '.join(args[:3])}` failed with exit code {proc.returncode}",
            hint="Its error is printed above.",
        )
    return proc.stdout


@contextlib.contextmanager
def _server(wh: Warehouse, root: Path, log: Path) -> Iterator[httpx.Client]:
    key = wh.local(roles=("admin",)).create_api_key("finbench", ("reader",))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    env = {
        **os.environ,
        "LEDGERHOUSE_LOG_LEVEL": "WARNING",
        "LEDGERHOUSE_QUERY_ROW_LIMIT": str(ROW_LIMIT),
    }
    cmd = [
        sys.executable, "-c", "from ledgerhouse.cli.main import main; main()",
        "serve", "--root", str(root), "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    log_file = log.open("wb")  # a file, not a pipe: a chatty server must never block on it
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=log_file, preexec_fn=_die_with_parent
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                err = log.read_text(errors="replace")[-2000:]
                raise BenchFailed(f"the server did not start: {err}", hint=f"See {log}.")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise BenchFailed("the server did not start in 120 s", hint="Check the port.")
            time.sleep(0.2)
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=600
        ) as client:
            yield client
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log_file.close()


def _die_with_parent() -> None:
    """In the server process (Linux): get SIGTERM when the bench dies, even if killed, so no
    orphan server keeps the port and the warehouse."""
    with contextlib.suppress(Exception):
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory_gib"] = round(int(line.split()[1]) / 1024**2, 1)
    return info


def versions() -> dict[str, str]:
    out = {}
    for name in ("ledgerhouse", "duckdb", "polars", "pandas", "pyarrow", "deltalake", "sqlglot"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out
