"""Errors of the ingestion domain."""

from ledgerhouse.errors import InvalidRequest, PayloadTooLarge, UnprocessableBatch


class UnknownDataset(InvalidRequest):
    code = "unknown_dataset"


class UnsupportedFormat(InvalidRequest):
    code = "unsupported_format"


class UnreadablePayload(UnprocessableBatch):
    code = "unreadable_payload"


class BatchRejected(UnprocessableBatch):
    code = "batch_rejected"


__all__ = [
    "BatchRejected",
    "PayloadTooLarge",
    "UnknownDataset",
    "UnreadablePayload",
    "UnsupportedFormat",
]
