"""API schemas: request bodies, records (shared with the CLI's ``--json``), results, errors.
Separate from the domain models, which routes convert to and from.

Imported on first use (PEP 562): the CLI prints records (``records``) at start-up, and the
request bodies (``requests``) load the query and semantic layers, which it does not need then.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ledgerhouse.api.schemas.audit import AuditEntryRecord, AuditProblem, AuditVerifyReport
    from ledgerhouse.api.schemas.errors import ERRORS, ErrorBody, ErrorEnvelope, with_formats
    from ledgerhouse.api.schemas.records import (
        BatchRecord,
        Column,
        CommitRecord,
        CubeRecord,
        KeyRecord,
        KeyResponse,
        ModelRecord,
        QueryRecord,
        RotatedKeyResponse,
        TableRecord,
        dump,
    )
    from ledgerhouse.api.schemas.requests import (
        AnalyticsRequest,
        AnomaliesRequest,
        AttributionRequest,
        CorrelationRequest,
        CubeRequest,
        Drill,
        ExposuresRequest,
        KeyRequest,
        PnlRequest,
        ReconcileRequest,
        ReturnsRequest,
        SqlRequest,
        TradingRequest,
    )
    from ledgerhouse.api.schemas.results import (
        AttributionResponse,
        CubeResponse,
        FrameResponse,
        PerformanceResponse,
        PnlResponse,
        ReconcileResponse,
        ReturnsResponse,
        SqlResponse,
        Status,
        cube_answer,
        sql_answer,
    )

#: Where each public name lives.
_SOURCE = {
    "AuditEntryRecord": "audit",
    "AuditProblem": "audit",
    "AuditVerifyReport": "audit",
    "ERRORS": "errors",
    "ErrorBody": "errors",
    "ErrorEnvelope": "errors",
    "with_formats": "errors",
    "BatchRecord": "records",
    "Column": "records",
    "CommitRecord": "records",
    "CubeRecord": "records",
    "KeyRecord": "records",
    "KeyResponse": "records",
    "ModelRecord": "records",
    "QueryRecord": "records",
    "RotatedKeyResponse": "records",
    "TableRecord": "records",
    "dump": "records",
    "AnalyticsRequest": "requests",
    "AnomaliesRequest": "requests",
    "AttributionRequest": "requests",
    "CorrelationRequest": "requests",
    "CubeRequest": "requests",
    "Drill": "requests",
    "ExposuresRequest": "requests",
    "KeyRequest": "requests",
    "PnlRequest": "requests",
    "ReconcileRequest": "requests",
    "ReturnsRequest": "requests",
    "SqlRequest": "requests",
    "TradingRequest": "requests",
    "AttributionResponse": "results",
    "CubeResponse": "results",
    "FrameResponse": "results",
    "PerformanceResponse": "results",
    "PnlResponse": "results",
    "ReconcileResponse": "results",
    "ReturnsResponse": "results",
    "SqlResponse": "results",
    "Status": "results",
    "cube_answer": "results",
    "sql_answer": "results",
}


def __getattr__(name: str) -> Any:
    if name in _SOURCE:
        return getattr(importlib.import_module(f"{__name__}.{_SOURCE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ERRORS",
    "AnalyticsRequest",
    "AnomaliesRequest",
    "AttributionRequest",
    "AttributionResponse",
    "AuditEntryRecord",
    "AuditProblem",
    "AuditVerifyReport",
    "BatchRecord",
    "Column",
    "CommitRecord",
    "CorrelationRequest",
    "CubeRecord",
    "CubeRequest",
    "CubeResponse",
    "Drill",
    "ErrorBody",
    "ErrorEnvelope",
    "ExposuresRequest",
    "FrameResponse",
    "KeyRecord",
    "KeyRequest",
    "KeyResponse",
    "ModelRecord",
    "PerformanceResponse",
    "PnlRequest",
    "PnlResponse",
    "QueryRecord",
    "ReconcileRequest",
    "ReconcileResponse",
    "ReturnsRequest",
    "ReturnsResponse",
    "RotatedKeyResponse",
    "SqlRequest",
    "SqlResponse",
    "Status",
    "TableRecord",
    "TradingRequest",
    "cube_answer",
    "dump",
    "sql_answer",
    "with_formats",
]
