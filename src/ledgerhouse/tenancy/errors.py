"""Errors of tenancy (each with its own code; the root's classes give the HTTP status)."""

from __future__ import annotations

from ledgerhouse.errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    LedgerhouseError,
    NotFound,
    Overloaded,
    Unauthorized,
)


# -- restored (tenant lifecycle, single sign-on): see the schemas helper's report -------------
class TenantSuspended(Forbidden):
    """Every key and token of a suspended tenant is refused; its data is kept (403)."""

    code = "tenant_suspended"


class TenantDeleted(Forbidden):
    """A deleted tenant (retained until purged) refuses every key and token (403)."""

    code = "tenant_deleted"


class TenantExists(Conflict):
    """A tenant of that name exists (or is deleted and retained) (409)."""

    code = "tenant_exists"
    retryable = False  # the same request fails again until the state changes


class TenantStateConflict(Conflict):
    """A lifecycle step the tenant's state does not allow (409)."""

    code = "tenant_state_conflict"
    retryable = False  # the same request fails again until the state changes


class PurgeNotDue(Conflict):
    """A deleted tenant's retention has not passed yet (409)."""

    code = "purge_not_due"
    retryable = False  # the same request fails again until the state changes


class TokenRefused(Unauthorized):
    """An OIDC bearer token that fails a check (401, naming the check)."""

    code = "token_refused"


class SsoUnavailable(LedgerhouseError):
    """The issuer's key set cannot be read (503): retry later."""

    status = 503
    code = "sso_unavailable"
    retryable = True


# -- tenant schemas (docs/tenancy/schemas.md) ---------------------------------------------------


class InvalidSchemaObject(InvalidRequest):
    """A tenant's extension, cube or mart declaration that cannot be accepted (400)."""

    code = "invalid_schema_object"


class SchemaObjectExists(Conflict):
    """A name the tenant's schema or the shared schema already holds (409)."""

    code = "schema_object_exists"


class SchemaObjectInUse(Conflict):
    """An extension or mart a cube or mart of the tenant still reads (409)."""

    code = "schema_object_in_use"


class UnknownSchemaObject(NotFound):
    """No extension, cube or mart of that name in the tenant's schema (404)."""

    code = "unknown_schema_object"


class InvalidResourceValue(InvalidRequest):
    """A resource override out of its range or of the wrong type: the error names the field,
    the value and the allowed range (docs/tenancy/resources.md)."""

    code = "invalid_resource_value"


class StorageQuotaExceeded(LedgerhouseError):
    """The tenant's stored bytes (with the batch sent) would pass its storage quota: nothing
    of the batch is stored."""

    status = 507
    code = "storage_quota_exceeded"
    retryable = False


class RateLimited(Overloaded):
    """The tenant sent more requests than its request rate allows: retry after
    ``retry_after_s``."""

    code = "rate_limited"
