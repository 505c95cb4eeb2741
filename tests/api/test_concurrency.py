"""Under 20 concurrent clients (SQL and cube queries) every query answers correctly or gets
429 with Retry-After; none hangs or fails. A real server on loopback, bounded request count
and time."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from ledgerhouse import Warehouse
from ledgerhouse.access import PLATFORM_ROLE, PLATFORM_TENANT, Principal
from tests.conftest import admin

# heavy enough to overlap (a self-join of the calendar), with a known answer
SQL = "SELECT count(*) FROM dim_date a JOIN dim_date b ON a.month = b.month AND a.year >= b.year"


def test_twenty_clients_get_answers_or_429(tmp_path: Path, live_server) -> None:  # type: ignore[no-untyped-def]
    wh, key = Warehouse.init(
        root=tmp_path / "wh", query_concurrency=2, query_queue=3, query_queue_wait_s=0.5
    )
    expected = admin(wh).query(SQL).rows()[0][0]
    cube = {"measures": ["trades", "notional"], "cache": False}
    expected_cube = admin(wh).cube("trades", cube).rows()[0][0]
    try:
        with live_server(wh) as base:

            def client(i: int) -> list[tuple[int, object]]:
                out = []
                with httpx.Client(
                    base_url=base, timeout=60, headers={"Authorization": f"Bearer {key}"}
                ) as c:
                    for _ in range(5):
                        if i % 2:  # half the clients ask the trades cube
                            r = c.post("/v1/cubes/trades/query", json=cube)
                        else:
                            r = c.post("/v1/query/sql", json={"sql": SQL})
                        if r.status_code == 200:
                            value = r.json()["rows"][0][0]
                            out.append((200, value == (expected_cube if i % 2 else expected)))
                        else:
                            out.append((r.status_code, r.headers.get("retry-after")))
                return out

            with ThreadPoolExecutor(20) as pool:
                results = [r for rs in pool.map(client, range(20)) for r in rs]
        assert len(results) == 100
        answered = [v for s, v in results if s == 200]
        refused = [v for s, v in results if s == 429]
        assert len(answered) + len(refused) == 100, {s for s, _ in results}
        assert answered and all(v is True for v in answered)
        assert refused and all(v is not None and int(str(v)) >= 1 for v in refused)
        # every refusal counted in the usage; the query log holds one a second at most
        wh.query_log.flush()
        platform = Principal(tenant=PLATFORM_TENANT, user="ops", roles=(PLATFORM_ROLE,))
        usage = wh.usage.usage(platform, "default")["tenants"][0]["totals"]
        assert usage["throttled"] == len(refused)
        logged = admin(wh).query_log_entries(status="overloaded", limit=1000)
        assert 1 <= len(logged) <= len(refused)
    finally:
        wh.close()
