"""OpenLineage run events (governance/lineage/openlineage/): every writing job emits START and
COMPLETE or FAIL with its datasets and facets; the events validate against the OpenLineage
JSON schema (when the spec is here) and, always, round-trip through openlineage-python's own
classes and pass our checks of the documented object model; mart refreshes are child runs
whose column lineage is the graph's; HTTP transport reaches a local receiver;
``openlineage=off`` emits nothing; tenants never see each other's events."""

from __future__ import annotations

import enum
import importlib
import json
import os
import pkgutil
import re
import shutil
import threading
import types
import typing
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from uuid import UUID

import attr
import jsonschema_rs
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ledgerhouse import Warehouse
from ledgerhouse.api import create_app
from ledgerhouse.cli.main import app as cli
from ledgerhouse.client import Client
from ledgerhouse.errors import ConfigError, InvalidRequest
from ledgerhouse.governance.lineage.openlineage import EVENTS_FILE, events_dir
from ledgerhouse.session import Session
from tests.api.conftest import _serve
from tests.conftest import REF, admin, copy_warehouse, trade_row, trades_csv

SPEC_HERE = Path(__file__).parent / "openlineage_spec"
#: Ledgerhouse's own facets (written here, not part of the OpenLineage spec).
CUSTOM_FACETS = SPEC_HERE / "LedgerhouseFacets.json"
CORE_ID = "https://openlineage.io/spec/2-0-2/OpenLineage.json"


def _spec_dir() -> Path | None:
    """The OpenLineage spec (OpenLineage.json and facets/*.json of OpenLineage/OpenLineage's
    spec/ folder): LEDGERHOUSE_OPENLINEAGE_SPEC, else beside the tests, else in shared/."""
    named = os.environ.get("LEDGERHOUSE_OPENLINEAGE_SPEC")
    root = Path(__file__).resolve().parents[2]
    for candidate in (
        Path(named) if named else None,
        SPEC_HERE / "official",
        root.parent / "shared" / "openlineage-spec",
    ):
        if candidate is not None and (candidate / "OpenLineage.json").is_file():
            return candidate
    return None


