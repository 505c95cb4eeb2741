"""`ledgerhouse query --param`: the `?` placeholders of the docs' SQL recipes bind from the CLI,
one --param per placeholder, as a JSON scalar (5, 0.5, true, null) or else as text."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from ledgerhouse.cli.main import app
from ledgerhouse.session import Session

runner = CliRunner()
DOCS = Path(__file__).parents[2] / "docs" / "analytics.md"


def _query(root: str, sql: str, *params: str) -> tuple[int, str, str]:
    args = ["query", "--root", root, "--format", "json"]
    for p in params:
        args += ["--param", p]
    r = runner.invoke(app, [*args, "--", sql])  # after --: a recipe starts with "-- recipe"
    return r.exit_code, r.stdout, r.stderr


def test_params_bind_as_json_scalars_or_text(wh: Session) -> None:
    root = str(wh.warehouse.root)
    code, out, err = _query(
        root, "SELECT ? AS a, ? AS b, ? AS c, ? AS d, ? AS e, ? AS f",
        "5", "0.5", "true", "null", "P0001", '"00123"',
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["rows"] == [[5, 0.5, True, None, "P0001", "00123"]]
    code, _, err = _query(root, "SELECT ? AS a, ? AS b", "1")
    assert code == 2 and "2 placeholders" in err and "--param" in err, err
    code, _, err = _query(root, "SELECT ? AS a", "[1, 2]")
    assert code == 2 and "scalar" in err, err


def test_every_sql_recipe_of_the_analytics_doc_runs_from_the_cli(loaded: Session) -> None:
    root = str(loaded.warehouse.root)
    portfolio = loaded.query("SELECT min(portfolio_code) FROM fact_performance").rows()[0][0]
    recipes = re.findall(r"```sql\n(-- recipe: .*?)```", DOCS.read_text(), re.S)
    assert len(recipes) >= 5
    for sql in recipes:
        code, out, err = _query(root, sql, *([portfolio] * sql.count("?")))
        assert code == 0, (sql, err)
        assert json.loads(out)["rows"], sql
