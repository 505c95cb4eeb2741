"""The engine registry: lazy loaders, a clear error for a missing package, a setting that picks
the engine, and one registration point for a new engine."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import pyarrow as pa
import pytest

from ledgerhouse import Warehouse
from ledgerhouse.config import load_settings
from ledgerhouse.errors import ConfigError, NotInstalledError
from ledgerhouse.storage import engines
from ledgerhouse.storage.engines import (
    AVAILABLE_ENGINES,
    EngineFactory,
    EngineOptions,
    Explain,
    Relation,
    Rows,
    installed_engines,
    load_engine,
    register_engine,
    require,
)
from ledgerhouse.storage.engines.duckdb import DuckDBEngine, DuckDBSession
from tests.conftest import REF, TRADE_HEADER, admin, trade_row


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The registry, restored after the test."""
    saved = dict(AVAILABLE_ENGINES)
    yield AVAILABLE_ENGINES
    AVAILABLE_ENGINES.clear()
    AVAILABLE_ENGINES.update(saved)


def test_the_built_in_engines_are_registered_and_duckdb_is_the_default() -> None:
    assert {"duckdb", "spark"} <= set(AVAILABLE_ENGINES)
    assert "duckdb" in installed_engines() and "spark" not in installed_engines()
    assert load_engine("duckdb") is DuckDBEngine
    assert load_settings().query_engine == "duckdb"


def test_registering_costs_no_import() -> None:
    # the registry module itself does not import an engine; only a loader does
    source = Path(engines.__file__).read_text()
    top_level = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert not any("duckdb" in line or "pyspark" in line for line in top_level), top_level


def test_spark_is_not_available_yet_and_says_so() -> None:
    with pytest.raises(NotInstalledError, match="'spark' is not available") as info:
        load_engine("spark")
    assert info.value.code == "not_installed" and "duckdb" in info.value.hint


def test_a_missing_package_names_the_pip_command(registry: dict[str, Any]) -> None:
    def load_missing() -> EngineFactory:
        require("ledgerhouse_no_such_package", "missing", "pip install 'ledgerhouse[missing]'")
        raise AssertionError("not reached")

    register_engine("missing", load_missing)
    with pytest.raises(NotInstalledError) as info:
        load_engine("missing")
    assert "'ledgerhouse_no_such_package'" in info.value.message
    assert "pip install 'ledgerhouse[missing]'" in info.value.hint
    assert info.value.details == {"engine": "missing"}
    assert "missing" not in installed_engines()


def test_an_unknown_engine_is_a_config_error_listing_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no query engine is named 'nope'") as info:
        load_engine("nope")
    assert "duckdb" in info.value.hint and "spark" in info.value.hint
    with pytest.raises(ConfigError):
        Warehouse.init(root=tmp_path / "wh", query_engine="nope")
    assert not (tmp_path / "wh" / "metadata.db").exists()  # refused before anything opened


def test_the_setting_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGERHOUSE_QUERY_ENGINE", "spark")
    assert load_settings().query_engine == "spark"


