"""A real server on loopback for the tests the in-process test client cannot do (client
disconnects, concurrent connections)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn

from ledgerhouse import Warehouse
from ledgerhouse.api import create_app
from ledgerhouse.session import Session


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _serve(wh: Warehouse | Session) -> Iterator[str]:
    warehouse = wh.warehouse if isinstance(wh, Session) else wh
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(warehouse), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(f"{base}/healthz")
                break
            except httpx.TransportError:
                time.sleep(0.05)
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture
def live_server():  # type: ignore[no-untyped-def]
    """``with live_server(wh) as base_url: ...`` serves ``wh`` on a free loopback port."""
    return _serve
