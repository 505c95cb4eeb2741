"""Query: the SQL guard and guarded SQL over a pinned warehouse commit."""

from ledgerhouse.query.guard import CheckedQuery, check_query
from ledgerhouse.query.service import AsOf, CancelToken, Explain, QueryResult, QueryService

__all__ = [
    "AsOf",
    "CancelToken",
    "CheckedQuery",
    "Explain",
    "QueryResult",
    "QueryService",
    "check_query",
]
