"""Query: the SQL guard and guarded SQL over a pinned warehouse commit."""

from ledgerhouse.query.catalog import Catalog
from ledgerhouse.query.exports import EXPORT_FORMATS, Export, ExportResult
from ledgerhouse.query.guard import CheckedQuery, check_query
from ledgerhouse.query.service import AsOf, CancelToken, Explain, QueryResult, QueryService

__all__ = [
    "EXPORT_FORMATS",
    "AsOf",
    "CancelToken",
    "Catalog",
    "CheckedQuery",
    "Explain",
    "Export",
    "ExportResult",
    "QueryResult",
    "QueryService",
    "check_query",
]
