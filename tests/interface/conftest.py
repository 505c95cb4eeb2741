"""The callers of a warehouse: the in-process library (``Session``) and the HTTP client on a
live server, both over one copy of the small FinBench warehouse (with a trained model)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from ledgerhouse import Warehouse
from ledgerhouse.client import Client
from ledgerhouse.session import Session
from tests.api.conftest import _serve
from tests.conftest import admin

#: The implementations of the caller interface every behaviour runs against.
IMPLEMENTATIONS = ("library", "client")


class Served:
    def __init__(self, warehouse: Warehouse, base_url: str) -> None:
        self.warehouse = warehouse
        self.base_url = base_url
        self.keys: dict[str, str] = {}
        self.clients: list[Client] = []

    def session(self, role: str) -> Session:
        return self.warehouse.local(None, roles=(role,))

    def client(self, role: str) -> Client:
        if role not in self.keys:
            self.keys[role] = admin(self.warehouse).create_api_key(f"{role}-caller", (role,))
        client = Client(self.base_url, self.keys[role])
        self.clients.append(client)
        return client


@pytest.fixture(scope="module")
def served(loaded: Session, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("callers") / "wh"
    shutil.copytree(Path(loaded.warehouse.root), root)
    warehouse = Warehouse.open(root=root)
    me = admin(warehouse)
    first, last = me.query("SELECT min(trade_date), max(trade_date) FROM fact_trade").rows()[0]
    middle = first + (last - first) / 2
    me.detect_anomalies(first, middle, middle + timedelta(days=1), last)
    with _serve(warehouse) as base_url:
        out = Served(warehouse, base_url)
        yield out
        for client in out.clients:
            client.close()
    warehouse.close()


Caller = Any  # a Session or a Client: the same calls


@pytest.fixture(params=IMPLEMENTATIONS)
def caller_as(request: pytest.FixtureRequest, served: Served) -> Callable[[str], Caller]:
    """``caller_as(role)``: a caller of the default tenant with that role, in process or over
    HTTP (the parameter)."""
    if request.param == "library":
        return served.session
    return served.client


@pytest.fixture
def caller(caller_as: Callable[[str], Caller]) -> Caller:
    """A reader, in process or over HTTP."""
    return caller_as("reader")


@pytest.fixture
def reference(served: Served) -> Session:
    """The in-process reader every implementation's answers are compared with."""
    return served.session("reader")
