"""`ledgerhouse demo` (what `make run` runs): warehouse + generated data + server.

Honest and idempotent: the port is reserved before any work (a busy port fails at once, naming
it); a warehouse already holding the demo at the same scale is served as it is, without
generating again; one holding the demo at another scale is refused (``--fresh`` starts over);
"ready" is printed once the server listens.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ledgerhouse.cli.output import Output
from ledgerhouse.config import Settings
from ledgerhouse.errors import InvalidRequest

if TYPE_CHECKING:
    from ledgerhouse.session import Session

#: The batch ids of the demo's loads: ``demo-<scale>-<dataset>``.
_PREFIX = "demo-"


def run_demo(
    out: Output, settings: Settings, scale: float, serve: bool = True, fresh: bool = False
) -> None:
    from ledgerhouse.ingest import LOAD_ORDER
    from ledgerhouse.services import Warehouse

    listening = reserve_port(settings.host, settings.port) if serve else None
    try:
        if fresh:
            _remove_demo(settings)
        wh, key = Warehouse.init(settings)
        try:
            me = wh.local(settings.default_tenant, roles=("admin",))
            loaded = demo_scales(me)
            if loaded and loaded != {scale}:
                raise InvalidRequest(
                    f"the warehouse at {settings.root} holds the demo at scale "
                    f"{', '.join(f'{s:g}' for s in sorted(loaded))}, not {scale:g}",
                    hint=f"Run `ledgerhouse demo --scale {min(loaded):g}` to serve it, add "
                    "--fresh to delete it and load the new scale, or give another --root.",
                    root=str(settings.root),
                    scales=sorted(loaded),
                )
            if _complete(me, scale, LOAD_ORDER):
                out.info(f"the demo at scale {scale:g} is loaded in {settings.root}: reusing it")
            else:
                _load(out, me, scale, LOAD_ORDER)
            if key is None:
                out.info(
                    "warehouse exists: its admin key was printed when it was created (create "
                    "another with `ledgerhouse keys create`, or use --fresh)"
                )
        finally:
            wh.close()
        if listening is None:
            out.console.print("\nThe demo data is loaded (--no-serve: not serving).\n")
            out.console.print(_try_text(settings, key))
            return
        _serve(out, settings, key, listening)
    finally:
        if listening is not None:
            listening.close()


def reserve_port(host: str, port: int) -> socket.socket:
    """Bind and listen on ``host:port`` now (the server takes this socket over), or refuse
    with the port named: before any data is generated."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise InvalidRequest(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            hint=f"Stop what listens on port {port}, or serve on another with --port N "
            "(--no-serve loads the data only).",
            host=host,
            port=port,
        ) from None
    return sock


def demo_scales(me: Session) -> set[float]:
    """The scales of the demo batches the tenant holds (committed ones)."""
    scales = set()
    for report in me.batches(limit=10_000):
        bid = str(report.get("batch_id", ""))
        if report.get("status") == "committed" and bid.startswith(_PREFIX):
            try:
                scales.add(float(bid[len(_PREFIX) :].rsplit("-", 1)[0]))
            except ValueError:
                continue
    return scales


def _complete(me: Session, scale: float, datasets: tuple[str, ...]) -> bool:
    done = {
        str(r.get("batch_id")) for r in me.batches(limit=10_000) if r.get("status") == "committed"
    }
    return all(f"{_PREFIX}{scale}-{ds}" in done for ds in datasets)


def _load(out: Output, me: Session, scale: float, datasets: tuple[str, ...]) -> None:
    from ledgerhouse.finbench.generate import generate

    with tempfile.TemporaryDirectory() as tmp:
        out.info(f"generating FinBench data at scale {scale:g} ...")
        generate(Path(tmp), scale, seed=42, progress=lambda s: None)
        for ds in datasets:
            # the batch id makes a re-run after a crash resume where it stopped
            r = me.ingest(ds, Path(tmp) / f"{ds}.parquet", batch_id=f"{_PREFIX}{scale}-{ds}")
            out.info(f"  {ds:15s} {r.status:10s} {r.rows_accepted:>10,} rows ({r.duration_s:.2f}s)")


def _remove_demo(settings: Settings) -> None:
    """``--fresh``: delete the warehouse folder, when it is a demo's (or nothing)."""
    root = settings.root
    if not root.exists():
        return
    if settings.metadata_url:
        raise InvalidRequest(
            "--fresh deletes the warehouse folder, but its metadata is at metadata_url",
            hint="Give --fresh a warehouse with the default (SQLite) metadata, or another --root.",
        )
    from ledgerhouse.services import Warehouse

    with Warehouse.open(settings) as wh:
        me = wh.local(settings.default_tenant, roles=("admin",))
        others = [
            str(r.get("batch_id"))
            for r in me.batches(limit=10_000)
            if r.get("status") == "committed" and not str(r.get("batch_id")).startswith(_PREFIX)
        ]
    if others:
        raise InvalidRequest(
            f"--fresh would delete {root}, which holds batches other than the demo's "
            f"({', '.join(others[:3])}...)",
            hint="Give the demo its own --root.",
        )
    shutil.rmtree(root)


def _serve(out: Output, settings: Settings, key: str | None, sock: socket.socket) -> None:
    import uvicorn

    from ledgerhouse.api.app import create_app
    from ledgerhouse.api.bodies import server_options
    from ledgerhouse.services import Warehouse

    with Warehouse.open(settings) as served:
        options: dict[str, Any] = {**server_options(settings), "log_level": "warning"}
        server = uvicorn.Server(uvicorn.Config(create_app(served), **options))

        def announce() -> None:  # "ready" once the server has started on the socket
            while not server.started and not server.should_exit:
                time.sleep(0.05)
            if server.started:
                out.console.print("\nLedgerhouse is ready.\n" + _try_text(settings, key))

        threading.Thread(target=announce, daemon=True).start()
        server.run(sockets=[sock])


def _try_text(settings: Settings, key: str | None) -> str:
    url = f"http://{settings.host}:{settings.port}"
    shown_key = key or "<the key printed when this warehouse was created>"
    return (
        f"  API:  {url}   (OpenAPI docs: {url}/docs)\n"
        f"  key:  {shown_key}\n\nTry:\n"
        f"  curl -s -H 'Authorization: Bearer {shown_key}' {url}/v1/tables\n"
        f"  curl -s -H 'Authorization: Bearer {shown_key}' -H 'Content-Type: application/json'"
        f' -d \'{{"sql": "SELECT desk, round(sum(notional_reporting)) AS notional_usd'
        f" FROM fact_trade JOIN dim_portfolio USING (portfolio_key) GROUP BY desk"
        f" ORDER BY 2 DESC\"}}'"
        f" {url}/v1/query/sql\n"
        f'  .venv/bin/ledgerhouse query --root {settings.root} "SELECT event, count(*) '
        f'FROM fact_trade_event GROUP BY event"\n'
        f"  curl -s -H 'Authorization: Bearer {shown_key}' -H 'Content-Type: application/json'"
        f' -d \'{{"measures": ["notional", "trades"], "hierarchies": {{"portfolio": "desk",'
        f' "date": "year"}}}}\' {url}/v1/cubes/trades/query\n'
        f"  .venv/bin/ledgerhouse analytics performance --root {settings.root}"
        " --risk-free 0.02\n"
    )
