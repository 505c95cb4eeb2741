"""`ledgerhouse analytics anomalies` takes ``--timeout`` (seconds) for its reads, reports its
stages while it runs, and a timeout's hint names the option of the surface that ran it
(``--timeout`` on the CLI, ``timeout_s`` in the API body)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from typer.testing import CliRunner

from ledgerhouse.cli import analytics as cli_analytics
from ledgerhouse.cli.main import app
from ledgerhouse.query.service import QueryService
from ledgerhouse.session import Session
from ledgerhouse.storage.engines.base import interrupted

runner = CliRunner()
WINDOWS = ["--train-start", "2024-01-01", "--train-end", "2024-02-15",
           "--score-start", "2024-02-16", "--score-end", "2024-03-31"]  # fmt: skip


@pytest.fixture
def timed_out_reads(monkeypatch: pytest.MonkeyPatch) -> list[float | None]:
    """Every analytics read times out at once (nothing is written); the limits it was given."""
    given: list[float | None] = []

    def sql(self: QueryService, principal: Any, text: str, **kw: Any) -> Any:
        given.append(kw.get("timeout_s"))
        raise interrupted(kw.get("timeout_s") or 1.0, 10.0)

    monkeypatch.setattr(QueryService, "sql", sql)
    return given


def _anomalies(loaded: Session, *args: str) -> Any:
    root = str(loaded.warehouse.root)
    return runner.invoke(app, ["analytics", "anomalies", "--root", root, *WINDOWS, *args])


def test_timeout_option_reaches_the_reads(loaded: Session, timed_out_reads: list) -> None:
    r = _anomalies(loaded, "--timeout", "300")
    assert r.exit_code == 1 or r.exit_code == 2, r.output
    assert timed_out_reads == [300.0]


def test_timeout_hint_names_the_cli_option(loaded: Session, timed_out_reads: list) -> None:
    r = _anomalies(loaded)
    assert "query_timeout" in r.stderr
    assert "--timeout" in r.stderr and "timeout_s" not in r.stderr, r.stderr


def test_stages_are_reported(
    loaded: Session, timed_out_reads: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    stages: list[str] = []

    @contextmanager
    def recorder(out: Any, label: str) -> Iterator[Callable[[str], None]]:
        yield stages.append

    monkeypatch.setattr(cli_analytics, "progress", recorder)
    _anomalies(loaded)
    assert stages and "training" in stages[0], stages
