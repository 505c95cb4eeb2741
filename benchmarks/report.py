"""FinBench results as JSON, a Markdown table a person can read, and a chart of the ratios."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PATH_LABELS = {
    "service": "service (HTTP, cache off)",
    "service_cached": "service (HTTP, cache on)",
    "library": "library (in process)",
    "library_raw": "library, rollups off",
    "duckdb": "raw DuckDB",
    "polars": "Polars",
    "pandas": "pandas",
}


def write_reports(results: dict[str, Any], out: Path) -> None:
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    (out / "results.md").write_text(markdown(results))
    chart(results, out / "ratios.png")


def markdown(r: dict[str, Any]) -> str:
    fb, m, s = r["finbench"], r["machine"], r["summary"]
    paths = list(dict.fromkeys(p for q in r["queries"] for p in q["paths"]))
    lines = [
        f"# FinBench results — scale {fb['scale']:g}",
        "",
        f"{r['started_at']} · {m.get('cpu', '?')} · {m['cores']} cores · "
        f"{m.get('memory_gib', '?')} GiB · {m['platform']} · Python {m['python']}",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in r["versions"].items()),
        "",
        f"Seed {fb['seed']}, {fb['days']} business days, {fb['runs']} timed runs per query and "
        f"path (interleaved), warehouse commit {r['commit']}. Answers checked against raw "
        f"DuckDB (floats within {r['tolerance']['relative']:g} relative or "
        f"{r['tolerance']['absolute']:g} absolute): "
        + ("**all agree**." if s["all_agree"] else "**DISAGREEMENTS — see below**."),
        "",
        "## Headline",
        "",
        "| figure | value |",
        "|---|---|",
    ]
    for key, value in s.items():
        if key == "max_p99_ms":
            for p, v in value.items():
                lines.append(f"| slowest p99 on {PATH_LABELS.get(p, p)} | {v:,.1f} ms |")
        elif key == "worst_service_query":
            lines.append(
                f"| worst service/raw DuckDB ratio | {value['ratio_to_duckdb']:.2f}× "
                f"({value['id']}) |"
            )
        elif key == "rollup_speedup_median":
            lines.append(f"| rollup route vs raw route (median over rollup-served queries) | "
                         f"{value:.1f}× faster |")  # fmt: skip
        elif key == "rollup_speedup_min":
            lines.append(f"| rollup route vs raw route (least) | {value:.1f}× faster |")
        elif key == "bulk_rows_per_s":
            lines.append(f"| bulk ingestion | {value:,} rows/s |")
        elif key.startswith("median_ratio_"):
            a, b = key[len("median_ratio_") :].split("_to_")
            lines.append(
                f"| median {PATH_LABELS.get(a, a)} / {PATH_LABELS.get(b, b)} | {value:.2f}× |"
            )
    lines += ["", "## Queries (median ms · p99 ms · ratio to raw DuckDB)", ""]
    lines.append("| # | query | product call · route | rows | " + " | ".join(
        PATH_LABELS.get(p, p) for p in paths) + " |")  # fmt: skip
    lines.append("|---|---|---|---|" + "---|" * len(paths))
    for q in r["queries"]:
        route = q["paths"].get("library", q["paths"].get("service", {})).get("route", "")
        cells = []
        for p in paths:
            x = q["paths"].get(p)
            if x is None:
                cells.append("n/a")
                continue
            flag = "" if x["agrees"] else " ✗"
            ratio = f"{x['ratio_to_duckdb']:.2f}×" if x["ratio_to_duckdb"] else "—"
            cells.append(f"{x['median_ms']:,.1f} · {x['p99_ms']:,.1f} · {ratio}{flag}")
        rows = next(iter(q["paths"].values()))["rows"]
        lines.append(
            f"| {q['finbench']} | {q['title']} | {q['product_call']} · `{route}` | {rows:,} | "
            + " | ".join(cells)
            + " |"
        )
    bad = [
        f"- {q['id']} on {p}: {x['disagreement']}"
        for q in r["queries"]
        for p, x in q["paths"].items()
        if not x["agrees"]
    ]
    if bad:
        lines += ["", "## Disagreements", "", *bad]
    ing = r.get("ingestion")
    if ing:
        lines += ["", "## Ingestion (through the product)", "", "| dataset | rows | s | rows/s |"]
        lines.append("|---|---|---|---|")
        for name, d in ing["datasets"].items():
            lines.append(f"| {name} | {d['rows']:,} | {d['seconds']:.2f} | {d['rows_per_s']:,} |")
        for label in ("amendments_recent", "amendments_scattered"):
            if label in ing:
                a = ing[label]
                lines.append(
                    f"| {label.replace('_', ' ')} ({a['months_touched']} months) | "
                    f"{a['rows']:,} | {a['seconds']:.2f} | merge |"
                )
        lines.append(f"\nPeak memory of the ingestion process: {ing.get('peak_rss_gib')} GiB.")
    if r["not_measured"]:
        lines += ["", "## Not measured yet", ""]
        lines += [f"- FinBench {n['finbench']}: {n['reason']}" for n in r["not_measured"]]
    return "\n".join(lines) + "\n"


def chart(r: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    queries = r["queries"]
    paths = [p for p in dict.fromkeys(p for q in queries for p in q["paths"]) if p != "duckdb"]
    fig, ax = plt.subplots(figsize=(10, 0.6 + 0.55 * len(queries) * max(1, len(paths)) / 2))
    height = 0.8 / max(1, len(paths))
    for i, p in enumerate(paths):
        ys = [j + i * height for j in range(len(queries))]
        xs = [(q["paths"].get(p) or {}).get("ratio_to_duckdb") or 0 for q in queries]
        ax.barh(ys, xs, height=height, label=PATH_LABELS.get(p, p))
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_xscale("log")
    ax.set_yticks([j + 0.4 - height / 2 for j in range(len(queries))])
    ax.set_yticklabels([f"{q['finbench']}. {q['title']}" for q in queries], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("median time / raw DuckDB median (log scale; 1 = as fast as raw DuckDB)")
    ax.set_title(f"FinBench scale {r['finbench']['scale']:g}: time relative to raw DuckDB")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
