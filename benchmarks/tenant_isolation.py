"""Two tenants under concurrent load: tenant A saturating its quota must not push tenant B's
p99 above 2x its solo p99 (issue 15, "Must show"; docs/tenancy/resources.md).

It builds a warehouse with two tenants, ``alpha`` (A) and ``beta`` (B), each loaded with the
same FinBench data, gives A a small quota (``--a-concurrency`` running queries, a queue of
``--a-queue``, ``--a-threads`` engine threads, optionally a request rate), serves it with
``ledgerhouse serve`` in a subprocess (the result cache off, so every query runs in the
engine), then measures B's latency through HTTP: alone, then while A's ``--hammer`` client
threads (a second process) send heavy queries back to back — more at once than A's quota; a
429 answered by sending again at once (``--a-backoff`` seconds later; -1: after Retry-After).

    .venv/bin/python -m benchmarks.tenant_isolation --scale 0.05 --out bench-isolation

It prints B's p50/p95/p99 solo and loaded, their ratio, and what A got (answers, 429s);
``--a-backoff=-1`` makes A's clients wait what Retry-After says, ``--rounds`` alternates phases.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

#: B's mix: small aggregates a dashboard asks (a parameter varies, the cache is off anyway)
B_QUERIES = (
    "SELECT i.asset_class, count(*) AS n, sum(t.quantity) AS q FROM fact_trade t "
    "JOIN dim_instrument i ON t.instrument_key = i.instrument_key "
    "WHERE t.trade_date >= DATE '2024-01-01' + CAST(? AS INTEGER) GROUP BY 1 ORDER BY 1",
    "SELECT currency_code, avg(rate_to_usd) FROM fact_fx_rate WHERE ? >= 0 GROUP BY 1 ORDER BY 1",
    "SELECT portfolio_key, count(*) FROM fact_trade WHERE ? >= 0 GROUP BY 1 ORDER BY 2 DESC "
    "LIMIT 10",
)
#: A's heavy query: a self-join on the trades (every core it may use)
A_QUERY = (
    "SELECT p.firm, i.asset_class, count(*) AS n, sum(t.notional_reporting) AS notional "
    "FROM fact_trade t JOIN dim_portfolio p ON t.portfolio_key = p.portfolio_key "
    "JOIN dim_instrument i ON t.instrument_key = i.instrument_key "
    "JOIN fact_trade u ON u.portfolio_key = t.portfolio_key AND u.trade_date = t.trade_date "
    "WHERE t.quantity > ? GROUP BY 1, 2"
)


def build(root: Path, data: Path, scale: float, days: int) -> dict[str, str]:
    """The warehouse and the two tenants' admin keys (reused when already built)."""
    keys_file = root.parent / "keys.json"
    if keys_file.exists() and root.exists():
        keys: dict[str, str] = json.loads(keys_file.read_text())
        return keys
    from ledgerhouse import Warehouse
    from ledgerhouse.finbench.generate import generate
    from ledgerhouse.ingest import LOAD_ORDER

    if not data.exists():
        generate(data, scale, days=days)
    wh, _ = Warehouse.init(root=root)
    keys = {}
    with wh:
        for tenant in ("alpha", "beta"):
            key = wh.create_tenant(tenant)
            assert key is not None
            keys[tenant] = key
            me = wh.local(tenant, roles=("admin",))
            for ds in LOAD_ORDER:
                if (data / f"{ds}.parquet").exists():
                    me.ingest(ds, data / f"{ds}.parquet")
    keys_file.write_text(json.dumps(keys))
    return keys


