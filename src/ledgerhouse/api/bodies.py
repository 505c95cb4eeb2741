"""Request bodies are read after authentication, up to a size, before a deadline.

FastAPI reads a JSON body whole before any dependency runs, the authentication included, and
the server waits for a body as long as the client cares to send it. This plain ASGI middleware
(not BaseHTTPMiddleware, which hides client disconnects from the routes) runs before the app:

- a request with a body to ``/v1/`` is authenticated first: without a valid key, 401 before
  a byte of the body is read (the route's ``Caller`` reuses the principal);
- an ingestion upload streams to its route, which checks the caller's role and then reads it
  up to ``max_upload_bytes``; every other body is read here, up to ``max_json_body_bytes``
  (413 beyond, at once when Content-Length says so), and handed to the route;
- a body still incomplete ``body_read_timeout_s`` after the request began answers 408;
- a response sent before its request body was read whole closes the connection, so the
  server never reads (or waits for) the rest.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledgerhouse.api.deps import authenticated
from ledgerhouse.api.errors import error_response
from ledgerhouse.config import Settings
from ledgerhouse.errors import BodyTimeout, InvalidRequest, LedgerhouseError, PayloadTooLarge
from ledgerhouse.services import Warehouse

#: Routes whose body is an upload, streamed to the route instead of read here.
UPLOADS = re.compile(r"^/v1/ingest/[^/]+$")
#: The routes that run a query under the tenant's admission (SQL, cubes, analytics): refused
#: before their body is read when the tenant's slots and queue are full
QUERIES = re.compile(r"^/v1/(query/sql|cubes/[^/]+/query|analytics/[a-z_]+)$")

#: Most bytes of a request line plus headers `ledgerhouse serve` buffers before they are
#: complete (h11 answers 400 beyond; headers arriving in one socket read are parsed whole).
MAX_HEADER_BYTES = 64 * 1024


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn options for `ledgerhouse serve`: the h11 parser, which bounds the request
    headers (httptools keeps reading headers without limit: 20 MB of them grew the server by
    20 MB), and idle keep-alive connections closed after 5 s."""
    return {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level.lower(),
        # one line per request from ObserveRequests (api/metrics.py), with the tenant, the
        # user and the request id, instead of uvicorn's own access line
        "access_log": False,
        "log_config": _log_config(settings.log_level.upper()),
        "http": "h11",
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
        "timeout_keep_alive": 5,
    }


def _log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging, plus the ``ledgerhouse.access`` lines on stdout."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["ledgerhouse"] = {"format": "%(asctime)s %(message)s"}
    config["handlers"]["ledgerhouse_access"] = {
        "formatter": "ledgerhouse",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stdout",
    }
    config["loggers"]["ledgerhouse.access"] = {
        "handlers": ["ledgerhouse_access"],
        "level": level,
        "propagate": False,
    }
    return config


class BoundedBodies:
    def __init__(self, app: ASGIApp, warehouse: Warehouse) -> None:
        self.app = app
        self.warehouse = warehouse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope) if scope["type"] == "http" else None
        if headers is None or not _has_body(headers):
            await self.app(scope, receive, send)
            return
        settings = self.warehouse.settings
        body = _Body(settings.body_read_timeout_s, receive)
        send = body.closing(send)
        path = scope["path"]
        try:
            if path.startswith("/v1/"):
                principal = await authenticated(self.warehouse, headers.get("authorization"))
                scope.setdefault("state", {})["principal"] = principal
                if QUERIES.match(path) and not principal.is_platform_admin:
                    # a tenant whose slots and queue are full is refused before its body is
                    # read or parsed, after a pause that costs nothing (api/errors.py)
                    refused = self.warehouse.queries.admission.refusal(principal.tenant)
                    if refused is not None:  # counted as throttled; not in the query log
                        self.warehouse.usage.on_throttled(principal.tenant)
                        await asyncio.sleep(settings.overload_pause_s)
                        raise refused
            if scope["method"] == "POST" and UPLOADS.match(path):
                receive = body.receive  # the route checks the role, then reads
            else:
                receive = await body.read_whole(_declared(headers), settings.max_json_body_bytes)
        except LedgerhouseError as exc:
            await error_response(exc)(scope, body.receive, send)
            return
        await self.app(scope, receive, send)


class _Body:
    """One request's body: read within the deadline, and whether it was read whole."""

    def __init__(self, timeout_s: float, receive: Receive) -> None:
        self.timeout_s = timeout_s
        self.deadline = asyncio.get_running_loop().time() + timeout_s
        self.source = receive
        self.complete = False

    async def receive(self) -> Message:
        if self.complete:  # after the body: the client's disconnect, whenever it comes
            return await self.source()
        remaining = self.deadline - asyncio.get_running_loop().time()
        try:
            message = await asyncio.wait_for(self.source(), timeout=max(remaining, 0))
        except TimeoutError:
            raise BodyTimeout(
                f"the request body did not arrive in full within {self.timeout_s:g} s "
                "(body_read_timeout_s)",
                hint="Send the body without pauses; for a slow link or a large upload, raise "
                "LEDGERHOUSE_BODY_READ_TIMEOUT_S.",
                limit_s=self.timeout_s,
                setting="body_read_timeout_s",
            ) from None
        if message["type"] != "http.request" or not message.get("more_body", False):
            self.complete = True
        return message

    async def read_whole(self, declared: int | None, limit: int) -> Receive:
        """Read the body here (up to ``limit`` bytes); return a receive that hands it to the
        app as one message, then passes the client's disconnect through."""
        if declared is not None and declared > limit:
            raise _too_large(f"request body of {declared:,} bytes", limit)
        chunks, size = [], 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise InvalidRequest(
                    "the client left before sending the whole body", hint="Send it again."
                )
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _too_large("request body", limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        pending = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def replay() -> Message:
            return pending.pop() if pending else await self.source()

        return replay

    def closing(self, send: Send) -> Send:
        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start" and not self.complete:
                extra = [(b"connection", b"close")]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        return send_closing


def _has_body(headers: Headers) -> bool:
    return "transfer-encoding" in headers or headers.get("content-length", "0") != "0"


def _declared(headers: Headers) -> int | None:
    value = headers.get("content-length")
    return int(value) if value and value.isdigit() else None


def _too_large(what: str, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"{what} exceeds the {limit:,}-byte limit (max_json_body_bytes)",
        hint="Send a smaller request, or raise LEDGERHOUSE_MAX_JSON_BODY_BYTES.",
        limit=limit,
        setting="max_json_body_bytes",
    )
