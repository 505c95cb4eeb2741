"""`ledgerhouse cube` and `ledgerhouse cubes`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.cli.test_cli import _run
from tests.conftest import REF, TRADE_HEADER, trade_row


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse made and loaded through the CLI (REF and two trades), once for the module."""
    base = tmp_path_factory.mktemp("cube-cli")
    root = str(base / "wh")
    assert _run("init", "--root", root)[0] == 0
    for ds, text in {**REF, "trades": TRADE_HEADER + trade_row("T1") + trade_row("T2", pf="P2",
                     inst="BUND", ccy="EUR")}.items():  # fmt: skip
        f = base / f"{ds}.csv"
        f.write_text(text)
        assert _run("ingest", ds, str(f), "--root", root)[0] == 0
    return Path(root)


def _loaded(tmp_path: Path, template: Path) -> str:
    """A copy of the module's template, for one test."""
    root = tmp_path / "wh"
    shutil.copytree(template, root)
    return str(root)


def test_cube_query_file_dry_run_and_drill(tmp_path: Path, template: Path) -> None:
    root = _loaded(tmp_path, template)
    qf = tmp_path / "q.json"
    qf.write_text(json.dumps({"cube": "trades", "measures": ["trades"],
                              "hierarchies": {"portfolio": "firm"}}))  # fmt: skip
    code, out, _ = _run("cube", str(qf), "--root", root, "--format", "json")
    assert code == 0
    body = json.loads(out)
    assert body["rows"] == [["ACME", 2]] and body["route"].startswith("rollup:")
    code, out, _ = _run("cube", str(qf), "--root", root, "--format", "json", "--drill-down",
                        "portfolio=ACME")  # fmt: skip
    assert json.loads(out)["rows"] == [["ACME", "Equities", 1], ["ACME", "Europe", 1]]
    code, out, err = _run("cube", str(qf), "--root", root, "--dry-run", "--raw")
    assert code == 0 and "GROUP BY ALL" in out and "route raw" in err
    code, out, _ = _run(
        "cube", str(qf), "--root", root, "--format", "csv", "--roll-up", "portfolio"
    )
    assert code == 0 and out.splitlines() == ["trades", "2"]


def test_cube_errors_exit_2_with_a_hint(tmp_path: Path, template: Path) -> None:
    root = _loaded(tmp_path, template)
    qf = tmp_path / "q.json"
    qf.write_text(json.dumps({"measures": ["trades"]}))
    code, _, err = _run("cube", str(qf), "--root", root)
    assert code == 2 and "which cube" in err and "--cube trades" in err
    code, _, err = _run("cube", str(qf), "--cube", "trades", "--root", root, "--drill-down", "x")
    assert code == 2 and "no hierarchy 'x'" in err
    qf.write_text("{not json")
    code, _, err = _run("cube", str(qf), "--cube", "trades", "--root", root)
    assert code == 2 and "not valid JSON" in err
    code, _, err = _run("cube", str(tmp_path / "missing.json"), "--root", root)
    assert code == 2 and "cannot read" in err


def test_cubes_lists_members_and_rollups(tmp_path: Path, template: Path) -> None:
    root = _loaded(tmp_path, template)
    code, out, _ = _run("cubes", "--root", root)
    assert code == 0 and "hierarchy portfolio: firm > desk > portfolio" in out
    assert "rollup desk_month" in out
    code, out, _ = _run("cubes", "--root", root, "--json")
    assert {c["name"] for c in json.loads(out)} == {"trades", "positions", "performance"}
