"""Metadata management: built-in metadata with per-tenant annotations over it, versioned edits
(who, when, before/after, why), roles (stewards and admins edit, every role reads), tenant
isolation, the glossary, and descriptions written into the Delta log without touching data."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from deltalake import DeltaTable

from ledgerhouse import Warehouse, errors
from ledgerhouse.governance.errors import InvalidAnnotation, UnknownMetadataObject
from ledgerhouse.session import Session


@pytest.fixture(scope="module")
def warehouse(loaded: Session, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    """A copy of the small FinBench warehouse (tenant ``default``) and an empty tenant ``beta``."""
    root = tmp_path_factory.mktemp("metadata") / "wh"
    shutil.copytree(Path(loaded.warehouse.root), root)
    wh = Warehouse.open(root=root)
    wh.create_tenant("beta")
    yield wh
    wh.close()


def _as(wh: Warehouse, role: str, tenant: str | None = None, user: str | None = None) -> Session:
    return wh.local(tenant, roles=(role,), user=user or f"{role}-1")


def test_builtin_metadata_comes_from_the_table_defs_and_the_defaults(warehouse: Warehouse) -> None:
    reader = _as(warehouse, "reader")
    table = reader.describe_object("dim_counterparty")
    assert table["description"] == warehouse.relations["dim_counterparty"].description
    assert table["version"] == 0 and table["overridden"] == []
    members = {m["name"]: m for m in table["members"]}
    assert members["dim_counterparty.name"]["classifications"] == ["confidential"]
    measure = reader.describe_object("cube:trades.notional")
    assert measure["kind"] == "measure" and measure["source"] == "fact_trade"
    assert "Notional" in measure["terms"]
    labels = warehouse.metadata.classifications("default")
    assert labels[("dim_portfolio", "manager")] == ["pii"]
    assert labels[("dim_counterparty", "name")] == ["confidential"]
    assert ("fact_trade", "price") not in labels  # unclassified columns are absent


def test_every_edit_is_versioned_with_who_when_before_after_and_why(warehouse: Warehouse) -> None:
    steward = _as(warehouse, "steward", user="sam")
    old = warehouse.relations["fact_position"].description
    done = steward.annotate(
        "fact_position", owner="risk-data", description="Positions, one row per day.",
        tags=["positions", "Risk", "eod"], reason="clearer wording",
    )  # fmt: skip
    assert done["owner"] == "risk-data" and done["tags"] == ["positions", "risk", "eod"]
    assert done["version"] == 1 and done["change"]["version"] == 1
    again = steward.annotate("fact_position", owner="risk-data")  # nothing changes
    assert again["change"] is None and again["version"] == 1
    steward.annotate("fact_position", reset=["description"], reason="back")
    history = steward.metadata_history("fact_position")
    assert [h["version"] for h in history] == [2, 1]
    first = history[1]
    assert first["user"] == "sam" and first["roles"] == ["steward"]
    assert first["reason"] == "clearer wording" and first["changed_at"]
    assert first["before"] == {"owner": None, "description": old, "tags": ["positions", "risk"]}
    assert first["after"] == {
        "owner": "risk-data", "description": "Positions, one row per day.",
        "tags": ["positions", "risk", "eod"],
    }  # fmt: skip
    assert history[0]["before"] == {"description": "Positions, one row per day."}
    assert history[0]["after"] == {"description": old}
    # a column's owner is its table's unless set on it
    assert steward.describe_object("fact_position.quantity")["owner"] == "risk-data"
    # the change is on the audit trail too
    entries = _as(warehouse, "auditor").audit_entries(action="metadata_change")
    assert any(e.get("detail", {}).get("change_id") == first["id"] for e in entries)


@pytest.mark.parametrize("role", ["reader", "writer", "auditor"])
def test_only_stewards_and_admins_edit_but_every_role_reads(
    warehouse: Warehouse, role: str
) -> None:
    me = _as(warehouse, role)
    with pytest.raises(errors.Forbidden) as refused:
        me.annotate("fact_trade", owner="me")
    assert refused.value.status == 403 and "edit metadata" in refused.value.message
    with pytest.raises(errors.Forbidden):
        me.define_term("Mine", definition="mine")
    with pytest.raises(errors.Forbidden):
        me.link_term("Exposure", ["fact_trade.price"])
    assert me.describe_object("fact_trade")["name"] == "fact_trade"
    assert isinstance(me.metadata_history("fact_trade"), list)
    assert {t["name"] for t in me.glossary()} >= {"Exposure", "Counterparty"}
    assert _as(warehouse, "admin").annotate("dim_date", owner="calendar")["owner"] == "calendar"


def test_bad_names_and_values_say_what_to_do(warehouse: Warehouse) -> None:
    steward = _as(warehouse, "steward")
    with pytest.raises(UnknownMetadataObject) as missing:
        steward.describe_object("fact_trad")
    assert missing.value.status == 404 and "'fact_trade'" in missing.value.message
    with pytest.raises(UnknownMetadataObject) as column:
        steward.annotate("fact_trade.prise", owner="x")
    assert "fact_trade.price" in column.value.message
    with pytest.raises(InvalidAnnotation) as label:
        steward.annotate("fact_trade.price", classifications=["secret"])
    assert "public, internal, confidential, pii, restricted" in label.value.hint
    with pytest.raises(InvalidAnnotation) as term:
        steward.annotate("fact_trade.price", terms=["Exposur"])
    assert "'Exposure'" in term.value.message
    with pytest.raises(InvalidAnnotation):
        steward.annotate("fact_trade", tags=["ok", " "])
    with pytest.raises(InvalidAnnotation):
        steward.annotate("term:Exposure", classifications=["pii"])  # a term has none
    with pytest.raises(InvalidAnnotation):
        steward.define_term("Brand new")  # a new term needs a definition


def test_glossary_terms_link_to_columns_and_measures(warehouse: Warehouse) -> None:
    steward = _as(warehouse, "steward")
    term = steward.define_term(
        "Settlement date", definition="The day cash and securities change hands.",
        owner="ops", synonyms=["value date", "SD"],
    )  # fmt: skip
    assert term["synonyms"] == ["value date", "SD"] and term["owner"] == "ops"
    steward.link_term("settlement DATE", ["fact_trade.settle_date", "cube:trades.settle_date"])
    column = steward.describe_object("fact_trade.settle_date")
    assert column["terms"] == ["Settlement date"]
    listed = {t["name"]: t for t in steward.glossary()}
    assert listed["Settlement date"]["links"] == [
        "dimension:trades.settle_date", "fact_trade.settle_date",
    ]  # fmt: skip
    steward.link_term("Settlement date", ["fact_trade.settle_date"], unlink=True)
    assert steward.describe_object("fact_trade.settle_date")["terms"] == []
    redefined = steward.define_term("Settlement date", definition="T+2 usually.")
    assert redefined["definition"] == "T+2 usually." and redefined["version"] == 2
    history = steward.metadata_history("term:Settlement date")
    assert history[0]["before"] == {"definition": "The day cash and securities change hands."}


def test_a_description_reaches_the_delta_log_without_touching_data(warehouse: Warehouse) -> None:
    steward = _as(warehouse, "steward")
    reader = _as(warehouse, "reader")
    sql = (
        "SELECT counterparty_code, count(*) AS n, sum(notional_base) AS total FROM fact_trade "
        "GROUP BY ALL ORDER BY 1"
    )
    before = reader.query(sql, use_cache=False).rows()
    commit_before = warehouse.meta.commit_log.latest_commit("default")
    assert commit_before is not None
    path = warehouse.store.path("default", warehouse.relations["fact_trade"])
    files_before = set(DeltaTable(str(path)).file_uris())

    done = steward.annotate("fact_trade", description="Live trades: one row per trade.")
    col = steward.annotate(
        "fact_trade.counterparty_code", description="Who the trade is with.",
        classifications=["confidential", "pii"], reason="names of natural persons too",
    )  # fmt: skip

    dt = DeltaTable(str(path))
    assert dt.metadata().description == "Live trades: one row per trade."
    field = next(f for f in dt.schema().fields if f.name == "counterparty_code")
    assert field.metadata["comment"] == "Who the trade is with."
    assert field.metadata["ledgerhouse.classification"] == "confidential,pii"
    assert set(dt.file_uris()) == files_before  # no data file added or removed
    latest = warehouse.meta.commit_log.latest_commit("default")
    assert latest is not None and latest.id == col["change"]["commit_id"]
    assert done["change"]["commit_id"] == commit_before.id + 1
    assert latest.operation == "metadata:fact_trade" and latest.changed_tables == ["fact_trade"]
    assert latest.table_versions["fact_trade"] == dt.version()
    assert reader.query(sql, use_cache=False).rows() == before
    assert warehouse.metadata.classifications("default")[("fact_trade", "counterparty_code")] == [
        "confidential", "pii",
    ]  # fmt: skip
    # an owner or a tag is not written to Delta: no commit for it
    steward.annotate("fact_trade", owner="trading")
    assert warehouse.meta.commit_log.latest_commit("default").id == latest.id  # type: ignore[union-attr]


def test_tenants_see_and_edit_only_their_own_metadata(warehouse: Warehouse) -> None:
    alpha = _as(warehouse, "steward")
    beta = _as(warehouse, "steward", tenant="beta")
    alpha.annotate("mart_exposure_daily", description="Alpha's zanzibar exposures", owner="alpha")
    alpha.define_term("Quokka", definition="Alpha's private word.")
    seen = beta.describe_object("mart_exposure_daily")
    assert seen["description"] == warehouse.relations["mart_exposure_daily"].description
    assert seen["owner"] is None and seen["version"] == 0
    assert beta.metadata_history("mart_exposure_daily") == []
    assert all(c["user"] != alpha.principal.user for c in beta.metadata_history())
    assert "Quokka" not in {t["name"] for t in beta.glossary()}
    with pytest.raises(UnknownMetadataObject):
        beta.describe_object("term:Quokka")
    with pytest.raises(UnknownMetadataObject):
        beta.link_term("Quokka", ["fact_trade.price"])
    beta.annotate("mart_exposure_daily", owner="beta", classifications=["restricted"])
    assert alpha.describe_object("mart_exposure_daily")["owner"] == "alpha"
    assert beta.catalog_search("zanzibar")["total"] == 0
    assert alpha.catalog_search("zanzibar")["hits"][0]["object"] == "mart_exposure_daily"
    assert beta.catalog_search("quokka")["total"] == 0
    # beta's Delta table got beta's edit only: alpha's description is not in beta's log
    beta_path = warehouse.store.path("beta", warehouse.relations["mart_exposure_daily"])
    assert "zanzibar" not in (DeltaTable(str(beta_path)).metadata().description or "")
