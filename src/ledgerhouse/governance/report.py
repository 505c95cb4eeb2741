"""The governance report: what a compliance team asks of a period, in one document.

For a tenant and a period (``start``..``end``, whole UTC days): quality scores and their trend
per table, the checks that failed, the batches and their quarantine volume by reason,
freshness against each table's declared expectation (its ``freshness`` checks), lineage
coverage (the share of columns whose lineage is known), who read classified columns, and the
metadata changes. As JSON (a dict), Markdown or HTML.

Every figure comes from a store that already holds it (the quality results, the ingestion
ledger, the lineage graph, the audit trail, the metadata history): the report computes
nothing a second way. The sources are callables the composition root passes in, so this
module depends on no other domain.
"""

from __future__ import annotations

import html
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from ledgerhouse.access import Principal, Resource, authorize
from ledgerhouse.errors import InvalidRequest

Rows = list[dict[str, Any]]
Period = tuple[datetime, datetime]

#: The formats the report is written in.
FORMATS = ("json", "md", "html")
#: C0 and C1 control characters, DEL and the line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


@dataclass(frozen=True)
class ReportSources:
    """Where each section's figures come from (each a function of the tenant and, where it
    is about a period, the period's start and end)."""

    #: quality results recorded in the period: relation, check, severity, status, failing,
    #: commit_id/batch_id, recorded_at
    quality_results: Callable[[str, datetime, datetime], Rows]
    #: the latest score per relation (0-100, None before any run)
    quality_scores: Callable[[str], dict[str, float | None]]
    #: score per relation and day in the period: relation, day, score
    quality_trend: Callable[[str, datetime, datetime], Rows]
    #: the ingestion ledger's batches received in the period (status, dataset, report)
    batches: Callable[[str, datetime, datetime], Rows]
    #: per relation with a declared freshness: relation, expected (text), max_age_s,
    #: last_loaded_at, age_s, fresh
    freshness: Callable[[str], Rows]
    #: the lineage graph's coverage: overall and per layer, columns with lineage / all
    lineage_coverage: Callable[[str], dict[str, Any]]
    #: classified columns: {(relation, column): [classification, ...]}
    classifications: Callable[[str], dict[tuple[str, str], list[str]]]
    #: audit entries of reads in the period: user, roles, action, columns {relation: [..]},
    #: rows, at, query_id
    accesses: Callable[[str, datetime, datetime], Rows]
    #: metadata changes in the period: at, user, object, field, before, after
    metadata_changes: Callable[[str, datetime, datetime], Rows]


class GovernanceReports:
    def __init__(self, sources: ReportSources, clock: Callable[[], datetime] | None = None):
        self.sources = sources
        self.clock = clock or (lambda: datetime.now(UTC))

    def report(self, principal: Principal, start: date, end: date) -> dict[str, Any]:
        """The report of ``principal``'s tenant for the days ``start`` to ``end`` (inclusive).
        It says who read what: auditors and admins only (``read_audit``)."""
        authorize(principal, "read_audit", Resource(principal.tenant, "governance_report"))
        if end < start:
            raise InvalidRequest(
                f"the period ends ({end}) before it starts ({start})",
                hint="Give --from on or before --to (dates as YYYY-MM-DD).",
            )
        if end >= date.max:
            raise InvalidRequest(
                f"the period ends on {end}, the last day of the calendar",
                hint="End the period on a real day (--to YYYY-MM-DD, before 9999-12-31).",
            )
        tenant = principal.tenant
        since = datetime.combine(start, time(), UTC)
        until = datetime.combine(end + timedelta(days=1), time(), UTC)
        src = self.sources
        return {
            "tenant": tenant,
            "period": {"from": start.isoformat(), "to": end.isoformat()},
            "generated_at": self.clock().isoformat(timespec="seconds"),
            "generated_by": principal.user,
            "quality": _quality(
                src.quality_scores(tenant),
                src.quality_trend(tenant, since, until),
                src.quality_results(tenant, since, until),
            ),
            "ingestion": _ingestion(src.batches(tenant, since, until)),
            "freshness": src.freshness(tenant),
            "lineage_coverage": src.lineage_coverage(tenant),
            "classified_access": _classified_access(
                src.classifications(tenant), src.accesses(tenant, since, until)
            ),
            "metadata_changes": src.metadata_changes(tenant, since, until),
        }


