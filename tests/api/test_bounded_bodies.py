"""Request bodies an attacker sends: read only after authentication, only up to a size, only
until a deadline (api/bodies.py). Each request that must not be read streams its body from a
generator that records how much the server pulled."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from ledgerhouse.api import create_app
from tests.conftest import REF, InitCopy, admin

CHUNK = 1024**2


class Recorder:
    """A request body of ``total`` bytes that counts the bytes the server consumed."""

    def __init__(self, total: int, prefix: bytes = b"") -> None:
        self.total, self.prefix, self.sent = total, prefix, 0

    async def body(self) -> AsyncIterator[bytes]:
        if self.prefix:
            self.sent += len(self.prefix)
            yield self.prefix
        while self.sent < self.total:
            self.sent += CHUNK
            yield b"x" * CHUNK


def _post(app: Any, path: str, content: Any, headers: dict[str, str]) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            return await c.post(path, content=content, headers=headers)

    return asyncio.run(go())


def _envelope(resp: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "hint", "retryable", "details"}
    assert body["error"]["code"] == code and body["error"]["hint"]
    return body["error"]  # type: ignore[no-any-return]


def test_a_readers_upload_is_refused_before_it_is_read(init_copy: InitCopy, tmp_path: Path) -> None:
    wh, admin_key = init_copy(tmp_path / "wh")
    try:
        reader = admin(wh).create_api_key("ana", ("reader",))
        upload = Recorder(300 * CHUNK)
        resp = _post(
            create_app(wh),
            "/v1/ingest/trades",
            upload.body(),
            {"Authorization": f"Bearer {reader}", "Content-Type": "text/csv"},
        )
        _envelope(resp, 403, "forbidden")
        assert upload.sent <= CHUNK, f"the server read {upload.sent:,} bytes before the 403"
        assert resp.headers["connection"] == "close"  # the rest is never read
        # a writer's upload of the same route still goes through
        ok = _post(
            create_app(wh),
            "/v1/ingest/fx_rates",
            REF["fx_rates"].encode(),
            {"Authorization": f"Bearer {admin_key}", "Content-Type": "text/csv"},
        )
        assert ok.status_code == 201, ok.text
        assert "connection" not in ok.headers
    finally:
        wh.close()


def test_an_unauthenticated_json_body_is_not_read(init_copy: InitCopy, tmp_path: Path) -> None:
    wh, _key = init_copy(tmp_path / "wh")
    try:
        for auth in ({}, {"Authorization": "Bearer nope"}):
            body = Recorder(500 * CHUNK, prefix=b'{"sql": "SELECT 1", "pad": "')
            resp = _post(
                create_app(wh),
                "/v1/query/sql",
                body.body(),
                {**auth, "Content-Type": "application/json"},
            )
            _envelope(resp, 401, "unauthorized")
            assert resp.headers["www-authenticate"] == "Bearer"
            assert body.sent <= CHUNK, f"the server read {body.sent:,} bytes before the 401"
        for route in ("/v1/cubes/trading/query", "/v1/analytics/pnl", "/v1/keys"):
            body = Recorder(100 * CHUNK, prefix=b"{")
            _envelope(_post(create_app(wh), route, body.body(), {}), 401, "unauthorized")
            assert body.sent <= CHUNK
    finally:
        wh.close()


def test_a_json_body_past_the_limit_is_refused(init_copy: InitCopy, tmp_path: Path) -> None:
    wh, key = init_copy(tmp_path / "wh", max_json_body_bytes=4096)
    auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    try:
        # chunked, no Content-Length: read up to the limit, then 413
        body = Recorder(200 * CHUNK, prefix=b'{"sql": "SELECT 1", "pad": "')
        err = _envelope(
            _post(create_app(wh), "/v1/query/sql", body.body(), auth), 413, "payload_too_large"
        )
        assert "4,096-byte limit" in err["message"]
        assert err["details"]["setting"] == "max_json_body_bytes"
        assert body.sent <= 2 * CHUNK
        # a declared Content-Length past the limit: 413 before reading
        big = b'{"sql": "SELECT 1", "pad": "' + b"x" * 10_000 + b'"}'
        err = _envelope(_post(create_app(wh), "/v1/query/sql", big, auth), 413, "payload_too_large")
        assert "10,030 bytes" in err["message"]
        # below the limit the query answers as before
        ok = _post(create_app(wh), "/v1/query/sql", b'{"sql": "SELECT 1 AS x"}', auth)
        assert ok.status_code == 200 and ok.json()["rows"] == [[1]], ok.text
    finally:
        wh.close()


def _raw_request(base: str, head: bytes, body: bytes = b"", wait_s: float = 10.0) -> bytes:
    """Send the request head and part of a body, then stall; return what the server answers
    until it closes the connection."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=wait_s) as s:
        s.sendall(head + body)
        received = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:  # the server closed the connection
                return received
            received += chunk


def test_a_stalled_body_gets_408_and_the_connection_is_closed(
    init_copy: InitCopy,
    tmp_path: Path,
    live_server,  # type: ignore[no-untyped-def]
) -> None:
    wh, key = init_copy(tmp_path / "wh", body_read_timeout_s=1)
    try:
        with live_server(wh) as base:
            for path, ctype in (
                ("/v1/query/sql", "application/json"),
                ("/v1/ingest/trades", "text/csv"),
            ):
                head = (
                    f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
                    f"Content-Type: {ctype}\r\nContent-Length: 100000\r\n\r\n"
                ).encode()
                started = time.monotonic()
                answer = _raw_request(base, head, b'{"sql": "SEL')  # ... and nothing more
                elapsed = time.monotonic() - started
                assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
                assert b'"code":"body_timeout"' in answer and b"connection: close" in answer
                assert elapsed < 8, f"{path}: answered after {elapsed:.1f} s, deadline 1 s"
            # an unauthenticated client announcing 1 GB is answered at once, without a byte read
            head = (
                b"POST /v1/query/sql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 1000000000\r\n\r\n"
            )
            answer = _raw_request(base, head)
            assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]
            # the server still answers
            assert httpx.get(f"{base}/healthz").status_code == 200
    finally:
        wh.close()
