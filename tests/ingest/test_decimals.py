"""Reading exact decimals (ingest/decimals.py): a value is stored as sent or refused with the
reason, never rounded; checked against Python's own ``Decimal`` reading of the same text."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledgerhouse.ingest.decimals import DecimalType, to_decimal

MONEY = DecimalType(24, 6)


def _reference(text: str, target: DecimalType) -> Decimal | None:
    """What the text means, if it fits: Python's Decimal of the text (no rounding)."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return None
    if not value.is_finite() or not text.strip().isascii() or "_" in text:
        return None
    places = 0 if value == 0 else max(0, -int(value.normalize().as_tuple().exponent))
    if places > target.scale or abs(value) >= Decimal(10) ** (target.precision - target.scale):
        return None
    return value


@pytest.mark.parametrize(
    ("text", "value", "reason"),
    [
        ("1.5", Decimal("1.5"), None),
        ("  2.250000 ", Decimal("2.25"), None),
        ("1000000e-12", Decimal("0.000001"), None),
        ("+.5", Decimal("0.5"), None),
        ("1E3", Decimal(1000), None),
        ("0E-10", Decimal(0), None),  # zero has no decimal places, whatever its exponent
        ("-0.000e-20", Decimal(0), None),
        ("123456789012345678.5", Decimal("123456789012345678.5"), None),
        ("1.1234567", None, "'1.1234567' has 7 decimal places; decimal(24,6) holds at most 6"),
        ("1e-7", None, "'1e-7' has 7 decimal places"),
        ("1234567890123456789", None, "does not fit decimal(24,6): at most 18 integer digits"),
        ("abc", None, "cannot read 'abc' as decimal(24,6)"),
        ("1.2.3", None, "cannot read '1.2.3'"),
        ("١٢", None, "cannot read '١٢'"),  # Arabic-Indic digits are not ASCII digits
        ("NaN", None, "cannot read 'NaN'"),
    ],
)
def test_text_is_read_exactly_or_refused_with_the_reason(
    text: str, value: Decimal | None, reason: str | None
) -> None:
    typed, why = to_decimal(pl.Series([text]), MONEY)
    assert typed.to_list() == [value]
    if reason is None:
        assert why.to_list() == [None]
    else:
        assert reason in (why[0] or "")


def test_nulls_and_empty_text_are_null_without_a_reason() -> None:
    typed, why = to_decimal(pl.Series(["", None, "   "]), MONEY)
    assert typed.to_list() == [None, None, None] and why.to_list() == [None, None, None]


@given(st.lists(st.from_regex(r"\A[+-]?[0-9]{0,20}(\.[0-9]{0,9})?([eE][+-]?[0-9]{1,2})?\Z")))
def test_any_number_text_agrees_with_pythons_decimal(texts: list[str]) -> None:
    typed, why = to_decimal(pl.Series(texts, dtype=pl.String), MONEY)
    for text, got, reason in zip(texts, typed.to_list(), why.to_list(), strict=True):
        want = _reference(text, MONEY) if text.strip() else None
        assert got == want, (text, got, reason)
        assert (reason is None) == (want is not None or not text.strip()), (text, reason)


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True) | st.none(), max_size=50))
def test_a_float_is_its_shortest_decimal_text(values: list[float | None]) -> None:
    typed, why = to_decimal(pl.Series(values, dtype=pl.Float64), MONEY)
    for value, got, reason in zip(values, typed.to_list(), why.to_list(), strict=True):
        want = None if value is None else _reference(repr(value), MONEY)
        assert got == want, (value, got, reason)
        assert (reason is None) == (value is None or want is not None)


def test_integer_and_decimal_columns_are_taken_as_they_are() -> None:
    ints, why = to_decimal(pl.Series([1, -2, 10**18]), MONEY)
    assert ints.to_list()[:2] == [Decimal(1), Decimal(-2)] and ints[2] is None
    assert "does not fit" in (why[2] or "")
    wide = pl.Series([Decimal("1.12345678"), Decimal("2.5")], dtype=pl.Decimal(38, 8))
    typed, why = to_decimal(wide, MONEY)
    assert typed.to_list() == [None, Decimal("2.5")]
    assert "8 decimal places" in (why[0] or "")


def test_rates_keep_their_digits_above_the_money_fast_path() -> None:
    """A float read at 12 places: above 2^52 / 10^12 (about 4503) a double cannot tell two
    12-place decimals apart, so those go through their shortest text."""
    values = [8192.7, 4503.1, 123456.000001, 0.000123456789]
    typed, why = to_decimal(pl.Series(values), DecimalType(24, 12))
    assert typed.to_list() == [Decimal(repr(v)) for v in values]
    assert why.to_list() == [None] * len(values)
