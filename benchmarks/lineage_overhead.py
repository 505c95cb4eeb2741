"""Query latency with lineage capture on vs off (issue 14: aim at most 2% slower).

With ``lineage_capture`` on, the query log's background thread parses each logged query and
works out the columns it read (query/log.py), beside writing its log row and audit entry; the
query itself only hands its entry over. This measures what that costs the queries: the same
warehouse opened twice in one process, once with capture on and once off, the queries run
alternately on each (on, off, on, off...) so drift hits both alike, never from the result
cache, the log's thread busy while they run (no flush between queries).

    .venv/bin/python -m benchmarks.lineage_overhead --scale 0.1 --runs 15 --out bench-lineage
    .venv/bin/python -m benchmarks.lineage_overhead --scale 1 --reuse   # the issue's SF 1

It writes ``lineage_overhead.json`` and prints a table: per query the median latency on and
off, and the ratio; the geometric mean of the ratios is the headline.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from ledgerhouse import Warehouse
from ledgerhouse.finbench.generate import generate
from ledgerhouse.ingest import LOAD_ORDER
from ledgerhouse.query.guard import check_query
from ledgerhouse.query.log import columns_read
from ledgerhouse.session import Session

#: name -> SQL (or a cube query): joins, a CTE, a star, a point lookup, a wide scan
QUERIES: dict[str, str | tuple[str, dict[str, Any]]] = {
    "join_group": (
        "SELECT p.firm, i.asset_class, sum(t.notional_reporting) AS notional, count(*) AS n "
        "FROM fact_trade t JOIN dim_portfolio p ON t.portfolio_key = p.portfolio_key "
        "JOIN dim_instrument i ON t.instrument_key = i.instrument_key GROUP BY 1, 2"
    ),
    "cte_filter": (
        "WITH buys AS (SELECT portfolio_code, quantity, price FROM fact_trade "
        "WHERE side = 'BUY') SELECT portfolio_code, sum(quantity * price) AS gross "
        "FROM buys GROUP BY 1 ORDER BY 2 DESC LIMIT 20"
    ),
    "star_limit": "SELECT * FROM fact_trade ORDER BY trade_id LIMIT 100",
    "point_lookup": "SELECT * FROM dim_portfolio WHERE portfolio_code = 'P0001'",
    "month_scan": (
        "SELECT trade_month, count(*) AS n, avg(price) AS avg_price FROM fact_trade "
        "GROUP BY 1 ORDER BY 1"
    ),
    "cube_rollup": ("trades", {"measures": ["notional", "trades"], "dimensions": ["desk"]}),
    "cube_raw": (
        "trades",
        {"measures": ["notional"], "dimensions": ["sector"], "route": "raw", "cache": False},
    ),
}


def _load(root: Path, scale: float, days: int, seed: int) -> None:
    data = root.parent / f"finbench-sf{scale:g}"
    if not (data / "trades.parquet").exists():
        print(f"generating FinBench SF {scale:g} ...", file=sys.stderr)
        generate(data, scale, seed=seed, days=days)
    wh, _ = Warehouse.init(root=root)
    with wh:
        me = wh.local(roles=("admin",))
        for ds in LOAD_ORDER:
            t = time.perf_counter()
            report = me.ingest(ds, data / f"{ds}.parquet")
            took = time.perf_counter() - t
            print(f"  {ds:15s} {report.status:10s} {report.rows_accepted:>10,} rows {took:6.1f}s",
                  file=sys.stderr)  # fmt: skip


def _run(me: Session, query: str | tuple[str, dict[str, Any]], run: int | None = None) -> float:
    """One query's latency in ms; ``run`` makes an SQL text distinct (a literal column), so the
    log's thread cannot reuse the columns it worked out for the same text before."""
    if isinstance(query, str) and run is not None:
        query = query.replace(" FROM ", f", {run} AS run_no FROM ", 1)
    started = time.perf_counter()
    if isinstance(query, str):
        me.query(query, use_cache=False)
    else:
        cube, q = query
        me.cube(cube, {**q, "cache": False})
    return (time.perf_counter() - started) * 1000


