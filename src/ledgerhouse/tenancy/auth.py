"""API-key authentication: keys are random, shown once, and stored as SHA-256 hashes."""

from __future__ import annotations

import re

from ledgerhouse.access import Principal
from ledgerhouse.errors import InvalidRequest, Unauthorized
from ledgerhouse.storage.metadata import MetadataStore

#: Matched with fullmatch: ``$`` also matches before a final newline ("abc\n" passed).
_TENANT = re.compile(r"[a-z][a-z0-9_-]{0,62}")


def validate_tenant_name(name: str) -> str:
    if not isinstance(name, str) or not _TENANT.fullmatch(name):
        raise InvalidRequest(
            f"tenant name {name!r} is not valid",
            hint="Use 1-63 characters: lower-case letters, digits, '_' or '-', "
            "starting with a letter.",
        )
    return name


def authenticate(meta: MetadataStore, authorization: str | None) -> Principal:
    """Turn an ``Authorization: Bearer <key>`` header into a Principal."""
    if not authorization:
        raise Unauthorized(
            "missing Authorization header",
            hint="Send 'Authorization: Bearer <key>'; `ledgerhouse init` prints the admin key.",
        )
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized(
            "Authorization must be 'Bearer <key>'",
            hint="Send 'Authorization: Bearer <key>'.",
        )
    info = meta.keys.lookup(key.strip())
    if info is None:
        raise Unauthorized(
            "the API key is not valid (unknown or revoked)",
            hint="Use a key printed by `ledgerhouse init` or `ledgerhouse keys create`.",
        )
    return Principal(
        tenant=info.tenant, user=info.user, roles=info.roles, attributes=info.attributes, via="key"
    )
