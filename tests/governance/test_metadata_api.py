"""Metadata, glossary and catalog over HTTP (the client twins of the Session calls) and on the
command line: the same answers, 403 for a reader's edit, another tenant's key seeing nothing
of this tenant's annotations."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ledgerhouse import Warehouse, errors
from ledgerhouse.api import create_app
from ledgerhouse.cli.main import app
from ledgerhouse.client import Client
from tests.conftest import admin


class Served:
    def __init__(self, wh: Warehouse, http: TestClient) -> None:
        self.wh = wh
        self.http = http

    def client(self, role: str, tenant: str | None = None) -> Client:
        key = admin(self.wh, tenant).create_api_key(f"{role}-api", (role,))
        return Client("http://testserver", key, http=self.http)


@pytest.fixture(scope="module")
def served(empty_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("metadata-api") / "wh"
    shutil.copytree(empty_template, root)
    wh = Warehouse.open(root=root)
    wh.create_tenant("beta")
    with TestClient(create_app(wh)) as http:
        yield Served(wh, http)
    wh.close()


def test_the_client_edits_and_reads_as_the_library_does(served: Served) -> None:
    steward = served.client("steward")
    done = steward.annotate(
        "fact_trade.price", description="Execution price, local currency.",
        classifications=["internal"], terms=["Notional"], reason="from the API",
    )  # fmt: skip
    assert done["change"]["version"] == 1 and done["change"]["user"] == "steward-api"
    library = served.wh.local(None, roles=("reader",)).describe_object("fact_trade.price")
    over_http = served.client("reader").describe_object("fact_trade.price")
    assert over_http == library
    assert over_http["classifications"] == ["internal"] and over_http["terms"] == ["Notional"]
    history = steward.metadata_history("fact_trade.price")
    assert history[0]["reason"] == "from the API" and history[0]["after"]["classifications"] == [
        "internal"
    ]
    assert steward.metadata_history()[0]["object"] == "fact_trade.price"
    term = steward.define_term("Fill", definition="An execution of an order.", synonyms=["exec"])
    assert term["definition"] == "An execution of an order."
    linked = steward.link_term("Fill", ["fact_trade.price", "cube:trades.vwap"])
    assert [o["object"] for o in linked] == ["fact_trade.price", "cube:trades.vwap"]
    assert {t["name"]: t for t in steward.glossary()}["Fill"]["links"] == [
        "cube:trades.vwap", "fact_trade.price",
    ]  # fmt: skip
    found = steward.catalog_search("counterparty exposure", kind=["table"], limit=3)
    assert found["hits"][0]["kind"] == "table" and found["filters"] == {"kind": ["table"]}
    assert found == served.wh.local(None, roles=("steward",)).catalog_search(
        "counterparty exposure", kind="table", limit=3
    )


def test_http_refuses_a_readers_edit_and_unknown_names(served: Served) -> None:
    reader = served.client("reader")
    with pytest.raises(errors.Forbidden) as refused:
        reader.annotate("fact_trade", owner="me")
    assert refused.value.status == 403
    with pytest.raises(errors.Forbidden):
        reader.define_term("Mine", definition="mine")
    with pytest.raises(errors.NotFound) as missing:
        reader.describe_object("dim_countreparty")
    assert "dim_counterparty" in missing.value.message
    with pytest.raises(errors.InvalidRequest):
        served.client("steward").annotate("fact_trade", classifications=["top-secret"])
    auditor = served.client("auditor")
    assert auditor.catalog_search("price", limit=1)["hits"][0]["samples"] is None


def test_another_tenants_key_sees_none_of_it(served: Served) -> None:
    served.client("steward").annotate("dim_portfolio", description="Alpha's narwhal books")
    beta = served.client("steward", tenant="beta")
    assert beta.metadata_history("dim_portfolio") == []
    assert "narwhal" not in beta.describe_object("dim_portfolio")["description"]
    assert beta.catalog_search("narwhal")["total"] == 0
    beta.annotate("dim_portfolio", owner="beta-ops")
    assert served.client("reader").describe_object("dim_portfolio")["owner"] is None


def _cli(*args: str) -> dict[str, Any] | list[Any]:
    r = CliRunner().invoke(app, list(args))
    assert r.exit_code == 0, r.stderr
    out: dict[str, Any] | list[Any] = json.loads(r.stdout)
    return out


def test_the_cli_sets_shows_and_searches(empty_template: Path, tmp_path: Path) -> None:
    root = str(tmp_path / "wh")
    shutil.copytree(empty_template, root)
    done = _cli("metadata", "set", "mart_exposure_daily", "--owner", "risk", "--tag", "risk",
                "--tag", "eod", "--reason", "cli", "--root", root, "--json")  # fmt: skip
    assert isinstance(done, dict) and done["tags"] == ["risk", "eod"]
    shown = _cli("metadata", "show", "mart_exposure_daily", "--root", root, "--json")
    assert isinstance(shown, dict) and shown["owner"] == "risk" and shown["members"]
    history = _cli("metadata", "history", "mart_exposure_daily", "--root", root, "--json")
    assert isinstance(history, list) and history[0]["reason"] == "cli"
    _cli("glossary", "define", "Gross", "--definition", "Sum of absolute values", "--root", root,
         "--json")  # fmt: skip
    _cli("glossary", "link", "Gross", "mart_exposure_daily.gross_base", "--root", root, "--json")
    terms = _cli("glossary", "list", "--root", root, "--json")
    assert isinstance(terms, list)
    assert {t["name"]: t for t in terms}["Gross"]["links"] == ["mart_exposure_daily.gross_base"]
    found = _cli("catalog", "search", "counterparty exposure", "--kind", "table", "--tag", "risk",
                 "--root", root, "--json")  # fmt: skip
    assert isinstance(found, dict)
    assert [h["object"] for h in found["hits"]][:2] == ["mart_exposure_daily", "dim_counterparty"]
    text = CliRunner().invoke(app, ["catalog", "search", "counterparty exposure", "--root", root])
    assert text.exit_code == 0 and "mart_exposure_daily" in text.stdout
    bad = CliRunner().invoke(app, ["metadata", "set", "fact_trad", "--owner", "x", "--root", root])
    assert bad.exit_code == 2 and "Did you mean 'fact_trade'" in bad.stderr
