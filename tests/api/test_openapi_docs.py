"""The OpenAPI description works from /docs on a network without internet: the Swagger UI
assets are served by the app itself, the Bearer scheme drives Swagger's Authorize button, and
an upload can be sent from the page (issue 12, item 19)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledgerhouse import Warehouse
from ledgerhouse.api import create_app
from ledgerhouse.media import UPLOAD_FORMATS

UNAUTHENTICATED = {"/healthz", "/readyz", "/metrics"}
_URL = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*["']([^"']+)["']""")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    wh, _ = Warehouse.init(root=tmp_path_factory.mktemp("docs") / "wh")
    with TestClient(create_app(wh)) as c:
        yield c
    wh.close()


@pytest.fixture(scope="module")
def spec(client: TestClient) -> dict[str, Any]:
    return client.get("/openapi.json").json()  # type: ignore[no-any-return]


def _referenced(html: str) -> list[str]:
    return [a or b for a, b in _URL.findall(html)]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_load_nothing_from_another_host(client: TestClient, page: str) -> None:
    resp = client.get(page)
    assert resp.status_code == 200 and "text/html" in resp.headers["content-type"]
    assert not re.search(r"https?://", resp.text), resp.text
    assert "fonts.googleapis" not in resp.text


def test_the_swagger_assets_are_served_locally(client: TestClient) -> None:
    urls = _referenced(client.get("/docs").text)
    scripts = [u for u in urls if u.endswith(".js")]
    sheets = [u for u in urls if u.endswith(".css")]
    assert scripts and sheets, urls
    for url in urls:
        assert url.startswith("/"), url  # on this server
        resp = client.get(url)
        assert resp.status_code == 200, url
    for url in scripts:
        resp = client.get(url)
        assert "javascript" in resp.headers["content-type"] and "SwaggerUIBundle" in resp.text
    for url in sheets:
        resp = client.get(url)
        assert resp.headers["content-type"].startswith("text/css") and ".swagger-ui" in resp.text


def test_the_redoc_script_is_served_locally(client: TestClient) -> None:
    scripts = [u for u in _referenced(client.get("/redoc").text) if u.endswith(".js")]
    assert scripts
    for url in scripts:
        resp = client.get(url)
        assert resp.status_code == 200 and "javascript" in resp.headers["content-type"]


def test_the_bearer_scheme_is_declared(spec: dict[str, Any]) -> None:
    schemes = spec["components"]["securitySchemes"]
    assert set(schemes) == {"bearer"}
    bearer = schemes["bearer"]
    assert (bearer["type"], bearer["scheme"]) == ("http", "bearer")
    assert "API key" in bearer["description"]


def test_every_authenticated_route_lists_the_scheme(spec: dict[str, Any]) -> None:
    seen = set()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            security = operation.get("security")
            if path in UNAUTHENTICATED:
                assert security is None, (method, path)
            else:
                assert path.startswith("/v1/"), path
                assert security == [{"bearer": []}], (method, path)
                seen.add(path)
            # the key is the scheme's: no separate Authorization header parameter
            names = {p["name"].lower() for p in operation.get("parameters", [])}
            assert "authorization" not in names, (method, path)
    assert {"/v1/query/sql", "/v1/ingest/{dataset}", "/v1/keys"} <= seen
    assert set(spec["paths"]) >= UNAUTHENTICATED


def test_the_ingest_body_lists_every_upload_type(spec: dict[str, Any]) -> None:
    body = spec["paths"]["/v1/ingest/{dataset}"]["post"]["requestBody"]
    assert body["required"] is True
    content = body["content"]
    assert set(content) == set(UPLOAD_FORMATS)
    assert {
        "text/csv",
        "application/json",
        "application/x-ndjson",
        "application/vnd.apache.parquet",
        "application/vnd.apache.arrow.stream",
        "application/vnd.apache.arrow.file",
    } <= set(content)
    for media, entry in content.items():  # a file picker in Swagger UI
        assert entry["schema"] == {"type": "string", "format": "binary"}, media


def test_nothing_in_the_app_names_a_cdn() -> None:
    api = Path(__file__).parents[2] / "src" / "ledgerhouse" / "api"
    for source in api.rglob("*.py"):
        assert not re.search(r"cdn\.|jsdelivr|unpkg", source.read_text()), source
