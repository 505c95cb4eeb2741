"""Tenancy: who is calling (a Principal) and the API keys that prove it."""

from ledgerhouse.tenancy.models import Principal
from ledgerhouse.tenancy.auth import authenticate, validate_tenant_name

__all__ = ["Principal", "authenticate", "validate_tenant_name"]
