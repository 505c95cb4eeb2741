"""Which changed position days ``positions_vs_trades`` rebuilds from the trades: every day of a
daily load, a long backfill's month-ends and latest day, every day with ``days: all`` or on
demand (a position is cumulative: a trade missing before a month-end shows on it)."""

from __future__ import annotations

from datetime import date, timedelta

from ledgerhouse.governance.quality.builtin import _days_to_rebuild


def _keys(first: date, n: int) -> list[dict[str, object]]:
    days = [first + timedelta(days=i) for i in range(n)]
    return [{"position_date": d, "position_month": d.strftime("%Y-%m")} for d in days]


def test_a_daily_load_is_rebuilt_day_by_day() -> None:
    keys = _keys(date(2024, 1, 1), 31)
    assert _days_to_rebuild(keys, "auto", on_demand=False) == keys


def test_a_backfill_is_rebuilt_on_month_ends_and_its_latest_day() -> None:
    keys = _keys(date(2024, 1, 10), 70)  # 2024-01-10 .. 2024-03-19
    got = [k["position_date"] for k in _days_to_rebuild(keys, "auto", on_demand=False)]
    assert got == [date(2024, 1, 31), date(2024, 2, 29), date(2024, 3, 19)]


def test_all_days_when_asked_or_on_demand() -> None:
    keys = _keys(date(2024, 1, 10), 70)
    assert _days_to_rebuild(keys, "all", on_demand=False) == keys
    assert _days_to_rebuild(keys, "auto", on_demand=True) == keys
