"""`ledgerhouse demo` (what `make run` runs): warehouse + generated data + server."""

from __future__ import annotations

import tempfile
from pathlib import Path

from ledgerhouse.cli.output import Output
from ledgerhouse.config import Settings
from ledgerhouse.ingest import LOAD_ORDER
from ledgerhouse.services import Warehouse


def run_demo(out: Output, settings: Settings, scale: float, serve: bool = True) -> None:
    from ledgerhouse.finbench.generate import generate

    wh, key = Warehouse.init(settings)
    try:
        if key is None:
            out.info(
                "warehouse exists: reusing it (delete the directory for a fresh demo, or "
                "create a key with a new tenant: `ledgerhouse init --tenant NAME`)"
            )
        me = wh.local(settings.default_tenant, roles=("admin",))
        with tempfile.TemporaryDirectory() as tmp:
            out.info(f"generating FinBench data at scale {scale} ...")
            generate(Path(tmp), scale, seed=42, progress=lambda s: None)
            for ds in LOAD_ORDER:
                r = me.ingest(ds, Path(tmp) / f"{ds}.parquet", batch_id=f"demo-{scale}-{ds}")
                out.info(
                    f"  {ds:15s} {r.status:10s} {r.rows_accepted:>10,} rows ({r.duration_s:.2f}s)"
                )
        url = f"http://{settings.host}:{settings.port}"
        shown_key = key or "<the key printed when this warehouse was created>"
        out.console.print(
            f"\nLedgerhouse is ready.\n  API:  {url}   (OpenAPI docs: {url}/docs)\n"
            f"  key:  {shown_key}\n\nTry:\n"
            f"  curl -s -H 'Authorization: Bearer {shown_key}' {url}/v1/tables\n"
            f"  curl -s -H 'Authorization: Bearer {shown_key}' -H 'Content-Type: application/json'"
            f' -d \'{{"sql": "SELECT desk, round(sum(notional_base)) AS notional FROM fact_trade'
            f" JOIN dim_portfolio USING (portfolio_key) GROUP BY desk ORDER BY 2 DESC\"}}'"
            f" {url}/v1/query/sql\n"
            f'  .venv/bin/ledgerhouse query --root {settings.root} "SELECT event, count(*) '
            f'FROM fact_trade_event GROUP BY event"\n'
            f"  curl -s -H 'Authorization: Bearer {shown_key}' -H 'Content-Type: application/json'"
            f' -d \'{{"measures": ["notional", "trades"], "hierarchies": {{"portfolio": "desk",'
            f' "date": "year"}}}}\' {url}/v1/cubes/trades/query\n'
            f"  .venv/bin/ledgerhouse analytics performance --root {settings.root}"
            " --risk-free 0.02\n"
        )
    finally:
        wh.close()
    if serve:
        import uvicorn

        from ledgerhouse.api.app import create_app
        from ledgerhouse.api.bodies import server_options

        with Warehouse.open(settings) as served:
            options = {**server_options(settings), "log_level": "warning"}
            uvicorn.run(create_app(served), **options)
