"""Backup and restore throughput (issue 16): a full backup of a warehouse, one day's trades
batch, an incremental backup, a verification and a restore into a new root.

    .venv/bin/python -m benchmarks.backup_restore --root /work/bench/policy-sf1/wh \
        --backups /work/bench/sf1-backups --restore-to /work/bench/sf1-restored

It prints each step's bytes, files and seconds, and writes ``backup_restore.json`` beside the
backups. The batch is ``--day-trades`` copies of the warehouse's latest trade (new ids).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from ledgerhouse import Warehouse
from ledgerhouse.config import load_settings
from ledgerhouse.services import offline_backups

HEADER = (
    "trade_id,event,event_ts,trade_ts,trade_date,settle_date,portfolio_code,instrument_code,"
    "counterparty_code,side,quantity,price,currency,fees\n"
)


def _day(wh: Warehouse, n: int) -> bytes:
    me = wh.local(roles=("admin",), user="bench")
    (row,) = me.query(
        "SELECT trade_ts, trade_date, settle_date, portfolio_code, instrument_code, "
        "counterparty_code, currency, price FROM fact_trade ORDER BY trade_date DESC LIMIT 1"
    ).rows()
    ts, day, settle, portfolio, instrument, counterparty, currency, price = row
    stamp = ts.strftime("%Y-%m-%dT%H:%M:%SZ")
    tag = int(time.time())
    return (HEADER + "".join(
        f"BK{tag}_{i},NEW,{stamp},{stamp},{day},{settle},{portfolio},{instrument},"
        f"{counterparty},BUY,{10 + i % 50},{price},{currency},0\n" for i in range(n)
    )).encode()  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path, required=True)
    p.add_argument("--backups", type=Path, required=True)
    p.add_argument("--restore-to", type=Path, required=True)
    p.add_argument("--day-trades", type=int, default=38_000)
    args = p.parse_args(argv)
    out: dict[str, Any] = {}
    with Warehouse.open(root=args.root) as wh:
        out["full"] = wh.backups.backup(args.backups).to_dict()
        me = wh.local(roles=("admin",), user="bench")
        out["batch"] = me.ingest("trades", _day(wh, args.day_trades), fmt="csv").status
        out["incremental"] = wh.backups.backup(args.backups).to_dict()
    started = time.perf_counter()
    verified = offline_backups(load_settings(root=args.root)).verify(args.backups)
    out["verify"] = {"seconds": time.perf_counter() - started, "bytes": verified.bytes,
                     "problems": verified.problems[:5]}  # fmt: skip
    out["restore"] = Warehouse.restore(args.backups, args.restore_to).to_dict()
    for step in ("full", "incremental", "restore"):
        r = out[step]
        print(f"{step:12s} {r['bytes']:>15,} bytes  {r['copied_bytes']:>15,} copied  "
              f"{r['files']:>6} files  {r['seconds']:7.2f} s  {r['mb_per_s']} MB/s",
              file=sys.stderr)  # fmt: skip
    print(f"verify       {out['verify']['seconds']:.2f} s, problems: {out['verify']['problems']}",
          file=sys.stderr)  # fmt: skip
    (args.backups / "backup_restore.json").write_text(json.dumps(out, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