def _quality(scores: dict[str, float | None], trend: Rows, results: Rows) -> dict[str, Any]:
    by_relation: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for point in trend:
        by_relation[point["relation"]].append({"day": point["day"], "score": point["score"]})
    failing: dict[tuple[str, str], dict[str, Any]] = {}
    runs: Counter[str] = Counter()
    for r in results:
        runs[r["relation"]] += 1
        if r["status"] in ("pass", "skipped"):
            continue
        key = (r["relation"], r["check"])
        seen = failing.setdefault(
            key,
            {
                "relation": r["relation"],
                "check": r["check"],
                "severity": r["severity"],
                "failures": 0,
                "failing_rows": 0,
                "last_failed_at": None,
                "last_status": None,
            },
        )
        seen["failures"] += 1
        seen["failing_rows"] += int(r.get("failing") or 0)
        at = str(r.get("recorded_at") or "")
        if seen["last_failed_at"] is None or at > seen["last_failed_at"]:
            seen["last_failed_at"], seen["last_status"] = at, r["status"]
    tables = [
        {
            "relation": rel,
            "score": scores.get(rel),
            "runs_in_period": runs.get(rel, 0),
            "trend": by_relation.get(rel, []),
        }
        for rel in sorted(set(scores) | set(by_relation) | set(runs))
    ]
    return {
        "tables": tables,
        "failing_checks": sorted(
            failing.values(), key=lambda f: (f["severity"] != "error", -f["failures"])
        ),
    }


def _ingestion(batches: Rows) -> dict[str, Any]:
    per_dataset: dict[str, Counter[str]] = defaultdict(Counter)
    reasons: Counter[str] = Counter()
    rows: Counter[str] = Counter()
    for b in batches:
        report = b.get("report") or {}
        dataset = b.get("dataset") or report.get("dataset") or "?"
        per_dataset[dataset][b.get("status") or report.get("status") or "?"] += 1
        rows["received"] += int(report.get("rows_received") or 0)
        rows["accepted"] += int(report.get("rows_accepted") or 0)
        rows["quarantined"] += int(report.get("rows_quarantined") or 0)
        for reason, n in (report.get("quarantine_reasons") or {}).items():
            reasons[reason] += int(n)
    return {
        "batches": sum(sum(c.values()) for c in per_dataset.values()),
        "by_dataset": {d: dict(sorted(c.items())) for d, c in sorted(per_dataset.items())},
        "rows": dict(rows),
        "quarantine_by_reason": [{"reason": r, "rows": n} for r, n in reasons.most_common()],
    }


def _classified_access(
    classified: dict[tuple[str, str], list[str]], accesses: Rows
) -> list[dict[str, Any]]:
    """Per principal and classified column read: how often, how many rows, when last."""
    seen: dict[tuple[str, str, str], dict[str, Any]] = {}
    for a in accesses:
        for relation, columns in (a.get("columns") or {}).items():
            for column in columns:
                labels = classified.get((relation, column))
                if not labels:
                    continue
                key = (a["user"], relation, column)
                entry = seen.setdefault(
                    key,
                    {
                        "user": a["user"],
                        "roles": a.get("roles") or [],
                        "relation": relation,
                        "column": column,
                        "classifications": sorted(labels),
                        "reads": 0,
                        "rows_returned": 0,
                        "last_read_at": None,
                    },
                )
                entry["reads"] += 1
                entry["rows_returned"] += int(a.get("rows") or 0)
                at = str(a.get("at") or "")
                if entry["last_read_at"] is None or at > entry["last_read_at"]:
                    entry["last_read_at"] = at
    return sorted(seen.values(), key=lambda e: (e["user"], e["relation"], e["column"]))


# -- rendering ---------------------------------------------------------------------------------
def render(report: dict[str, Any], fmt: str) -> str:
    """The report as Markdown (``md``), HTML (``html``) or JSON text (``json``)."""
    if fmt == "json":
        from ledgerhouse.jsonio import dumps

        return dumps(report, indent=2, default=str)
    if fmt not in FORMATS:
        raise InvalidRequest(
            f"unknown report format {fmt!r}", hint=f"Use one of: {', '.join(FORMATS)}."
        )
    sections = _sections(report)
    if fmt == "md":
        return _markdown(report, sections)
    return _html(report, sections)


Section = tuple[str, list[str], list[list[Any]], str]  # title, columns, rows, when empty


