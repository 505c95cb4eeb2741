"""Every registered error answers the same envelope, and comes back through the HTTP client as
the same class, with its status, message, hint, details and ``retryable``."""

from __future__ import annotations

import json

import httpx
import pytest

from ledgerhouse.api.errors import error_response
from ledgerhouse.client import Client
from ledgerhouse.errors import REGISTRY, LedgerhouseError, Overloaded, QueryTimeout
from tests.test_errors import _every_error_class

ENVELOPE = {"code", "message", "hint", "retryable", "details"}


def _client_answering(response: httpx.Response) -> Client:
    transport = httpx.MockTransport(lambda request: response)
    return Client(
        "http://server", "lh_key", http=httpx.Client(transport=transport, base_url="http://server")
    )


def _as_served(exc: LedgerhouseError) -> httpx.Response:
    served = error_response(exc, ("/srv/wh",))
    return httpx.Response(served.status_code, headers=dict(served.headers), content=served.body)


_every_error_class()  # register the codes of every module before parametrizing


@pytest.mark.parametrize("code", sorted(REGISTRY))
def test_every_registered_code_round_trips_through_the_client(code: str) -> None:
    cls = REGISTRY[code]
    sent = cls(f"it failed ({code})", hint="Do this.", table="fact_trade", rows=3)
    answer = _as_served(sent)
    body = json.loads(answer.content)
    assert set(body) == {"error"} and set(body["error"]) == ENVELOPE
    assert body["error"]["code"] == code and body["error"]["retryable"] is cls.retryable
    with pytest.raises(LedgerhouseError) as info:
        _client_answering(answer).tables()
    got = info.value
    assert type(got) is cls
    assert (got.code, got.status, got.retryable) == (code, cls.status, cls.retryable)
    assert (got.message, got.hint) == (sent.message, sent.hint)
    assert got.details == {"table": "fact_trade", "rows": 3}


def test_a_remote_429_or_408_is_retryable() -> None:
    busy = _as_served(Overloaded("too many queries", retry_after_s=2))
    assert busy.headers["retry-after"] == "2"
    with pytest.raises(Overloaded) as info:
        _client_answering(busy).query("SELECT 1")
    assert info.value.retryable and info.value.details["retry_after_s"] == 2
    with pytest.raises(QueryTimeout) as timeout:
        _client_answering(_as_served(QueryTimeout("interrupted"))).query("SELECT 1")
    assert timeout.value.retryable and timeout.value.status == 408


def test_an_unknown_code_keeps_the_servers_fields() -> None:
    body = {"error": {"code": "from_the_future", "message": "m", "hint": "h",
                      "retryable": True, "details": {"x": 1}}}  # fmt: skip
    with pytest.raises(LedgerhouseError) as info:
        _client_answering(httpx.Response(418, json=body)).tables()
    got = info.value
    assert type(got) is LedgerhouseError
    assert (got.code, got.status, got.retryable, got.details) == (
        "from_the_future",
        418,
        True,
        {"x": 1},
    )
