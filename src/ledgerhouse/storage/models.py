"""Machine-learning models in the metadata store: what each was trained and scored on."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from ledgerhouse.storage.rows import ModelRow, _now


class ModelStore:
    def __init__(self, engine: Engine, sessions: sessionmaker[Session]) -> None:
        self._engine = engine
        self._sessions = sessions

    def record_model(
        self,
        tenant: str,
        model_id: str,
        name: str,
        training_commit: int,
        scoring_commit: int | None,
        info: dict[str, Any],
    ) -> dict[str, Any]:
        with self._sessions.begin() as s:
            row = ModelRow(
                id=model_id,
                tenant_id=tenant,
                name=name,
                created_at=_now(),
                training_commit=training_commit,
                scoring_commit=scoring_commit,
                info=info,
            )
            s.add(row)
            return _model_dict(row)

    def models(self, tenant: str, limit: int = 100) -> list[dict[str, Any]]:
        """The tenant's models, newest first."""
        q = (
            select(ModelRow)
            .where(ModelRow.tenant_id == tenant)
            .order_by(ModelRow.created_at.desc())
            .limit(limit)
        )
        with self._sessions.begin() as s:
            return [_model_dict(r) for r in s.scalars(q)]


def _model_dict(row: ModelRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "created_at": row.created_at,
        "training_commit": row.training_commit,
        "scoring_commit": row.scoring_commit,
        **row.info,
    }
