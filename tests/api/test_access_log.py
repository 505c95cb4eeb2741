"""One access-log line per HTTP request (logger ``ledgerhouse.access``): method, path, status,
duration in ms, tenant and user once authenticated, and the request id, which the response
also carries (``X-Request-ID``; a caller's own id is kept)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ledgerhouse.api import create_app
from ledgerhouse.api.bodies import server_options
from ledgerhouse.config import load_settings
from tests.conftest import InitCopy


@pytest.fixture
def client(init_copy: InitCopy, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    wh, key = init_copy(tmp_path / "wh")
    with wh, TestClient(create_app(wh)) as c:
        yield c, {"Authorization": f"Bearer {key}"}


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "ledgerhouse.access"]


def test_one_line_per_request_with_tenant_user_and_id(
    client: tuple[TestClient, dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    c, auth = client
    caplog.set_level(logging.INFO, logger="ledgerhouse.access")
    r = c.get("/v1/tables", headers=auth)
    assert r.status_code == 200
    (line,) = _lines(caplog)
    rid = r.headers["x-request-id"]
    assert line.startswith("GET /v1/tables 200 ")
    assert " ms " in line and "tenant=default" in line and "user=" in line
    assert f"request_id={rid}" in line


def test_anonymous_and_refused_requests_are_logged_too(
    client: tuple[TestClient, dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    c, _ = client
    caplog.set_level(logging.INFO, logger="ledgerhouse.access")
    c.get("/healthz", headers={"X-Request-ID": "mine-123"})
    c.get("/v1/tables", headers={"Authorization": "Bearer nope"})
    health, refused = _lines(caplog)
    assert health.startswith("GET /healthz 200 ") and "request_id=mine-123" in health
    assert "tenant=" not in health
    assert refused.startswith("GET /v1/tables 401 ")


def test_server_logs_access_through_ledgerhouse_not_uvicorn(tmp_path: Path) -> None:
    options = server_options(load_settings(root=tmp_path))
    assert options["access_log"] is False
    assert "ledgerhouse.access" in options["log_config"]["loggers"]
