"""Starting the CLI is quick: importing it loads none of the heavy libraries (scipy,
scikit-learn, pandas, matplotlib, nor the data stack); a command imports what it uses."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: Never loaded by ``import ledgerhouse.cli.main`` (``ledgerhouse --help`` and option parsing).
HEAVY = ("scipy", "sklearn", "pandas", "matplotlib")
#: Loaded by the commands that read or write data, not by the CLI's start-up either.
DATA_STACK = ("polars", "pyarrow", "duckdb", "deltalake", "fastapi", "uvicorn", "sqlalchemy")


def _loaded_by(module: str) -> set[str]:
    """The top-level packages in ``sys.modules`` after importing ``module`` in a new process."""
    code = (
        f"import json, sys; import {module}; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return set(json.loads(done.stdout))


def test_cli_import_loads_no_heavy_module() -> None:
    loaded = _loaded_by("ledgerhouse.cli.main")
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
    assert not loaded & set(DATA_STACK), sorted(loaded & set(DATA_STACK))


@pytest.mark.parametrize("module", ["ledgerhouse.services", "ledgerhouse.api.app"])
def test_library_and_server_load_scipy_and_sklearn_only_when_used(module: str) -> None:
    """The anomaly model imports scikit-learn when it trains; nothing needs scipy."""
    loaded = _loaded_by(module)
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
