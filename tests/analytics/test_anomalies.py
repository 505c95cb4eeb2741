"""Anomaly detection on trading activity: point-in-time features (no look-ahead), injected
anomalies are flagged, scores are a queryable table in a new commit, the model is recorded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ledgerhouse.analytics import ml
from ledgerhouse.api import create_app
from ledgerhouse.cli.main import app as cli
from ledgerhouse.errors import Forbidden, InvalidRequest
from ledgerhouse.session import Session
from tests.conftest import copy_warehouse


@pytest.fixture(scope="module")
def data(ml_data: Path) -> Path:
    """FinBench SF 0.002, seed 11 (read only)."""
    return ml_data


@pytest.fixture(scope="module")
def loaded_template(ml_template: Path) -> Path:
    """A warehouse holding ``data``, loaded once; each test scores a copy of it."""
    return ml_template


@pytest.fixture
def wh(tmp_path: Path, loaded_template: Path) -> Iterator[Session]:
    w = copy_warehouse(loaded_template, tmp_path / "wh")
    yield w
    w.warehouse.close()


def _features(wh: Session, start: date, end: date) -> pl.DataFrame:
    first = start - timedelta(days=ml.HISTORY_DAYS)
    params = [first.isoformat(), end.isoformat(), first.strftime("%Y-%m"),
              end.strftime("%Y-%m"), start.isoformat()]  # fmt: skip
    return wh.query(ml.FEATURES_SQL, params=params, use_cache=False).to_polars()


def _span(wh: Session) -> tuple[date, date]:
    return tuple(wh.query("SELECT min(trade_date), max(trade_date) FROM fact_trade").rows()[0])  # type: ignore[return-value]


def test_features_do_not_look_ahead(wh: Session, data: Path, tmp_path: Path) -> None:
    first, last = _span(wh)
    window = (first + timedelta(days=20), first + timedelta(days=40))
    before = _features(wh, *window).sort("trade_id")
    # later trades (after the window) arrive: the window's features must not change
    trades = pl.read_parquet(data / "trades.parquet")
    after = last + timedelta(days=3 if last.weekday() == 4 else 1)  # the next business day
    later = (
        trades.filter(pl.col("event") == "NEW")
        .head(300)
        .with_columns(
            trade_id=pl.concat_str(pl.lit("F"), pl.col("trade_id")),
            trade_date=pl.lit(after),
            settle_date=pl.lit(after + timedelta(days=2)),
            quantity=pl.col("quantity") * 1000,
        )
    )
    path = tmp_path / "later.parquet"
    later.write_parquet(path)
    assert wh.ingest("trades", path).status == "committed"
    after = _features(wh, *window).sort("trade_id")
    assert before.equals(after) and before.height > 100


def test_injected_anomalies_are_flagged_and_queryable(
    wh: Session, data: Path, tmp_path: Path
) -> None:
    first, last = _span(wh)
    split = first + timedelta(days=40)
    trades = pl.read_parquet(data / "trades.parquet").filter(pl.col("event") == "NEW")
    odd = (
        trades.filter(pl.col("trade_date") > split)
        .head(5)
        .with_columns(
            trade_id=pl.concat_str(pl.lit("X"), pl.col("trade_id")),
            quantity=pl.col("quantity") * 500,
            # far from the prevailing close (inside the price band of 50%, or ingestion would
            # refuse it), and huge (to the cent: prices are exact decimals of at most 6
            # places, and a float times 1.4 may have more)
            price=(pl.col("price") * 1.4).round(2),
        )
    )
    path = tmp_path / "odd.parquet"
    odd.write_parquet(path)
    assert wh.ingest("trades", path).status == "committed"
    record = wh.detect_anomalies(first, split, split + timedelta(days=1), last)
    assert record["features"] == list(ml.FEATURES)
    assert record["training_commit"] < record["scoring_commit"]
    assert wh.commits()[0].id == record["scoring_commit"]
    scores = wh.query(
        "SELECT a.trade_id, a.score, a.is_anomaly FROM ml_trade_anomaly a "
        "JOIN fact_trade t USING (trade_id) WHERE a.model_id = ?",
        params=[record["id"]],
    ).to_polars()
    injected = scores.filter(pl.col("trade_id").str.starts_with("X"))
    others = scores.filter(~pl.col("trade_id").str.starts_with("X"))
    assert injected.height == 5 and injected["is_anomaly"].all()
    assert injected["score"].min() > others["score"].quantile(0.98)
    n = wh.query("SELECT count(*), sum(is_anomaly::INT) FROM ml_trade_anomaly").rows()[0]
    assert n[0] == record["metrics"]["scored_rows"] and n[1] == record["metrics"]["flagged"]
    assert wh.models()[0]["id"] == record["id"]
    assert record["artifact"] == f"models/{record['id']}.joblib"  # no server path in an answer
    assert (wh.warehouse.store.tenant_root("default") / record["artifact"]).is_file()


def test_bad_windows_and_readers_are_refused(wh: Session) -> None:
    first, last = _span(wh)
    with pytest.raises(InvalidRequest, match="after"):
        wh.detect_anomalies(last, first, first, last)
    with pytest.raises(InvalidRequest, match="too few"):
        wh.detect_anomalies(first - timedelta(days=30), first - timedelta(days=20), first, last)
    reader = wh.warehouse.authenticate(f"Bearer {wh.create_api_key('r', ('reader',))}")
    with pytest.raises(Forbidden):
        wh.warehouse.session(reader).detect_anomalies(first, last, first, last)


def test_api_and_cli(wh: Session) -> None:
    first, last = _span(wh)
    mid = first + timedelta(days=30)
    key = wh.create_api_key("w", ("writer",))
    body = {"train_start": str(first), "train_end": str(mid), "score_start": str(mid),
            "score_end": str(last)}  # fmt: skip
    with TestClient(create_app(wh.warehouse)) as c:
        r = c.post("/v1/analytics/anomalies", json=body, headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 201, r.text
        listed = c.get("/v1/models", headers={"Authorization": f"Bearer {key}"}).json()
        assert listed[0]["id"] == r.json()["id"]
    res = CliRunner().invoke(
        cli,
        ["analytics", "anomalies", "--train-start", str(first), "--train-end", str(mid),
         "--score-start", str(mid), "--score-end", str(last),
         "--root", str(wh.warehouse.root), "--json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["metrics"]["scored_rows"] > 0
    listing = CliRunner().invoke(cli, ["models", "--root", str(wh.warehouse.root), "--json"])
    assert listing.exit_code == 0 and json.loads(listing.stdout)[0]["name"] == "trade_anomaly"


def test_windows_before_year_1000_and_empty_scoring_windows_are_clear(wh: Session) -> None:
    from datetime import date

    from ledgerhouse.analytics.anomalies import _month
    from ledgerhouse.errors import InvalidRequest

    assert _month(date(607, 6, 25)) == "0607-06" < "2023-01"
    with pytest.raises(InvalidRequest, match="no trades to score"):
        wh.detect_anomalies(
            date(120, 10, 14), date(5453, 10, 13), date(607, 6, 25), date(700, 12, 18)
        )
