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
        f"DuckDB: {_checked(r['tolerance'])}: "
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
            if x["median_ms"] is None:  # the path failed: no timing
                cells.append("failed ✗")
                continue
            ratio = f"{x['ratio_to_duckdb']:.2f}×" if x["ratio_to_duckdb"] else "—"
            cells.append(f"{x['median_ms']:,.1f} · {x['p99_ms']:,.1f} · {ratio}{flag}")
        rows = q["paths"].get("duckdb", next(iter(q["paths"].values())))["rows"]
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


def _checked(tol: dict[str, Any]) -> str:
    floats = f"{tol['relative']:g} relative or {tol['absolute']:g} absolute"
    if tol.get("decimals") == "exact":
        return (
            "keys, integers, dates and decimal columns (money, quantities, prices) **exactly**, "
            f"with no tolerance; float columns (ratios, statistics) within {floats}"
        )
    return f"floats within {floats}"  # a results.json of before exact money


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


# -- before / after ----------------------------------------------------------------------------
def compare(before: dict[str, Any], after: dict[str, Any]) -> str:
    """Markdown comparing two FinBench results.json (before and after a change): ingestion
    rows/s per dataset and the amendment merges, each query's median per path, and the
    service/raw DuckDB ratio per query. A change is after / before - 1; for times, negative is
    faster."""
    fb, fa = before["finbench"], after["finbench"]
    lines = [
        f"# FinBench before / after — scale {fa['scale']:g}",
        "",
        "| | before | after |",
        "|---|---|---|",
        f"| started | {before['started_at']} | {after['started_at']} |",
        f"| scale · runs per query and path | {fb['scale']:g} · {fb['runs']} | "
        f"{fa['scale']:g} · {fa['runs']} |",
        f"| ledgerhouse | {before['versions'].get('ledgerhouse', '?')} | "
        f"{after['versions'].get('ledgerhouse', '?')} |",
        f"| answers checked | {_checked(before['tolerance'])} | {_checked(after['tolerance'])} |",
        f"| all agree | {_yes(before['summary']['all_agree'])} | "
        f"{_yes(after['summary']['all_agree'])} |",
    ]
    if (fb["scale"], fb["seed"], fb["days"]) != (fa["scale"], fa["seed"], fa["days"]):
        lines += ["", "**Not the same data**: scale, seed or days differ; compare with care."]
    lines += _compare_ingestion(before.get("ingestion"), after.get("ingestion"))
    qb = {q["id"]: q for q in before["queries"]}
    qa = {q["id"]: q for q in after["queries"]}
    ids = [*qa, *(i for i in qb if i not in qa)]
    paths = list(dict.fromkeys(p for q in [*qb.values(), *qa.values()] for p in q["paths"]))
    lines += [
        "",
        "## Median per query and path (ms: before → after, change)",
        "",
        "✗ marks an answer that disagreed with raw DuckDB in that run.",
        "",
        "| # | query | " + " | ".join(PATH_LABELS.get(p, p) for p in paths) + " |",
        "|---|---|" + "---|" * len(paths),
    ]
    for i in ids:
        q = qa.get(i) or qb[i]
        b, a = qb.get(i, {"paths": {}})["paths"], qa.get(i, {"paths": {}})["paths"]
        cells = [_change(b.get(p), a.get(p), "median_ms", "{:,.1f}") for p in paths]
        lines.append(f"| {q['finbench']} | {q['title']} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Service (HTTP, cache off) / raw DuckDB, per query",
        "",
        "| # | query | route before | route after | before | after |",
        "|---|---|---|---|---|---|",
    ]
    for i in ids:
        q = qa.get(i) or qb[i]
        b = qb.get(i, {"paths": {}})["paths"].get("service") or {}
        a = qa.get(i, {"paths": {}})["paths"].get("service") or {}
        lines.append(
            f"| {q['finbench']} | {q['title']} | `{_route(qb.get(i))}` | `{_route(qa.get(i))}` | "
            f"{_ratio(b)} | {_ratio(a)} |"
        )
    sb, sa = before["summary"], after["summary"]
    keys = [k for k in dict.fromkeys([*sb, *sa]) if k.startswith("median_ratio_")]
    keys += [k for k in ("rollup_speedup_median", "rollup_speedup_min") if k in sb or k in sa]
    lines += ["", "## Summary ratios", "", "| figure | before | after |", "|---|---|---|"]
    for k in keys:
        label = k
        if k.startswith("median_ratio_"):
            x, y = k[len("median_ratio_") :].split("_to_")
            label = f"median {PATH_LABELS.get(x, x)} / {PATH_LABELS.get(y, y)}"
        lines.append(f"| {label.replace('_', ' ')} | {_num(sb.get(k))}× | {_num(sa.get(k))}× |")
    worst_b, worst_a = sb.get("worst_service_query"), sa.get("worst_service_query")
    if worst_b or worst_a:
        lines.append(f"| worst service / raw DuckDB | {_worst(worst_b)} | {_worst(worst_a)} |")
    return "\n".join(lines) + "\n"