def test_a_name_is_registered_once(registry: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_engine("duckdb", lambda: DuckDBEngine)
    register_engine("duckdb", lambda: DuckDBEngine, replace=True)


def test_an_installed_package_registers_through_an_entry_point(
    registry: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    class EntryPoint:
        name = "packaged"

        def load(self) -> Any:
            return lambda: DuckDBEngine

    asked: list[dict[str, str]] = []

    def entry_points(**selection: str) -> list[EntryPoint]:
        asked.append(selection)
        return [EntryPoint()] if selection.get("name") == "packaged" else []

    monkeypatch.setattr(engines, "entry_points", entry_points)
    assert load_engine("packaged") is DuckDBEngine
    assert asked == [{"group": "ledgerhouse.engines", "name": "packaged"}]
    assert load_engine("packaged") is DuckDBEngine and len(asked) == 1  # registered now


# -- a new engine touches one registration point ----------------------------------------------
class CountedSession:
    """Delegates to a DuckDB session, counting the statements it runs."""

    def __init__(self, inner: DuckDBSession, engine: CountingEngine) -> None:
        self.inner, self.engine = inner, engine

    def bind(self, name: str, relation: Relation) -> None:
        self.inner.bind(name, relation)

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Rows:
        self.engine.statements += 1
        return self.inner.execute(sql, *args, **kwargs)

    def interrupt(self) -> None:
        self.inner.interrupt()

    def close(self) -> None:
        self.inner.close()

    def __enter__(self) -> CountedSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CountingEngine(DuckDBEngine):
    """DuckDB that counts what Ledgerhouse asks of it: an engine added from outside."""

    name = "counting"

    def __init__(self, options: EngineOptions) -> None:
        super().__init__(options)
        self.statements = 0
        self.bound: list[str] = []

    def bind(self, name: str, relation: Relation, *, materialize: bool = False) -> None:
        self.bound.append(name)
        super().bind(name, relation, materialize=materialize)

    def session(self) -> CountedSession:  # type: ignore[override]
        return CountedSession(super().session(), self)


def test_a_new_engine_is_one_register_call(registry: dict[str, Any], tmp_path: Path) -> None:
    register_engine("counting", lambda: CountingEngine)  # the one registration point
    wh, _ = Warehouse.init(root=tmp_path / "wh", query_engine="counting")
    try:
        for dataset, text in REF.items():
            admin(wh).ingest(dataset, text.encode(), fmt="csv")
        admin(wh).ingest("trades", (TRADE_HEADER + trade_row("T1", qty="7")).encode(), fmt="csv")
        engine = wh.engines.get("default")
        assert isinstance(engine, CountingEngine)
        refreshes = engine.statements  # the marts refreshed with each batch
        assert refreshes >= 1
        assert admin(wh).query("SELECT sum(quantity) FROM fact_trade").rows() == [[7]]
        assert engine.statements == refreshes + 1
        assert any(name.startswith("fact_trade@") for name in engine.bound)
    finally:
        wh.close()


class RecordingSession:
    """A session of an engine that is not DuckDB: it records the SQL it is sent."""

    def __init__(self, sent: list[str]) -> None:
        self.sent = sent

    def bind(self, name: str, relation: Relation) -> None:
        self.sent.append(f"bind {name}")

    def execute(
        self,
        sql: str,
        params: Sequence[Any] | None = None,
        *,
        max_rows: int | None = None,
        explain: Explain = None,
        timeout_s: float | None = None,
    ) -> Rows:
        self.sent.append(sql)
        return Rows(pa.table({"n": pa.array([1], pa.int64())}), False)

    def interrupt(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> RecordingSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        pass


class SparkDialectEngine:
    """An engine whose SQL is Spark's: queries reach it transpiled by SQLGlot."""

    name = "spark-dialect"
    dialect = "spark"

    def __init__(self, options: EngineOptions) -> None:
        self.tenant_root = options.tenant_root.resolve()
        self.spill_dir = self.tenant_root / ".spill" / "x"
        self.sent: list[str] = []

    def bind(self, name: str, relation: Relation, *, materialize: bool = False) -> None:
        self.sent.append(f"bind {name}")

    def unbind(self, name: str) -> None:
        self.sent.append(f"unbind {name}")

    def session(self) -> RecordingSession:
        return RecordingSession(self.sent)

    def allowed_directories(self) -> list[str]:
        return [str(self.tenant_root) + "/"]

    def close(self) -> None:
        pass


def test_queries_reach_an_engine_in_its_dialect(registry: dict[str, Any], tmp_path: Path) -> None:
    register_engine("spark-dialect", lambda: SparkDialectEngine)
    wh, _ = Warehouse.init(root=tmp_path / "wh", query_engine="spark-dialect")
    try:
        version = admin(wh).commits()[0].table_versions["dim_date"]
        res = admin(wh).query("SELECT count(*) AS n FROM dim_date WHERE day_name = 'Monday'")
        assert res.rows() == [[1]]
        sent = wh.engines.get("default").sent  # type: ignore[attr-defined]
    finally:
        wh.close()
    assert f"bind dim_date@{version}" in sent
    assert f"FROM `dim_date@{version}` AS dim_date" in sent[-1]