def events_of(session: Session, tenant: str = "default") -> list[dict[str, Any]]:
    path = events_dir(session.warehouse.root, tenant) / EVENTS_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def runs(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        out.setdefault(e["run"]["runId"], []).append(e)
    return out


class _Failing:
    """A commit listener that raises while ``on`` (aborting the commit, as a broken refresh
    would)."""

    def __init__(self) -> None:
        self.on = False

    def __call__(self, tenant: str, before: dict[str, int], after: dict[str, int]) -> dict:
        if self.on:
            raise RuntimeError("refresh exploded")
        return {}


@pytest.fixture(scope="module")
def emitted(
    tmp_path_factory: pytest.TempPathFactory, ref_template: Path
) -> Iterator[tuple[Session, list[dict[str, Any]], dict[str, int]]]:
    """One warehouse after: two trade batches (the second amends), a rejected batch, a batch
    whose commit a listener aborts, an abandoned transaction and an anomaly scoring run. Returns
    the session, the events they emitted (after the template's) and where each step began."""
    me = copy_warehouse(ref_template, tmp_path_factory.mktemp("ol") / "wh")
    wh = me.warehouse
    marks: dict[str, int] = {}

    def mark(name: str) -> None:
        marks[name] = len(events_of(me))

    mark("ingest")
    day0 = date(2024, 1, 2)
    days = [day0 + timedelta(days=n) for n in range(30)]
    days = [d for d in days if d.weekday() < 5][:20]  # business days
    rows = []
    for i in range(120):  # enough trades for the anomaly model to train (50) and score
        d = days[i % 20].isoformat()
        ts = f"{d}T10:00:00Z"
        rows.append(trade_row(f"T{i}", ts=ts, date=d, qty=str(100 + 7 * i), price="10"))
    first = me.ingest("trades", trades_csv(*rows), fmt="csv")
    assert first.status == "committed"
    marks["first_batch"] = first.batch_id  # type: ignore[assignment]
    amend = trade_row("T1", event="AMEND", ts="2024-01-03T11:00:00Z", date="2024-01-03", qty="5")
    assert me.ingest("trades", trades_csv(amend), fmt="csv").status == "committed"
    mark("rejected")
    with pytest.raises(Exception, match="failed validation"):
        me.ingest("trades", trades_csv(*(trade_row(f"B{i}", qty="x") for i in range(5))), fmt="csv")
    mark("listener")
    failing = _Failing()
    wh.writer.add_listener(failing)
    failing.on = True
    with pytest.raises(RuntimeError, match="refresh exploded"):
        me.ingest("trades", trades_csv(trade_row("F1")), fmt="csv")
    failing.on = False
    mark("abandoned")
    with wh.writer.transaction("default", "ingest:trades"):
        pass  # nothing staged, as a duplicate batch found inside the lock
    mark("ml")
    me.detect_anomalies(days[0], days[9], days[10], days[19], contamination=0.1)
    mark("end")
    yield me, events_of(me), marks
    wh.close()


def _between(events: list[dict[str, Any]], marks: dict[str, int], a: str, b: str) -> list[dict]:
    return events[marks[a] : marks[b]]


# -- validation against the OpenLineage schema ----------------------------------------------
@pytest.fixture(scope="module")
def registry() -> jsonschema_rs.Registry:
    spec = _spec_dir()
    if spec is None:
        pytest.skip(
            "the OpenLineage spec is not here: put OpenLineage/OpenLineage's spec/OpenLineage.json "
            "and spec/facets/*.json in a folder named by LEDGERHOUSE_OPENLINEAGE_SPEC"
        )
    resources = []
    for path in [spec / "OpenLineage.json", *sorted((spec / "facets").glob("*.json")),
                 CUSTOM_FACETS]:  # fmt: skip
        schema = json.loads(path.read_text())
        resources.append((schema["$id"], schema))
    return jsonschema_rs.Registry(resources)


def _validator(registry: jsonschema_rs.Registry, ref: str) -> Any:
    return jsonschema_rs.validator_for(
        {"$ref": ref}, registry=registry, validate_formats=True, offline=True
    )


def _facets(event: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every facet of an event, with where it sits."""
    yield from (("run." + k, f) for k, f in (event["run"].get("facets") or {}).items())
    yield from (("job." + k, f) for k, f in (event["job"].get("facets") or {}).items())
    for side in ("inputs", "outputs"):
        for d in event.get(side) or []:
            for group in ("facets", "inputFacets", "outputFacets"):
                for k, f in (d.get(group) or {}).items():
                    yield f"{side}.{d['name']}.{group}.{k}", f


def test_every_event_validates_against_the_openlineage_schema(emitted, registry) -> None:  # type: ignore[no-untyped-def]
    _, events, marks = emitted
    run_event = _validator(registry, f"{CORE_ID}#/$defs/RunEvent")
    checked: Counter[str] = Counter()
    cache: dict[str, Any] = {}
    mine = events[marks["ingest"] :]
    assert mine
    for event in mine:
        errors = [str(e) for e in run_event.iter_errors(event)]
        assert not errors, (event["job"]["name"], event["eventType"], errors[:3])
        for where, facet in _facets(event):
            url = facet["_schemaURL"]
            validator = cache.get(url) or cache.setdefault(url, _validator(registry, url))
            errors = [str(e) for e in validator.iter_errors(facet)]
            assert not errors, (event["job"]["name"], where, errors[:3])
            checked[url.rsplit("/", 1)[-1].split(".json")[0]] += 1
    # each kind of facet the events carry was checked against its own schema
    kinds = ("SchemaDatasetFacet", "ColumnLineageDatasetFacet", "ParentRunFacet",
             "ErrorMessageRunFacet", "DatasetVersionDatasetFacet", "JobTypeJobFacet",
             "SQLJobFacet")  # fmt: skip
    for name in kinds:
        assert checked[name], name
    assert any("LedgerhouseCommitDatasetFacet" in u for u in cache)


def test_a_broken_event_does_not_validate(emitted, registry) -> None:  # type: ignore[no-untyped-def]
    """The validation can fail: an event without its run id, a schema facet with a nameless
    field, a non-UUID run id are refused."""
    _, events, marks = emitted
    run_event = _validator(registry, f"{CORE_ID}#/$defs/RunEvent")
    event = events[marks["ingest"]]
    assert run_event.is_valid(event)
    assert not run_event.is_valid({**event, "run": {}})
    assert not run_event.is_valid({**event, "run": {"runId": "not-a-uuid"}})
    assert not run_event.is_valid({**event, "eventTime": "yesterday"})
    complete = next(e for e in events[marks["ingest"] :] if e["outputs"])
    facet = complete["outputs"][0]["facets"]["schema"]
    schema = _validator(registry, facet["_schemaURL"])
    assert schema.is_valid(facet)
    assert not schema.is_valid({**facet, "fields": [{"type": "string"}]})


# -- validation that always runs: the client's own object model --------------------------------
# The official JSON schema is not committed here (see openlineage_spec/README.md), so every
# event is also loaded into openlineage-python's generated attrs classes (the structure the
# client enforces: the fields each class has, their types, its validators: a UUID run id, an
# ISO 8601 time with a time part, URIs) and written back with the client's Serde: it must come
# back equal. Facets are loaded by their _schemaURL into the class that declares that URL.
def _facet_classes() -> dict[str, type]:
    from openlineage.client import generated
    from openlineage.client.generated.base import BaseFacet

    from ledgerhouse.governance.lineage.openlineage import events as ours

    modules = [importlib.import_module(f"openlineage.client.generated.{m.name}")
               for m in pkgutil.iter_modules(generated.__path__)]  # fmt: skip
    out: dict[str, type] = {}
    for module in [*modules, ours]:
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, BaseFacet) and attr.has(obj):
                out.setdefault(obj._get_schema(), obj)
    return out


FACET_CLASSES = _facet_classes()


class NotTheModel(AssertionError):
    """An event (or a part of one) the client's object model does not accept."""


def _load(tp: Any, data: Any, where: str) -> Any:
    from openlineage.client.generated.base import BaseFacet

    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if data is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _load(inner, data, where)
    if tp is Any:
        return data
    if origin is list:
        if not isinstance(data, list):
            raise NotTheModel(f"{where}: a list expected, not {data!r:.80}")
        return [_load(args[0], v, f"{where}[{i}]") for i, v in enumerate(data)]
    if origin is dict:
        if not isinstance(data, dict):
            raise NotTheModel(f"{where}: an object expected, not {data!r:.80}")
        value_type = args[1]
        if isinstance(value_type, type) and issubclass(value_type, BaseFacet):
            return {k: _load_facet(value_type, v, f"{where}.{k}") for k, v in data.items()}
        return {k: _load(value_type, v, f"{where}.{k}") for k, v in data.items()}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(data)
        except ValueError:
            raise NotTheModel(f"{where}: {data!r} is not one of {[e.value for e in tp]}") from None
    if isinstance(tp, type) and attr.has(tp):
        return _load_attrs(tp, data, where)
    expected = {str: (str,), int: (int,), bool: (bool,), float: (int, float)}.get(tp)
    if expected is not None and (
        not isinstance(data, expected) or (tp is not bool and isinstance(data, bool))
    ):
        raise NotTheModel(f"{where}: a {tp.__name__} expected, not {data!r:.80}")
    return data


def _load_facet(base: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict) or not isinstance(data.get("_schemaURL"), str):
        raise NotTheModel(f"{where}: a facet needs its _schemaURL")
    cls = FACET_CLASSES.get(data["_schemaURL"])
    if cls is None or not issubclass(cls, base):
        raise NotTheModel(f"{where}: no {base.__name__} of the client declares the schema "
                          f"{data['_schemaURL']}")  # fmt: skip
    return _load_attrs(cls, data, where)


def _load_attrs(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise NotTheModel(f"{where}: an object expected for {cls.__name__}, not {data!r:.80}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in attr.fields(cls)}
    unknown = set(data) - set(fields)
    if unknown:
        raise NotTheModel(f"{where}: {cls.__name__} has no field {sorted(unknown)}")
    kwargs = {}
    for name, f in fields.items():
        if not f.init:
            continue  # schemaURL / _schemaURL: the class's own, compared by the round trip
        if name not in data:
            if f.default is attr.NOTHING:
                raise NotTheModel(f"{where}: {cls.__name__} needs {name!r}")
            continue
        kwargs[f.alias] = _load(hints[name], data[name], f"{where}.{name}")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:  # the client's validators
        raise NotTheModel(f"{where}: {cls.__name__} refused it: {exc}") from None


def _pruned(value: Any) -> Any:
    """Without empty objects and lists (the client's defaults for an absent field)."""
    if isinstance(value, dict):
        return {k: _pruned(v) for k, v in value.items() if v not in ({}, [], None)}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def client_round_trip(event: dict[str, Any]) -> dict[str, Any]:
    """``event`` loaded into the client's RunEvent and written back by the client's Serde."""
    from openlineage.client.event_v2 import RunEvent
    from openlineage.client.serde import Serde

    loaded = _load_attrs(RunEvent, event, "event")
    return typing.cast(dict[str, Any], Serde.to_dict(loaded))


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$")  # RFC 3986: a scheme, then the rest
EVENT_TYPES = {"START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"}


def model_problems(event: dict[str, Any], known: set[tuple[str, str]]) -> list[str]:
    """What is wrong with ``event`` by the OpenLineage object model, as documented (checks
    written here): ``known`` is the (namespace, name) of relations a column may come from."""
    out = []
    if event.get("eventType") not in EVENT_TYPES:
        out.append(f"eventType {event.get('eventType')!r}")
    try:
        UUID(str(event.get("run", {}).get("runId")))
    except ValueError:
        out.append(f"runId {event.get('run', {}).get('runId')!r} is not a UUID")
    if not _RFC3339.match(str(event.get("eventTime"))):
        out.append(f"eventTime {event.get('eventTime')!r} is not RFC 3339 with a zone")
    for key in ("producer", "schemaURL"):
        if not _URI.match(str(event.get(key))):
            out.append(f"{key} {event.get(key)!r} is not a URI")
    for where, facet in _facets(event):
        for key in ("_producer", "_schemaURL"):
            if not _URI.match(str(facet.get(key))):
                out.append(f"{where}: {key} {facet.get(key)!r} is missing or not a URI")
    inputs = {(d["namespace"], d["name"]) for d in event.get("inputs") or []}
    for d in event.get("outputs") or []:
        lineage = (d.get("facets") or {}).get("columnLineage")
        if not lineage:
            continue
        for column, spec in lineage["fields"].items():
            for f in spec["inputFields"]:
                if (f["namespace"], f["name"]) not in inputs | known:
                    out.append(f"{d['name']}.{column} comes from {f['namespace']}/{f['name']}, "
                               "neither an input of the event nor a known relation")  # fmt: skip
    return out


def _known(me: Session) -> set[tuple[str, str]]:
    from ledgerhouse.governance.lineage.openlineage import job_namespace

    namespace = job_namespace(me.principal.tenant)
    return {(namespace, t["name"]) for t in me.tables()}


def test_every_event_round_trips_through_the_openlineage_client(emitted) -> None:  # type: ignore[no-untyped-def]
    _, events, marks = emitted
    mine = events[marks["ingest"] :]
    assert mine
    seen: Counter[str] = Counter()
    for event in mine:
        back = client_round_trip(event)
        assert _pruned(back) == _pruned(event), (event["job"]["name"], event["eventType"])
        for _, facet in _facets(event):
            seen[FACET_CLASSES[facet["_schemaURL"]].__name__] += 1
    for name in ("SchemaDatasetFacet", "ColumnLineageDatasetFacet", "ParentRunFacet",
                 "ErrorMessageRunFacet", "DatasetVersionDatasetFacet", "JobTypeJobFacet",
                 "SQLJobFacet", "LedgerhouseCommitDatasetFacet"):  # fmt: skip
        assert seen[name], name


def test_every_event_follows_the_documented_object_model(emitted) -> None:  # type: ignore[no-untyped-def]
    me, events, marks = emitted
    known = _known(me)
    mine = events[marks["ingest"] :]
    lineage = 0
    for event in mine:
        assert model_problems(event, known) == [], (event["job"]["name"], event["eventType"])
        lineage += sum(1 for d in event.get("outputs") or []
                       if (d.get("facets") or {}).get("columnLineage"))  # fmt: skip
    assert lineage  # the column-lineage check had something to check


def test_a_broken_event_fails_the_client_and_the_model_checks(emitted) -> None:  # type: ignore[no-untyped-def]
    """The checks that always run can fail: each broken copy is refused."""
    me, events, marks = emitted
    known = _known(me)
    complete = next(e for e in events[marks["ingest"] :] if e["outputs"])
    client_round_trip(complete)
    assert model_problems(complete, known) == []
    out = complete["outputs"][0]
    schema = out["facets"]["schema"]
    broken = {
        "no run id": {**complete, "run": {}},
        "a run id not a UUID": {**complete, "run": {"runId": "not-a-uuid"}},
        "a time that is not one": {**complete, "eventTime": "yesterday"},
        "an unknown event type": {**complete, "eventType": "DONE"},
        "a field the model has not": {**complete, "jobs": []},
        "a nameless schema field": {**complete, "outputs": [{**out, "facets": {
            **out["facets"], "schema": {**schema, "fields": [{"type": "string"}]}}}]},
        "a facet without its schema": {**complete, "outputs": [{**out, "facets": {
            **out["facets"], "schema": {"_producer": schema["_producer"], "fields": []}}}]},
    }  # fmt: skip
    for what, event in broken.items():
        with pytest.raises(NotTheModel):
            client_round_trip(event)
        assert model_problems(event, known) or what in (
            "a field the model has not", "a nameless schema field",
        ), what  # fmt: skip
    # written by us: a time without its zone, a producer not a URI, a column from nowhere
    assert model_problems({**complete, "eventTime": "2024-01-02T10:00:00"}, known)
    assert model_problems({**complete, "producer": "ledgerhouse"}, known)
    lineage = next(e for e in events[marks["ingest"] :] for d in e.get("outputs") or []
                   if (d.get("facets") or {}).get("columnLineage"))  # fmt: skip
    d = next(d for d in lineage["outputs"] if (d.get("facets") or {}).get("columnLineage"))
    facet = d["facets"]["columnLineage"]
    column, spec = next(iter(facet["fields"].items()))
    stray = {**spec, "inputFields": [{**spec["inputFields"][0], "name": "nowhere"}]}
    moved = {**facet, "fields": {**facet["fields"], column: stray}}
    bad = {**lineage, "outputs": [{**d, "facets": {**d["facets"], "columnLineage": moved}}]}
    assert any("nowhere" in p for p in model_problems(bad, known))


# -- what the events say ----------------------------------------------------------------------
def test_each_run_has_one_start_then_one_end(emitted) -> None:  # type: ignore[no-untyped-def]
    _, events, marks = emitted
    by_run = runs(events[marks["ingest"] :])
    assert len(by_run) >= 6
    for run_id, evs in by_run.items():
        UUID(run_id)
        kinds = [e["eventType"] for e in evs]
        assert kinds[0] == "START" and len(kinds) == 2, (run_id, kinds)
        assert kinds[1] in {"COMPLETE", "FAIL"}
        assert evs[0]["job"] == {**evs[1]["job"]}  # the same job at both ends
        assert evs[0]["eventTime"] <= evs[1]["eventTime"]
    # every child's parent is a run of these events, of the job its facet names
    for evs in by_run.values():
        parent = evs[0]["run"]["facets"].get("parent")
        if parent:
            assert parent["run"]["runId"] in by_run
            assert by_run[parent["run"]["runId"]][0]["job"]["name"] == parent["job"]["name"]


def test_an_ingestion_run_names_its_batch_inputs_and_outputs(emitted) -> None:  # type: ignore[no-untyped-def]
    me, events, marks = emitted
    mine = _between(events, marks, "ingest", "rejected")
    parents = [e for e in mine if e["job"]["name"] == "ingest.trades"]
    assert [e["eventType"] for e in parents] == ["START", "COMPLETE"] * 2
    complete = parents[1]
    assert complete["job"]["namespace"] == "ledgerhouse://default"
    batch = me.batch(marks["first_batch"])
    assert complete["inputs"][0]["namespace"] == "ledgerhouse-batch://default"
    assert complete["inputs"][0]["name"] == batch["batch_id"]
    facet = complete["inputs"][0]["facets"]["ledgerhouse_batch"]
    assert facet["contentDigest"] == batch["content_digest"]
    assert facet["dataset"] == "trades" and facet["format"] == "csv"
    assert complete["inputs"][0]["inputFacets"]["inputStatistics"]["rowCount"] == 120
    upstream = {d["name"] for d in complete["inputs"][1:]}
    assert {"dim_instrument", "dim_portfolio"} <= upstream  # conformed against them
    outputs = {d["name"]: d for d in complete["outputs"]}
    assert {"raw_trades", "fact_trade"} <= set(outputs)
    assert not any(n.startswith(("mart_", "rollup_")) for n in outputs)  # child runs' outputs
    fact = outputs["fact_trade"]["facets"]
    table = me.warehouse.relations["fact_trade"]
    assert [f["name"] for f in fact["schema"]["fields"]] == table.column_names
    assert fact["schema"]["fields"][0]["ordinal_position"] == 1
    run_commit = complete["run"]["facets"]["ledgerhouse_commit"]
    assert fact["ledgerhouse_commit"]["commitId"] == run_commit["commitId"]
    assert run_commit["tablesWritten"]["fact_trade"] == fact["ledgerhouse_commit"]["deltaVersion"]
    assert fact["version"]["datasetVersion"] == str(fact["ledgerhouse_commit"]["deltaVersion"])
    found = {c.id: c for c in me.commits(limit=50)}[run_commit["commitId"]]
    assert found.table_versions["fact_trade"] == fact["ledgerhouse_commit"]["deltaVersion"]
    # the raw table holds the batch as received: its columns come from the batch's fields
    raw = outputs["raw_trades"]["facets"]["columnLineage"]["fields"]
    assert raw["price"]["inputFields"] == [
        {"namespace": "ledgerhouse-batch://default", "name": batch["batch_id"], "field": "price",
         "transformations": [{"type": "DIRECT", "subtype": "IDENTITY"}]}
    ]  # fmt: skip
    assert "_batch_id" not in raw


def test_a_mart_refresh_is_a_child_run_with_the_graphs_column_lineage(emitted) -> None:  # type: ignore[no-untyped-def]
    me, events, marks = emitted
    mine = _between(events, marks, "ingest", "rejected")
    parent = next(e for e in mine if e["job"]["name"] == "ingest.trades")
    child = [e for e in mine if e["job"]["name"] == "refresh.mart_trading_activity"]
    assert [e["eventType"] for e in child[:2]] == ["START", "COMPLETE"]
    done = child[1]
    assert done["run"]["facets"]["parent"]["run"]["runId"] == parent["run"]["runId"]
    assert done["run"]["facets"]["parent"]["job"]["name"] == "ingest.trades"
    assert "FROM fact_trade" in done["job"]["facets"]["sql"]["query"]  # the refresh's SQL
    (out,) = done["outputs"]
    assert out["name"] == "mart_trading_activity"
    lineage = out["facets"]["columnLineage"]["fields"]
    graph = me.warehouse.openlineage.graph("default")
    expected = {
        col: sorted((r.relation, r.column) for r in refs)
        for col, refs in graph.columns("mart_trading_activity").items()
    }
    got = {
        col: sorted((f["name"], f["field"]) for f in spec["inputFields"])
        for col, spec in lineage.items()
    }
    assert got == expected
    # by hand (model/marts.py): a buy notional sums notional_base where side is BUY; the
    # asset class is the instrument's; the row count and refresh time are generated
    assert got["buy_notional_base"] == [("fact_trade", "notional_base"), ("fact_trade", "side")]
    assert got["asset_class"] == [("dim_instrument", "asset_class")]
    assert got["trades"] == [] and "generated" in lineage["trades"]["transformationDescription"]
    assert all(f["namespace"] == "ledgerhouse://default" for s in lineage.values()
               for f in s["inputFields"])  # fmt: skip
    assert {d["name"] for d in done["inputs"]} == {"fact_trade", "dim_instrument"}
    # the mart read the new fact_trade version, the one this commit made
    fact_in = next(d for d in done["inputs"] if d["name"] == "fact_trade")
    complete = [e for e in mine if e["run"]["runId"] == parent["run"]["runId"]][1]
    written = complete["run"]["facets"]["ledgerhouse_commit"]["tablesWritten"]
    assert fact_in["facets"]["version"]["datasetVersion"] == str(written["fact_trade"])
    assert written["mart_trading_activity"] == out["facets"]["ledgerhouse_commit"]["deltaVersion"]


def test_a_failed_ingestion_ends_its_run_with_fail_and_the_error(emitted) -> None:  # type: ignore[no-untyped-def]
    _, events, marks = emitted
    for step, message in (("rejected", None), ("listener", "refresh exploded")):
        mine = _between(events, marks, step, {"rejected": "listener",
                                              "listener": "abandoned"}[step])  # fmt: skip
        assert [e["eventType"] for e in mine] == ["START", "FAIL"], step
        fail = mine[1]
        assert fail["outputs"] == []  # nothing was published
        error = fail["run"]["facets"]["errorMessage"]
        assert error["programmingLanguage"] == "PYTHON"
        if message:
            assert message in error["message"]
        assert fail["run"]["facets"]["ledgerhouse_commit"]["outcome"] == "failed"
        assert fail["inputs"][0]["namespace"] == "ledgerhouse-batch://default"


def test_an_abandoned_transaction_completes_with_no_outputs(emitted) -> None:  # type: ignore[no-untyped-def]
    _, events, marks = emitted
    mine = _between(events, marks, "abandoned", "ml")
    assert [e["eventType"] for e in mine] == ["START", "COMPLETE"]
    assert mine[1]["outputs"] == []
    assert mine[1]["run"]["facets"]["ledgerhouse_commit"]["outcome"] == "abandoned"


def test_ml_scoring_is_a_run_with_the_scores_as_output(emitted) -> None:  # type: ignore[no-untyped-def]
    me, events, marks = emitted
    mine = _between(events, marks, "ml", "end")
    own = [e for e in mine if e["job"]["name"] == "ml_score"]
    assert [e["eventType"] for e in own] == ["START", "COMPLETE"]
    assert own[1]["job"]["facets"]["jobType"]["jobType"] == "ML_SCORING"
    (out,) = own[1]["outputs"]
    assert out["name"] == "ml_trade_anomaly"
    assert {d["name"] for d in own[1]["inputs"]} == {"fact_trade", "fact_price"}
    model = me.models()[0]
    assert out["facets"]["ledgerhouse_commit"]["commitId"] == model["scoring_commit"]


# -- reading back -------------------------------------------------------------------------------
def test_lineage_events_reads_newest_first_filtered_by_job(emitted) -> None:  # type: ignore[no-untyped-def]
    me, events, _ = emitted
    reader = me.warehouse.local(roles=("reader",))
    latest = reader.lineage_events(limit=3)
    assert latest == list(reversed(events[-3:]))
    ml = reader.lineage_events(limit=100, job="ml_score")
    assert [e["eventType"] for e in ml] == ["COMPLETE", "START"]
    assert reader.lineage_events(job="refresh.no_such_table") == []
    with pytest.raises(InvalidRequest, match="limit"):
        reader.lineage_events(limit=0)
    with pytest.raises(InvalidRequest, match="job"):
        reader.lineage_events(job="../../other/events")


def test_api_and_cli_serve_the_callers_tenant_only(emitted) -> None:  # type: ignore[no-untyped-def]
    me, _, _ = emitted
    wh = me.warehouse
    other_key = wh.create_tenant("other")
    assert other_key
    other = wh.local("other", roles=("admin",))
    for ds, text in REF.items():
        other.ingest(ds, text.encode(), fmt="csv")
    other.ingest("trades", trades_csv(trade_row("SECRET1")), fmt="csv")
    mine = me.lineage_events(limit=10_000)
    theirs = other.lineage_events(limit=10_000)
    assert theirs and all(e["job"]["namespace"] == "ledgerhouse://other" for e in theirs)
    assert all(e["job"]["namespace"] == "ledgerhouse://default" for e in mine)
    assert "SECRET1" not in json.dumps(mine)
    their_runs = {e["run"]["runId"] for e in theirs}
    assert not their_runs & {e["run"]["runId"] for e in mine}
    reader_key = admin(me).create_api_key("ana", ("reader",))
    with TestClient(create_app(wh)) as client:
        for key, tenant in ((reader_key, "default"), (other_key, "other")):
            got = client.get("/v1/lineage/events", params={"limit": 10_000},
                             headers={"Authorization": f"Bearer {key}"})  # fmt: skip
            assert got.status_code == 200, got.text
            assert {e["job"]["namespace"] for e in got.json()} == {f"ledgerhouse://{tenant}"}
        one = client.get("/v1/lineage/events", params={"limit": 1, "job": "ingest.trades"},
                         headers={"Authorization": f"Bearer {reader_key}"})  # fmt: skip
        assert one.json() == me.lineage_events(limit=1, job="ingest.trades")
        bad = client.get("/v1/lineage/events", params={"limit": 0},
                         headers={"Authorization": f"Bearer {reader_key}"})  # fmt: skip
        assert bad.status_code == 400
        assert client.get("/v1/lineage/events").status_code == 401
    with _serve(wh) as base_url, Client(base_url, reader_key) as client:  # the HTTP twin
        assert client.lineage_events(limit=5) == me.lineage_events(limit=5)
        assert client.lineage_events(job="ml_score") == me.lineage_events(job="ml_score")
    result = CliRunner().invoke(
        cli,
        [
            "lineage-events",
            "--root",
            str(wh.root),
            "--tenant",
            "other",
            "--json",
            "--limit",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == other.lineage_events(limit=2)
    text = CliRunner().invoke(cli, ["lineage-events", "--root", str(wh.root), "--limit", "4"])
    assert text.exit_code == 0 and "ml_score" in text.stdout


# -- transports and settings ----------------------------------------------------------------------
class _Receiver(BaseHTTPRequestHandler):
    got: ClassVar[list[tuple[str, str | None, dict[str, Any]]]] = []

    def do_POST(self) -> None:  # http.server's name for it
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).got.append((self.path, self.headers.get("Authorization"), json.loads(body)))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_http_transport_posts_every_event_and_a_dead_receiver_costs_nothing(
    tmp_path: Path, ref_template: Path
) -> None:
    _Receiver.got = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    me = copy_warehouse(ref_template, tmp_path / "wh", openlineage="http",
                        openlineage_url=url, openlineage_api_key="s3cret")  # fmt: skip
    try:
        before = len(events_of(me))
        me.ingest("trades", trades_csv(trade_row("H1")), fmt="csv")
        sender = me.warehouse.openlineage.http
        assert sender is not None
        assert sender.flush(30)
        written = events_of(me)[before:]
        assert written  # the file keeps them too (lineage-events reads it)
        assert {p for p, _, _ in _Receiver.got} == {"/api/v1/lineage"}
        assert {a for _, a, _ in _Receiver.got} == {"Bearer s3cret"}
        assert [e for _, _, e in _Receiver.got] == written  # each once, in order
        server.shutdown()
        server.server_close()  # the receiver is gone: commits go on
        report = me.ingest("trades", trades_csv(trade_row("H2")), fmt="csv")
        assert report.status == "committed"
        for _ in range(600):  # the background thread gives up on each event in turn
            if sender.failed:
                break
            threading.Event().wait(0.05)
        assert sender.failed >= 1 and sender.sent == len(written)
        sender.close(0)  # what is still queued is dropped; the commit is long done
    finally:
        server.server_close()
        me.warehouse.close()


def test_an_unwritable_event_file_never_fails_a_commit(tmp_path: Path, ref_template: Path) -> None:
    me = copy_warehouse(ref_template, tmp_path / "wh")
    try:
        folder = events_dir(me.warehouse.root, "default")
        shutil.rmtree(folder)
        folder.write_text("not a folder")  # every append fails
        report = me.ingest("trades", trades_csv(trade_row("W1")), fmt="csv")
        assert report.status == "committed"
        assert me.query("SELECT count(*) FROM fact_trade").rows() == [[1]]
    finally:
        me.warehouse.close()


def test_openlineage_off_emits_nothing(tmp_path: Path, ref_template: Path) -> None:
    me = copy_warehouse(ref_template, tmp_path / "wh", openlineage="off")
    try:
        before = events_of(me)
        assert me.ingest("trades", trades_csv(trade_row("O1")), fmt="csv").status == "committed"
        assert events_of(me) == before
        assert me.warehouse.openlineage not in me.warehouse.writer.observers
    finally:
        me.warehouse.close()


def test_http_without_a_url_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="openlineage_url"):
        Warehouse.init(root=tmp_path / "wh", openlineage="http")
    with pytest.raises(ConfigError, match="openlineage"):
        Warehouse.init(root=tmp_path / "wh2", openlineage="kafka")
