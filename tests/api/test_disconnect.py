"""A client that goes away gets its query interrupted on the server (a real server on
loopback: the test client cannot disconnect)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import InitCopy

ENDLESS = "SELECT count(*) FROM dim_date a, dim_date b, dim_date c WHERE a.day + b.day > c.day"


def _interrupted(base: str) -> float:
    text = httpx.get(f"{base}/metrics").text
    found = re.search(r'ledgerhouse_queries_total\{status="error"\} ([0-9.]+)', text)
    return float(found.group(1)) if found else 0.0


def test_disconnect_interrupts_the_query(init_copy: InitCopy, tmp_path: Path, live_server) -> None:  # type: ignore[no-untyped-def]
    wh, key = init_copy(tmp_path / "wh", query_timeout_s=600)
    try:
        with live_server(wh) as base:
            with pytest.raises(httpx.ReadTimeout):
                httpx.post(
                    f"{base}/v1/query/sql",
                    json={"sql": ENDLESS},
                    timeout=1.0,
                    headers={"Authorization": f"Bearer {key}"},
                )
            # The server notices and interrupts: the query ends as an error long before its
            # 600 s limit. Bounded wait, no timing asserted.
            for _ in range(300):
                if _interrupted(base) >= 1:
                    break
                time.sleep(0.1)
            assert _interrupted(base) == 1
    finally:
        wh.close()
