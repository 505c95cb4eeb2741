"""Tenancy: who is calling (a Principal) and the API keys that prove it."""

from ledgerhouse.tenancy.auth import authenticate, validate_tenant_name
from ledgerhouse.tenancy.models import Principal

__all__ = ["Principal", "authenticate", "validate_tenant_name"]
