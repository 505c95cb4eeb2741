"""Single sign-on: OIDC bearer tokens (JWTs signed by an identity provider) verified against
the issuer's public key set, and the Principal their claims map to (docs/tenancy/sso.md).

A token is refused unless all of these hold, each refusal a 401 naming the check that failed
(``details.check``): a well-formed JWT; its ``alg`` one of ``oidc_algorithms`` (asymmetric
only, so ``none`` and HS256 signed with the public key as secret are refused before any key
is looked at); its ``kid`` in the key set (a JWKS URL is fetched again once, then refused);
the signature verifies with that key, under the algorithm the key is bound to; ``iss`` is the
issuer, ``aud`` names the audience, ``exp`` has not passed and ``nbf``/``iat`` are not in the
future (``oidc_leeway_s`` of clock skew); and the claims name an existing tenant, a user and a
role known to that tenant. Headers that point elsewhere for keys (``jku``, ``x5u``, ``jwk``)
are never followed. Nothing is fetched or read until a token needs the key set, and a token's
text is never logged nor put in a message.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import jwt
from sqlalchemy import bindparam, select

from ledgerhouse.access import PLATFORM_ROLE, PLATFORM_TENANT, ROLES, Principal
from ledgerhouse.errors import ConfigError, Forbidden, InvalidRequest
from ledgerhouse.storage.rows import TenantRow
from ledgerhouse.storage.rows_access import AccessRoleRow
from ledgerhouse.tenancy.auth import validate_tenant_name
from ledgerhouse.tenancy.errors import SsoUnavailable, TokenRefused

if TYPE_CHECKING:
    from ledgerhouse.config import Settings
    from ledgerhouse.storage.metadata import MetadataStore

log = logging.getLogger("ledgerhouse.sso")

#: Three base64url parts (the signature is empty in an ``alg=none`` token, which is refused
#: here rather than sent to the API-key path). An API key (``lh_...``) has no dot.
_JWT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
#: A token longer than this is refused before it is parsed (an identity provider's are ~1-2 KB).
MAX_TOKEN_CHARS = 16_384
_USER_CHARS = 128
_SETTINGS = "LEDGERHOUSE_OIDC_"


def bearer_jwt(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <jwt>`` header when it looks like a JWT (three
    dot-separated base64url parts), else None (an API key, or no header: the key path)."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or value.count(".") != 2 or not _JWT.fullmatch(value):
        return None
    return value


@dataclass(frozen=True)
class OidcConfig:
    """The single sign-on settings, parsed once (``from_settings``)."""

    issuer: str
    audience: tuple[str, ...]
    jwks: str
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    leeway_s: float = 30.0
    tenant_claim: str = "tenant"
    user_claim: str = "sub"
    roles_claim: str = "roles"
    attributes_claim: str | None = "attributes"
    #: (attribute name, claim path) pairs from ``oidc_attribute_claims``
    attribute_claims: tuple[tuple[str, str], ...] = ()
    platform_role: str | None = PLATFORM_ROLE
    jwks_refresh_s: float = 300.0
    jwks_min_refresh_s: float = 10.0
    jwks_timeout_s: float = 5.0

    @classmethod
    def from_settings(cls, settings: Settings) -> OidcConfig | None:
        """The configuration, or None when single sign-on is off (no ``oidc_issuer``)."""
        if not settings.oidc_issuer:
            return None
        assert settings.oidc_audience and settings.oidc_jwks  # config.py refuses otherwise
        return cls(
            issuer=settings.oidc_issuer,
            audience=tuple(a.strip() for a in settings.oidc_audience.split(",") if a.strip()),
            jwks=settings.oidc_jwks,
            algorithms=tuple(settings.oidc_algorithms.split(",")),
            leeway_s=settings.oidc_leeway_s,
            tenant_claim=settings.oidc_tenant_claim,
            user_claim=settings.oidc_user_claim,
            roles_claim=settings.oidc_roles_claim,
            attributes_claim=settings.oidc_attributes_claim or None,
            attribute_claims=parse_attribute_claims(settings.oidc_attribute_claims),
            platform_role=settings.oidc_platform_role or None,
            jwks_refresh_s=settings.oidc_jwks_refresh_s,
            jwks_min_refresh_s=settings.oidc_jwks_min_refresh_s,
            jwks_timeout_s=settings.oidc_jwks_timeout_s,
        )


_ATTR = re.compile(r"[a-z][a-z0-9_]{0,62}")
_CLAIM_PATH = re.compile(r"[A-Za-z0-9_:/.-]{1,128}")


def parse_attribute_claims(text: str | None) -> tuple[tuple[str, str], ...]:
    """``"desks=desks,client=org.client_id"`` -> ``(("desks", "desks"), ("client",
    "org.client_id"))``: attribute name = claim (a dotted path reads a nested object)."""
    pairs: list[tuple[str, str]] = []
    for item in (text or "").split(","):
        if not item.strip():
            continue
        name, sep, claim = (p.strip() for p in item.partition("="))
        if not sep or not _ATTR.fullmatch(name) or not _CLAIM_PATH.fullmatch(claim):
            raise ConfigError(
                f"oidc_attribute_claims item {item.strip()!r:.80} is not `attribute=claim`",
                hint="Write e.g. LEDGERHOUSE_OIDC_ATTRIBUTE_CLAIMS='desks=desks,client=client_id'"
                " (attribute: lower-case letters, digits, '_').",
            )
        pairs.append((name, claim))
    return tuple(pairs)


# -- key sets ---------------------------------------------------------------------------------
class KeySet(Protocol):
    def key(self, kid: str | None) -> jwt.PyJWK: ...


def _refused(check: str, message: str, hint: str, **details: Any) -> TokenRefused:
    return TokenRefused(message, hint=hint, check=check, **details)


def _one_key(keys: list[jwt.PyJWK], kid: str | None) -> jwt.PyJWK | None:
    """The signing key of ``kid``; with no kid, the set's only signing key."""
    signing = [k for k in keys if k.public_key_use in ("sig", None)]
    if kid is None:
        if len(signing) == 1:
            return signing[0]
        raise _refused(
            "kid",
            f"the token names no key (no 'kid' header) and the key set has {len(signing)} "
            "signing keys",
            "Have the identity provider put the key id (kid) in the token's header.",
        )
    return next((k for k in signing if k.key_id == kid), None)


