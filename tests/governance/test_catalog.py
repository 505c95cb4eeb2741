"""Catalog search: BM25 ranking, facets as counts and filters, each hit's lineage, freshness,
row count and quality, sample values only for a caller who may read the table, and one
tenant's catalog never showing another's."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledgerhouse import Warehouse, errors
from ledgerhouse.governance.catalog import Bm25, tokens
from ledgerhouse.governance.metadata import ObjectRef
from ledgerhouse.session import Session

UNRELATED = ("fact_price", "fact_fx_rate", "dim_date", "dim_currency", "ml_trade_anomaly",
             "fact_benchmark_constituent", "mart_portfolio_daily_pnl")  # fmt: skip


@pytest.fixture(scope="module")
def warehouse(loaded: Session, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    root = tmp_path_factory.mktemp("catalog") / "wh"
    shutil.copytree(Path(loaded.warehouse.root), root)
    wh = Warehouse.open(root=root)
    wh.create_tenant("beta")
    yield wh
    wh.close()


def _as(wh: Warehouse, role: str, tenant: str | None = None) -> Session:
    return wh.local(tenant, roles=(role,), user=f"{role}-1")


def test_words_are_split_and_singular() -> None:
    assert tokens("mart_exposure_daily Exposures") == ["mart", "exposure", "daily", "exposure"]
    assert tokens("counterparties of the P&L") == ["counterparty", "pnl"]
    assert tokens("class address") == ["class", "address"]


def test_bm25_prefers_the_rarer_word_and_the_shorter_document() -> None:
    a, b, c = ObjectRef("table", "a"), ObjectRef("table", "b"), ObjectRef("table", "c")
    index = Bm25([
        (a, ["trade", "price", "trade"]),
        (b, ["trade", "counterparty"]),
        (c, ["trade", "counterparty", "desk", "firm", "sector", "country"]),
    ])  # fmt: skip
    scores = index.scores(["counterparty", "trade"])
    assert scores[b] > scores[c]  # same words, shorter document
    assert scores[b] > scores[a]  # "counterparty" is rarer than "trade"
    assert index.scores(["nothing"]) == {}


def test_counterparty_exposure_finds_the_exposure_mart_and_the_counterparty_dimension(
    warehouse: Warehouse,
) -> None:
    me = _as(warehouse, "reader")
    found = me.catalog_search("counterparty exposure", limit=8, samples=False)
    top = [h["object"] for h in found["hits"]]
    assert "mart_exposure_daily" in top[:5] and "dim_counterparty" in top[:5]
    tables = me.catalog_search("counterparty exposure", kind="table", limit=50, samples=False)
    ranked = [h["object"] for h in tables["hits"]]
    for related in ("mart_exposure_daily", "dim_counterparty"):
        assert ranked.index(related) < 4
        for other in UNRELATED:
            assert other not in ranked or ranked.index(related) < ranked.index(other)
    scores = [h["score"] for h in tables["hits"]]
    assert scores == sorted(scores, reverse=True)


def test_facets_count_the_matches_and_filter_them(warehouse: Warehouse) -> None:
    me = _as(warehouse, "auditor")  # read_governance is enough to search
    everything = me.catalog_search("", limit=200, samples=False)
    kinds = everything["facets"]["kind"]
    assert kinds["table"] == len(warehouse.relations)
    assert sum(kinds.values()) == everything["total"]
    pii = me.catalog_search("", classification="pii", limit=50, samples=False)
    assert {h["object"] for h in pii["hits"]} == {"dim_portfolio.manager", "raw_portfolios.manager"}
    assert pii["facets"]["classification"] == {"pii": 2} and pii["filters"] == {
        "classification": ["pii"]
    }
    risk = me.catalog_search("", tag="risk", kind="table", limit=50, samples=False)
    assert {h["object"] for h in risk["hits"]} >= {"mart_exposure_daily", "dim_counterparty"}
    assert all("risk" in h["tags"] for h in risk["hits"])
    core = me.catalog_search("price", layer="core", limit=50, samples=False)
    assert core["hits"] and all(h["layer"] == "core" for h in core["hits"])
    assert set(core["facets"]["layer"]) == {"core"}
    _as(warehouse, "steward").annotate("fact_price", owner="market-data-team")
    owned = me.catalog_search("", owner="market-data-team", limit=50, samples=False)
    assert owned["total"] == 1 + len(warehouse.relations["fact_price"].columns)  # its columns too
    assert owned["facets"]["owner"] == {"market-data-team": owned["total"]}
    with pytest.raises(errors.InvalidRequest) as bad:
        me.catalog_search("x", kind="tabel")
    assert "'table'" in bad.value.message


def test_a_hit_has_its_lineage_freshness_rows_and_quality(warehouse: Warehouse) -> None:
    me = _as(warehouse, "reader")
    hit = me.catalog_search("exposure", kind="table", limit=1, samples=False)["hits"][0]
    assert hit["object"] == "mart_exposure_daily"
    assert "fact_position" in hit["lineage"]["upstream"]
    n = me.query("SELECT count(*) FROM mart_exposure_daily").rows()[0][0]
    assert hit["rows"] == n > 0
    last = next(
        c for c in warehouse.meta.commit_log.commits("default", 1000)
        if "mart_exposure_daily" in c.changed_tables and not c.operation.startswith("metadata:")
    )  # fmt: skip
    assert hit["freshness"] == {"commit_id": last.id, "at": last.created_at.isoformat()}
    assert hit["quality_score"] == warehouse.quality.scores_of("default").get("mart_exposure_daily")
    column = me.catalog_search("gross exposure", kind="column", limit=1, samples=False)["hits"][0]
    assert column["object"] == "mart_exposure_daily.gross_base"
    assert column["lineage"]["upstream"] == ["fact_position.market_value_base"]


def test_sample_values_only_for_a_caller_who_may_read_the_table(warehouse: Warehouse) -> None:
    want = (
        _as(warehouse, "admin")
        .query("SELECT DISTINCT counterparty_type FROM dim_counterparty ORDER BY 1 LIMIT 5")
        .rows()
    )
    reader = _as(warehouse, "reader")
    hit = reader.catalog_search("counterparty type", kind="column", limit=1)["hits"][0]
    assert hit["object"] == "dim_counterparty.counterparty_type"
    assert hit["samples"] == {"columns": ["counterparty_type"], "rows": want}
    auditor = _as(warehouse, "auditor")  # reads governance, not the data
    seen = auditor.catalog_search("counterparty type", kind="column", limit=1)["hits"][0]
    assert seen["object"] == hit["object"] and seen["samples"] is None
    # a pii column is never sampled; a table's sample rows leave it out
    manager = reader.catalog_search("manager", classification="pii", limit=1)["hits"][0]
    assert manager["samples"] is None
    table = reader.catalog_search("dim_portfolio", kind="table", limit=1)["hits"][0]
    assert table["object"] == "dim_portfolio" and table["samples"]["rows"]
    assert "manager" not in table["samples"]["columns"]
    assert "portfolio_code" in table["samples"]["columns"]


def test_a_tenant_searches_only_its_own_catalog(warehouse: Warehouse) -> None:
    _as(warehouse, "steward").annotate(
        "dim_counterparty.rating", description="Alpha's xylophone grades", owner="alpha-risk"
    )
    _as(warehouse, "steward").define_term("Wombat", definition="alpha only")
    beta = _as(warehouse, "reader", tenant="beta")
    assert beta.catalog_search("xylophone")["total"] == 0
    assert beta.catalog_search("wombat")["total"] == 0
    assert "alpha-risk" not in beta.catalog_search("", limit=200)["facets"]["owner"]
    found = beta.catalog_search("counterparty rating", kind="column", limit=1)["hits"][0]
    assert found["object"] == "dim_counterparty.rating" and found["owner"] is None
    assert found["rows"] == 0  # beta's own (empty) table, not alpha's
    assert _as(warehouse, "reader").catalog_search("xylophone")["total"] == 1
