"""Data-quality monitoring (docs/governance/quality.md): checks declared per table in YAML
(built-in, beside the cubes, or a tenant's own), run as DuckDB SQL over the rows each commit
changed, inside the commit; ``error`` checks keep a commit from being published.

Kinds are a registry (``KindRegistry``, ``kinds.py``): the built-in ones register the way a
third party's would (``builtin.register``).
"""

from __future__ import annotations

from ledgerhouse.governance.quality.alerts import WebhookAlerts
from ledgerhouse.governance.quality.kinds import DEFAULT_KINDS, CheckKind, KindRegistry
from ledgerhouse.governance.quality.models import CheckResult, CheckSpec, Outcome
from ledgerhouse.governance.quality.monitor import CheckCatalog, QualityMonitor
from ledgerhouse.governance.quality.runner import PinnedSession, PinnedSql, RunContext
from ledgerhouse.governance.quality.scores import score, scores, trend
from ledgerhouse.governance.quality.service import QualityService

__all__ = [
    "DEFAULT_KINDS",
    "CheckCatalog",
    "CheckKind",
    "CheckResult",
    "CheckSpec",
    "KindRegistry",
    "Outcome",
    "PinnedSession",
    "PinnedSql",
    "QualityMonitor",
    "QualityService",
    "RunContext",
    "WebhookAlerts",
    "score",
    "scores",
    "trend",
]
