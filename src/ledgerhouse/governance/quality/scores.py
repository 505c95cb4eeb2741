"""A quality score per table, and its trend.

The score of a relation is the severity-weighted share of its checks whose newest verdict is
``pass``, over the checks that gave a verdict (``skipped`` ones do not count), 0-100::

    score = 100 * sum(w(c) * passed(c)) / sum(w(c))      w = 3 for error checks, 1 for warn

Only verdicts of published commits count (commit runs and on-demand runs): a batch a check
rejected changed nothing that is stored. A relation none of whose checks gave a verdict yet
has no score (None). The trend is the same score after each commit or at the end of each day.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

WEIGHTS = {"error": 3.0, "warn": 1.0}


def score(results: Iterable[dict[str, Any]]) -> float | None:
    """The score of one relation's newest results (one per check)."""
    total = passed = 0.0
    for r in results:
        if r["status"] == "skipped":
            continue
        w = WEIGHTS.get(r["severity"], 1.0)
        total += w
        passed += w if r["status"] == "pass" else 0.0
    return round(100.0 * passed / total, 1) if total else None


def scores(latest: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per relation: score, checks with a verdict, passing, failing, last run."""
    by_relation: dict[str, list[dict[str, Any]]] = {}
    for r in latest:
        by_relation.setdefault(r["relation"], []).append(r)
    out = []
    for relation, rows in sorted(by_relation.items()):
        judged = [r for r in rows if r["status"] != "skipped"]
        out.append(
            {
                "relation": relation,
                "score": score(rows),
                "checks": len(rows),
                "passing": sum(r["status"] == "pass" for r in judged),
                "failing": [r["check"] for r in judged if r["status"] != "pass"],
                "last_run": max(r["recorded_at"] for r in rows),
                "last_commit": max((r["commit_id"] or 0) for r in rows) or None,
            }
        )
    return out


def trend(
    results: Iterable[dict[str, Any]],
    *,
    by: str = "day",
    relation: str | None = None,
    since: str | None = None,
) -> list[dict[str, Any]]:
    """The score of each relation after each commit (``by="commit"``) or at the end of each
    day (``by="day"``), from published results oldest first; points before ``since`` (an ISO
    time or date) are used to start from but not returned."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    points: dict[tuple[str, Any], dict[str, Any]] = {}
    for r in results:
        if r["commit_id"] is None or (relation and r["relation"] != relation):
            continue
        latest[(r["relation"], r["check"])] = r
        key = r["recorded_at"][:10] if by == "day" else r["commit_id"]
        rows = [v for (rel, _), v in latest.items() if rel == r["relation"]]
        points[(r["relation"], key)] = {
            "relation": r["relation"],
            "score": score(rows),
            "commit_id": r["commit_id"],
            "day": key if by == "day" else None,
            "recorded_at": r["recorded_at"],
        }
        if since and r["recorded_at"] < since:
            points.pop((r["relation"], key))
    return sorted(points.values(), key=lambda p: (p["relation"], p["recorded_at"]))
