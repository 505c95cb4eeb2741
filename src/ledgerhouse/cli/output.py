"""All CLI printing goes through Output: text for people, JSON for programs. A record (a
commit, a batch, a table, a key, a logged query, a model, a cube) is printed in JSON as the API
sends it: the same schema (api/schemas/records.py)."""

from __future__ import annotations

import json
import os
import re
import sys
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from ledgerhouse.api.schemas.records import dump
from ledgerhouse.errors import LedgerhouseError
from ledgerhouse.jsonio import dumps


def _default(v: Any) -> Any:
    if isinstance(v, datetime | date):
        return v.isoformat()
    if isinstance(v, bytes):
        return v.hex()
    return str(v)


def to_json(value: Any, indent: int | None = 2) -> str:
    """``value`` as JSON text; records (pydantic models) as the API sends them."""
    if isinstance(value, BaseModel) or (
        isinstance(value, list) and value and isinstance(value[0], BaseModel)
    ):
        value = dump(value)
    return dumps(value, default=_default, indent=indent)


#: the width tables are laid out in when the output is not a terminal (``COLUMNS`` wins)
PIPED_WIDTH = 160


class Output:
    def __init__(self, as_json: bool = False) -> None:
        self.as_json = as_json
        # a pipe or a file has no width: rich's default of 80 columns squeezed the short
        # columns of a wide table (user, action) to nothing; a terminal keeps its own width
        columns = os.environ.get("COLUMNS", "")
        piped = None if sys.stdout.isatty() else int(columns) if columns.isdigit() else PIPED_WIDTH
        self.console = Console(highlight=False, soft_wrap=True, width=piped)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)

    def json(self, value: Any) -> None:
        sys.stdout.write(to_json(value) + "\n")

    def data(self, value: Any, text: str | None = None) -> None:
        if self.as_json or text is None:
            self.json(value)
        else:
            self.console.print(text)

    def table(
        self,
        columns: list[str],
        rows: list[list[Any]],
        title: str | None = None,
        *,
        whole: tuple[str, ...] = (),
    ) -> None:
        """Print rows as a table; the ``whole`` columns (ids, times a user pastes back) are
        never cut or wrapped, the others shrink to fit the terminal."""
        cells = [["" if v is None else str(v) for v in r] for r in rows]
        t = Table(title=title, show_lines=False)
        for i, c in enumerate(columns):
            if c in whole:
                width = max([len(c), *(len(r[i]) for r in cells)])
                t.add_column(c, no_wrap=True, min_width=width)
            else:
                t.add_column(c)
        for r in cells:
            t.add_row(*r)
        self.console.print(t)

    def fields(self, record: dict[str, Any]) -> None:
        """One record as ``name: value`` lines; a multi-line text value (a plan) as its lines."""
        for name, value in record.items():
            if isinstance(value, str) and "\n" in value:
                self.console.print(f"{name}:", markup=False)
                self.console.print(value, markup=False, highlight=False, soft_wrap=True)
            elif isinstance(value, dict | list):
                self.console.print(f"{name}: {to_json(value)}", markup=False, soft_wrap=True)
            else:
                shown = "" if value is None else value
                self.console.print(f"{name}: {shown}", markup=False, soft_wrap=True)

    def info(self, text: str) -> None:
        self.err.print(text)

    def error(self, exc: LedgerhouseError) -> None:
        if self.as_json:
            sys.stderr.write(json.dumps({"error": exc.to_dict()}, default=_default) + "\n")
            return
        self.err.print(f"[bold red]error[/] ({exc.code}): ", end="")
        self.err.print(exc.message, markup=False)
        report = exc.details.get("report")
        if isinstance(report, dict) and report.get("quarantine_reasons"):
            for line in refused_rows(report):
                self.err.print(line, markup=False)
            self.err.print("reasons: " + reason_counts(report["quarantine_reasons"]), markup=False)
        if exc.hint:
            self.err.print("[yellow]hint[/]: ", end="")
            self.err.print(exc.hint, markup=False)


def reason_counts(reasons: dict[str, int]) -> str:
    """A batch report's quarantine reasons on one line: each rule and its count."""
    return ", ".join(f"{k} ×{v:,}" for k, v in reasons.items())


def refused_rows(report: dict[str, Any]) -> list[str]:
    """The first refused rows of a batch report (its ``quarantine_sample``) as aligned lines:
    row number, column, the value sent and the rule it broke."""
    sample = report.get("quarantine_sample") or []
    if not sample:
        return []
    table = [("row", "column", "value", "rule")]
    for entry in sample:
        reason = str(entry.get("_reason") or "")
        try:
            record = json.loads(entry.get("record") or "{}")
        except ValueError:
            record = {}
        column = _column_of(reason, record)
        value = "" if column is None else record.get(column)
        rule = reason.removeprefix(f"column {column}: ") if column else reason
        table.append((str(entry.get("_row_number", "")), column or "-", _cell(value), rule))
    widths = [max(len(r[i]) for r in table) for i in range(3)]
    shown, total = len(sample), report.get("rows_quarantined", len(sample))
    lines = [f"refused rows (the first {shown} of {total:,}):"]
    for r in table:
        lines.append("  " + "".join(c.ljust(w + 2) for c, w in zip(r, widths, strict=False)) + r[3])
    return lines


def _column_of(reason: str, record: dict[str, Any]) -> str | None:
    """The column a reason names: the first of the record's columns it mentions."""
    found = [(m.start(), c) for c in record if (m := re.search(rf"\b{re.escape(c)}\b", reason))]
    return min(found)[1] if found else None


def _cell(value: Any) -> str:
    text = "null" if value is None else str(value)
    return text if len(text) <= 40 else text[:39] + "…"
