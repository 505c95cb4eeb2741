"""The FinBench harness (benchmarks/) at a tiny scale: every path answers every query and the
answers agree (a smoke test of agreement, in the slow tier; no timing is asserted). And the
checker itself catches a wrong answer."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from benchmarks.bench import (
    ALL_QUERIES,
    PATHS,
    BenchConfig,
    disagreement,
    normalize,
    run_bench,
)
from ledgerhouse.errors import InvalidRequest


@pytest.mark.slow  # three subprocesses (generate, ingest, serve) and 13 queries x 7 paths: ~20 s
def test_tiny_bench_runs_every_path_and_they_agree(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    lines: list[str] = []
    results = run_bench(
        BenchConfig(scale=0.002, runs=1, out=out, days=40, amendments=50), say=lines.append
    )
    assert results["summary"]["all_agree"] is True
    assert {q["id"] for q in results["queries"]} == {q.id for q in ALL_QUERIES}
    for q in results["queries"]:
        rows = {p["rows"] for p in q["paths"].values()}
        assert len(rows) == 1 and rows != {0}, q
        if q["product_call"].startswith("analytics"):
            assert {"service", "library"} <= set(q["paths"]) and "library_raw" not in q["paths"]
            continue
        assert set(q["paths"]) == set(PATHS)
        assert q["paths"]["service_cached"]["route"] == "cache"  # plain queries only
    plain = [q for q in results["queries"] if not q["product_call"].startswith("analytics")]
    routes = {q["paths"]["library"]["route"] for q in plain}
    assert {q["paths"]["library_raw"]["route"] for q in plain} == {"raw"}
    assert results["summary"]["rollup_speedup_median"] > 0
    assert "raw" in routes and any(r.startswith("rollup:") for r in routes)
    saved = json.loads((out / "results.json").read_text())
    assert saved["queries"][0]["paths"]["duckdb"]["ratio_to_duckdb"] == 1.0
    assert "| worst service/raw DuckDB ratio |" in (out / "results.md").read_text()
    assert (out / "ratios.png").read_bytes()[:4] == b"\x89PNG"
    assert saved["ingestion"]["datasets"]["trades"]["rows"] > 0
    assert any("run 1/1" in line for line in lines)


def test_the_checker_finds_a_different_answer() -> None:
    ref = normalize(pa.table({"k": ["a", "b"], "d": [date(2024, 1, 1)] * 2, "x": [1.0, 2.0]}))
    same = normalize([["b", "2024-01-01", 2.0 + 1e-12], ["a", "2024-01-01", 1.0]])
    assert disagreement(ref, same) is None
    assert "row 1" in str(disagreement(ref, [["a", "2024-01-01", 1.0], ["b", "2024-01-01", 2.1]]))
    assert "1 rows" in str(disagreement(ref, [["a", "2024-01-01", 1.0]]))
    assert disagreement(ref, [["a", "2024-01-02", 1.0], ["b", "2024-01-01", 2.0]]) is not None


def test_unknown_paths_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match="unknown bench paths"):
        BenchConfig(scale=0.01, runs=1, out=tmp_path, paths=("spark",))
