"""Dependencies shared by the routes (FastAPI `Annotated` aliases)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ledgerhouse.access import Principal, authorize
from ledgerhouse.api.metrics import Metrics
from ledgerhouse.media import format_from_content_type
from ledgerhouse.services import Warehouse
from ledgerhouse.session import Session
from ledgerhouse.tenancy.oidc import bearer_jwt


def get_warehouse(request: Request) -> Warehouse:
    wh: Warehouse = request.app.state.warehouse
    return wh


def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


#: The security scheme every authenticated route declares (Swagger's Authorize button). It
#: only documents: ``authenticate`` reads the header itself, so a missing or malformed one
#: gets its own message rather than the scheme's generic refusal.
BEARER = HTTPBearer(
    scheme_name="bearer",
    description="An API key (`ledgerhouse init` prints one; `POST /v1/keys` makes more), "
    "sent as `Authorization: Bearer <key>`.",
    auto_error=False,
)


async def authenticated(wh: Warehouse, authorization: str | None) -> Principal:
    """The caller of an Authorization header. An API key is checked here (an in-memory hit
    and one primary-key read); a single sign-on token off the event loop, as it may need the
    identity provider's key set fetched (a first token, a key rotation), so one slow provider
    never stalls the other requests."""
    if wh.sso is not None and bearer_jwt(authorization) is not None:
        principal: Principal = await run_in_threadpool(wh.authenticate, authorization)
        return principal
    return wh.authenticate(authorization)


async def get_principal(
    request: Request,
    _scheme: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)] = None,
) -> Principal:
    # async: a sync dependency costs a thread-pool hop on every request; the lookup is an
    # in-memory hit plus one primary-key read of the tenant's key generation (about 0.1 ms
    # with SQLite), which makes a revocation by any process effective on the next request
    early = getattr(request.state, "principal", None)
    if isinstance(early, Principal):  # authenticated before its body was read (api/bodies.py)
        principal = early
    else:
        principal = await authenticated(
            get_warehouse(request), request.headers.get("authorization")
        )
        request.state.principal = principal  # for the access log line (api/metrics.py)
    limiter = getattr(request.app.state, "rate_limiter", None)
    if limiter is not None and not principal.is_platform_admin:  # docs/tenancy/resources.md
        limiter.check(principal.tenant)
    return principal


Caller = Annotated[Principal, Depends(get_principal)]


async def get_session(request: Request, caller: Caller) -> Session:
    """The authenticated caller's session: every route calls the warehouse through it."""
    return get_warehouse(request).session(caller)


Me = Annotated[Session, Depends(get_session)]


@dataclass(frozen=True)
class Upload:
    """An upload's format (from its Content-Type) and its sender, who may ingest: both checked
    before a byte of the upload is read (an unsupported format answers 400 before a 403)."""

    fmt: str
    session: Session


async def get_upload(me: Me, content_type: Annotated[str | None, Header()] = None) -> Upload:
    fmt = format_from_content_type(content_type)
    authorize(me.principal, "ingest")
    return Upload(fmt, me)


Uploader = Annotated[Upload, Depends(get_upload)]
Wh = Annotated[Warehouse, Depends(get_warehouse)]
Meters = Annotated[Metrics, Depends(get_metrics)]
AcceptHeader = Annotated[
    str | None, Header(description="application/json (default), text/csv, Parquet or Arrow.")
]