def _unknown_kid(kid: str | None) -> TokenRefused:
    return _refused(
        "kid",
        f"the token's key id {kid!r:.80} is not in the issuer's key set",
        "Sign in again for a token of a current key; if the issuer rotated its keys, check "
        f"that {_SETTINGS}JWKS points at its current key set.",
        kid=str(kid)[:80],
    )


class FileKeySet:
    """A JWKS file, read when a token first needs it and again when it changes on disk (a
    rotated key set is picked up without a restart)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._keys: list[jwt.PyJWK] = []

    def _load(self) -> list[jwt.PyJWK]:
        try:
            st = os.stat(self.path)
        except OSError as exc:
            raise SsoUnavailable(
                f"the key set file {self.path} cannot be read ({exc.strerror})",
                hint=f"Point {_SETTINGS}JWKS at the issuer's JWKS file or URL.",
            ) from None
        stamp = (st.st_mtime_ns, st.st_size)
        with self._lock:
            if stamp != self._stamp:
                self._keys = _parse_key_set(self.path.read_bytes(), str(self.path))
                self._stamp = stamp
            return self._keys

    def key(self, kid: str | None) -> jwt.PyJWK:
        found = _one_key(self._load(), kid)
        if found is None:
            raise _unknown_kid(kid)
        return found


def _parse_key_set(data: bytes, where: str) -> list[jwt.PyJWK]:
    try:
        return list(jwt.PyJWKSet.from_dict(json.loads(data)).keys)
    except (ValueError, TypeError, AttributeError, jwt.PyJWKSetError, jwt.PyJWKError) as exc:
        # the message of pyjwt names the problem, not key material (checked for a bad key)
        raise SsoUnavailable(
            f"the key set {where} is not a usable JWKS ({type(exc).__name__})",
            hint='Give a JSON Web Key Set: {"keys": [{"kty": "RSA", "kid": ..., "n": ..., '
            '"e": ...}]} with public keys.',
        ) from None


class UrlKeySet:
    """A JWKS URL, fetched (``timeout_s``) when a token first needs it, used for
    ``refresh_s``, and fetched again once for an unknown kid (at most every
    ``min_refresh_s``): pyjwt's ``PyJWKClient``."""

    def __init__(self, url: str, *, refresh_s: float, min_refresh_s: float, timeout_s: float):
        self.url = url
        self.client = jwt.PyJWKClient(
            url,
            cache_jwk_set=True,
            lifespan=refresh_s,
            timeout=timeout_s,
            cooldown_duration=min_refresh_s,
        )

    def key(self, kid: str | None) -> jwt.PyJWK:
        try:
            if kid is None:
                found = _one_key(self.client.get_signing_keys(), None)
                assert found is not None
                return found
            return self.client.get_signing_key(kid)
        except jwt.PyJWKClientConnectionError:
            raise SsoUnavailable(
                f"the issuer's key set {self.url} cannot be fetched",
                hint="Try again; if it persists, check that the JWKS URL is reachable from "
                f"the server ({_SETTINGS}JWKS).",
            ) from None
        except jwt.PyJWKClientError as exc:
            if "Unable to find a signing key" in str(exc):
                raise _unknown_kid(kid) from None
            raise SsoUnavailable(
                f"the issuer's key set {self.url} is not usable: {exc}",
                hint=f"Check {_SETTINGS}JWKS: it must answer a JWKS with signing keys.",
            ) from None
        except (jwt.PyJWKSetError, jwt.PyJWKError) as exc:
            raise SsoUnavailable(
                f"the issuer's key set {self.url} is not a usable JWKS ({type(exc).__name__})",
                hint=f"Check {_SETTINGS}JWKS.",
            ) from None


