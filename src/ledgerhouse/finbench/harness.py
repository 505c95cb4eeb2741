"""Find the FinBench harness: the ``benchmarks/`` folder of a source checkout.

The harness (timing every query on every path against raw DuckDB, Polars and pandas) is not part
of the installed package; only the data generator is. ``ledgerhouse bench`` loads it from the
checkout this package runs from (an editable install), or from ``./benchmarks`` of the working
directory, and says what to do when neither holds it.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from ledgerhouse.errors import NotFound

#: The package the harness is imported as (the folder's name in a checkout).
PACKAGE = "benchmarks"


class HarnessNotFound(NotFound):
    """``ledgerhouse bench`` ran from an installed package, away from a source checkout."""


def harness_folders() -> list[Path]:
    """Where the harness is looked for, in order: the checkout of this package's source
    (``src/ledgerhouse`` -> the repository root), then the working directory."""
    checkout = Path(__file__).resolve().parents[3]
    return list(dict.fromkeys([checkout / PACKAGE, Path.cwd().resolve() / PACKAGE]))


def load_bench() -> ModuleType:
    """Import ``benchmarks.bench`` (``BenchConfig``, ``run_bench``) from the first folder of
    ``harness_folders()`` that holds it."""
    loaded = sys.modules.get(PACKAGE)
    if loaded is None:
        folder = next((f for f in harness_folders() if (f / "bench.py").is_file()), None)
        if folder is None:
            raise HarnessNotFound(
                "the FinBench harness is not installed with ledgerhouse: no benchmarks/bench.py "
                f"in {' or '.join(str(f.parent) for f in harness_folders())}",
                hint="Run `ledgerhouse bench` (or `make bench`) from a source checkout of "
                "Ledgerhouse: in its folder, or with the checkout installed (`make install`).",
            )
        spec = importlib.util.spec_from_file_location(
            PACKAGE, folder / "__init__.py", submodule_search_locations=[str(folder)]
        )
        assert spec is not None and spec.loader is not None
        loaded = importlib.util.module_from_spec(spec)
        sys.modules[PACKAGE] = loaded
        spec.loader.exec_module(loaded)
    return importlib.import_module(f"{PACKAGE}.bench")
