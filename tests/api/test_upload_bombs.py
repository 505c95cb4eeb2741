"""A decompression bomb posted to the API is refused with 413, and the server process grows by
far less than the bomb decodes to. Measured in a fresh process (its peak RSS is not blurred by
the rest of the suite): the bomb is built there cheaply, the server warmed up, then the peak
RSS before and after the upload are compared."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

DECODED = 2_000_000 * 1000  # bytes each bomb decodes to
LIMIT = 64 * 1024**2  # the server's max_decoded_bytes

SERVER = r"""
import io, json, resource, sys
import pyarrow as pa, pyarrow.ipc as ipc, pyarrow.parquet as pq
from fastapi.testclient import TestClient
from ledgerhouse import Warehouse
from ledgerhouse.api import create_app

root, kind, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
LONG = "X" * 1000

def peak_mb():
    scale = 1024 if sys.platform != "darwin" else 1024 * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale

def bomb():
    buf = io.BytesIO()
    if kind == "parquet":  # one value, 2M dictionary indices: zstd makes them nothing
        column = pa.DictionaryArray.from_arrays(pa.array([0] * 2_000_000, pa.int32()), [LONG])
        pq.write_table(pa.table({"trade_id": column}), buf, compression="zstd", store_schema=False)
        return buf.getvalue(), "application/vnd.apache.parquet"
    batch = pa.record_batch([pa.array([LONG] * 20_000)], names=["trade_id"])  # 20 MB
    with ipc.new_stream(buf, batch.schema, options=ipc.IpcWriteOptions(compression="zstd")) as w:
        for _ in range(100):  # 2 GB once decompressed
            w.write_batch(batch)
    return buf.getvalue(), "application/vnd.apache.arrow.stream"

wh, key = Warehouse.init(root=root, max_decoded_bytes=limit)
payload, media = bomb()
auth = {"Authorization": f"Bearer {key}"}
with TestClient(create_app(wh)) as c:
    small = io.BytesIO()
    fx = {"currency": ["EUR"], "rate_to_usd": [1.1], "rate_date": ["2024-01-01"]}
    pq.write_table(pa.table(fx), small)
    warm = c.post("/v1/ingest/fx_rates", content=small.getvalue(),
                  headers={**auth, "Content-Type": "application/vnd.apache.parquet"})
    assert warm.status_code == 201, warm.text
    before = peak_mb()
    resp = c.post("/v1/ingest/trades", content=payload, headers={**auth, "Content-Type": media})
    after = peak_mb()
    tables = c.get("/v1/tables", headers=auth).json()
trade_rows = [t["rows"] for t in tables if t["name"] == "fact_trade"]
print(json.dumps({"status": resp.status_code, "body": resp.json(), "payload": len(payload),
                  "growth_mb": after - before, "trade_rows": trade_rows}))
wh.close()
"""


@pytest.mark.slow  # a fresh interpreter per bomb (~5 s each); tests/ingest/test_bounded_decode.py
# refuses the same bombs in process in the default tier, without measuring the RSS
@pytest.mark.parametrize("kind", ["parquet", "arrow"])
def test_a_bomb_is_refused_without_decoding_it(tmp_path: Path, kind: str) -> None:
    run = subprocess.run(
        [sys.executable, "-c", SERVER, str(tmp_path / "wh"), kind, str(LIMIT)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=Path(__file__).parents[2],
    )
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["status"] == 413, got["body"]
    assert got["body"]["error"]["code"] == "payload_too_large"
    assert got["body"]["error"]["details"]["setting"] == "max_decoded_bytes"
    assert got["payload"] < DECODED / 200  # a real bomb: at least 200x
    # 2 GB decoded; the server grew by less than a tenth of it (measured: a few MB)
    assert got["growth_mb"] < DECODED / 10 / 1024**2, got
    assert got["trade_rows"] == [0]
