"""The FinBench harness (benchmarks/) at a tiny scale: every path answers every query and the
answers agree (a smoke test of agreement, in the slow tier; no timing is asserted). And the
checker itself catches a wrong answer."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
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
from benchmarks.report import compare, markdown
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


def test_decimals_must_agree_exactly_and_floats_within_the_tolerance() -> None:
    """Money from raw DuckDB (a decimal) must come back as the same decimal value from every
    path: another scale is the same value, a millionth off or a float is a disagreement."""
    money = pa.array([Decimal("10.500000"), Decimal("-0.000001")], pa.decimal128(38, 6))
    ref = normalize(pa.table({"k": ["a", "b"], "m": money, "ratio": [0.25, 0.75]}))
    rescaled = pa.array([Decimal("10.5"), Decimal("-0.000001")], pa.decimal128(30, 8))
    same = pa.table({"k": ["a", "b"], "m": rescaled, "ratio": [0.25 + 1e-12, 0.75]})
    assert disagreement(ref, normalize(same)) is None
    off = [["a", Decimal("10.500001"), 0.25], ["b", Decimal("-0.000001"), 0.75]]
    assert "10.500001 vs exactly 10.5" in str(disagreement(ref, normalize(off)))
    as_float = [["a", 10.5, 0.25], ["b", -0.000001, 0.75]]
    assert "is a float where raw DuckDB has the exact decimal" in str(
        disagreement(ref, normalize(as_float))
    )
    # a decimal where raw DuckDB has a float (a ratio) is compared within the tolerance
    ratio_as_decimal = [["a", Decimal("10.5"), Decimal("0.25")], ["b", Decimal("-1e-6"), 0.75]]
    assert disagreement(ref, normalize(ratio_as_decimal)) is None
    assert disagreement(ref, [("a", None, 0.25), ("b", Decimal("-0.000001"), 0.75)]) is not None


def test_pandas_answers_with_exact_decimals_compare_exactly() -> None:
    import pandas as pd

    column = pa.array([Decimal("1.000001"), Decimal("2")], pa.decimal128(24, 6))
    df = pa.table({"k": ["a", "a"], "m": column}).to_pandas(
        types_mapper=lambda t: pd.ArrowDtype(t) if pa.types.is_decimal(t) else None
    )
    summed = df.groupby("k", as_index=False)["m"].sum()
    assert normalize(summed) == [("a", Decimal("3.000001"))]
    assert disagreement([("a", Decimal("3.000001"))], normalize(summed)) is None
    assert disagreement([("a", Decimal("3.000002"))], normalize(summed)) is not None


def _results(service_ms: float, duckdb_ms: float, rows_per_s: int, exact: bool) -> dict:
    tol: dict = {"relative": 1e-9, "absolute": 1e-6, **({"decimals": "exact"} if exact else {})}
    path = {"runs": 2, "rows": 3, "agrees": True, "disagreement": None, "p99_ms": 1.0}
    return {
        "finbench": {"scale": 0.01, "seed": 42, "days": 750, "runs": 2},
        "started_at": "2026-12-01T00:00:00+00:00",
        "machine": {"cores": 2, "platform": "linux", "python": "3.11"},
        "versions": {"ledgerhouse": "0.2.0"},
        "commit": "7",
        "tolerance": tol,
        "queries": [
            {
                "id": "q01_daily_pnl",
                "finbench": 1,
                "title": "Daily P&L per portfolio for one month",
                "product_call": "cube performance",
                "paths": {
                    "service": {
                        **path,
                        "median_ms": service_ms,
                        "route": "raw",
                        "ratio_to_duckdb": round(service_ms / duckdb_ms, 3),
                    },
                    "duckdb": {**path, "median_ms": duckdb_ms, "ratio_to_duckdb": 1.0},
                },
            }
        ],
        "not_measured": [],
        "summary": {
            "median_ratio_service_to_duckdb": round(service_ms / duckdb_ms, 3),
            "all_agree": True,
            "bulk_rows_per_s": rows_per_s,
        },
        "ingestion": {
            "datasets": {
                "trades": {"rows": 1000, "seconds": 1000 / rows_per_s, "rows_per_s": rows_per_s}
            },
            "amendments_recent": {"rows": 50, "seconds": 1.5, "months_touched": 1},
            "bulk_rows_per_s": rows_per_s,
            "peak_rss_gib": 1.0,
        },
    }


def test_compare_puts_before_and_after_side_by_side(tmp_path: Path) -> None:
    before, after = _results(20.0, 10.0, 200_000, False), _results(30.0, 12.0, 150_000, True)
    text = compare(before, after)
    assert "| trades | 1,000 | 200,000 | 150,000 | -25% |" in text
    assert (
        "| 1 | Daily P&L per portfolio for one month | 20.0 → 30.0 (+50%) | 10.0 → 12.0 (+20%) |"
        in (text)
    )
    assert "| 1 | Daily P&L per portfolio for one month | `raw` | `raw` | 2.00× | 2.50× |" in text
    assert "| median service (HTTP, cache off) / raw DuckDB | 2.00× | 2.50× |" in text
    assert "Not the same data" not in text
    assert "**exactly**" in markdown(after) and "**exactly**" not in markdown(before)
    from benchmarks.report import main

    (tmp_path / "b.json").write_text(json.dumps(before))
    (tmp_path / "a.json").write_text(json.dumps(after))
    main(["--compare", str(tmp_path / "b.json"), str(tmp_path / "a.json"), "--out",
          str(tmp_path / "c.md")])  # fmt: skip
    assert (tmp_path / "c.md").read_text() == text


def test_unknown_paths_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match="unknown bench paths"):
        BenchConfig(scale=0.01, runs=1, out=tmp_path, paths=("spark",))