def set_quota(root: Path, args: argparse.Namespace) -> dict[str, Any]:
    from ledgerhouse import Warehouse
    from ledgerhouse.access import PLATFORM_ROLE, PLATFORM_TENANT, Principal

    platform = Principal(tenant=PLATFORM_TENANT, user="bench", roles=(PLATFORM_ROLE,))
    values: dict[str, Any] = {
        "query_concurrency": args.a_concurrency,
        "query_queue": args.a_queue,
        "duckdb_threads": args.a_threads,
    }
    if args.a_rate:
        values["rate_limit_per_s"] = args.a_rate
    with Warehouse.open(root=root) as wh:
        wh.resources.reset(platform, "beta")
        shown: dict[str, Any] = wh.resources.set(platform, "alpha", values, replace=True)
        return shown["overrides"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def serve(root: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LEDGERHOUSE_RESULT_CACHE_BYTES": "0", "LEDGERHOUSE_LOG_LEVEL": "WARNING"}
    cmd = [sys.executable, "-m", "ledgerhouse.cli.main", "serve", "--root", str(root),
           "--port", str(port)]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(
        f"the server did not start: {proc.stderr.read().decode() if proc.stderr else ''}"
    )


def run_b(base: str, key: str, n: int) -> list[float]:
    """B's latencies (seconds), one client, one query after the other."""
    out = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60) as c:
        for i in range(n):
            sql = B_QUERIES[i % len(B_QUERIES)]
            t0 = time.perf_counter()
            r = c.post("/v1/query/sql", json={"sql": sql, "params": [i % 7]})
            out.append(time.perf_counter() - t0)
            if r.status_code != 200:
                raise SystemExit(f"B's query failed: {r.status_code} {r.text[:300]}")
    return out


def hammer(base: str, key: str, threads: int, stop: Any, counts: Any, backoff: float) -> None:
    """A's load: ``threads`` clients sending A_QUERY back to back (after a 429: again after
    ``backoff`` seconds, 0 = at once)."""

    def client(i: int) -> None:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"},
                          timeout=120) as c:  # fmt: skip
            n = 0
            while not stop.is_set():
                n += 1
                r = c.post("/v1/query/sql", json={"sql": A_QUERY, "params": [n % 50]})
                with counts.get_lock():
                    counts[0 if r.status_code == 200 else 1 if r.status_code == 429 else 2] += 1
                if r.status_code == 429 and backoff:  # < 0: as long as Retry-After says
                    time.sleep(float(r.headers.get("retry-after", 1)) if backoff < 0 else backoff)

    pool = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(lat: list[float]) -> dict[str, float]:
    return {
        "p50_ms": statistics.median(lat) * 1000,
        "p95_ms": pct(lat, 95) * 1000,
        "p99_ms": pct(lat, 99) * 1000,
        "n": len(lat),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", type=float, default=0.05)
    p.add_argument("--days", type=int, default=250)
    p.add_argument("--out", type=Path, default=Path("bench-isolation"))
    p.add_argument("--requests", type=int, default=300, help="B's queries per phase")
    p.add_argument("--hammer", type=int, default=8, help="A's concurrent clients")
    p.add_argument("--a-concurrency", type=int, default=1)
    p.add_argument("--a-queue", type=int, default=1)
    p.add_argument("--a-threads", type=int, default=1)
    p.add_argument("--a-rate", type=float, default=0.0, help="A's requests per second (0: none)")
    p.add_argument(
        "--a-backoff",
        type=float,
        default=0.0,
        help="A's pause after a 429 (s); -1: what Retry-After says",
    )
    p.add_argument("--rounds", type=int, default=3, help="solo/loaded phase pairs")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    root = args.out / "wh"
    keys = build(root, args.out / "data", args.scale, args.days)
    quota = set_quota(root, args)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = serve(root, port)
    solo: list[float] = []
    loaded: list[float] = []
    stop, counts = mp.Event(), mp.Array("i", 3)
    took = 0.0
    try:
        run_b(base, keys["beta"], 30)  # warm: engines open, versions bound
        # solo and loaded phases alternate, so a drift of the machine's load hits both alike
        for _ in range(args.rounds):
            solo += run_b(base, keys["beta"], args.requests)
            stop.clear()
            load = mp.Process(
                target=hammer,
                args=(base, keys["alpha"], args.hammer, stop, counts, args.a_backoff),
            )
            load.start()
            time.sleep(2)  # A saturates its quota first
            t0 = time.perf_counter()
            loaded += run_b(base, keys["beta"], args.requests)
            took += time.perf_counter() - t0 + 2
            stop.set()
            load.join(timeout=180)
    finally:
        server.terminate()
        server.wait(timeout=30)
    result = {
        "scale": args.scale,
        "cores": os.cpu_count(),
        "a_quota": quota,
        "a_clients": args.hammer,
        "b_solo": summary(solo),
        "b_with_a": summary(loaded),
        "a_answers": counts[0],
        "a_refused_429": counts[1],
        "a_other": counts[2],
        "a_requests_per_s": (counts[0] + counts[1] + counts[2]) / took,
        "a_backoff_s": args.a_backoff,
        "rounds": args.rounds,
        "load_average": os.getloadavg(),
    }
    result["p99_ratio"] = result["b_with_a"]["p99_ms"] / result["b_solo"]["p99_ms"]
    (args.out / "tenant_isolation.json").write_text(json.dumps(result, indent=2))
    s, w = result["b_solo"], result["b_with_a"]
    print(f"cores {result['cores']}, scale {args.scale}; A's quota {quota}, {args.hammer} clients")
    print(f"{'B':10} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    print(f"{'solo':10} {s['p50_ms']:8.1f} {s['p95_ms']:8.1f} {s['p99_ms']:8.1f}")
    print(f"{'with A':10} {w['p50_ms']:8.1f} {w['p95_ms']:8.1f} {w['p99_ms']:8.1f}")
    print(f"p99 ratio {result['p99_ratio']:.2f} (aim: at most 2.00)")
    print(f"A: {counts[0]} answered, {counts[1]} refused with 429, {counts[2]} other")
    print(f"load average {os.getloadavg()[0]:.1f} (other processes share the machine)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
