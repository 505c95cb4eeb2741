"""Tenancy: tenant names, the API keys that prove who is calling, and their management."""

from ledgerhouse.access import Principal, authorize
from ledgerhouse.tenancy.auth import authenticate, validate_tenant_name
from ledgerhouse.tenancy.keys import KeyService
from ledgerhouse.tenancy.oidc import OidcConfig, OidcVerifier

__all__ = [
    "KeyService", "OidcConfig", "OidcVerifier", "Principal", "authenticate", "authorize",
    "validate_tenant_name",
]  # fmt: skip
