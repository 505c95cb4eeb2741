"""Trade anomaly scoring as a job: train on one pinned commit, score, write the scores to
``ml_trade_anomaly`` in a warehouse commit of the commit writer, record the model.

The model itself (features, IsolationForest) is ``analytics/ml.py``; this module runs it
against the warehouse. The composition root passes in what it needs: the caller's guarded
``read`` (so the features see exactly what the caller may read), the commit writer (so a
scoring run that crashed is recovered like any other writer), the Delta store (where the model
artifact goes) and the metadata store (where the model is recorded).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import polars as pl

from ledgerhouse.analytics.service import Read
from ledgerhouse.errors import InvalidRequest
from ledgerhouse.model.calendar import days_before
from ledgerhouse.model.schema import ML_TRADE_ANOMALY
from ledgerhouse.storage.commits import CommitWriter
from ledgerhouse.storage.delta import DeltaStore
from ledgerhouse.storage.metadata import MetadataStore


class TradeAnomalies:
    def __init__(
        self,
        tenant: str,
        read: Read,
        writer: CommitWriter,
        store: DeltaStore,
        meta: MetadataStore,
    ) -> None:
        self.tenant = tenant
        self.read = read
        self.writer = writer
        self.store = store
        self.meta = meta

    def detect(
        self,
        train_start: date,
        train_end: date,
        score_start: date,
        score_end: date,
        *,
        contamination: float = 0.01,
        seed: int = 0,
        progress: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        """Train on the trades of [train_start, train_end] (point-in-time features), score the
        trades of [score_start, score_end], both on one pinned commit; write the scores in a
        new warehouse commit and record the model. Returns the model record. ``progress``
        hears each stage as it starts (reading features, training, scoring, writing)."""
        say = progress or (lambda _stage: None)
        import joblib  # scikit-learn and joblib load only when a model is trained

        from ledgerhouse.analytics import ml

        if not 0 < contamination < 0.5:
            raise InvalidRequest(
                f"contamination {contamination} is out of range",
                hint="Give the expected share of anomalies, e.g. 0.01.",
            )
        for a, b in ((train_start, train_end), (score_start, score_end)):
            if a > b:
                raise InvalidRequest(f"{a} is after {b}", hint="Give each window as start <= end.")
        say(f"reading the training trades ({train_start} to {train_end})")
        training, commit_id = self._features(train_start, train_end, None)
        say(f"training on {training.height:,} trades")
        try:
            model, fit = ml.train(training, contamination, seed)
        except ValueError as exc:
            raise InvalidRequest(
                f"cannot train: {exc} in [{train_start}, {train_end}]",
                hint="Widen the training window.",
            ) from None
        say(f"reading the trades to score ({score_start} to {score_end})")
        to_score = self._features(score_start, score_end, commit_id)[0]
        if to_score.is_empty():
            raise InvalidRequest(
                f"no trades to score in [{score_start}, {score_end}]",
                hint="Choose a scoring window that has trades (`ledgerhouse query` to look).",
            )
        say(f"scoring {to_score.height:,} trades")
        scored = ml.score(model, to_score)
        model_id = uuid.uuid4().hex[:16]
        folder = self.store.tenant_root(self.tenant) / "models"
        folder.mkdir(parents=True, exist_ok=True)
        joblib.dump(model, folder / f"{model_id}.joblib")
        rows = scored.with_columns(
            model_id=pl.lit(model_id), scored_at=pl.lit(datetime.now(UTC))
        ).select(ML_TRADE_ANOMALY.column_names)
        say("writing the scores")
        with self.writer.transaction(self.tenant, "ml_score") as txn:
            txn.append(ML_TRADE_ANOMALY, rows)
        assert txn.commit is not None
        flagged = int(scored["is_anomaly"].sum())
        info = {
            "kind": "IsolationForest",
            "features": list(ml.FEATURES),
            "parameters": {"n_estimators": 200, "contamination": contamination, "seed": seed},
            "training_window": [train_start.isoformat(), train_end.isoformat()],
            "scoring_window": [score_start.isoformat(), score_end.isoformat()],
            "metrics": {
                **fit,
                "scored_rows": scored.height,
                "flagged": flagged,
                "flag_rate": flagged / max(scored.height, 1),
            },
            "table": ML_TRADE_ANOMALY.relation,
            "artifact": f"models/{model_id}.joblib",  # under the tenant root: no server path
        }
        return self.meta.models_store.record_model(
            self.tenant, model_id, "trade_anomaly", commit_id, txn.commit.id, info
        )

    def _features(self, start: date, end: date, as_of: int | None) -> tuple[pl.DataFrame, int]:
        from ledgerhouse.analytics import ml

        first = days_before(start, ml.HISTORY_DAYS)
        # months as zero-padded text: strftime writes year 607 as "607", which sorts after "2023"
        params = [first.isoformat(), end.isoformat(), _month(first), _month(end),
                  start.isoformat()]  # fmt: skip
        return self.read(ml.FEATURES_SQL, params, as_of)


def _month(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"
