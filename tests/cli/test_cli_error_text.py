"""Errors print as ``error (code): message`` with a hint in text mode: a malformed TOML config
file names the file, the line and the problem (no traceback); an unknown batch is a
``not_found`` line, not a JSON envelope."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ledgerhouse.cli.main import app
from ledgerhouse.config import load_settings
from ledgerhouse.errors import ConfigError

runner = CliRunner()


@pytest.fixture
def bad_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "ledgerhouse.toml"
    path.write_text('root = "wh"\nport = = 8000\n')
    monkeypatch.setenv("LEDGERHOUSE_CONFIG", str(path))
    return path


def test_malformed_toml_is_a_config_error(bad_toml: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(bad_toml) in info.value.message and "line 2" in info.value.message
    assert "Invalid value" in info.value.message
    assert info.value.details["line"] == 2


def test_malformed_toml_in_the_cli_is_two_lines(bad_toml: Path) -> None:
    r = runner.invoke(app, ["tables"])
    assert r.exit_code == 2
    assert r.stderr.startswith("error (config_error): ")
    assert "line 2" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.splitlines()) <= 3, r.stderr


def test_unknown_batch_prints_an_error_line(tmp_path: Path) -> None:
    root = str(tmp_path / "wh")
    assert runner.invoke(app, ["init", "--root", root]).exit_code == 0
    r = runner.invoke(app, ["batch", "nope", "--root", root])
    assert r.exit_code == 2
    assert r.stdout == ""
    assert r.stderr.startswith("error (not_found): no batch 'nope'"), r.stderr
    assert "{" not in r.stderr
