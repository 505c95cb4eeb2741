"""Query engines: an interface (``base``), a registry, and lazy loading.

``AVAILABLE_ENGINES`` maps an engine's name (the ``query_engine`` setting) to a loader that
imports the engine only when it is asked for and returns its factory. A loader whose package is
missing raises ``NotInstalledError`` with the pip command. Built-in engines register below
exactly as another package's engine would::

    from ledgerhouse.storage.engines import EngineFactory, register_engine

    def load_mine() -> EngineFactory:
        from my_package.engine import MyEngine  # implements storage.engines.base.Engine
        return MyEngine

    register_engine("mine", load_mine)  # then LEDGERHOUSE_QUERY_ENGINE=mine

An installed package can also name its loader in the ``ledgerhouse.engines`` entry-point group
(``mine = "my_package.engine:load_mine"``); it is looked up when the name is not registered.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from importlib.metadata import entry_points

from ledgerhouse.errors import ConfigError, NotInstalledError
from ledgerhouse.storage.engines.base import (
    Engine,
    EngineFactory,
    EngineOptions,
    Explain,
    PinnedFiles,
    Relation,
    Rows,
    Session,
)
from ledgerhouse.storage.engines.pool import EnginePool

EngineLoader = Callable[[], EngineFactory]

#: name -> loader; fill it with ``register_engine``.
AVAILABLE_ENGINES: dict[str, EngineLoader] = {}

ENTRY_POINT_GROUP = "ledgerhouse.engines"


def register_engine(name: str, loader: EngineLoader, *, replace: bool = False) -> None:
    """Make an engine selectable by ``name``. ``loader`` imports it and returns its factory
    (a callable of ``EngineOptions`` returning an ``Engine``); it runs only when the engine is
    used, so registering costs no import."""
    if name in AVAILABLE_ENGINES and not replace and AVAILABLE_ENGINES[name] is not loader:
        raise ValueError(f"a query engine named {name!r} is already registered")
    AVAILABLE_ENGINES[name] = loader


def load_engine(name: str) -> EngineFactory:
    """The factory of the engine registered as ``name``."""
    if name not in AVAILABLE_ENGINES:
        for ep in entry_points(group=ENTRY_POINT_GROUP, name=name):
            register_engine(name, ep.load())
    loader = AVAILABLE_ENGINES.get(name)
    if loader is None:
        raise ConfigError(
            f"no query engine is named {name!r}",
            hint=f"Set LEDGERHOUSE_QUERY_ENGINE to one of: {', '.join(sorted(AVAILABLE_ENGINES))}.",
            engine=name,
        )
    return loader()


def installed_engines() -> list[str]:
    """The registered engines that load here (their packages are installed)."""
    out = []
    for name in sorted(AVAILABLE_ENGINES):
        try:
            load_engine(name)
        except NotInstalledError:
            continue
        out.append(name)
    return out


def require(module: str, engine: str, pip: str) -> None:
    """Raise NotInstalledError, naming ``pip``, when ``module`` cannot be imported."""
    if importlib.util.find_spec(module) is None:
        raise NotInstalledError(
            f"query engine {engine!r} needs the {module!r} package, which is not installed",
            hint=f"Install it: {pip}",
            engine=engine,
        )


# -- the built-in engines, registered like any other -----------------------------------------
def load_duckdb() -> EngineFactory:
    require("duckdb", "duckdb", "pip install duckdb")
    from ledgerhouse.storage.engines.duckdb import DuckDBEngine

    return DuckDBEngine


def load_spark() -> EngineFactory:
    """Spark is the planned distributed engine (ARCHITECTURE.md, Compute); not built yet.
    When it is, this becomes ``require("pyspark", "spark", "pip install 'ledgerhouse[spark]'")``
    and an import of its module, like ``load_duckdb``."""
    raise NotInstalledError(
        "query engine 'spark' is not available in this version of Ledgerhouse yet",
        hint="Use query_engine = 'duckdb' (the default); the Spark engine is planned, as the "
        "extra ledgerhouse[spark].",
        engine="spark",
    )


register_engine("duckdb", load_duckdb)
register_engine("spark", load_spark)

__all__ = [
    "AVAILABLE_ENGINES",
    "Engine",
    "EngineFactory",
    "EngineLoader",
    "EngineOptions",
    "EnginePool",
    "Explain",
    "PinnedFiles",
    "Relation",
    "Rows",
    "Session",
    "installed_engines",
    "load_engine",
    "register_engine",
    "require",
]