def _sections(r: dict[str, Any]) -> list[Section]:
    q = r["quality"]
    ing = r["ingestion"]
    cov = r["lineage_coverage"]
    trend = {
        t["relation"]: " → ".join(_num(p["score"]) for p in t["trend"][-6:]) for t in q["tables"]
    }
    return [
        (
            "Quality score per table",
            ["table", "score now", "runs in period", "trend (latest days)"],
            [
                [t["relation"], _num(t["score"]), t["runs_in_period"], trend[t["relation"]]]
                for t in q["tables"]
            ],
            "No quality checks ran.",
        ),
        (
            "Failing checks",
            ["table", "check", "severity", "failures", "failing rows", "last failed", "status"],
            [
                [
                    f["relation"],
                    f["check"],
                    f["severity"],
                    f["failures"],
                    f["failing_rows"],
                    f["last_failed_at"],
                    f["last_status"],
                ]
                for f in q["failing_checks"]
            ],
            "No check failed in the period.",
        ),
        (
            "Batches by dataset",
            ["dataset", "outcomes"],
            [
                [d, ", ".join(f"{k} {v}" for k, v in c.items())]
                for d, c in ing["by_dataset"].items()
            ],
            "No batch was received in the period.",
        ),
        (
            "Quarantine by reason",
            ["reason", "rows"],
            [[x["reason"], x["rows"]] for x in ing["quarantine_by_reason"]],
            "No row was quarantined.",
        ),
        (
            "Freshness against the declared expectation",
            ["table", "expected", "last loaded", "age", "fresh"],
            [
                [
                    f["relation"],
                    f.get("expected"),
                    f.get("last_loaded_at"),
                    _age(f.get("age_s")),
                    "yes" if f.get("fresh") else "NO",
                ]
                for f in r["freshness"]
            ],
            "No table declares a freshness expectation.",
        ),
        (
            "Lineage coverage",
            ["layer", "columns with lineage", "columns", "share"],
            [
                [layer, c["with_lineage"], c["columns"], _share(c)]
                for layer, c in sorted((cov.get("layers") or {}).items())
            ]
            + ([["all", cov["with_lineage"], cov["columns"], _share(cov)]] if cov else []),
            "No lineage graph.",
        ),
        (
            "Access to classified columns",
            ["user", "table", "column", "classification", "reads", "rows returned", "last read"],
            [
                [
                    a["user"],
                    a["relation"],
                    a["column"],
                    ", ".join(a["classifications"]),
                    a["reads"],
                    a["rows_returned"],
                    a["last_read_at"],
                ]
                for a in r["classified_access"]
            ],
            "Nobody read a classified column in the period.",
        ),
        (
            "Metadata changes",
            ["when", "who", "object", "field", "before", "after"],
            [
                [
                    m.get("at"),
                    m.get("user"),
                    m.get("object"),
                    m.get("field"),
                    _short(m.get("before")),
                    _short(m.get("after")),
                ]
                for m in r["metadata_changes"]
            ],
            "No metadata changed in the period.",
        ),
    ]


def _markdown(r: dict[str, Any], sections: list[Section]) -> str:
    m = _md_cell
    out = [
        f"# Governance report: tenant {m(r['tenant'])}",
        "",
        f"Period {m(r['period']['from'])} to {m(r['period']['to'])} (UTC days); generated "
        f"{m(r['generated_at'])} by {m(r['generated_by'])}.",
    ]
    for title, columns, rows, empty in sections:
        out += ["", f"## {title}", ""]
        if not rows:
            out.append(empty)
            continue
        out.append("| " + " | ".join(columns) + " |")
        out.append("|" + "|".join(" --- " for _ in columns) + "|")
        out += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(out) + "\n"


def _html(r: dict[str, Any], sections: list[Section]) -> str:
    e = html.escape
    out = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Governance report: {e(r['tenant'])}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2rem}table{border-collapse:"
        "collapse;margin-bottom:1.5rem}td,th{border:1px solid #ccc;padding:.25rem .5rem;"
        "text-align:left}th{background:#f4f4f4}</style></head><body>",
        f"<h1>Governance report: tenant {e(r['tenant'])}</h1>",
        f"<p>Period {e(r['period']['from'])} to {e(r['period']['to'])} (UTC days); generated "
        f"{e(r['generated_at'])} by {e(r['generated_by'])}.</p>",
    ]
    for title, columns, rows, empty in sections:
        out.append(f"<h2>{e(title)}</h2>")
        if not rows:
            out.append(f"<p>{e(empty)}</p>")
            continue
        out.append("<table><tr>" + "".join(f"<th>{e(c)}</th>" for c in columns) + "</tr>")
        out += ["<tr>" + "".join(f"<td>{e(_text(v))}</td>" for v in row) + "</tr>" for row in rows]
        out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _text(v: Any) -> str:
    """A value as one line of plain text: control characters (a carriage return, an escape
    sequence for a terminal) are spaces, whatever a steward typed into a description."""
    return _CONTROL.sub(" ", "" if v is None else str(v))


def _md_cell(v: Any) -> str:
    """A value as a Markdown table cell that renders as the text it is: no raw HTML (a
    description's ``<script>`` or ``<img onerror>``), no pipe ending the cell, one line."""
    return html.escape(_text(v), quote=False).replace("|", "\\|")


def _num(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f}"


def _share(c: dict[str, Any]) -> str:
    return f"{c['with_lineage'] / c['columns']:.1%}" if c.get("columns") else "—"


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "never loaded"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} days"


def _short(v: Any, width: int = 60) -> str:
    text = _text(v)
    return text if len(text) <= width else text[: width - 1] + "…"
