"""Query: the SQL guard and guarded SQL over a pinned warehouse commit."""

from ledgerhouse.query.catalog import Catalog
from ledgerhouse.query.guard import CheckedQuery, check_query
from ledgerhouse.query.service import AsOf, CancelToken, Explain, QueryResult, QueryService

__all__ = [
    "AsOf",
    "CancelToken",
    "Catalog",
    "CheckedQuery",
    "Explain",
    "QueryResult",
    "QueryService",
    "check_query",
]