def key_set(config: OidcConfig) -> KeySet:
    where = config.jwks.strip()
    if where.startswith(("http://", "https://")):
        return UrlKeySet(
            where,
            refresh_s=config.jwks_refresh_s,
            min_refresh_s=config.jwks_min_refresh_s,
            timeout_s=config.jwks_timeout_s,
        )
    return FileKeySet(Path(where.removeprefix("file://")).expanduser())


# -- tenants ----------------------------------------------------------------------------------
class TenantDirectory(Protocol):
    def roles(self, tenant: str) -> Collection[str] | None:
        """The tenant's own role names, or None when the tenant does not exist."""
        ...


_TENANT_ROLES = (
    select(TenantRow.id, AccessRoleRow.name)
    .outerjoin(AccessRoleRow, AccessRoleRow.tenant_id == TenantRow.id)
    .where(TenantRow.id == bindparam("tenant"))
)


class MetadataTenants:
    """Tenants and their own roles in the metadata store: one primary-key read a token."""

    def __init__(self, meta: MetadataStore) -> None:
        self.meta = meta

    def roles(self, tenant: str) -> Collection[str] | None:
        with self.meta.engine.connect() as conn:
            rows = conn.execute(_TENANT_ROLES, {"tenant": tenant}).all()
        return None if not rows else {name for _, name in rows if name}


# -- the verifier -----------------------------------------------------------------------------
_CLAIM_CHECKS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "exp"),
    (jwt.InvalidIssuedAtError, "iat"),
    (jwt.ImmatureSignatureError, "nbf"),
    (jwt.InvalidIssuerError, "iss"),
    (jwt.InvalidAudienceError, "aud"),
    (jwt.MissingRequiredClaimError, "claims"),
    (jwt.InvalidSignatureError, "signature"),
    (jwt.InvalidAlgorithmError, "algorithm"),
)


