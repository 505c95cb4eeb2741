"""Decision 0008: a small query in the server process vs through a worker process.

``python tools/worker_bench.py [RUNS]`` times ``select 1`` and a 1,000-row query on one DuckDB
connection in this process, then the same through a spawned worker process (the SQL over a
pipe, the answer back as Arrow IPC), and the worker's (re)start.
"""

from __future__ import annotations

import multiprocessing as mp
import statistics
import sys
import time
from multiprocessing.connection import Connection

import duckdb
import pyarrow as pa

QUERIES = ("select 1 as one", "select * from range(1000) t(i)")


def serve(conn: Connection) -> None:
    con = duckdb.connect(config={"threads": 2})
    while (sql := conn.recv()) is not None:
        table = con.cursor().sql(sql).to_arrow_table()
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        conn.send_bytes(sink.getvalue())


def _summary(seconds: list[float]) -> str:
    p99 = sorted(seconds)[int(len(seconds) * 0.99)]
    return f"median {statistics.median(seconds) * 1e3:.3f} ms, p99 {p99 * 1e3:.3f} ms"


def _in_process(query: str, runs: int) -> list[float]:
    con = duckdb.connect(config={"threads": 2})
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        con.cursor().sql(query).to_arrow_table()
        out.append(time.perf_counter() - started)
    return out


def _worker(query: str, runs: int) -> tuple[list[float], float]:
    parent, child = mp.Pipe()
    started = time.perf_counter()
    process = mp.get_context("spawn").Process(target=serve, args=(child,))
    process.start()
    parent.send(query)
    parent.recv_bytes()
    start_s = time.perf_counter() - started
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        parent.send(query)
        pa.ipc.open_stream(parent.recv_bytes()).read_all()
        out.append(time.perf_counter() - started)
    parent.send(None)
    process.join()
    return out, start_s


def main(runs: int) -> None:
    for query in QUERIES:
        inproc = _in_process(query, runs)
        worker, start_s = _worker(query, runs)
        print(f"{query!r}: in process {_summary(inproc)}; worker process {_summary(worker)}; "
              f"worker (re)start {start_s * 1e3:.0f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000)
