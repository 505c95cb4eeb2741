"""Tenancy: who is calling (a Principal), the API keys that prove it, and what they may do."""

from ledgerhouse.tenancy.auth import authenticate, validate_tenant_name
from ledgerhouse.tenancy.models import Principal
from ledgerhouse.tenancy.permissions import authorize

__all__ = ["Principal", "authenticate", "authorize", "validate_tenant_name"]
