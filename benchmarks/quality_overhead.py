"""The quality checks' share of ingestion time (docs/governance/quality.md, issue 14).

Generates FinBench at a scale factor, then ingests it twice into fresh warehouses, in load
order: once with the quality listener (the built-in checks, run inside each commit) and once
without it. Reports, per dataset and in total:

- ``with_s`` / ``without_s``: wall time of the ingestion with and without the checks;
- ``checks_s``: the sum of the checks' own durations, as recorded with their results;
- ``share``: checks_s / with_s (the aim is at most 10% at SF 1).

The A/B difference is noisier than ``checks_s`` on a shared machine (other processes, the OS
cache); both are printed. Usage::

    .venv/bin/python benchmarks/quality_overhead.py --scale 0.1 [--days 750] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any


def _ingest_all(data: Path, root: Path, *, checks: bool) -> dict[str, dict[str, float]]:
    from ledgerhouse import Warehouse
    from ledgerhouse.ingest import LOAD_ORDER

    wh, _ = Warehouse.init(root=root)
    try:
        if not checks:
            wh.writer.listeners.remove(wh.quality.monitor.on_commit)
        me = wh.local(roles=("admin",))
        out: dict[str, dict[str, float]] = {}
        for ds in LOAD_ORDER:
            started = time.perf_counter()
            report = me.ingest(ds, data / f"{ds}.parquet")
            seconds = time.perf_counter() - started
            assert report.status == "committed", report
            spent = sum(
                r["duration_ms"]
                for r in me.quality_results(limit=1000)
                if r["commit_id"] == report.commit_id
            )
            out[ds] = {"seconds": seconds, "checks_s": spent / 1000, "rows": report.rows_received}
        return out
    finally:
        wh.close()


def measure(scale: float, days: int, work: Path) -> dict[str, Any]:
    from ledgerhouse.finbench.generate import generate

    data = work / "data"
    if not data.exists():
        generate(data, scale, seed=7, days=days)
    without = _ingest_all(data, work / "without", checks=False)
    with_ = _ingest_all(data, work / "with", checks=True)
    rows = {}
    for ds in with_:
        rows[ds] = {
            "rows": int(with_[ds]["rows"]),
            "with_s": round(with_[ds]["seconds"], 3),
            "without_s": round(without[ds]["seconds"], 3),
            "checks_s": round(with_[ds]["checks_s"], 3),
            "share": round(with_[ds]["checks_s"] / with_[ds]["seconds"], 4),
        }
    total_with = sum(r["with_s"] for r in rows.values())
    total_without = sum(r["without_s"] for r in rows.values())
    total_checks = sum(r["checks_s"] for r in rows.values())
    return {
        "scale": scale,
        "days": days,
        "datasets": rows,
        "total": {
            "with_s": round(total_with, 3),
            "without_s": round(total_without, 3),
            "checks_s": round(total_checks, 3),
            "share": round(total_checks / total_with, 4),
            "ab_overhead": round(total_with / total_without - 1, 4),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--days", type=int, default=750)
    parser.add_argument("--out", type=Path, default=None, help="Keep the work folder here.")
    args = parser.parse_args()
    work = args.out or Path(tempfile.mkdtemp(prefix="lh-quality-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        result = measure(args.scale, args.days, work)
    finally:
        if args.out is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"{'dataset':16s} {'rows':>10s} {'with s':>8s} {'w/o s':>8s} {'checks s':>9s} share")
    for ds, r in result["datasets"].items():
        print(
            f"{ds:16s} {r['rows']:>10,} {r['with_s']:>8.2f} {r['without_s']:>8.2f} "
            f"{r['checks_s']:>9.3f} {r['share']:>6.1%}"
        )
    t = result["total"]
    print(
        f"{'total':16s} {'':>10s} {t['with_s']:>8.2f} {t['without_s']:>8.2f} "
        f"{t['checks_s']:>9.3f} {t['share']:>6.1%}   (A/B: {t['ab_overhead']:+.1%})"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
