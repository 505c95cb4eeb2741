"""All CLI printing goes through Output: text for people, JSON for programs. A record (a
commit, a batch, a table, a key, a logged query, a model, a cube) is printed in JSON as the API
sends it: the same schema (api/schemas/records.py)."""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from ledgerhouse.api.schemas.records import dump
from ledgerhouse.errors import LedgerhouseError


def _default(v: Any) -> Any:
    if isinstance(v, datetime | date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, bytes):
        return v.hex()
    return str(v)


def to_json(value: Any, indent: int | None = 2) -> str:
    """``value`` as JSON text; records (pydantic models) as the API sends them."""
    if isinstance(value, BaseModel) or (
        isinstance(value, list) and value and isinstance(value[0], BaseModel)
    ):
        value = dump(value)
    return json.dumps(value, default=_default, indent=indent)


class Output:
    def __init__(self, as_json: bool = False) -> None:
        self.as_json = as_json
        self.console = Console(highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)

    def json(self, value: Any) -> None:
        sys.stdout.write(to_json(value) + "\n")

    def data(self, value: Any, text: str | None = None) -> None:
        if self.as_json or text is None:
            self.json(value)
        else:
            self.console.print(text)

    def table(self, columns: list[str], rows: list[list[Any]], title: str | None = None) -> None:
        t = Table(title=title, show_lines=False)
        for c in columns:
            t.add_column(c)
        for r in rows:
            t.add_row(*["" if v is None else str(v) for v in r])
        self.console.print(t)

    def info(self, text: str) -> None:
        self.err.print(text)

    def error(self, exc: LedgerhouseError) -> None:
        if self.as_json:
            sys.stderr.write(json.dumps({"error": exc.to_dict()}, default=_default) + "\n")
            return
        self.err.print(f"[bold red]error[/] ({exc.code}): {exc.message}")
        if exc.hint:
            self.err.print(f"[yellow]hint[/]: {exc.hint}")
        report = exc.details.get("report")
        if isinstance(report, dict) and report.get("quarantine_reasons"):
            self.err.print("reasons: " + json.dumps(report["quarantine_reasons"]))