class OidcVerifier:
    """Verifies single sign-on tokens and maps their claims to a Principal (``via="oidc"``)."""

    def __init__(
        self, config: OidcConfig, tenants: TenantDirectory, keys: KeySet | None = None
    ) -> None:
        self.config = config
        self.tenants = tenants
        self.keys = keys or key_set(config)
        self._decoder = jwt.PyJWT()

    def principal(self, token: str) -> Principal:
        """The Principal of a verified token (TokenRefused 401 / Forbidden 403 when not)."""
        try:
            return self._principal(self.claims(token))
        except (TokenRefused, Forbidden) as exc:
            log.info("single sign-on token refused: %s", exc.details.get("check", "?"))
            raise

    def claims(self, token: str) -> dict[str, Any]:
        """The claims of a token whose signature, issuer, audience and times verify."""
        c = self.config
        header = _header(token)
        alg = header.get("alg")
        if alg not in c.algorithms:
            if isinstance(alg, str) and alg.lower() == "none":
                message = "the token is not signed (alg=none); an unsigned token proves nothing"
            else:
                message = f"the token's algorithm {alg!r:.40} is not accepted"
            raise _refused(
                "algorithm",
                f"{message} (accepted: {', '.join(c.algorithms)})",
                f"Use a token signed by the issuer with {' or '.join(c.algorithms)}; "
                f"{_SETTINGS}ALGORITHMS lists the accepted ones.",
                alg=str(alg)[:40],
            )
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise _refused("kid", "the token's 'kid' header is not a text", "Sign in again.")
        key = self.keys.key(kid)
        try:
            return self._decoder.decode(
                token,
                key,
                algorithms=list(c.algorithms),
                audience=list(c.audience),
                issuer=c.issuer,
                leeway=c.leeway_s,
                options={"require": ["exp", "iss", "aud"], "strict_aud": False},
            )
        except jwt.PyJWTError as exc:
            raise self._why(exc, token, kid) from None

    def _why(self, exc: jwt.PyJWTError, token: str, kid: str | None) -> TokenRefused:
        """A refusal naming the check that failed and what to do (never the key)."""
        c = self.config
        check = next((name for cls, name in _CLAIM_CHECKS if isinstance(exc, cls)), "format")
        if check == "nbf" and "(iat)" in str(exc):  # pyjwt: an iat in the future is immature
            check = "iat"
        # checked after the signature verified: the claims quoted are the issuer's own
        claims = _unverified(token) if check in ("exp", "nbf", "iat", "iss", "aud") else {}
        sign_in = "Sign in again to get a new token from the identity provider."
        if check == "exp":
            when = _when(claims.get("exp"))
            return _refused(
                "exp", f"the token expired at {when} (leeway {c.leeway_s:g} s)", sign_in
            )
        if check == "nbf":
            when = _when(claims.get("nbf"))
            return _refused(
                "nbf",
                f"the token is not valid before {when} (leeway {c.leeway_s:g} s)",
                "Check the clocks of the identity provider and this server, or wait.",
            )
        if check == "iat":
            return _refused(
                "iat",
                "the token says it was issued in the future (iat)",
                "Check the clocks of the identity provider and this server.",
            )
        if check == "iss":
            return _refused(
                "iss",
                f"the token's issuer {claims.get('iss')!r:.120} is not the configured issuer "
                f"{c.issuer!r}",
                f"Use a token of {c.issuer}, or set {_SETTINGS}ISSUER to the issuer you trust.",
            )
        if check == "aud":
            return _refused(
                "aud",
                f"the token's audience {claims.get('aud')!r:.120} does not name "
                f"{' or '.join(repr(a) for a in c.audience)}",
                f"Request a token for this server's audience, or fix {_SETTINGS}AUDIENCE.",
            )
        if check == "claims":
            claim = getattr(exc, "claim", "?")
            return _refused(
                "claims",
                f"the token has no {claim!r} claim",
                "Have the identity provider issue tokens with exp, iss and aud.",
                claim=claim,
            )
        if check == "signature":
            return _refused(
                "signature",
                f"the token's signature does not verify with key {kid!r:.80} of the issuer's "
                "key set (tampered, or signed by another key)",
                "Use a token exactly as the identity provider issued it.",
            )
        if check == "algorithm":
            return _refused(
                "algorithm",
                f"the token's algorithm does not match key {kid!r:.80} of the key set",
                "Give each JWK its 'alg', or have the provider sign with the key's algorithm.",
            )
        # pyjwt's own message names the problem (never the key nor the token)
        return _refused("format", f"the token is not valid: {exc}"[:300], sign_in)

    def _principal(self, claims: Mapping[str, Any]) -> Principal:
        c = self.config
        user = _claim(claims, c.user_claim)
        if not isinstance(user, str) or not user.strip() or len(user) > _USER_CHARS:
            raise _refused(
                "user",
                f"the token's {c.user_claim!r} claim does not name a user (a text of 1-"
                f"{_USER_CHARS} characters)",
                f"Have the identity provider set it, or point {_SETTINGS}USER_CLAIM at the "
                "claim that names the user.",
            )
        roles = _roles(_claim(claims, c.roles_claim), c.roles_claim)
        if c.platform_role and c.platform_role in roles:
            return Principal(PLATFORM_TENANT, user, (PLATFORM_ROLE,), via="oidc")
        tenant = self._tenant(_claim(claims, c.tenant_claim))
        own = self.tenants.roles(tenant)
        if own is None:
            raise _refused(
                "tenant",
                f"tenant {tenant!r} (the token's {c.tenant_claim!r} claim) does not exist",
                "Ask a platform admin to create the tenant, or fix the identity provider's "
                "tenant claim.",
                tenant=tenant,
            )
        known = set(ROLES) | (set(own) - {PLATFORM_ROLE})
        kept = tuple(r for r in roles if r in known)
        if not kept:
            raise Forbidden(
                f"the token's roles {list(roles)[:10]} hold no role of tenant {tenant!r}",
                hint=f"Give the user one of {', '.join(ROLES)} (or a role the tenant created) "
                f"in the {c.roles_claim!r} claim.",
                check="roles",
                tenant=tenant,
            )
        try:
            return Principal(tenant, user, kept, self._attributes(claims), via="oidc")
        except InvalidRequest as exc:  # an attribute's name or value
            raise _refused(
                "attributes", f"the token's attributes: {exc.message}", exc.hint
            ) from None

    def _tenant(self, value: Any) -> str:
        c = self.config
        if value is None:
            raise _refused(
                "tenant",
                f"the token has no {c.tenant_claim!r} claim naming the tenant",
                "Have the identity provider add it, or point "
                f"{_SETTINGS}TENANT_CLAIM at the claim that names the tenant.",
            )
        try:
            return validate_tenant_name(value)
        except InvalidRequest as exc:
            raise _refused(
                "tenant", f"the token's {c.tenant_claim!r} claim: {exc.message}", exc.hint
            ) from None

    def _attributes(self, claims: Mapping[str, Any]) -> dict[str, Any]:
        c = self.config
        out: dict[str, Any] = {}
        if c.attributes_claim:
            given = _claim(claims, c.attributes_claim)
            if given is not None and not isinstance(given, dict):
                raise _refused(
                    "attributes",
                    f"the token's {c.attributes_claim!r} claim is not an object",
                    'Give {"desks": ["Rates"], ...}, or set '
                    f"{_SETTINGS}ATTRIBUTES_CLAIM to the claim that holds one.",
                )
            out.update(given or {})
        for name, path in c.attribute_claims:  # a single claim mapped wins over the object
            value = _claim(claims, path)
            if value is not None:
                out[name] = value
        return out


