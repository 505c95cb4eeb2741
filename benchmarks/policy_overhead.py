"""What row policies cost FinBench's queries (issue 15: the rewriting overhead, aim at most 5%).

The same warehouse, in one process, queried by an unrestricted ``reader`` and by a principal
under a row policy, alternately (drift hits both alike), never from the result cache. Two
policies: one that allows **every** portfolio (``portfolio_code IS NOT NULL``: the same answer,
so the difference is the policy's own cost: working out the members (cached), rewriting each
policed relation, and any condition DuckDB evaluates) and one that denies **one** portfolio
(the filter evaluated on every row: the worst case of a real restriction; answers differ, so
they are not compared). Each in two modes:

- **rewrite** / **all_but_one**: every query on the same route for both (cubes forced raw);
- **routing** / **routing_all_but_one**: cubes on their default route: a rollup that does not
  keep the portfolio (a desk-level rollup) is not used under a policy that denies anything,
  so such a cube answer routes raw — the price of never leaking across portfolios through an
  aggregate.

    .venv/bin/python -m benchmarks.policy_overhead --root /work/bench/policy-sf1/wh --runs 9

It prints a table and writes ``policy_overhead.json`` beside the warehouse.
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

from benchmarks.analytics_queries import ANALYTICS_QUERIES
from benchmarks.bench import RawFiles
from benchmarks.queries import QUERIES, Product
from ledgerhouse import Warehouse
from ledgerhouse.access import Principal
from ledgerhouse.errors import Conflict
from ledgerhouse.session import Session

ROLE = "bench_all_portfolios"
#: a policy that denies one portfolio: the filter is evaluated on every row (NOT IN the one)
MOST = "bench_all_but_one"


def _setup(wh: Warehouse) -> None:
    admin = wh.local(roles=("admin",), user="bench")
    try:
        admin.create_role(ROLE, "FinBench: a row policy that allows every portfolio")
        admin.grant("read", f"role:{ROLE}")
        admin.grant("analyze", f"role:{ROLE}")
        admin.put_policy(
            "bench_every_portfolio", "row", predicate="portfolio_code IS NOT NULL", roles=[ROLE]
        )
    except Conflict:
        pass
    try:
        admin.create_role(MOST, "FinBench: a row policy that denies one portfolio")
    except Conflict:
        return
    (last,) = admin.query("SELECT max(portfolio_code) FROM dim_portfolio").rows()[0]
    admin.grant("read", f"role:{MOST}")
    admin.grant("analyze", f"role:{MOST}")
    admin.put_policy("bench_all_but_one", "row", predicate=f"portfolio_code <> '{last}'",
                     roles=[MOST])  # fmt: skip


def _run(me: Session, spec: Product, commit: int, raw_cubes: bool) -> tuple[float, Any, str]:
    started = time.perf_counter()
    if spec.kind == "cube":
        query = {**(spec.query or {}), "as_of": commit, "cache": False}
        if raw_cubes:
            query["route"] = "raw"
        res: Any = me.cube(spec.cube, query)
        answer, route = res.table, res.route
    elif spec.kind == "sql":
        res = me.query(spec.sql, params=spec.params, as_of=commit, use_cache=False)
        answer, route = res.table, res.route
    else:
        frame, _ = getattr(me.analytics(), spec.method)(**dict(spec.args or {}), as_of=commit)
        answer, route = frame.select(spec.columns or frame.columns), "analytics"
    return (time.perf_counter() - started) * 1000, answer, route


def _sorted(answer: Any) -> list[str]:
    rows = answer.to_pylist() if hasattr(answer, "to_pylist") else answer.rows(named=True)
    return sorted(repr(sorted(r.items())) for r in rows)


class _Clock:
    """Time spent in the policy engine and the rewrite (wrapped methods of the query service):
    the Python side of a policed query, apart from the engine evaluating the filter."""

    def __init__(self, wh: Warehouse) -> None:
        self.ms = 0.0
        for name in ("effective", "_sources"):
            real = getattr(wh.queries, name)

            def timed(*args: Any, _real: Any = real, **kw: Any) -> Any:
                started = time.perf_counter()
                try:
                    return _real(*args, **kw)
                finally:
                    self.ms += (time.perf_counter() - started) * 1000

            setattr(wh.queries, name, timed)


def measure(root: Path, runs: int, warmup: int) -> dict[str, Any]:
    wh = Warehouse.open(root=root)
    clock = _Clock(wh)
    try:
        _setup(wh)
        commit = wh.meta.commit_log.latest_commit("default")
        assert commit is not None
        params = RawFiles(wh, commit).params()
        plain = wh.local(roles=("reader",), user="bench-reader")
        every = wh.session(Principal("default", "bench-policed", (ROLE,)))
        most = wh.session(Principal("default", "bench-most", (MOST,)))
        out: dict[str, Any] = {}
        modes = (("rewrite", True, every), ("all_but_one", True, most), ("routing", False, every),
                 ("routing_all_but_one", False, most))  # fmt: skip
        for mode, raw_cubes, policed in modes:
            rows: dict[str, dict[str, Any]] = {}
            for q in (*QUERIES, *ANALYTICS_QUERIES):
                spec = q.product(params)
                if mode.startswith("routing") and spec.kind != "cube":
                    continue
                times: dict[str, list[float]] = {"plain": [], "policed": []}
                routes: dict[str, str] = {}
                answers: dict[str, Any] = {}
                rewrite: list[float] = []
                for i in range(warmup + runs):
                    order = ("plain", "policed") if i % 2 == 0 else ("policed", "plain")
                    for who in order:
                        me = plain if who == "plain" else policed
                        clock.ms = 0.0
                        ms, answer, route = _run(me, spec, commit.id, raw_cubes)
                        routes[who], answers[who] = route, answer
                        if i >= warmup:
                            times[who].append(ms)
                            if who == "policed":
                                rewrite.append(clock.ms)
                # denying a portfolio changes the answer: only "every portfolio" compares
                same = _sorted(answers["plain"]) == _sorted(answers["policed"]) or (
                    "all_but_one" in mode and None
                )
                med = {k: statistics.median(v) for k, v in times.items()}
                rows[q.id] = {
                    "median_ms_plain": round(med["plain"], 3),
                    "median_ms_policed": round(med["policed"], 3),
                    "ratio": round(med["policed"] / med["plain"], 4),
                    "route_plain": routes["plain"],
                    "route_policed": routes["policed"],
                    "same_answer": same,
                    "policy_engine_and_rewrite_ms": round(statistics.median(rewrite), 3),
                }
                print(f"  {mode:8s} {q.id:34s} {med['plain']:9.2f} {med['policed']:9.2f} "
                      f"rewrite {statistics.median(rewrite):6.2f} "
                      f"{med['policed'] / med['plain']:6.3f} {routes['plain']:>24s} "
                      f"{routes['policed']:>24s} "
                      f"{'same' if same else 'n/a' if same is None else 'DIFFERENT'}",
                      file=sys.stderr)  # fmt: skip
            ratios = [float(r["ratio"]) for r in rows.values()]
            shares = [
                float(r["policy_engine_and_rewrite_ms"]) / float(r["median_ms_plain"])
                for r in rows.values()
            ]
            out[mode] = {
                "queries": rows,
                "rewrite_share_of_plain_median": round(statistics.median(shares), 4),
                "geomean_ratio": round(math.exp(sum(math.log(r) for r in ratios) / len(ratios)), 4),
            }
        return {"runs": runs, "commit": commit.id, **out}
    finally:
        wh.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, required=True, help="A loaded FinBench warehouse.")
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--warmup", type=int, default=2)
    args = ap.parse_args(argv)
    result = measure(args.root, args.runs, args.warmup)
    (args.root.parent / "policy_overhead.json").write_text(json.dumps(result, indent=2))
    for mode in ("rewrite", "routing"):
        geo = result[mode]["geomean_ratio"]
        share = result[mode]["rewrite_share_of_plain_median"] * 100
        print(
            f"{mode}: geometric mean policed/plain {geo:.4f} ({(geo - 1) * 100:+.2f}%); "
            f"the policy engine and rewrite alone: {share:.2f}% of the plain time (median)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
