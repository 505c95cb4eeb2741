"""Tenant names: the whole name must match (``$`` alone let a trailing newline through)."""

from __future__ import annotations

import pytest

from ledgerhouse.errors import InvalidRequest
from ledgerhouse.tenancy import validate_tenant_name


@pytest.mark.parametrize("name", ["a", "acme", "acme-eu_2", "a" * 63])
def test_valid_names(name: str) -> None:
    assert validate_tenant_name(name) == name


@pytest.mark.parametrize(
    "name", ["abc\n", "abc\r\n", "\nabc", "abc\x00", "", "1abc", "Abc", "a" * 64, "a b", "a/b"]
)
def test_invalid_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidRequest, match="not valid"):
        validate_tenant_name(name)
