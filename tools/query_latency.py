"""Decision 0010: the latency of a small query through ``Session.query`` (cache off).

``python tools/query_latency.py [RUNS]`` opens a fresh warehouse in a temp folder and times
``select 1``, 1,000 rows of ``range`` and 1,000 rows of a bound table (``dim_date``, a native
copy of its pinned version) through the whole query path: guard, pinned commit, bindings,
engine, Arrow, query log.

``python tools/query_latency.py --compare SRC_A SRC_B [RUNS]`` runs the same in two worker
processes, one importing Ledgerhouse from each ``src`` folder, in alternating batches of 100
queries, so that both see the same load of a busy machine; it reports wall and CPU time.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUERIES = {
    "select 1": "select 1 as one",
    "1,000 rows of range": "select * from range(1000) t(i)",
    "1,000 rows of dim_date": "select * from dim_date limit 1000",
}
BATCH = 100


def _timed(wh: object, sql: str, runs: int) -> tuple[list[float], list[float]]:
    wall, cpu = [], []
    for _ in range(runs):
        w, c = time.perf_counter(), time.process_time()
        wh.query(sql, use_cache=False)  # type: ignore[attr-defined]
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return wall, cpu


def _summary(seconds: list[float]) -> str:
    p99 = sorted(seconds)[int(len(seconds) * 0.99)]
    return f"median {statistics.median(seconds) * 1e3:.3f} ms, p99 {p99 * 1e3:.3f} ms"


def _open(folder: str) -> tuple[object, object]:
    """The warehouse and the caller that queries it (a reader's session; a Ledgerhouse before
    sessions queried the Warehouse itself)."""
    from ledgerhouse import Warehouse

    wh, _ = Warehouse.init(root=Path(folder) / "wh", result_cache_bytes=0)
    caller = wh.local(roles=("reader",)) if hasattr(type(wh), "local") else wh
    for sql in QUERIES.values():  # warm up: bindings, fingerprints, allocator
        _timed(caller, sql, 100)
    return wh, caller


def main(runs: int) -> None:
    import ledgerhouse

    print(f"ledgerhouse from {Path(ledgerhouse.__file__).parent}, {runs} runs each")
    with tempfile.TemporaryDirectory() as folder:
        wh, caller = _open(folder)
        try:
            for name, sql in QUERIES.items():
                wall, _ = _timed(caller, sql, runs)
                print(f"{name:24} {_summary(wall)}")
        finally:
            wh.close()  # type: ignore[attr-defined]


def worker() -> None:
    """Answer ``<query name>\\t<runs>`` lines with the wall and CPU seconds, as JSON."""
    with tempfile.TemporaryDirectory() as folder:
        wh, caller = _open(folder)
        print("ready", flush=True)
        for line in sys.stdin:
            name, runs = line.rstrip("\n").split("\t")
            print(json.dumps(_timed(caller, QUERIES[name], int(runs))), flush=True)
        wh.close()  # type: ignore[attr-defined]


def compare(sources: list[str], runs: int) -> None:
    procs = {}
    for src in sources:
        env = dict(os.environ, PYTHONPATH=src)
        procs[src] = subprocess.Popen(
            [sys.executable, __file__, "--worker"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert procs[src].stdout is not None and procs[src].stdout.readline().strip() == "ready"
    results = {(s, q): ([], []) for s in sources for q in QUERIES}
    for name in QUERIES:
        for i in range(runs // BATCH):
            for src in sources if i % 2 == 0 else reversed(sources):
                p = procs[src]
                assert p.stdin is not None and p.stdout is not None
                p.stdin.write(f"{name}\t{BATCH}\n")
                p.stdin.flush()
                wall, cpu = json.loads(p.stdout.readline())
                results[(src, name)][0].extend(wall)
                results[(src, name)][1].extend(cpu)
    for p in procs.values():
        assert p.stdin is not None
        p.stdin.close()
        p.wait()
    print(f"{runs} runs of each query per tree, alternating batches of {BATCH}")
    for name in QUERIES:
        for src in sources:
            wall, cpu = results[(src, name)]
            print(f"{name:24} {src:28} wall {_summary(wall)} | cpu {_summary(cpu)}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker()
    elif sys.argv[1:2] == ["--compare"]:
        compare(sys.argv[2:4], int(sys.argv[4]) if len(sys.argv) > 4 else 2000)
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
