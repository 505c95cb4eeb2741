"""Single sign-on: OIDC bearer tokens verified against a local key set (a JWKS file, or a
JWKS URL served from a thread here: no network), over HTTP and in the library. Each refusal
names the check that failed; a token of one tenant never reads another's data."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from ledgerhouse import Warehouse
from ledgerhouse.access import PLATFORM_TENANT
from ledgerhouse.api import create_app
from ledgerhouse.client import Client
from ledgerhouse.errors import ConfigError, Forbidden, Unauthorized
from ledgerhouse.storage.rows import _now
from ledgerhouse.storage.rows_access import AccessRoleRow
from ledgerhouse.tenancy import OidcConfig, OidcVerifier
from ledgerhouse.tenancy.errors import SsoUnavailable, TokenRefused
from ledgerhouse.tenancy.oidc import FileKeySet, UrlKeySet, bearer_jwt, parse_attribute_claims
from tests.conftest import REF, InitCopy, admin, copy_warehouse

ISS = "https://idp.example.test/realms/ledgerhouse"
AUD = "ledgerhouse-api"
COUNT = "SELECT count(*) AS n FROM dim_portfolio"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwk(public: Any, kid: str, alg: str) -> dict[str, Any]:
    cls = RSAAlgorithm if alg.startswith("RS") else ECAlgorithm
    jwk: dict[str, Any] = cls.to_jwk(public, as_dict=True)
    return {**jwk, "kid": kid, "alg": alg, "use": "sig"}


@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    return {
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ec": ec.generate_private_key(ec.SECP256R1()),
        "rogue": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    }


@pytest.fixture(scope="module")
def jwks_file(tmp_path_factory: pytest.TempPathFactory, keys: dict[str, Any]) -> Path:
    path = tmp_path_factory.mktemp("idp") / "jwks.json"
    path.write_text(
        json.dumps(
            {
                "keys": [
                    _jwk(keys["rsa"].public_key(), "rsa-1", "RS256"),
                    _jwk(keys["ec"].public_key(), "ec-1", "ES256"),
                ]
            }
        )
    )
    return path


Mint = Callable[..., str]


@pytest.fixture(scope="module")
def mint(keys: dict[str, Any]) -> Mint:
    """``mint(key="rsa", kid="rsa-1", alg="RS256", drop=(), **claims)``: a signed token."""

    def make(
        key: str = "rsa",
        kid: str | None = "rsa-1",
        alg: str = "RS256",
        drop: tuple[str, ...] = (),
        **claims: Any,
    ) -> str:
        now = int(time.time())
        payload = {
            "iss": ISS,
            "aud": AUD,
            "sub": "ana",
            "tenant": "acme",
            "roles": ["reader"],
            "iat": now,
            "exp": now + 300,
            **claims,
        }
        for name in drop:
            payload.pop(name)
        headers = {"kid": kid} if kid else {}
        return jwt.encode(payload, keys[key], algorithm=alg, headers=headers)

    return make


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
    keyed_template: tuple[Path, str],
    jwks_file: Path,
) -> Iterator[tuple[TestClient, Warehouse, str]]:
    """A warehouse with single sign-on on: tenant acme holds two portfolios, default none."""
    root = tmp_path_factory.mktemp("sso") / "wh"
    me = copy_warehouse(
        keyed_template[0],
        root,
        oidc_issuer=ISS,
        oidc_audience=AUD,
        oidc_jwks=str(jwks_file),
        oidc_attribute_claims="client=client_id,region=org.region",
    )
    wh = me.warehouse
    wh.create_tenant("acme")
    admin(wh, "acme").ingest("portfolios", REF["portfolios"].encode(), fmt="csv")
    with wh.meta._sessions.begin() as s:  # a role of acme's own (the lead's roles store)
        s.add(AccessRoleRow(tenant_id="acme", name="desk_head", description="", created_at=_now(),
                            created_by="test"))  # fmt: skip
    with TestClient(create_app(wh)) as c:
        yield c, wh, keyed_template[1]
    wh.close()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _count(c: TestClient, token: str) -> int:
    r = c.post("/v1/query/sql", headers=_bearer(token), json={"sql": COUNT})
    assert r.status_code == 200, r.text
    return int(r.json()["rows"][0][0])


# -- accepted ---------------------------------------------------------------------------------
def test_rs256_and_es256_tokens_read_data_as_the_mapped_principal(
    served: tuple[TestClient, Warehouse, str], mint: Mint
) -> None:
    c, wh, _ = served
    rs = mint(roles=["reader", "writer", "no_such_role"])
    es = mint(key="ec", kid="ec-1", alg="ES256", sub="bo", roles="reader desk_head")
    assert _count(c, rs) == 2 and _count(c, es) == 2

    ana = wh.authenticate(f"Bearer {rs}")
    assert (ana.tenant, ana.user, ana.roles, ana.via) == (
        "acme",
        "ana",
        ("reader", "writer"),
        "oidc",
    )
    bo = wh.authenticate(f"Bearer {es}")  # a space-separated roles text; acme's own role kept
    assert (bo.user, bo.roles) == ("bo", ("reader", "desk_head"))
    assert wh.session(bo).query(COUNT).rows() == [[2]]
    # the HTTP client sends a token like a key (not closed: it would close the test client)
    assert Client("http://testserver", token=es, http=c).query(COUNT).rows() == [[2]]


def test_claims_become_the_principals_attributes(
    served: tuple[TestClient, Warehouse, str], mint: Mint
) -> None:
    _, wh, _ = served
    token = mint(
        attributes={"desks": ["Rates", "FX"], "firm": "ACME"},
        client_id=42,
        org={"region": "EMEA"},
    )
    p = wh.authenticate(f"Bearer {token}")
    assert p.attribute_map == {
        "client": ["42"],
        "desks": ["FX", "Rates"],
        "firm": ["ACME"],
        "region": ["EMEA"],
    }
    bad = mint(attributes={"Desks!": ["x"]})
    with pytest.raises(TokenRefused, match="attribute name") as info:
        wh.authenticate(f"Bearer {bad}")
    assert info.value.details["check"] == "attributes"


def test_a_token_of_one_tenant_never_reads_another(
    served: tuple[TestClient, Warehouse, str], mint: Mint
) -> None:
    c, _, _ = served
    assert _count(c, mint(tenant="acme")) == 2
    assert _count(c, mint(tenant="default")) == 0  # default's own (empty) dim_portfolio
    # rewriting the tenant claim of acme's token breaks its signature
    head, _, sig = mint(tenant="default").split(".")
    claims = jwt.decode(mint(tenant="default"), options={"verify_signature": False})
    forged = ".".join([head, _b64(json.dumps({**claims, "tenant": "acme"}).encode()), sig])
    r = c.get("/v1/tables", headers=_bearer(forged))
    assert r.status_code == 401 and r.json()["error"]["details"]["check"] == "signature"


def test_api_keys_keep_working_beside_sso(served: tuple[TestClient, Warehouse, str]) -> None:
    c, wh, key = served
    assert c.get("/v1/tables", headers=_bearer(key)).status_code == 200
    assert wh.authenticate(f"Bearer {key}").via == "key"
    assert bearer_jwt(f"Bearer {key}") is None and bearer_jwt(None) is None


# -- refused ----------------------------------------------------------------------------------
def _alg_none(mint: Mint) -> str:
    _, payload, _ = mint().split(".")
    return f"{_b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{payload}."


def _hs256_with_the_public_key(mint: Mint, keys: dict[str, Any]) -> str:
    pem = (
        keys["rsa"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    _, payload, _ = mint().split(".")
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode())
    sig = hmac.new(pem, f"{head}.{payload}".encode(), hashlib.sha256).digest()
    return f"{head}.{payload}.{_b64(sig)}"


def _tampered(mint: Mint) -> str:
    head, payload, sig = mint().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    return f"{head}.{_b64(json.dumps({**claims, 'roles': ['admin']}).encode())}.{sig}"


now = int(time.time())
REFUSALS: list[tuple[str, Callable[[Mint, dict[str, Any]], str], int, str, str]] = [
    ("wrong issuer", lambda m, k: m(iss="https://evil.test"), 401, "iss", "evil.test"),
    ("wrong audience", lambda m, k: m(aud="another-app"), 401, "aud", "another-app"),
    ("expired", lambda m, k: m(exp=now - 3600), 401, "exp", "expired at"),
    ("not yet valid", lambda m, k: m(nbf=now + 3600), 401, "nbf", "not valid before"),
    ("issued in the future", lambda m, k: m(iat=now + 3600), 401, "iat", "future"),
    ("no exp", lambda m, k: m(drop=("exp",)), 401, "claims", "'exp'"),
    ("alg=none", lambda m, k: _alg_none(m), 401, "algorithm", "not signed (alg=none)"),
    ("HS256 key confusion", _hs256_with_the_public_key, 401, "algorithm", "'HS256'"),
    ("RS512 not accepted", lambda m, k: m(alg="RS512"), 401, "algorithm", "'RS512'"),
    ("ES256 under an RSA kid", lambda m, k: m(key="ec", alg="ES256"), 401, "algorithm", "match"),
    ("unknown kid", lambda m, k: m(kid="rsa-9"), 401, "kid", "'rsa-9'"),
    ("no kid, two keys", lambda m, k: m(kid=None), 401, "kid", "no 'kid'"),
    ("a key not in the set", lambda m, k: m(key="rogue"), 401, "signature", "does not verify"),
    ("tampered payload", lambda m, k: _tampered(m), 401, "signature", "does not verify"),
    ("tenant does not exist", lambda m, k: m(tenant="ghost"), 401, "tenant", "'ghost'"),
    ("no tenant claim", lambda m, k: m(drop=("tenant",)), 401, "tenant", "no 'tenant'"),
    ("bad tenant name", lambda m, k: m(tenant="../acme"), 401, "tenant", "not valid"),
    ("no user", lambda m, k: m(drop=("sub",)), 401, "user", "'sub'"),
    ("no known role", lambda m, k: m(roles=["janitor"]), 403, "roles", "'janitor'"),
    ("roles not a list", lambda m, k: m(roles={"a": 1}), 401, "roles", "not a list"),
    ("garbage", lambda m, k: "abc.def.ghi", 401, "format", "well-formed"),
]


@pytest.mark.parametrize(
    ("build", "status", "check", "says"),
    [pytest.param(*r[1:], id=r[0]) for r in REFUSALS],
)
def test_each_bad_token_is_refused_naming_the_check(
    served: tuple[TestClient, Warehouse, str],
    mint: Mint,
    keys: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    build: Callable[[Mint, dict[str, Any]], str],
    status: int,
    check: str,
    says: str,
) -> None:
    c, wh, _ = served
    token = build(mint, keys)
    with caplog.at_level(logging.DEBUG):
        r = c.post("/v1/query/sql", headers=_bearer(token), json={"sql": COUNT})
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["details"]["check"] == check and says in error["message"], error
    assert error["hint"]
    assert token not in r.text and token not in caplog.text  # never echoed, never logged
    assert "BEGIN" not in r.text and '"n":' not in r.text  # no key material
    with pytest.raises(Forbidden if status == 403 else Unauthorized):
        wh.authenticate(f"Bearer {token}")


def test_a_jwt_without_sso_configured_is_refused_clearly(init_copy: InitCopy, mint: Mint) -> None:
    wh, key = init_copy()
    with wh, TestClient(create_app(wh)) as c:
        r = c.get("/v1/tables", headers=_bearer(mint()))
        assert r.status_code == 401
        assert "single sign-on is not configured" in r.json()["error"]["message"]
        assert "LEDGERHOUSE_OIDC_ISSUER" in r.json()["error"]["hint"]
        assert c.get("/v1/tables", headers=_bearer(key)).status_code == 200


# -- the verifier alone -----------------------------------------------------------------------
class _Tenants:
    def __init__(self, roles: dict[str, set[str]]) -> None:
        self._roles = roles

    def roles(self, tenant: str) -> set[str] | None:
        return self._roles.get(tenant)


def _config(jwks: str, **kw: Any) -> OidcConfig:
    return OidcConfig(issuer=ISS, audience=(AUD,), jwks=jwks, **kw)


def test_platform_role_maps_to_the_platform_principal_only_when_configured(
    jwks_file: Path, mint: Mint
) -> None:
    tenants = _Tenants({"acme": set()})
    token = mint(roles=["platform_admin", "reader"])
    p = OidcVerifier(_config(str(jwks_file)), tenants).principal(token)
    assert (p.tenant, p.roles, p.is_platform_admin) == (PLATFORM_TENANT, ("platform_admin",), True)
    custom = OidcVerifier(_config(str(jwks_file), platform_role="ops"), tenants)
    assert custom.principal(mint(roles=["ops"])).is_platform_admin
    # not configured: platform_admin is no role of a tenant, never granted through a token
    off = OidcVerifier(_config(str(jwks_file), platform_role=None), tenants)
    assert off.principal(token).roles == ("reader",)
    with pytest.raises(Forbidden, match="hold no role"):
        off.principal(mint(roles=["platform_admin"]))


def test_a_rotated_key_set_file_is_read_again(
    tmp_path: Path, keys: dict[str, Any], mint: Mint
) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [_jwk(keys["rsa"].public_key(), "rsa-1", "RS256")]}))
    verifier = OidcVerifier(_config(str(path)), _Tenants({"acme": set()}))
    assert verifier.principal(mint(kid=None)).user == "ana"  # one key: no kid needed
    with pytest.raises(TokenRefused, match="not in the issuer's key set"):
        verifier.principal(mint(key="rogue", kid="rsa-2"))
    rotated = [_jwk(k.public_key(), kid, "RS256") for k, kid in [(keys["rogue"], "rsa-2")]]
    path.write_text(json.dumps({"keys": rotated}))
    assert verifier.principal(mint(key="rogue", kid="rsa-2")).user == "ana"
    with pytest.raises(TokenRefused, match="not in the issuer's key set"):
        verifier.principal(mint())  # the retired key
    path.write_text("not json")
    with pytest.raises(SsoUnavailable, match="not a usable JWKS"):
        FileKeySet(path).key("rsa-1")


class _Jwks(BaseHTTPRequestHandler):
    body: bytes = b"{}"
    fetches: int = 0

    def do_GET(self) -> None:
        type(self).fetches += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def jwks_url() -> Iterator[type[_Jwks]]:
    handler = type("Handler", (_Jwks,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    handler.url = f"http://127.0.0.1:{server.server_address[1]}/jwks"  # type: ignore[attr-defined]
    try:
        yield handler
    finally:
        server.shutdown()
        server.server_close()


def test_a_jwks_url_is_fetched_on_demand_cached_and_refreshed_once_for_a_new_kid(
    jwks_url: type[_Jwks], keys: dict[str, Any], mint: Mint
) -> None:
    url = jwks_url.url  # type: ignore[attr-defined]
    jwks_url.body = json.dumps(
        {"keys": [_jwk(keys["rsa"].public_key(), "rsa-1", "RS256")]}
    ).encode()
    verifier = OidcVerifier(_config(url, jwks_min_refresh_s=0), _Tenants({"acme": set()}))
    assert jwks_url.fetches == 0  # nothing fetched before a token needs it
    assert verifier.principal(mint()).user == "ana"
    assert verifier.principal(mint(sub="bo")).user == "bo"
    assert jwks_url.fetches == 1  # cached
    # the issuer adds a key: a token of it makes one refresh
    jwks_url.body = json.dumps(
        {
            "keys": [
                _jwk(keys["rsa"].public_key(), "rsa-1", "RS256"),
                _jwk(keys["ec"].public_key(), "ec-1", "ES256"),
            ]
        }
    ).encode()
    assert verifier.principal(mint(key="ec", kid="ec-1", alg="ES256")).user == "ana"
    assert jwks_url.fetches == 2
    with pytest.raises(TokenRefused) as info:  # unknown after one refresh: refused
        verifier.principal(mint(kid="rsa-9"))
    assert info.value.details["check"] == "kid" and jwks_url.fetches == 3
    # an unknown kid refreshes at most every jwks_min_refresh_s
    slow = OidcVerifier(_config(url, jwks_min_refresh_s=60), _Tenants({"acme": set()}))
    for _ in range(3):
        with pytest.raises(TokenRefused):
            slow.principal(mint(kid="rsa-9"))
    assert jwks_url.fetches == 4


def test_an_unreachable_jwks_url_is_a_retryable_503(keys: dict[str, Any], mint: Mint) -> None:
    keys_at = UrlKeySet("http://127.0.0.1:9/jwks", refresh_s=60, min_refresh_s=0, timeout_s=1)
    verifier = OidcVerifier(_config("http://127.0.0.1:9/jwks"), _Tenants({}), keys_at)
    with pytest.raises(SsoUnavailable) as info:
        verifier.principal(mint())
    assert info.value.status == 503 and info.value.retryable


def test_settings_are_checked_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="oidc_audience"):
        Warehouse.open(root=tmp_path, oidc_issuer=ISS, oidc_jwks="/keys.json")
    with pytest.raises(ConfigError, match="asymmetric"):
        Warehouse.open(root=tmp_path, oidc_algorithms="RS256,HS256")
    with pytest.raises(ConfigError, match="attribute=claim"):
        parse_attribute_claims("desks")
    assert parse_attribute_claims("desks=desks, client=org.client_id") == (
        ("desks", "desks"),
        ("client", "org.client_id"),
    )
