"""Errors of the ingestion domain (defined with every other code in ledgerhouse.errors, so the
HTTP client raises the same classes)."""

from ledgerhouse.errors import (
    BatchRejected,
    PayloadTooLarge,
    UnknownDataset,
    UnprocessableBatch,
    UnreadablePayload,
    UnsupportedFormat,
)

__all__ = [
    "BatchRejected",
    "PayloadTooLarge",
    "UnknownDataset",
    "UnprocessableBatch",
    "UnreadablePayload",
    "UnsupportedFormat",
]
