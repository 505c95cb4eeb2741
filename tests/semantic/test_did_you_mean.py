"""A misspelt name is never an empty answer: unknown cube members (a drill into
`Northwind Capitol`), dimensions, measures, relations and columns are refused with the closest
names ("did you mean ...")."""

from __future__ import annotations

import pytest

from ledgerhouse.errors import InvalidRequest, LedgerhouseError, NotFound
from ledgerhouse.session import Session


def _firm(loaded: Session) -> str:
    firm: str = loaded.query("SELECT min(firm) FROM dim_portfolio").rows()[0][0]
    return firm


def test_drilling_into_an_unknown_member_names_the_closest(loaded: Session) -> None:
    firm = _firm(loaded)
    by_firm = {"measures": ["trades"], "hierarchies": {"portfolio": "firm"}}
    ok = loaded.cube_drill("trades", by_firm, "portfolio", value=firm)
    assert loaded.cube("trades", ok).rows()  # the real member answers
    typo = firm[:-1] + ("x" if firm[-1] != "x" else "y")
    with pytest.raises(NotFound) as caught:
        loaded.cube_drill("trades", by_firm, "portfolio", value=typo)
    assert f"Did you mean {firm!r}" in caught.value.message
    assert caught.value.details["member"] == "firm"


@pytest.mark.parametrize(
    ("call", "wanted"),
    [
        (lambda s: s.cube("trades", {"measures": ["notionall"]}), "notional"),
        (lambda s: s.cube("trades", {"measures": ["trades"], "dimensions": ["dsk"]}), "desk"),
        (lambda s: s.cube("trade", {"measures": ["trades"]}), "trades"),
        (lambda s: s.query("SELECT count(*) FROM fact_trad"), "fact_trade"),
        (lambda s: s.query("SELECT notional_bse FROM fact_trade"), "notional_base"),
    ],
)
def test_unknown_names_get_did_you_mean(loaded: Session, call, wanted: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(LedgerhouseError) as caught:
        call(loaded)
    assert isinstance(caught.value, InvalidRequest | NotFound) or caught.value.status == 400
    text = (caught.value.message + " " + caught.value.hint).lower()
    assert f"did you mean {wanted!r}" in text, text
