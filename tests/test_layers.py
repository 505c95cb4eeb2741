"""The layers of ARCHITECTURE.md: imports go downward only, and domain packages do not import
each other (the composition root wires them). The adapters are thin: routers reach the
warehouse only through the API's dependencies, the CLI borrows only the API's record schemas
(and the app, to serve it), and the HTTP client imports nothing of the server."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).parents[1] / "src" / "ledgerhouse"
DOMAINS = {"ingest", "query", "semantic", "analytics", "governance", "tenancy"}
ADAPTERS = {"api", "cli", "client"}
#: Leaves every layer, and the HTTP client, may import: they import no other module of ours
#: but the errors. ``access`` (Principal, authorize) is one: every domain service takes a
#: Principal and asks ``authorize``.
LEAVES = {"errors", "media", "access", "jsonio"}
LOWER = {"model", "storage", "config", *LEAVES}


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m.split(".")[1] for m in out if m.startswith("ledgerhouse.") and m.count(".") >= 1}


def test_domain_packages_do_not_import_each_other_or_upward() -> None:
    problems = []
    for domain in DOMAINS:
        for path in (SRC / domain).rglob("*.py") if (SRC / domain).is_dir() else []:
            bad = _imports(path) - LOWER - {domain}
            if bad:
                problems.append(f"{path.relative_to(SRC)} imports {sorted(bad)}")
    for lower in ("model", "storage"):
        for path in (SRC / lower).rglob("*.py"):
            bad = _imports(path) & (DOMAINS | ADAPTERS | {"services"})
            if bad:
                problems.append(f"{path.relative_to(SRC)} imports {sorted(bad)}")
    assert not problems, problems


#: The modules that may import an engine's package: the engine itself. (The FinBench harness,
#: whose raw-DuckDB path is the reference, is outside the package: benchmarks/bench.py.)
ENGINE_PACKAGES = {
    "duckdb": {"storage/engines/duckdb.py"},
    "pyspark": set(),
}


def test_only_an_engine_module_imports_its_engine() -> None:
    """The query path reaches engines through storage/engines (the interface and registry),
    never by importing DuckDB (or Spark) itself — lazily inside a function included."""
    problems = []
    for path in SRC.rglob("*.py"):
        name = path.relative_to(SRC).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules = [node.module]
            else:
                continue
            for module in modules:
                package = module.split(".")[0]
                if package in ENGINE_PACKAGES and name not in ENGINE_PACKAGES[package]:
                    problems.append(f"{name} imports {module}")
    assert not problems, problems


def test_the_installed_package_does_not_import_the_benchmark_harness() -> None:
    """benchmarks/ (the FinBench harness) is not installed: no module of the package imports
    it, and it is outside the folder setuptools packages. `ledgerhouse bench` loads it by path
    from a source checkout (finbench/harness.py)."""
    import tomllib

    problems = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules = [node.module]
            else:
                continue
            bad = [m for m in modules if m.split(".")[0] == "benchmarks"]
            problems += [f"{path.relative_to(SRC)} imports {m}" for m in bad]
    assert not problems, problems
    project = tomllib.loads((SRC.parents[1] / "pyproject.toml").read_text())
    assert project["tool"]["setuptools"]["packages"]["find"]["where"] == ["src"]
    assert (SRC.parents[1] / "benchmarks" / "bench.py").is_file()


def _modules(path: Path, top_level: bool = False) -> set[str]:
    """The ledgerhouse modules ``path`` imports, in full (``from ledgerhouse import errors`` is
    ``ledgerhouse.errors``); ``top_level``: only those imported when the module is."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level else list(ast.walk(tree))
    out = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "ledgerhouse":
                out.update(f"ledgerhouse.{a.name}" for a in node.names)
            else:
                out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m.startswith("ledgerhouse.")}


