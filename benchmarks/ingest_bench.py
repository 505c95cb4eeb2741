"""Ingestion measurement: bulk load of a generated dataset, then an amendment merge.

    python benchmarks/ingest_bench.py --data DIR --root WAREHOUSE [--amendments N]

Loads every dataset of DIR through the product's ingestion path (reference data first), then
sends N AMEND events for random live trades as one batch, and prints JSON with rows/s per
dataset, the amendment-merge time and the peak memory of the process.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ledgerhouse.ingest import LOAD_ORDER
from ledgerhouse.services import Warehouse


def amendment_batch(trades: Path, n: int, seed: int = 1, recent: bool = False) -> pl.DataFrame:
    """N AMEND events (quantity changed), later than every event, for random live trades
    (scattered over the whole period: the worst case for copy-on-write) or, with ``recent``,
    for the N most recent live trades (how amendments arrive in practice)."""
    events = pl.read_parquet(trades)
    cancelled = events.filter(pl.col("event") == "CANCEL").select("trade_id")
    live = (
        events.join(cancelled, on="trade_id", how="anti")
        .sort("event_ts")
        .unique("trade_id", keep="last")
    )
    rng = np.random.default_rng(seed)
    if recent:
        live = live.sort("trade_ts", descending=True)
        pick = np.arange(min(n, live.height))
    else:
        pick = rng.choice(live.height, min(n, live.height), replace=False)
    latest = events["event_ts"].max()
    assert latest is not None
    return (
        live[pick.tolist()]
        .with_columns(
            event=pl.lit("AMEND"),
            event_ts=pl.lit(latest) + timedelta(hours=1),
            quantity=(pl.col("quantity") + 1.0),
        )
        .sort("trade_id")
    )


def run(data: Path, root: Path, amendments: int) -> dict[str, Any]:
    shutil.rmtree(root, ignore_errors=True)
    wh, _ = Warehouse.init(root=root)
    me = wh.local(roles=("admin",))
    out: dict[str, Any] = {"datasets": {}}
    try:
        for ds in LOAD_ORDER:
            single = data / f"{ds}.parquet"
            parts = [single] if single.is_file() else sorted((data / ds).glob("*.parquet"))
            rows, seconds = 0, 0.0
            for i, part in enumerate(parts):  # a large scale arrives in several batches
                r = me.ingest(ds, part)
                if r.status != "committed":
                    raise SystemExit(f"{ds} {part.name} was not stored: {r.to_dict()}")
                rows, seconds = rows + r.rows_received, seconds + r.duration_s
                print(
                    f"  {ds:15s} {i + 1}/{len(parts)} {r.rows_received:>12,} rows "
                    f"{r.duration_s:7.2f}s",
                    file=sys.stderr,
                    flush=True,
                )
            out["datasets"][ds] = {
                "rows": rows,
                "batches": len(parts),
                "seconds": round(seconds, 2),
                "rows_per_s": round(rows / seconds) if seconds else 0,
            }
        for label, recent in (("amendments_scattered", False), ("amendments_recent", True)):
            trades = data / "trades.parquet"
            if not trades.is_file():  # parts: amend trades of the last part (recent batch)
                trades = sorted((data / "trades").glob("*.parquet"))[-1]
            batch = amendment_batch(trades, amendments, recent=recent)
            if recent:  # later than the scattered batch, so none is stale
                batch = batch.with_columns(pl.col("event_ts") + timedelta(hours=1))
            path = root / f"{label}.parquet"
            batch.write_parquet(path)
            started = time.perf_counter()
            r = me.ingest("trades", path)
            out[label] = {
                "rows": r.rows_accepted,
                "seconds": round(time.perf_counter() - started, 2),
                "quarantined": r.rows_quarantined,
                "months_touched": batch["trade_date"].dt.strftime("%Y-%m").n_unique(),
            }
        out["peak_rss_gib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2)
    finally:
        wh.close()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--root", type=Path, required=True)
    p.add_argument("--amendments", type=int, default=100_000)
    a = p.parse_args()
    print(json.dumps(run(a.data, a.root, a.amendments), indent=2))


if __name__ == "__main__":
    main()
