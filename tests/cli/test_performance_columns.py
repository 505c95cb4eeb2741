"""`ledgerhouse analytics performance` prints a readable table: a few default columns,
``--columns a,b`` or ``--columns all`` for others; ``--format json`` keeps every column."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from ledgerhouse.cli.main import app
from ledgerhouse.session import Session

runner = CliRunner()


def _perf(loaded: Session, *args: str) -> tuple[int, str, str]:
    root = str(loaded.warehouse.root)
    r = runner.invoke(app, ["analytics", "performance", "--root", root, *args])
    return r.exit_code, r.stdout, r.stderr


def _header(table: str) -> list[str]:
    """The column names of a rich table (the line after the top border)."""
    line = table.splitlines()[1]
    return [c.strip() for c in line.strip("┃│ ").split("┃" if "┃" in line else "│")]


def test_default_table_has_a_few_columns(loaded: Session) -> None:
    code, out, err = _perf(loaded)
    assert code == 0, err
    assert _header(out)[:4] == ["portfolio_code", "twr", "volatility", "sharpe"]
    assert len(_header(out)) <= 8  # fits 80 columns, uncut
    assert "--columns" in err  # says how to see the others


def test_columns_option_picks_columns(loaded: Session) -> None:
    code, out, err = _perf(loaded, "--columns", "portfolio_code,beta")
    assert code == 0, err
    assert _header(out) == ["portfolio_code", "beta"]
    code, out, _ = _perf(loaded, "--columns", "all", "--format", "csv")
    assert len(out.splitlines()[0].split(",")) == 26


def test_unknown_column_is_refused_with_the_names(loaded: Session) -> None:
    code, _, err = _perf(loaded, "--columns", "portfolio_code,sharp")
    assert code == 2
    assert "sharp" in err and "sharpe" in err


def test_json_keeps_every_column(loaded: Session) -> None:
    code, out, _ = _perf(loaded, "--format", "json")
    assert code == 0
    assert len(json.loads(out)["rows"][0]) == 26
