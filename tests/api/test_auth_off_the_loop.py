"""A single sign-on token is checked off the event loop (its key set may have to be fetched
from the identity provider), an API key on it (an in-memory hit and one primary-key read)."""

from __future__ import annotations

import threading
from typing import Any

from fastapi.testclient import TestClient

from ledgerhouse.api import create_app
from ledgerhouse.session import Session

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"  # three base64url parts


def test_a_token_is_checked_off_the_event_loop_and_a_key_on_it(
    wh: Session, monkeypatch: Any
) -> None:
    warehouse = wh.warehouse
    key = wh.create_api_key("rita", ("reader",))
    real = warehouse.authenticate
    seen: dict[str, str] = {}

    def recording(authorization: str | None) -> Any:
        kind = "token" if authorization and authorization.endswith(JWT) else "key"
        seen[kind] = threading.current_thread().name
        return real(f"Bearer {key}")  # the same principal either way

    monkeypatch.setattr(warehouse, "authenticate", recording)
    monkeypatch.setattr(warehouse, "sso", object())  # single sign-on configured
    with TestClient(create_app(warehouse)) as client:
        for bearer in (key, JWT):
            r = client.get("/v1/tables", headers={"Authorization": f"Bearer {bearer}"})
            assert r.status_code == 200, r.text
    assert set(seen) == {"key", "token"}
    assert seen["token"] != seen["key"]  # a worker thread, not the loop's
