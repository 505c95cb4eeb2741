"""The statistical and time-series recipes of docs/analytics.md run through the guarded SQL
API and agree with numpy."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from ledgerhouse.session import Session

DOC = (Path(__file__).parents[2] / "docs" / "analytics.md").read_text()


def recipe(name: str) -> str:
    """The SQL block under the ``-- recipe: <name>`` comment in docs/analytics.md."""
    match = re.search(rf"-- recipe: {name}\n(.*?)```", DOC, re.S)
    assert match, f"recipe {name} missing from docs/analytics.md"
    return match.group(1)


def _returns(wh: Session, code: str) -> np.ndarray:
    rows = wh.query(
        "SELECT daily_return FROM fact_performance WHERE portfolio_code = ? "
        "ORDER BY performance_date",
        params=[code],
    ).rows()
    return np.array([r[0] for r in rows])


def test_percentiles_zscores_and_slope(loaded: Session) -> None:
    code = loaded.query("SELECT min(portfolio_code) FROM fact_performance").rows()[0][0]
    r = _returns(loaded, code)
    q = loaded.query(recipe("percentiles"), params=[code]).rows()[0]
    assert q == pytest.approx([np.quantile(r, p) for p in (0.01, 0.5, 0.99)])
    z = [row[-1] for row in loaded.query(recipe("zscore"), params=[code]).rows()]
    assert np.allclose(z, (r - r.mean()) / r.std(ddof=1))
    slope = loaded.query(recipe("slope"), params=[code]).rows()[0][0]
    assert slope == pytest.approx(np.polyfit(np.arange(len(r)), r, 1)[0], rel=1e-9)


def test_rolling_resampling_and_gap_filling(loaded: Session) -> None:
    code = loaded.query("SELECT min(portfolio_code) FROM fact_performance").rows()[0][0]
    r = _returns(loaded, code)
    rolling = [row[-1] for row in loaded.query(recipe("rolling"), params=[code]).rows()]
    expected = [np.std(r[max(0, i - 19) : i + 1], ddof=1) if i >= 19 else None
                for i in range(len(r))]  # fmt: skip
    assert [v is None for v in rolling] == [v is None for v in expected]
    assert np.allclose([v for v in rolling if v is not None], [v for v in expected if v])
    months = loaded.query(recipe("resample"), params=[code]).rows()
    navs = loaded.query(
        "SELECT performance_date, end_nav FROM fact_performance WHERE portfolio_code = ? "
        "ORDER BY 1",
        params=[code],
    ).rows()
    last_of_month: dict[str, float] = {}
    for day, nav in navs:
        last_of_month[day.strftime("%Y-%m")] = nav
    assert {m.strftime("%Y-%m"): v for m, v in months} == last_of_month
    filled = loaded.query(recipe("gapfill"), params=[code, code]).rows()
    days = [d for d, _ in filled]
    assert all(d.weekday() < 5 for d in days) and len(days) == len(set(days))
    assert all(v is not None for _, v in filled[1:])  # every business day has a NAV