def _compare_ingestion(b: dict[str, Any] | None, a: dict[str, Any] | None) -> list[str]:
    if not b and not a:
        return []
    b, a = b or {}, a or {}
    db, da = b.get("datasets", {}), a.get("datasets", {})
    lines = [
        "",
        "## Ingestion (rows/s: before → after, change; positive is faster)",
        "",
        "| dataset | rows | before | after | change |",
        "|---|---|---|---|---|",
    ]
    for name in dict.fromkeys([*db, *da]):
        x, y = db.get(name, {}), da.get(name, {})
        rows = y.get("rows", x.get("rows", 0))
        lines.append(
            f"| {name} | {rows:,} | {_num(x.get('rows_per_s'), '{:,}')} | "
            f"{_num(y.get('rows_per_s'), '{:,}')} | "
            f"{_pct(x.get('rows_per_s'), y.get('rows_per_s'))} |"
        )
    bulk_b = b.get("bulk_rows_per_s") or _bulk(db)
    bulk_a = a.get("bulk_rows_per_s") or _bulk(da)
    lines.append(
        f"| **all datasets (bulk)** | {sum(d.get('rows', 0) for d in da.values()):,} | "
        f"{_num(bulk_b, '{:,}')} | {_num(bulk_a, '{:,}')} | {_pct(bulk_b, bulk_a)} |"
    )
    lines += ["", "| merge | rows | before (s) | after (s) | change |", "|---|---|---|---|---|"]
    for label in ("amendments_recent", "amendments_scattered"):
        x, y = b.get(label, {}), a.get(label, {})
        if x or y:
            lines.append(
                f"| {label.replace('_', ' ')} | {y.get('rows', x.get('rows', 0)):,} | "
                f"{_num(x.get('seconds'), '{:.2f}')} | {_num(y.get('seconds'), '{:.2f}')} | "
                f"{_pct(x.get('seconds'), y.get('seconds'))} |"
            )
    lines.append(
        f"| peak memory of the ingestion (GiB) | | {_num(b.get('peak_rss_gib'))} | "
        f"{_num(a.get('peak_rss_gib'))} | {_pct(b.get('peak_rss_gib'), a.get('peak_rss_gib'))} |"
    )
    return lines


def _bulk(datasets: dict[str, Any]) -> int | None:
    secs = sum(d.get("seconds", 0) for d in datasets.values())
    return round(sum(d.get("rows", 0) for d in datasets.values()) / secs) if secs else None


def _change(b: dict[str, Any] | None, a: dict[str, Any] | None, key: str, fmt: str) -> str:
    if not b and not a:
        return "n/a"
    x, y = (b or {}).get(key), (a or {}).get(key)
    flag_b = " ✗" if b and not b.get("agrees", True) else ""
    flag_a = " ✗" if a and not a.get("agrees", True) else ""
    return f"{_num(x, fmt)}{flag_b} → {_num(y, fmt)}{flag_a} ({_pct(x, y)})"


def _route(q: dict[str, Any] | None) -> str:
    if not q:
        return "—"
    p = q["paths"]
    return str(p.get("library", p.get("service", {})).get("route", ""))


def _ratio(m: dict[str, Any]) -> str:
    r = m.get("ratio_to_duckdb")
    return "—" if r is None else f"{r:.2f}×" + ("" if m.get("agrees", True) else " ✗")


def _worst(w: dict[str, Any] | None) -> str:
    return "—" if not w else f"{w['ratio_to_duckdb']:.2f}× ({w['id']})"


def _num(v: Any, fmt: str = "{:.2f}") -> str:
    return "—" if v is None else fmt.format(v)


def _pct(b: Any, a: Any) -> str:
    if not b or a is None:
        return "—"
    return f"{(a / b - 1) * 100:+.0f}%"


def _yes(v: bool) -> str:
    return "yes" if v else "**no**"


def main(argv: list[str] | None = None) -> None:
    """``python -m benchmarks.report --compare BEFORE.json AFTER.json [--out FILE]``; or
    ``python -m benchmarks.report RESULTS.json`` to rewrite results.md and ratios.png beside
    it."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__)
    ap.add_argument("results", nargs="?", type=Path, help="a results.json to report again")
    ap.add_argument(
        "--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"), help="two results.json"
    )
    ap.add_argument("--out", type=Path, help="write the Markdown there (else to stdout)")
    a = ap.parse_args(argv)
    if a.compare:
        before, after = (json.loads(f.read_text()) for f in a.compare)
        text = compare(before, after)
        if a.out:
            a.out.write_text(text)
        else:
            print(text, end="")
    elif a.results:
        results = json.loads(a.results.read_text())
        (a.results.parent / "results.md").write_text(markdown(results))
        chart(results, a.results.parent / "ratios.png")
    else:
        ap.error("give a results.json, or --compare BEFORE.json AFTER.json")


if __name__ == "__main__":
    main()
