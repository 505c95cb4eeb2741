"""`ledgerhouse bench` finds the harness in benchmarks/ of the source checkout, and away from a
checkout (an installed package) says what to do instead of failing on an import."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ledgerhouse.cli.main import app
from ledgerhouse.finbench import harness
from ledgerhouse.finbench.harness import HarnessNotFound, harness_folders, load_bench

ROOT = Path(__file__).resolve().parents[2]


def _forget_the_harness(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in a fresh process: no benchmarks module imported yet (restored after the test)."""
    for name in [m for m in sys.modules if m == "benchmarks" or m.startswith("benchmarks.")]:
        monkeypatch.delitem(sys.modules, name)


def test_the_harness_is_loaded_from_the_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    assert harness_folders()[0] == ROOT / "benchmarks"
    _forget_the_harness(monkeypatch)
    monkeypatch.chdir("/")  # found through this package's checkout, not the working directory
    bench = load_bench()
    assert Path(bench.__file__) == ROOT / "benchmarks" / "bench.py"
    assert callable(bench.run_bench) and bench.BenchConfig.__name__ == "BenchConfig"


def test_away_from_a_checkout_bench_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _forget_the_harness(monkeypatch)
    monkeypatch.setattr(harness, "harness_folders", lambda: [tmp_path / "benchmarks"])
    with pytest.raises(HarnessNotFound, match="not installed with ledgerhouse") as info:
        load_bench()
    assert "source checkout" in info.value.hint
    result = CliRunner().invoke(app, ["bench", "--scale", "0.001", "--out", str(tmp_path / "o")])
    assert result.exit_code != 0
    assert "source checkout" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o").exists()  # nothing generated before the harness is found
