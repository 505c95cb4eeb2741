"""Errors of the query domain."""

from ledgerhouse.errors import QueryFailed, QueryRejected

__all__ = ["QueryFailed", "QueryRejected"]
