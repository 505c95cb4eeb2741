"""`ledgerhouse --version` prints the installed version and exits 0, without a command."""

from __future__ import annotations

from importlib.metadata import version

from typer.testing import CliRunner

from ledgerhouse.cli.main import app


def test_version_flag() -> None:
    r = CliRunner().invoke(app, ["--version"])
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == f"ledgerhouse {version('ledgerhouse')}"
