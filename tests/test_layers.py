"""The layers of ARCHITECTURE.md: imports go downward only, and domain packages do not import
each other (the composition root wires them)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).parents[1] / "src" / "ledgerhouse"
DOMAINS = {"ingest", "query", "semantic", "analytics", "governance", "tenancy"}
ADAPTERS = {"api", "cli", "client"}
LOWER = {"model", "storage", "errors", "config"}


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m.split(".")[1] for m in out if m.startswith("ledgerhouse.") and m.count(".") >= 1}


def test_domain_packages_do_not_import_each_other_or_upward() -> None:
    problems = []
    for domain in DOMAINS:
        for path in (SRC / domain).rglob("*.py") if (SRC / domain).is_dir() else []:
            bad = _imports(path) - LOWER - {domain}
            if bad:
                problems.append(f"{path.relative_to(SRC)} imports {sorted(bad)}")
    for lower in ("model", "storage"):
        for path in (SRC / lower).rglob("*.py"):
            bad = _imports(path) & (DOMAINS | ADAPTERS | {"services"})
            if bad:
                problems.append(f"{path.relative_to(SRC)} imports {sorted(bad)}")
    assert not problems, problems
