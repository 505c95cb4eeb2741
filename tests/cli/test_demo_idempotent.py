"""`ledgerhouse demo` is honest and idempotent: a busy port is refused before any work, a
warehouse holding the demo at the same scale is reused (nothing generated again), another
scale is refused with a hint (``--fresh`` starts over), and "ready" comes once it listens."""

from __future__ import annotations

import io
import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from rich.console import Console
from typer.testing import CliRunner

from ledgerhouse.cli.demo import run_demo
from ledgerhouse.cli.main import app
from ledgerhouse.cli.output import Output
from ledgerhouse.config import load_settings
from ledgerhouse.finbench import generate as finbench

runner = CliRunner()
SCALE = "0.002"


@pytest.fixture
def generated(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The scales generated (60 days each, to stay quick)."""
    real = finbench.generate
    scales: list[float] = []

    def small(out: Path, scale: float, **kw: Any) -> dict[str, int]:
        scales.append(scale)
        return real(out, scale, seed=kw.get("seed", 42), days=60)

    monkeypatch.setattr(finbench, "generate", small)
    return scales


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_busy_port_is_refused_before_any_work(tmp_path: Path, generated: list[float]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        root = tmp_path / "wh"
        r = runner.invoke(
            app, ["demo", "--root", str(root), "--host", "127.0.0.1", "--port", str(port)]
        )
    assert r.exit_code == 2, r.output
    assert f"127.0.0.1:{port}" in r.stderr and "--port" in r.stderr
    assert generated == [] and not root.exists()


@pytest.mark.slow
def test_rerun_reuses_and_another_scale_is_refused(tmp_path: Path, generated: list) -> None:
    root = str(tmp_path / "wh")
    first = runner.invoke(app, ["demo", "--root", root, "--scale", SCALE, "--no-serve"])
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, ["demo", "--root", root, "--scale", SCALE, "--no-serve"])
    assert again.exit_code == 0, again.output
    assert generated == [float(SCALE)] and "reusing" in again.stderr
    other = runner.invoke(app, ["demo", "--root", root, "--scale", "0.003", "--no-serve"])
    assert other.exit_code == 2
    assert "scale 0.002" in other.stderr and "--fresh" in other.stderr
    assert generated == [float(SCALE)]
    fresh = runner.invoke(
        app, ["demo", "--root", root, "--scale", "0.003", "--no-serve", "--fresh"]
    )
    assert fresh.exit_code == 0, fresh.output
    assert generated == [float(SCALE), 0.003]


@pytest.mark.slow
def test_ready_only_once_the_server_listens(
    tmp_path: Path, generated: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    servers: list[uvicorn.Server] = []
    init = uvicorn.Server.__init__

    def keep(self: uvicorn.Server, config: uvicorn.Config) -> None:
        init(self, config)
        servers.append(self)

    monkeypatch.setattr(uvicorn.Server, "__init__", keep)
    port = _free_port()
    settings = load_settings(root=tmp_path / "wh", host="127.0.0.1", port=port)
    out = Output()
    text = io.StringIO()
    out.console = Console(file=text)
    out.err = Console(file=io.StringIO())
    demo = threading.Thread(target=run_demo, args=(out, settings, float(SCALE)), daemon=True)
    demo.start()
    try:
        deadline = time.monotonic() + 120
        while "ready" not in text.getvalue():
            assert time.monotonic() < deadline and demo.is_alive()
            time.sleep(0.02)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
    finally:
        for server in servers:
            server.should_exit = True
        demo.join(timeout=30)