def _header(token: str) -> dict[str, Any]:
    if len(token) > MAX_TOKEN_CHARS:
        raise _refused(
            "format",
            f"the token is {len(token)} characters; at most {MAX_TOKEN_CHARS} are read",
            "Send the identity provider's access token as issued.",
        )
    try:
        return jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise _refused(
            "format",
            "the token is not a well-formed JWT (its header is not base64url JSON)",
            "Send 'Authorization: Bearer <token>' with the token as issued, or an API key.",
        ) from None


def _unverified(token: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
        return claims
    except jwt.PyJWTError:
        return {}


def _when(value: Any) -> str:
    try:
        return datetime.fromtimestamp(float(value), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (TypeError, ValueError, OverflowError, OSError):
        return repr(value)[:40]


def _claim(claims: Mapping[str, Any], path: str) -> Any:
    """A claim by name; a dotted name that is not a claim itself reads nested objects."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _roles(value: Any, claim: str) -> tuple[str, ...]:
    """A list of names, or a space-separated text (OAuth's ``scope`` style), deduplicated."""
    if value is None:
        return ()
    names = value.split() if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise _refused(
            "roles",
            f"the token's {claim!r} claim is not a list of role names",
            'Give ["reader", ...] or "reader writer".',
        )
    return tuple(dict.fromkeys(n.strip() for n in names if n.strip()))


def sso_not_configured() -> TokenRefused:
    return _refused(
        "configuration",
        "the bearer value is a JWT, but single sign-on is not configured on this server",
        f"Set {_SETTINGS}ISSUER, {_SETTINGS}AUDIENCE and {_SETTINGS}JWKS (docs/tenancy/sso.md),"
        " or send an API key.",
    )


def build_verifier(settings: Settings, meta: MetadataStore) -> OidcVerifier | None:
    """The verifier of the settings (None when single sign-on is off); reads nothing yet."""
    config = OidcConfig.from_settings(settings)
    return None if config is None else OidcVerifier(config, MetadataTenants(meta))
