"""SCD2: for every key and day exactly one version is valid, equal to the latest record sent
effective then; a resent unchanged record changes nothing."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledgerhouse.ingest.scd2 import scd2_versions
from ledgerhouse.session import Session
from tests.conftest import copy_warehouse, examples, snapshot

DAY0 = date(2024, 1, 1)
record = st.tuples(
    st.sampled_from(["A", "B", "C"]),  # code
    st.integers(0, 30),  # effective day offset
    st.sampled_from(["Tech", "Energy", "Health"]),  # sector
)
batches = st.lists(st.lists(record, min_size=1, max_size=6), min_size=1, max_size=5)


def _expected(sent: list[tuple[int, str, int, str]], code: str, day: int) -> str | None:
    """The oracle: the latest-sent record among those with the greatest effective day <= day."""
    best: tuple[int, int] | None = None
    value = None
    for seq, c, eff, sector in sent:
        if c == code and eff <= day and (best is None or (eff, seq) > best):
            best, value = (eff, seq), sector
    return value


def _dedupe(batch: list[tuple[str, int, str]]) -> list[tuple[str, int, str]]:
    # a batch may not hold the same (code, effective_date) twice: keep the first
    seen, out = set(), []
    for r in batch:
        if (r[0], r[1]) not in seen:
            seen.add((r[0], r[1]))
            out.append(r)
    return out


def _check(versions: pl.DataFrame, sent: list[tuple[int, str, int, str]]) -> None:
    for code in "ABC":
        for day in range(-1, 35):
            d = DAY0 + timedelta(days=day)
            valid = versions.filter(
                (pl.col("instrument_code") == code)
                & (pl.col("valid_from") <= d)
                & (pl.col("valid_to") > d)
            )
            want = _expected(sent, code, day)
            if want is None:
                assert valid.height == 0
            else:
                assert valid.height == 1, (code, d, valid)
                assert valid["sector"][0] == want
        mine = versions.filter(pl.col("instrument_code") == code).sort("valid_from")
        if mine.height:
            # consecutive versions differ, and exactly the last is current
            assert all(a != b for a, b in zip(mine["sector"], mine["sector"][1:], strict=False))
            assert mine["is_current"].to_list() == [False] * (mine.height - 1) + [True]


@given(batches)
@settings(max_examples=examples(ci=200, dev=50), deadline=None)
def test_versions_match_oracle(bs: list[list[tuple[str, int, str]]]) -> None:
    rows, sent, seq = [], [], 0
    for b in bs:
        for code, eff, sector in _dedupe(b):
            seq += 1
            rows.append(
                {
                    "instrument_code": code,
                    "effective_date": DAY0 + timedelta(days=eff),
                    "sector": sector,
                    "_seq": seq,
                }
            )
            sent.append((seq, code, eff, sector))
    versions = scd2_versions(
        pl.DataFrame(rows), code="instrument_code", attributes=["sector"], order=["_seq"]
    )
    _check(versions, sent)


def _csv(batch: list[tuple[str, int, str]]) -> bytes:
    lines = ["instrument_code,name,asset_class,currency,sector,effective_date"]
    for code, eff, sector in batch:
        lines.append(f"{code},{code} Inc,EQUITY,USD,{sector},{DAY0 + timedelta(days=eff)}")
    return ("\n".join(lines) + "\n").encode()


@given(batches)
@settings(
    max_examples=examples(ci=12, dev=3),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_warehouse_dimension_matches_oracle(tmp_path_factory, empty_template, bs) -> None:  # type: ignore[no-untyped-def]
    wh = copy_warehouse(empty_template, tmp_path_factory.mktemp("scd2") / "wh")
    try:
        sent, seq = [], 0
        for n, b in enumerate(bs):
            b = _dedupe(b)
            # each send is a distinct batch (identical bytes without an id would be a retry)
            wh.ingest("instruments", _csv(b), fmt="csv", batch_id=f"send-{n}")
            for code, eff, sector in b:
                seq += 1
                sent.append((seq, code, eff, sector))
        dim = pl.from_arrow(wh.query("SELECT * FROM dim_instrument").table)
        assert isinstance(dim, pl.DataFrame)
        _check(dim, sent)
        # surrogate keys are unique
        assert dim["instrument_key"].n_unique() == dim.height
    finally:
        wh.warehouse.close()


def test_resending_unchanged_records_changes_nothing(wh: Session) -> None:
    batch = [("A", 0, "Tech"), ("B", 3, "Energy")]
    wh.ingest("instruments", _csv(batch), fmt="csv", batch_id="first")
    before = wh.query("SELECT * FROM dim_instrument ORDER BY instrument_key").rows()
    dim_version = snapshot(wh)["dim_instrument"]
    # same records, new batch id (a daily full resend of the master)
    wh.ingest("instruments", _csv(batch), fmt="csv", batch_id="second")
    assert snapshot(wh)["dim_instrument"] == dim_version
    assert wh.query("SELECT * FROM dim_instrument ORDER BY instrument_key").rows() == before
    # same attributes later in time: still no new version
    wh.ingest("instruments", _csv([("A", 10, "Tech")]), fmt="csv")
    assert snapshot(wh)["dim_instrument"] == dim_version


def test_history_is_kept_and_facts_use_the_version_of_their_date(ref_wh: Session) -> None:
    from tests.conftest import TRADE_HEADER, trade_row

    ref_wh.ingest(
        "instruments",
        b"instrument_code,name,asset_class,currency,sector,"
        b"effective_date\nAAPL,Apple,EQUITY,USD,Consumer,2024-02-01\n",
        fmt="csv",
    )
    rows = ref_wh.query(
        "SELECT sector, valid_from, valid_to, is_current FROM dim_instrument "
        "WHERE instrument_code = 'AAPL' ORDER BY valid_from"
    ).rows()
    assert [r[0] for r in rows] == ["Technology", "Consumer"]
    assert rows[0][2] == rows[1][1] and rows[1][3] is True
    csv = (
        TRADE_HEADER
        + trade_row("T1", date="2024-01-15", ts="2024-01-15T10:00:00Z")
        + trade_row("T2", date="2024-02-15", ts="2024-02-15T10:00:00Z")
    )
    ref_wh.ingest("trades", csv.encode(), fmt="csv")
    got = ref_wh.query(
        "SELECT t.trade_id, i.sector FROM fact_trade t JOIN dim_instrument i USING "
        "(instrument_key) ORDER BY 1"
    ).rows()
    assert got == [["T1", "Technology"], ["T2", "Consumer"]]
