"""A Python client for a Ledgerhouse server: the same calls as `Warehouse`, over HTTP.

    from ledgerhouse.client import Client
    lh = Client("http://127.0.0.1:8000", api_key="lh_...")
    report = lh.ingest("trades", "trades.csv", batch_id="trades-2024-06-03")
    df = lh.query("SELECT count(*) AS n FROM fact_trade").to_polars()

Errors come back as the same exception classes the library raises (the class registered for
the envelope's code in ``ledgerhouse.errors.REGISTRY``), carrying the server's message, hint,
details, status and ``retryable``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import polars as pl

# nothing of the server but its errors and media types (tests/test_layers.py)
from ledgerhouse import errors, media


@dataclass
class RemoteResult:
    columns: list[dict[str, str]]
    rows: list[list[Any]]
    commit: int
    query_id: str
    truncated: bool

    def to_polars(self) -> pl.DataFrame:
        names = [c["name"] for c in self.columns]
        return pl.DataFrame(self.rows, schema=names, orient="row")


class Client:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 300.0,
        http: httpx.Client | None = None,
    ) -> None:
        self._http = http or httpx.Client(base_url=base_url, timeout=timeout)
        self._auth = {"Authorization": f"Bearer {api_key}"}

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        headers = {**self._auth, **kw.pop("headers", {})}
        resp = self._http.request(method, path, headers=headers, **kw)
        if resp.status_code >= 400:
            raise _error(resp)
        return resp.json()

    def ingest(
        self,
        dataset: str,
        data: bytes | str | Path,
        *,
        fmt: str | None = None,
        batch_id: str | None = None,
    ) -> dict[str, Any]:
        if isinstance(data, str | Path):
            path = Path(data)
            fmt = fmt or media.format_from_path(path)
            data = path.read_bytes()
        if fmt not in media.UPLOAD_TYPE:
            raise errors.InvalidRequest(
                f"unknown format {fmt!r}", hint="Pass fmt= one of " + ", ".join(media.UPLOAD_TYPE)
            )
        headers = {"Content-Type": media.UPLOAD_TYPE[fmt]}
        if batch_id:
            headers["Idempotency-Key"] = batch_id
        result: dict[str, Any] = self._call(
            "POST", f"/v1/ingest/{dataset}", content=data, headers=headers
        )
        return result

    def query(
        self,
        sql: str,
        *,
        as_of: str | int | None = None,
        limit: int | None = None,
        params: list[Any] | None = None,
    ) -> RemoteResult:
        body = {"sql": sql, "as_of": as_of, "limit": limit, "params": params}
        r = self._call("POST", "/v1/query/sql", json=body)
        return RemoteResult(r["columns"], r["rows"], r["commit"], r["query_id"], r["truncated"])

    def cubes(self, as_of: str | int | None = None) -> list[dict[str, Any]]:
        params = {"as_of": str(as_of)} if as_of is not None else None
        result: list[dict[str, Any]] = self._call("GET", "/v1/cubes", params=params)
        return result

    def cube(
        self,
        cube: str,
        query: dict[str, Any],
        *,
        dry_run: bool = False,
        drill: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Run a cube query (docs/cubes.md); the answer has route, columns, rows, sql, and
        the navigation (levels up and down) of each hierarchy."""
        body = {**query, "dry_run": dry_run, **({"drill": drill} if drill else {})}
        result: dict[str, Any] = self._call("POST", f"/v1/cubes/{cube}/query", json=body)
        return result

    def performance(
        self,
        portfolios: list[str] | None = None,
        *,
        start: str | None = None,
        end: str | None = None,
        as_of: str | int | None = None,
        conventions: dict[str, Any] | None = None,
    ) -> pl.DataFrame:
        """The performance and risk report as a Polars frame (docs/analytics.md)."""
        body = {"portfolios": portfolios, "start": start, "end": end, "as_of": as_of,
                "conventions": conventions}  # fmt: skip
        r = self._call("POST", "/v1/analytics/performance", json=body)
        names = [c["name"] for c in r["columns"]]
        return pl.DataFrame([dict(zip(names, row, strict=True)) for row in r["rows"]])

    def tables(self, as_of: str | int | None = None) -> list[dict[str, Any]]:
        params = {"as_of": str(as_of)} if as_of is not None else None
        result: list[dict[str, Any]] = self._call("GET", "/v1/tables", params=params)
        return result

    def commits(self, limit: int = 100) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/v1/commits", params={"limit": limit})
        return result

    def batch(self, batch_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/v1/ingest/batches/{batch_id}")
        return result

    def batches(self, limit: int = 100) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call(
            "GET", "/v1/ingest/batches", params={"limit": limit}
        )
        return result

    def queries(
        self, *, status: str | None = None, slowest: bool = False, limit: int = 100
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"slowest": slowest, "limit": limit}
        if status:
            params["status"] = status
        result: list[dict[str, Any]] = self._call("GET", "/v1/queries", params=params)
        return result

    def query_entry(self, query_id: str, *, plan: bool = False) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/v1/queries/{query_id}", params={"plan": plan})
        return result

    def create_api_key(self, user: str, roles: list[str]) -> str:
        result: dict[str, Any] = self._call("POST", "/v1/keys", json={"user": user, "roles": roles})
        return str(result["api_key"])

    def list_api_keys(self, *, active: bool = False) -> list[dict[str, Any]]:
        """The tenant's keys (id, user, roles, created_at, last_used_at, revoked_at)."""
        result: list[dict[str, Any]] = self._call("GET", "/v1/keys", params={"active": active})
        return result

    def revoke_api_key(self, key_id: int, *, force: bool = False) -> dict[str, Any]:
        """Revoke a key; the tenant's last admin key raises ApiKeyConflict unless ``force``."""
        result: dict[str, Any] = self._call(
            "POST", f"/v1/keys/{key_id}/revoke", params={"force": force}
        )
        return result

    def rotate_api_key(self, key_id: int) -> dict[str, Any]:
        """A new key for the same user and roles (its secret in ``api_key``, shown once); the
        old one is revoked at once."""
        result: dict[str, Any] = self._call("POST", f"/v1/keys/{key_id}/rotate")
        return result


def _error(resp: httpx.Response) -> errors.LedgerhouseError:
    """The exception of an error answer: the class registered for its code, with the server's
    message, hint, details, status and ``retryable``."""
    try:
        body = resp.json()["error"]
        code, message = str(body.get("code", "")), str(body.get("message", ""))
    except Exception:
        return errors.LedgerhouseError(
            f"HTTP {resp.status_code}: {resp.text[:300]}", hint="Is this a Ledgerhouse server?"
        )
    cls = errors.error_class(code)
    details = body.get("details")
    exc = cls(
        message, hint=str(body.get("hint", "")), **(details if isinstance(details, dict) else {})
    )
    exc.status = resp.status_code
    exc.retryable = bool(body.get("retryable", cls.retryable))
    if cls is errors.LedgerhouseError and code:
        exc.code = code  # a code this client does not know: kept as the server sent it
    return exc