def _under(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def test_leaves_import_nothing_of_ours_but_the_errors() -> None:
    assert _modules(SRC / "errors.py") == set()
    assert _modules(SRC / "media.py") == {"ledgerhouse.errors"}
    assert _modules(SRC / "jsonio.py") == set()
    for path in (SRC / "access").rglob("*.py"):
        bad = {
            m for m in _modules(path) if not _under(m, "ledgerhouse.access", "ledgerhouse.errors")
        }
        assert not bad, f"{path.relative_to(SRC)} imports {sorted(bad)}"


def test_every_domain_service_takes_the_principal_first() -> None:
    """The Session's calls reach domain services that take the caller's Principal as their
    first argument: no service has a way to be called as nobody (or as a silent admin)."""
    import inspect

    from ledgerhouse.analytics import Analytics
    from ledgerhouse.ingest import IngestService
    from ledgerhouse.query import Catalog, QueryService
    from ledgerhouse.semantic import CubeService
    from ledgerhouse.tenancy import KeyService

    services = (Analytics, IngestService, Catalog, CubeService, KeyService)
    problems = []
    for cls in services:
        for name, fn in inspect.getmembers(cls, inspect.isfunction):
            if name.startswith("_"):
                continue
            params = list(inspect.signature(fn).parameters.values())[1:]
            if (
                not params
                or params[0].name != "principal"
                or params[0].default is not params[0].empty
            ):
                problems.append(f"{cls.__name__}.{name}")
    for name in ("sql", "plan"):
        first = list(inspect.signature(getattr(QueryService, name)).parameters)[1]
        if first != "principal":
            problems.append(f"QueryService.{name}")
    assert not problems, problems


def test_the_client_imports_nothing_of_the_server() -> None:
    allowed = ("ledgerhouse.client", *(f"ledgerhouse.{leaf}" for leaf in LEAVES))
    for path in (SRC / "client").rglob("*.py"):
        bad = {m for m in _modules(path) if not _under(m, *allowed)}
        assert not bad, f"{path.relative_to(SRC)} imports {sorted(bad)}"
    # nor at run time: the package's __init__ loads the Warehouse only when asked for it
    code = "import sys, ledgerhouse.client; print(*(m for m in sys.modules if 'ledgerhouse' in m))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(run.stdout.split()) - {"ledgerhouse"}
    assert all(_under(m, *allowed) for m in loaded), sorted(loaded)


def test_routers_reach_the_warehouse_only_through_the_api_dependencies() -> None:
    allowed = ("ledgerhouse.api", *(f"ledgerhouse.{leaf}" for leaf in LEAVES))
    for path in (SRC / "api" / "routers").glob("*.py"):
        mods = _modules(path)
        bad = {m for m in mods if not _under(m, *allowed)}
        if path.name != "__init__.py":  # nor each other
            bad |= {m for m in mods if _under(m, "ledgerhouse.api.routers")}
        assert not bad, f"{path.relative_to(SRC)} imports {sorted(bad)}"


def test_nothing_below_the_adapters_imports_them() -> None:
    adapters = tuple(f"ledgerhouse.{a}" for a in ADAPTERS)
    for path in SRC.rglob("*.py"):
        if path.relative_to(SRC).parts[0] in ADAPTERS:
            continue
        bad = {m for m in _modules(path) if _under(m, *adapters)}
        assert not bad, f"{path.relative_to(SRC)} imports {sorted(bad)}"


def test_the_cli_borrows_only_the_api_schemas_and_the_api_never_the_cli() -> None:
    for path in (SRC / "cli").rglob("*.py"):
        # the record schemas are shared; the app and its server options only inside `serve`
        api = {m for m in _modules(path, top_level=True) if _under(m, "ledgerhouse.api")}
        bad = {m for m in api if not _under(m, "ledgerhouse.api.schemas")}
        bad |= {m for m in _modules(path) if _under(m, "ledgerhouse.client")}
        assert not bad, f"{path.relative_to(SRC)} imports {sorted(bad)}"
    for path in (SRC / "api").rglob("*.py"):
        bad = {m for m in _modules(path) if _under(m, "ledgerhouse.cli", "ledgerhouse.client")}
        assert not bad, f"{path.relative_to(SRC)} imports {sorted(bad)}"