def analysis_ms(wh: Warehouse, me: Session, query: str | tuple[str, dict[str, Any]]) -> float:
    """What the log's thread spends working out one query's columns (median of 30), i.e. the
    work capture adds, off the query path."""
    if isinstance(query, str):
        checked = check_query(query, frozenset(wh.relations))
        sql, relations = checked.sql, checked.relations
    else:
        plan = me.cube(query[0], query[1], dry_run=True).plan
        checked = check_query(plan.sql, frozenset(wh.relations))
        sql, relations = checked.sql, checked.relations
    schemas = {r: [c for c, _ in t.columns] for r, t in wh.relations.items()}
    times = []
    for _ in range(30):
        started = time.perf_counter()
        columns_read(sql, relations, schemas)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure(root: Path, runs: int, warmup: int = 2, *, distinct: bool = False) -> dict[str, Any]:
    on = Warehouse.open(root=root, lineage_capture=True)
    off = Warehouse.open(root=root, lineage_capture=False)
    try:
        sessions = {"on": on.local(roles=("admin",)), "off": off.local(roles=("admin",))}
        results: dict[str, Any] = {}
        for name, query in QUERIES.items():
            times: dict[str, list[float]] = {"on": [], "off": []}
            for i in range(warmup + runs):
                order = ("on", "off") if i % 2 == 0 else ("off", "on")
                for mode in order:
                    ms = _run(sessions[mode], query, i if distinct else None)
                    if i >= warmup:
                        times[mode].append(ms)
            med = {m: statistics.median(t) for m, t in times.items()}
            results[name] = {
                "median_ms_on": round(med["on"], 3),
                "median_ms_off": round(med["off"], 3),
                "ratio": round(med["on"] / med["off"], 4),
                "analysis_ms": round(analysis_ms(on, sessions["on"], query), 3),
            }
        t = time.perf_counter()
        on.query_log.flush()
        drain_ms = (time.perf_counter() - t) * 1000
    finally:
        on.close()
        off.close()
    ratios = [r["ratio"] for r in results.values()]
    geo = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    return {
        "runs": runs,
        "distinct_texts": distinct,
        "queries": results,
        "geomean_ratio_on_to_off": round(geo, 4),
        "slower_pct": round((geo - 1) * 100, 2),
        "log_drain_after_ms": round(drain_ms, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--days", type=int, default=750)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--out", type=Path, default=Path("bench-lineage"))
    ap.add_argument("--reuse", action="store_true", help="Reuse a loaded warehouse in --out.")
    ap.add_argument(
        "--distinct",
        action="store_true",
        help="Make every SQL text distinct (no reuse of a text's columns: the worst case).",
    )
    args = ap.parse_args(argv)
    root = args.out / f"wh-sf{args.scale:g}"
    if not (args.reuse and root.is_dir()):
        if root.exists():
            raise SystemExit(f"{root} exists: pass --reuse, or remove it")
        args.out.mkdir(parents=True, exist_ok=True)
        _load(root, args.scale, args.days, args.seed)
    result = {"scale": args.scale, **measure(root, args.runs, distinct=args.distinct)}
    name = "lineage_overhead_distinct.json" if args.distinct else "lineage_overhead.json"
    (args.out / name).write_text(json.dumps(result, indent=2) + "\n")
    print(f"lineage capture on vs off, FinBench SF {args.scale:g}, {args.runs} runs each")
    print(f"{'query':14s} {'on ms':>10s} {'off ms':>10s} {'on/off':>8s} {'analysis ms':>12s}")
    for name, r in result["queries"].items():
        print(f"{name:14s} {r['median_ms_on']:10.2f} {r['median_ms_off']:10.2f} "
              f"{r['ratio']:8.3f} {r['analysis_ms']:12.3f}")  # fmt: skip
    print(f"geometric mean on/off: {result['geomean_ratio_on_to_off']:.4f} "
          f"({result['slower_pct']:+.2f}%)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
