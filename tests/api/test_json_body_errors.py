"""A body that is not valid JSON says where and why in words a newcomer can act on: a raw
newline inside a JSON string (a multi-line SQL pasted into curl -d) is named as such."""

from __future__ import annotations

from fastapi.testclient import TestClient

from ledgerhouse.api import create_app
from ledgerhouse.session import Session


def test_a_raw_newline_in_a_json_string_is_named(wh: Session) -> None:
    key = wh.create_api_key("ana", ("reader",))
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    with TestClient(create_app(wh.warehouse)) as c:
        r = c.post("/v1/query/sql", headers=headers, content=b'{"sql": "SELECT 1\n  AS x"}')
        assert r.status_code == 400
        error = r.json()["error"]
        assert error["code"] == "invalid_request"
        assert "not valid JSON" in error["message"] and "character 17" in error["message"]
        assert "raw newline" in error["message"] and "\\n" in error["hint"]
        r = c.post("/v1/query/sql", headers=headers, content=b'{"sql": "SELECT 1",}')
        error = r.json()["error"]
        assert r.status_code == 400 and "not valid JSON" in error["message"]
        ok = c.post("/v1/query/sql", headers=headers, content=b'{"sql": "SELECT 1\\n  AS x"}')
        assert ok.status_code == 200 and ok.json()["rows"] == [[1]]
